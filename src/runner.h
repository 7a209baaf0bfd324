/*
 * runner: one execution with the store around it: the instance's state is
 * read before it, the execution is recorded when it starts and when it
 * ends (with its redacted trace), and `set` steps write the state through
 * the store as they run.  Used by run, deploy, undeploy (and serve).
 */
#ifndef FR_RUNNER_H
#define FR_RUNNER_H

#include "exec.h"
#include "store.h"

struct fr_job {
	const struct fr_flow *flow;
	const char *instance;		/* NULL: "default" */
	const json_t *config;
	const json_t *trigger;
	struct fr_redact *redact;
	const char *execution;		/* NULL: a new id */
	bool record;			/* record the execution in the store */
};

/* The hooks to give fr_engine_create so `set` writes into store. */
struct fr_exec_hooks fr_runner_hooks(struct fr_store *store,
				     void (*log)(void *, enum fr_log_level,
						 const char *, const char *,
						 const char *));

/*
 * Runs job on e (whose hooks came from fr_runner_hooks with the same
 * store; store may be NULL: nothing is read or recorded).  res is filled
 * in any case.  Returns 0, or -1 with *err on a store error.
 */
int fr_runner_execute(struct fr_engine *e, struct fr_store *store,
		      const struct fr_job *job, struct fr_exec_result *res,
		      char **err);

#endif
