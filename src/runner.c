/* runner: one execution with the store around it (see runner.h). */
#include "runner.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "redact.h"
#include "util.h"

static int set_state(void *data, const struct fr_exec_request *req,
		     const char *key, const json_t *value, char **err)
{
	struct fr_store *store = data;

	return fr_store_state_set(store, req->flow->integration->name,
				  req->instance ? req->instance : "default", key,
				  value, err);
}

static int update_state(void *data, const struct fr_exec_request *req,
			const char *key,
			int (*fn)(void *fn_data, const json_t *old, json_t **out,
				  char **err),
			void *fn_data, json_t **out, char **err)
{
	struct fr_store *store = data;

	return fr_store_state_update(store, req->flow->integration->name,
				     req->instance ? req->instance : "default",
				     key, fn, fn_data, out, err);
}

static void log_step(void *data, const struct fr_exec_request *req,
		     enum fr_log_level level, const char *step, const char *text)
{
	struct fr_log_ctx ctx = {
		.instance = req->instance ? req->instance : "default",
		.integration = req->flow->integration->name,
		.flow = req->flow->name, .execution = req->execution,
		.step = step,
	};

	(void)data;
	fr_log(level, &ctx, "%s", text);
}

struct fr_exec_hooks fr_runner_hooks(struct fr_store *store)
{
	struct fr_exec_hooks h = { .data = store, .log = log_step };

	if (store) {
		h.set_state = set_state;
		h.update_state = update_state;
	}
	return h;
}

void fr_runner_record_texts(struct fr_execution *out, const struct fr_flow *flow,
			    const char *instance, const char *id,
			    const struct fr_exec_result *res, double duration_ms,
			    char *input, char *trace)
{
	double now = fr_store_now();

	memset(out, 0, sizeof(*out));
	out->id = fr_xstrdup(id);
	out->integration = fr_xstrdup(flow->integration->name);
	out->instance = fr_xstrdup(instance);
	out->flow = fr_xstrdup(flow->name);
	out->trigger = fr_xstrdup(fr_trigger_name(flow->trigger));
	out->status = res->status == FR_EXEC_OK ? FR_STATUS_OK : FR_STATUS_FAILED;
	out->attempt = 1;
	out->error = res->error ? fr_xstrdup(res->error) : NULL;
	out->duration_ms = duration_ms;
	out->finished_at = now;
	out->started_at = now - duration_ms / 1000.0;
	out->input = input;
	out->trace = trace;
}

void fr_runner_record(struct fr_execution *out, const struct fr_flow *flow,
		      const char *instance, const char *id,
		      const json_t *trigger, struct fr_redact *rd,
		      const struct fr_exec_result *res)
{
	const json_t *tr = res->trace;
	json_t *input = trigger ? fr_redact_json(rd, trigger) : json_object();

	fr_runner_record_texts(out, flow, instance, id, res,
			       tr ? json_number_value(json_object_get(tr, "duration_ms"))
				  : (double)res->duration_ns / 1e6,
			       fr_json_dump(input), tr ? fr_json_dump(tr) : NULL);
	json_decref(input);
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
	struct fr_execution rec;

	memset(res, 0, sizeof(*res));
	*err = NULL;
	if (store && fr_store_state_get(store, integration, instance, &state, err) < 0)
		goto out;
	req.state = state;
	if (store && job->record) {
		json_t *input = job->trigger ? fr_redact_json(job->redact, job->trigger)
					     : json_object();
		struct fr_execution begin = {
			.id = id, .integration = (char *)integration,
			.instance = (char *)instance, .flow = job->flow->name,
			.trigger = (char *)fr_trigger_name(job->flow->trigger),
			.status = FR_STATUS_RUNNING, .origin = job->origin,
			.attempt = 1, .started_at = fr_store_now(),
			.input = fr_json_dump(input),
		};
		int brc = fr_store_execution_put(store, &begin, err);
		free(begin.input);
		json_decref(input);
		if (brc < 0)
			goto out;
	}
	fr_engine_run(e, &req, res);
	if (store && job->record) {
		fr_runner_record(&rec, job->flow, instance, id, NULL, job->redact, res);
		free(rec.input);
		rec.input = NULL;	/* recorded at the start */
		rec.origin = job->origin;
		rc = fr_store_execution_put(store, &rec, err);
		fr_execution_finish(&rec);
		if (rc < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(state);
	free(id);
	return rc;
}
