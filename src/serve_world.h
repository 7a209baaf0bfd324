/*
 * serve_world: everything serve loaded from the files: the project, every
 * (integration, instance) it serves with its config and secrets, and the
 * webhook routes with their verification secrets (rendered once here).
 *
 * A world is immutable once loaded and reference-counted: the main thread
 * loads one at start and a new one on SIGHUP and swaps it in whole; the
 * HTTP threads, the committer and the workers each hold a reference to
 * the world they work with (serve_world_get/put), so a reload never
 * changes anything under a running execution.
 */
#ifndef FR_SERVE_WORLD_H
#define FR_SERVE_WORLD_H

#include <jansson.h>
#include <stdatomic.h>

#include "diag.h"
#include "project.h"
#include "redact.h"
#include "serve.h"

/* statuses counted per route, for /metrics */
#define SERVE_NCOUNTED 9
extern const int serve_counted[SERVE_NCOUNTED];

/* One (integration, instance) being served: its config and secrets. */
struct target {
	const struct fr_integration *in;
	char *instance;
	json_t *config;
	struct fr_redact *secrets;	/* the config's secret values */
};

struct route {
	char *path;
	const struct fr_flow *flow;
	struct target *t;
	char **vsecrets;		/* verification secrets */
	size_t nvsecrets;
	char *key;			/* "integration/instance/flow" */
	atomic_ullong status[SERVE_NCOUNTED];
};

struct world {
	atomic_int refs;
	struct fr_project *p;
	struct target *targets;
	size_t ntargets;
	struct route *routes;
	size_t nroutes;
	/* SHA-256 (hex) of every file loaded: a worker process that loads
	 * the files again knows whether it got what serve has */
	char fingerprint[65];
};

/* Loads the files; NULL after reporting to d, with *status an exit status. */
struct world *serve_world_load(const struct fr_serve_opts *o, struct fr_diag *d,
			       int *status);
/* Another reference to w. */
struct world *serve_world_ref(struct world *w);
void serve_world_put(struct world *w);	/* NULL ok */

const struct route *serve_world_route(const struct world *w, const char *path);
struct target *serve_world_target(struct world *w, const char *integration,
				  const char *instance);
/* A redactor for an execution of t: its secret config values (destroy). */
struct fr_redact *serve_target_redactor(const struct target *t);
/* The flow of a target by name, or NULL. */
const struct fr_flow *serve_world_flow(const struct world *w,
				       const char *integration, const char *flow);

#endif
