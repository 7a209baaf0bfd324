/*
 * config: resolves an integration's configuration for one instance.
 *
 * Values come, later winning: the declared default, the declared `file:`
 * (its text), the instance file, the variable's `env` (or the file that
 * NAME_FILE names when NAME is unset), then --set KEY=VALUE (KEY=@PATH: the
 * text of PATH; @@ for a literal @).  Text read from a file loses one
 * trailing newline; a file that cannot be read is an error naming the
 * variable and the file.  Text from the environment and the
 * command line is taken as a string for `type: string` (and untyped
 * variables whose text is not JSON), else parsed as JSON.  Types are
 * checked.  Secret values are registered with the redactor.
 */
#ifndef FR_CONFIG_H
#define FR_CONFIG_H

#include <jansson.h>

#include "diag.h"
#include "model.h"
#include "redact.h"

struct fr_setting {
	const char *key;
	const char *value;
};

/* Splits "KEY=VALUE" (arg kept, borrowed); -1 when there is no '='. */
int fr_setting_parse(struct fr_setting *out, char *arg);

/* A config type's name, whether v has that type, and "a string", "null"... */
const char *fr_type_name(enum fr_type t);
bool fr_type_ok(enum fr_type t, const json_t *v);
const char *fr_json_kind(const json_t *v);

/*
 * The one check of --set KEY=VALUE names (run, deploy, serve): reports to d
 * every setting whose KEY no integration of ins declares, with a "did you
 * mean" among their variables.  Returns -1 when it reported any, else 0.
 */
int fr_config_check_sets(const struct fr_integration *const *ins, size_t nins,
			 const struct fr_setting *sets, size_t nsets,
			 struct fr_diag *d);

/*
 * Resolves in's config for inst (NULL: the default instance).  On success
 * *out is a new object.  Every missing or invalid value is reported to d,
 * naming the variable and every way to supply it; returns -1 then.
 * Settings naming no variable of in are ignored (the caller checks them).
 */
int fr_config_resolve(json_t **out, const struct fr_integration *in,
		      const struct fr_instance *inst,
		      const struct fr_setting *sets, size_t nsets,
		      struct fr_redact *r, struct fr_diag *d);

/*
 * Marks in used[] (one flag per in->config, set by the caller) the variables
 * flow f reads: named by .config.NAME (or $ctx.config.NAME) in its steps or
 * in the connections its actions use.  An expression that reads .config as
 * a whole marks them all.  The webhook trigger's verify and dedupe are not
 * the flow's: only serve evaluates them.
 */
void fr_config_mark_used(const struct fr_integration *in,
			 const struct fr_flow *f, bool *used);

/*
 * fr_config_resolve for a run that reads only the variables marked in used
 * (NULL: all): a variable not marked is resolved when it has a value, and
 * its absence is no error (run and deploy ask only for what they need).
 */
int fr_config_resolve_used(json_t **out, const struct fr_integration *in,
			   const struct fr_instance *inst,
			   const struct fr_setting *sets, size_t nsets,
			   const bool *used, struct fr_redact *r,
			   struct fr_diag *d);

#endif
