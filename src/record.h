/*
 * record: writes a test (flowrun-test(5)) from a real execution: its
 * trigger, every action's output (or error) as a mock, in call order, and
 * its step outputs and status as expectations.
 *
 * Nothing secret is written: the trace is already redacted, the trigger is
 * redacted with the execution's redactor, Authorization-like headers are
 * left out, and a webhook that was verified is written `sign: true` (the
 * test signs it again with a test secret) without its signature headers.
 */
#ifndef FR_RECORD_H
#define FR_RECORD_H

#include <jansson.h>

#include "model.h"
#include "redact.h"

struct fr_record {
	const struct fr_flow *flow;
	const char *instance;		/* NULL: default */
	const json_t *trigger;		/* as the execution saw it */
	const json_t *trace;		/* redacted */
	const json_t *config;		/* overrides to write (no secrets), or NULL */
	const struct fr_redact *redact;
};

/* The test as YAML text (caller frees). */
char *fr_record_yaml(const struct fr_record *r);

/* Writes it to path; 0, or -1 with *err (caller frees). */
int fr_record_write(const char *path, const struct fr_record *r, char **err);

/*
 * A non-empty object as a block mapping whose first line starts where the
 * caller is and whose other lines are indented by indent spaces; no final
 * newline (caller frees).  For rewriting a block value in place.
 */
char *fr_record_block(const json_t *obj, int indent);

/* Whether a header (any case) may carry a credential: never recorded. */
int fr_record_secret_header(const char *name);

#endif
