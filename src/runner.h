/*
 * runner: one execution with the store around it: the instance's state is
 * read before it, the execution is recorded when it starts and when it
 * ends (with its redacted trace), and `set` steps write the state through
 * the store as they run.  Used by run, deploy, undeploy (serve records
 * its executions itself, in batches).
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
	enum fr_origin origin;		/* as recorded */
};

/*
 * The hooks to give fr_engine_create: `set` writes into store (NULL:
 * nowhere), and `log` steps go to the logger with the execution's place.
 */
struct fr_exec_hooks fr_runner_hooks(struct fr_store *store);

/*
 * Runs job on e (whose hooks came from fr_runner_hooks with the same
 * store; store may be NULL: nothing is read or recorded).  res is filled
 * in any case.  Returns 0, or -1 with *err on a store error.
 */
int fr_runner_execute(struct fr_engine *e, struct fr_store *store,
		      const struct fr_job *job, struct fr_exec_result *res,
		      char **err);

/*
 * The store's record of an execution that ended with res (trace
 * serialized here, input from the trigger, redacted): members owned by
 * the caller (fr_execution_finish).
 */
void fr_runner_record(struct fr_execution *out, const struct fr_flow *flow,
		      const char *instance, const char *id,
		      const json_t *trigger, struct fr_redact *rd,
		      const struct fr_exec_result *res);

/*
 * The same from what was made already (serve's worker processes make the
 * texts): input and trace (JSON text, or NULL) are taken over.
 */
void fr_runner_record_texts(struct fr_execution *out, const struct fr_flow *flow,
			    const char *instance, const char *id,
			    const struct fr_exec_result *res, double duration_ms,
			    char *input, char *trace);

#endif
