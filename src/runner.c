#include "runner.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int set_state(void *data, const struct fr_exec_request *req,
		     const char *key, const json_t *value, char **err)
{
	struct fr_store *store = data;

	return fr_store_state_set(store, req->flow->integration->name,
				  req->instance ? req->instance : "default", key,
				  value, err);
}

struct fr_exec_hooks fr_runner_hooks(struct fr_store *store,
				     void (*log)(void *, enum fr_log_level,
						 const char *, const char *,
						 const char *))
{
	struct fr_exec_hooks h = { .data = store, .log = log };

	if (store)
		h.set_state = set_state;
	return h;
}

int fr_runner_execute(struct fr_engine *e, struct fr_store *store,
		      const struct fr_job *job, struct fr_exec_result *res,
		      char **err)
{
	const char *instance = job->instance ? job->instance : "default";
	const char *integration = job->flow->integration->name;
	char *id = job->execution ? fr_xstrdup(job->execution)
				  : fr_new_id("ex_");
	json_t *state = NULL;
	int rc = -1;
	struct fr_exec_request req = {
		.flow = job->flow, .instance = instance, .config = job->config,
		.trigger = job->trigger, .execution = id, .redact = job->redact,
	};

	memset(res, 0, sizeof(*res));
	*err = NULL;
	if (store && fr_store_state_get(store, integration, instance, &state, err) < 0)
		goto out;
	req.state = state;
	if (store && job->record) {
		json_t *input = job->trigger ? fr_redact_json(job->redact, job->trigger)
					     : json_object();
		json_t *rec = json_pack("{ss ss ss ss ss so}", "id", id,
					"integration", integration,
					"instance", instance,
					"flow", job->flow->name,
					"trigger", fr_trigger_name(job->flow->trigger),
					"input", input);
		int brc = fr_store_execution_begin(store, rec, err);
		json_decref(rec);
		if (brc < 0)
			goto out;
	}
	fr_engine_run(e, &req, res);
	if (store && job->record &&
	    fr_store_execution_finish(store, id, res->trace, err) < 0)
		goto out;
	rc = 0;
out:
	json_decref(state);
	free(id);
	return rc;
}
