/*
 * serve_worker: the worker threads.  Each takes the next delivery from
 * the dispatcher, runs its flow on an engine of its own (own jq states,
 * own curl handles, own store handle), answers a waiting sync request,
 * and hands the attempt's end to the committer, which records it and
 * ends the claim (or queues the next attempt).
 */
/* gettid(): the workers lower their own priority (Linux) */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dispatch.h"
#include "exec.h"
#include "json.h"
#include "log.h"
#include "redact.h"
#include "runner.h"
#include "serve_ctx.h"
#include "util.h"

/*
 * Workers yield the CPU to the request threads and the committer:
 * acknowledging is what clients wait for, and what cannot be run at once
 * waits durably in the queue.
 */
static void lower_priority(void)
{
	setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
}

static void count_steps(struct flow_stats *fs, const json_t *steps)
{
	size_t i, j;
	json_t *st, *it;

	json_array_foreach(steps, i, st) {
		serve_observe(&fs->steps, json_number_value(json_object_get(
					  st, "duration_ms")) / 1e3);
		count_steps(fs, json_object_get(st, "steps"));
		json_array_foreach(json_object_get(st, "iterations"), j, it)
			count_steps(fs, json_object_get(it, "steps"));
	}
}

/* Answers a sync request from the execution's result. */
static void answer_sync(struct fr_request *r, const char *id,
			const struct fr_exec_result *res)
{
	json_t *j;
	char *body;

	if (res->status != FR_EXEC_OK) {
		/* the reason is in the trace, not for an anonymous caller */
		j = json_pack("{ss ss}", "error", "execution failed", "execution", id);
		body = json_dumps(j, JSON_COMPACT);
		fr_request_respond(r, 500, "application/json", body,
				   "Flowrun-Execution", id);
	} else if (res->response) {
		const json_t *b = json_object_get(res->response, "body");
		json_int_t st = json_integer_value(json_object_get(res->response, "status"));
		const json_t *hs = json_object_get(res->response, "headers");
		const char *name;
		json_t *v;
		bool has_ct = false;
		/* the respond step's headers, Content-Type by default from the body */
		j = json_object();
		json_object_foreach((json_t *)hs, name, v) {
			char *text = json_is_string(v) ? fr_xstrdup(json_string_value(v))
						       : fr_json_dump(v);
			json_object_set_new(j, name, json_string(text));
			has_ct |= strcasecmp(name, "Content-Type") == 0;
			free(text);
		}
		if (!has_ct)
			json_object_set_new(j, "Content-Type", json_string(
				json_is_string(b) ? "text/plain" : "application/json"));
		json_object_set_new(j, "Flowrun-Execution", json_string(id));
		body = json_is_string(b) ? fr_xstrdup(json_string_value(b))
					 : b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY)
					     : fr_xstrdup("");
		fr_request_respond_headers(r, st >= 100 && st <= 599 ? (int)st : 200,
					   body, j);
	} else {
		j = json_incref(res->output);
		body = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		fr_request_respond(r, 200, "application/json", body,
				   "Flowrun-Execution", id);
	}
	free(body);
	json_decref(j);
}

/* The worker's engine runs on the current world. */
static struct world *engine_world(struct worker *wk)
{
	struct world *w = serve_world_current(wk->s);

	if (wk->world != w) {
		struct fr_exec_opts opts = { .public_url = wk->s->public_url };
		struct fr_exec_hooks hooks = fr_runner_hooks(wk->store);
		fr_engine_destroy(wk->engine);
		serve_world_put(wk->world);
		wk->engine = fr_engine_create(w->p, &opts, &hooks);
		wk->world = serve_world_ref(w);
	}
	return w;
}

static void run_delivery(struct worker *wk, struct fr_delivery *d)
{
	static const struct fr_retry no_retry = { .attempts = 1 };
	struct serve *s = wk->s;
	struct world *w = engine_world(wk);
	const struct fr_flow *f = serve_world_flow(w, d->integration, d->flow);
	struct target *t = serve_world_target(w, d->integration, d->instance);
	struct fr_log_ctx lc = { .integration = d->integration,
				 .instance = d->instance, .flow = d->flow,
				 .execution = d->id };
	char *key = fr_xasprintf("%s/%s/%s", d->integration, d->instance, d->flow);
	struct flow_stats *fs = serve_flow_stats(&s->m, key);
	struct fr_exec_result res = { 0 };
	struct fr_redact *rd = fr_redact_create();
	struct finish fin = { .status = FR_STATUS_FAILED };
	struct fr_outcome out;
	json_t *trigger = NULL;
	char *err = NULL;

	free(key);
	if (!f || !t) {
		fr_log(FR_LOG_ERROR, &lc, "the flow is no longer served; the "
		       "delivery failed");
		res.status = FR_EXEC_FAILED;
		res.error = fr_xstrdup("flow no longer served");
		f = NULL;
		goto record;
	}
	trigger = serve_trigger(d);
	for (size_t i = 0; i < t->in->nconfig; i++) {
		if (t->in->config[i].secret)
			fr_redact_add_json(rd, json_object_get(t->config,
							       t->in->config[i].name));
	}
	{
		struct fr_job job = { .flow = f, .instance = t->instance,
				      .config = t->config, .trigger = trigger,
				      .redact = rd, .execution = d->id };
		if (fr_runner_execute(wk->engine, wk->store, &job, &res, &err) < 0) {
			fr_log(FR_LOG_ERROR, &lc, "%s", err);
			free(err);
			err = NULL;
			if (!res.trace) {
				/* the store failed before the flow began: this
				 * attempt gives the delivery back, uncounted */
				fin.rec.id = fr_xstrdup(d->id);
				fin.status = FR_STATUS_QUEUED;
				fin.next_at = fr_store_now() + 1;
				fin.no_record = true;
				serve_commit_finish(s, &fin);
				goto out;
			}
		}
	}
	serve_observe(&fs->duration, (double)res.duration_ns / 1e9);
	count_steps(fs, json_object_get(res.trace, "steps"));
record:
	out = fr_dispatch_outcome(f ? &f->webhook.retry : &no_retry,
				  d->attempts, res.status == FR_EXEC_OK,
				  f && f->webhook.sync, fr_store_now(),
				  (double)(fr_now_ns() % 1000) / 1000.0);
	if (out.status == FR_STATUS_OK) {
		atomic_fetch_add(&fs->ok, 1);
	} else if (out.status == FR_STATUS_RETRYING) {
		atomic_fetch_add(&fs->retries, 1);
		fr_log(FR_LOG_WARN, &lc, "failed (try %d of %d), retrying in "
		       "%.1f s: %s", d->attempts, f->webhook.retry.attempts,
		       out.next_at - fr_store_now(), res.error);
	} else {
		atomic_fetch_add(&fs->failed, 1);
		fr_log(FR_LOG_ERROR, &lc, "failed: %s", res.error);
	}
	/* serialized here, so the committer only writes */
	if (f) {
		fr_runner_record(&fin.rec, f, d->instance, d->id, trigger, rd, &res);
	} else {
		fin.rec = (struct fr_execution){
			.id = fr_xstrdup(d->id),
			.integration = fr_xstrdup(d->integration),
			.instance = fr_xstrdup(d->instance),
			.flow = fr_xstrdup(d->flow), .trigger = fr_xstrdup("webhook"),
			.error = fr_xstrdup(res.error), .started_at = fr_store_now(),
			.finished_at = fr_store_now(),
		};
	}
	fin.rec.status = out.status;
	fin.rec.origin = d->origin;
	fin.rec.attempt = d->attempts > 0 ? d->attempts : 1;
	if (d->replay_of)
		fin.rec.replay_of = fr_xstrdup(d->replay_of);
	fin.status = out.status;
	fin.next_at = out.next_at;
	serve_commit_finish(s, &fin);
	if (f && f->webhook.sync) {
		struct fr_request *r = serve_wait_take(s, d->id);
		if (r)
			answer_sync(r, d->id, &res);
	}
out:
	fr_exec_result_finish(&res);
	fr_redact_destroy(rd);
	json_decref(trigger);
	serve_world_put(w);
}

void *serve_worker_main(void *arg)
{
	struct worker *wk = arg;
	struct serve *s = wk->s;

	pthread_setname_np(pthread_self(), "fr-worker");
	lower_priority();
	for (;;) {
		struct fr_delivery *d = NULL;

		pthread_mutex_lock(&s->mu);
		while (!s->stopping && !s->draining &&
		       !(d = fr_dispatch_take(s->dp)))
			pthread_cond_wait(&s->work, &s->mu);
		pthread_mutex_unlock(&s->mu);
		if (!d)
			break;
		run_delivery(wk, d);
		pthread_mutex_lock(&s->mu);
		fr_dispatch_done(s->dp, d);
		bool low = fr_dispatch_held(s->dp) < s->nworkers;
		pthread_cond_broadcast(&s->idle);
		pthread_mutex_unlock(&s->mu);
		fr_delivery_free(d);
		if (low)
			serve_commit_wake(s, false);	/* room: claim what waits */
	}
	return NULL;
}
