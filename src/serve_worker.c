/*
 * serve_worker: the worker threads.  Each takes the next delivery from
 * the dispatcher, has it run by the worker process it supervises
 * (serve_child.c; one execution at a time), answers a waiting sync
 * request, and hands the attempt's end to the committer, which records it
 * and ends the claim (or queues the next attempt).
 *
 * A worker process that crashes, runs out of its memory or is killed for
 * a step that does not stop after its timeout fails that attempt only,
 * with what happened as its error; the next delivery gets a new process.
 * The attempt was counted when the delivery was claimed, so a delivery
 * that always kills its worker is tried as often as its retry policy
 * says, then stays failed.
 */
/* gettid(): the workers lower their own priority (Linux) */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "exec.h"
#include "flow.h"
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

/*
 * How long past a step's timeout a worker process may take to stop on
 * its own (the engine's step deadlines, curl's timeouts) before it is killed:
 * only a loop inside libjq outlives it.
 */
#define KILL_GRACE_NS (2000000000ull)
/* a worker process loads the files within this */
#define START_TIMEOUT_MS 120000

static void end_process(struct worker *wk)
{
	int status;

	free(fr_workerproc_end(&wk->proc, false, 2000, &status));
	serve_world_put(wk->world);
	wk->world = NULL;
}

/*
 * wk has a worker process that loaded w's files: 0, or -1 (logged) when
 * none could be started.  Started again after a reload and after one
 * ended; a start that fails waits a little longer each time.
 */
static int ensure_process(struct worker *wk, struct world *w)
{
	struct serve *s = wk->s;
	json_t *ready = NULL;
	const char *fp;
	char *err = NULL;

	if (wk->proc.pid && wk->world == w)
		return 0;
	if (wk->proc.pid)
		end_process(wk);
	if (wk->failures) {
		unsigned n = wk->failures < 10 ? wk->failures : 10;
		struct timespec ts = { (time_t)(n / 5), (long)(n % 5) * 200000000L };
		nanosleep(&ts, NULL);
	}
	wk->failures++;
	if (fr_workerproc_start(&wk->proc, "/proc/self/exe", s->hello, &err) < 0) {
		fr_log_error("%s", err);
		free(err);
		return -1;
	}
	if (fr_frame_recv(wk->proc.fd, START_TIMEOUT_MS, &ready) != 0 ||
	    !json_is_true(json_object_get(ready, "ready"))) {
		const char *why = json_string_value(json_object_get(ready, "error"));
		int status;
		char *how = fr_workerproc_end(&wk->proc, !ready, 0, &status);
		fr_log_error("a worker process could not start: %s", why ? why :
			     how ? how : "it did not answer");
		free(how);
		json_decref(ready);
		return -1;
	}
	fp = json_string_value(json_object_get(ready, "fingerprint"));
	if (!fp || strcmp(fp, w->fingerprint) != 0) {
		int status;
		free(fr_workerproc_end(&wk->proc, false, 2000, &status));
		json_decref(ready);
		fr_log_warn("the files changed since serve loaded them: reloading, "
			    "so that workers run what serve serves");
		kill(getpid(), SIGHUP);
		return -1;
	}
	json_decref(ready);
	wk->world = serve_world_ref(w);
	wk->failures = 0;
	atomic_fetch_add(&s->m.workers_started, 1);
	return 0;
}

static void fail_result(struct fr_exec_result *res, char *error)
{
	res->status = FR_EXEC_FAILED;
	free(res->error);
	res->error = error;
}

/* The result frame of a worker process into res (its output and response
 * only for a sync flow). */
static void take_result(struct fr_exec_result *res, const json_t *ans)
{
	const char *error = json_string_value(json_object_get(ans, "error"));

	res->status = json_is_true(json_object_get(ans, "ok")) ? FR_EXEC_OK
								: FR_EXEC_FAILED;
	res->error = error ? fr_xstrdup(error) : NULL;
	res->output = json_incref(json_object_get(ans, "output"));
	res->response = json_incref(json_object_get(ans, "response"));
	res->duration_ns = (uint64_t)(json_number_value(
		json_object_get(ans, "duration_ms")) * 1e6);
}

/*
 * Runs d in wk's worker process; res gets the result and *answer the
 * worker's answer (the record's texts), or res a failure that says how
 * the process ended (*answer NULL).  Returns -1 when d did not run (no
 * process, or the store failed before the flow began): it goes back to
 * the queue.
 */
static int execute(struct worker *wk, struct world *w, const struct fr_delivery *d,
		   json_t *trigger, struct fr_exec_result *res, json_t **answer)
{
	uint64_t t0 = fr_now_ns(), begun;
	json_t *job, *ans = NULL;
	int rc;

	*answer = NULL;
	if (ensure_process(wk, w) < 0)
		return -1;
	begun = atomic_load(&wk->proc.page->jobs);
	job = json_pack("{ss ss ss ss sO}", "id", d->id, "integration",
			d->integration, "instance", d->instance, "flow", d->flow,
			"trigger", trigger);
	rc = fr_frame_send(wk->proc.fd, job);
	json_decref(job);
	if (rc < 0) {
		end_process(wk);	/* gone before it took the job */
		return -1;
	}
	for (;;) {
		char step[120];
		uint64_t deadline, now = fr_now_ns();
		int wait_ms = 1000;

		fr_workerproc_progress(&wk->proc, step, sizeof(step), &deadline);
		if (deadline && now > deadline + KILL_GRACE_NS) {
			int status;
			free(fr_workerproc_end(&wk->proc, true, 0, &status));
			serve_world_put(wk->world);
			wk->world = NULL;
			fail_result(res, fr_xasprintf("step timeout: %s did not stop "
				    "within %llu s of its timeout; its worker process "
				    "was killed", *step ? step : "a step",
				    KILL_GRACE_NS / 1000000000ull));
			break;
		}
		if (deadline) {
			uint64_t left = (deadline + KILL_GRACE_NS - now) / 1000000u + 1;
			if (left < (uint64_t)wait_ms)
				wait_ms = (int)left;
		}
		rc = fr_frame_recv(wk->proc.fd, wait_ms, &ans);
		if (rc == 1)
			continue;
		if (rc == 0) {
			if (json_object_get(ans, "store_error") ||
			    json_object_get(ans, "setup_error")) {
				json_decref(ans);
				return -1;
			}
			take_result(res, ans);
			*answer = ans;
			return 0;
		}
		/* the process ended without answering: where was it? */
		fr_workerproc_progress(&wk->proc, step, sizeof(step), &deadline);
		bool taken = atomic_load(&wk->proc.page->jobs) != begun;
		int status;
		char *how = fr_workerproc_end(&wk->proc, false, 2000, &status);
		serve_world_put(wk->world);
		wk->world = NULL;
		if (!taken) {
			/* it died (killed while idle) before it took the job */
			atomic_fetch_add(&wk->s->m.workers_lost, 1);
			fr_log_warn("a worker process ended (%s) before it began "
				    "execution %s, which goes back to the queue",
				    how ? how : "it exited", d->id);
			free(how);
			return -1;
		}
		if (status == FR_WORKER_EXIT_MEMORY)
			fail_result(res, fr_xasprintf("memory limit: the worker process "
				    "ran out of its %llu MiB in %s",
				    wk->s->o->worker_memory >> 20, *step ? step : "a step"));
		else
			fail_result(res, fr_xasprintf("worker killed: %s in %s",
				    how ? how : "it ended", *step ? step : "a step"));
		free(how);
		break;
	}
	atomic_fetch_add(&wk->s->m.workers_lost, 1);
	res->duration_ns = fr_now_ns() - t0;
	return 0;
}

static void run_delivery(struct worker *wk, struct fr_delivery *d)
{
	static const struct fr_retry no_retry = { .attempts = 1 };
	struct serve *s = wk->s;
	struct world *w = serve_world_current(s);
	const struct fr_flow *f = serve_world_flow(w, d->integration, d->flow);
	struct target *t = serve_world_target(w, d->integration, d->instance);
	struct fr_log_ctx lc = { .integration = d->integration,
				 .instance = d->instance, .flow = d->flow,
				 .execution = d->id };
	char *key = fr_xasprintf("%s/%s/%s", d->integration, d->instance, d->flow);
	struct flow_stats *fs = serve_flow_stats(&s->m, key);
	struct fr_exec_result res = { 0 };
	struct fr_redact *rd = NULL;
	struct finish fin = { .status = FR_STATUS_FAILED };
	struct fr_outcome out;
	json_t *trigger = NULL, *answer = NULL;
	size_t i;
	json_t *v;

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
	if (execute(wk, w, d, trigger, &res, &answer) < 0) {
		/* not run: this attempt gives the delivery back, uncounted */
		fin.rec.id = fr_xstrdup(d->id);
		fin.status = FR_STATUS_QUEUED;
		fin.next_at = fr_store_now() + 1;
		fin.no_record = true;
		serve_commit_finish(s, &fin);
		goto out;
	}
	serve_observe(&fs->duration, (double)res.duration_ns / 1e9);
	json_array_foreach(json_object_get(answer, "steps"), i, v)
		serve_observe(&fs->steps, json_number_value(v));
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
	if (f && answer) {
		const char *input = json_string_value(json_object_get(answer, "input"));
		const char *trace = json_string_value(json_object_get(answer, "trace"));
		fr_runner_record_texts(&fin.rec, f, d->instance, d->id, &res,
				       (double)res.duration_ns / 1e6,
				       input ? fr_xstrdup(input) : NULL,
				       trace ? fr_xstrdup(trace) : NULL);
	} else if (f) {
		rd = serve_target_redactor(t);
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
	if (rd)
		fr_redact_destroy(rd);
	json_decref(answer);
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
	if (wk->proc.pid)
		end_process(wk);
	return NULL;
}
