/*
 * project: everything one command works on, loaded and checked once.
 *
 * Given flow files or directories (default ./flows), loads each flow file,
 * the connector files of its project root (the parent of a `flows`
 * directory, else the file's own directory: every .yaml file in ROOT/connectors) and of
 * the extra connector directories, and the instance files
 * (ROOT/instances/NAME.yaml).  Then resolves every reference and compiles every
 * jq program in one batch (jqx.h).  All problems are reported to the
 * diagnostics; fr_project_load fails only when nothing useful was loaded.
 *
 * The project owns the model, the sources its locations point into, and the
 * jq batch.  It is immutable once loaded, and may be shared by threads, each
 * compiling its own struct fr_jqx from p->prog.
 */
#ifndef FR_PROJECT_H
#define FR_PROJECT_H

#include "diag.h"
#include "jqx.h"
#include "model.h"

#define FR_MAX_FILE_SIZE (8u * 1024 * 1024)

struct fr_project {
	struct fr_integration **integrations;
	size_t nintegrations;
	struct fr_connector **connectors;
	size_t nconnectors;
	struct fr_instance **instances;
	size_t ninstances;
	struct fr_source **sources;
	size_t nsources;
	struct fr_jqx_prog *prog;
	unsigned nfiles;
};

struct fr_load_opts {
	const char *const *connector_dirs;	/* extra, from --connectors */
	size_t nconnector_dirs;
	bool no_env;				/* ignore FLOWRUN_CONNECTORS */
	bool fixed_clock;	/* jq's `now` set per engine (flowrun test) */
};

/*
 * Loads paths (n may be 0: ./flows).  Returns 0 with *out set, problems or
 * not (check d->nerrors), or -1 when a path could not be read at all.
 */
int fr_project_load(struct fr_project **out, const char *const *paths,
		    size_t n, const struct fr_load_opts *opts,
		    struct fr_diag *d);
void fr_project_destroy(struct fr_project *p);

/* Finds "integration/flow" or "flow" (when unambiguous); NULL if none. */
const struct fr_flow *fr_project_flow(const struct fr_project *p,
				      const char *name);
const struct fr_instance *fr_project_instance(const struct fr_project *p,
					      const struct fr_integration *in,
					      const char *name);

#endif
