/*
 * serve_child: the worker process of serve (`flowrun __worker`, started
 * by serve_worker.c through workerproc.c; never by a user).
 *
 * It loads the files serve names in its hello frame, opens the store
 * (for the state that steps read and write), and then runs one job at a
 * time: each job is one execution of one delivery; the answer carries its
 * result and its record (serve_child.c result_json).  It notes each step as
 * it begins in the page it shares with serve, so that if it dies, serve
 * can say where.
 *
 * What bounds it: a data-segment limit (serve's --worker-memory; an
 * allocation beyond it ends the process with FR_WORKER_EXIT_MEMORY), and
 * serve itself, which kills it when a step's timeout has passed by more
 * than the grace.  It ends when serve closes the socket, and with serve
 * (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include "diag.h"
#include "exec.h"
#include "flow.h"
#include "log.h"
#include "oauth.h"
#include "redact.h"
#include "runner.h"
#include "serve.h"
#include "serve_child.h"
#include "serve_world.h"
#include "util.h"
#include "workerproc.h"

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FR_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define FR_SANITIZED 1
#endif
#endif

static struct fr_progress *page;

/* An allocation failed: say so where serve looks, and end here. */
static void out_of_memory(void)
{
	static const char msg[] = "flowrun: error: worker process: out of memory\n";

	if (write(STDERR_FILENO, msg, sizeof(msg) - 1) < 0) {
		/* nothing more to do */
	}
	_exit(FR_WORKER_EXIT_MEMORY);
}

static void note_step(void *data, const struct fr_step *s, uint64_t deadline_ns)
{
	char what[120];

	(void)data;
	if (s->id)
		snprintf(what, sizeof(what), "step '%s'", s->id);
	else
		snprintf(what, sizeof(what), "the %s step at line %d",
			 fr_step_kind_name(s->kind), s->loc.line);
	fr_progress_set(page, what, deadline_ns);
}

static void limit_memory(json_int_t bytes)
{
	/* a few malloc arenas: each thread's would reserve 64 MiB of the
	 * data the limit counts */
	mallopt(M_ARENA_MAX, 2);
#ifdef FR_SANITIZED
	/* the sanitizers' shadow memory is terabytes of address space */
	(void)bytes;
#else
	/* the data segment (heap, anonymous mappings), not the address
	 * space: a stack that cannot grow ends the process with SIGSEGV,
	 * where a malloc that fails ends it as out of memory */
	if (bytes > 0) {
		struct rlimit rl = { (rlim_t)bytes, (rlim_t)bytes };
		setrlimit(RLIMIT_DATA, &rl);
	}
#endif
}

/* The options of the hello frame; strings borrowed from hello. */
static void read_opts(const json_t *o, struct fr_serve_opts *so,
		      const char ***dirs, struct fr_setting **sets)
{
	const json_t *paths = json_object_get(o, "paths");
	const json_t *cdirs = json_object_get(o, "connector_dirs");
	const json_t *jsets = json_object_get(o, "sets");
	size_t i;
	json_t *v;

	so->npaths = json_array_size(paths);
	so->paths = fr_xcalloc(so->npaths + 1, sizeof(char *));
	json_array_foreach(paths, i, v)
		so->paths[i] = (char *)json_string_value(v);
	so->nconnector_dirs = json_array_size(cdirs);
	*dirs = fr_xcalloc(so->nconnector_dirs + 1, sizeof(char *));
	json_array_foreach(cdirs, i, v)
		(*dirs)[i] = json_string_value(v);
	so->connector_dirs = *dirs;
	so->nsets = json_array_size(jsets);
	*sets = fr_xcalloc(so->nsets + 1, sizeof(**sets));
	json_array_foreach(jsets, i, v) {
		(*sets)[i].key = json_string_value(json_array_get(v, 0));
		(*sets)[i].value = json_string_value(json_array_get(v, 1));
	}
	so->sets = *sets;
	so->instance = json_string_value(json_object_get(o, "instance"));
	so->public_url = json_string_value(json_object_get(o, "public_url"));
	so->store = json_string_value(json_object_get(o, "store"));
}

/* Appends the duration of every step of steps (nested ones too). */
static void step_seconds(json_t *out, const json_t *steps)
{
	size_t i, j;
	json_t *st, *it;

	json_array_foreach(steps, i, st) {
		json_array_append_new(out, json_real(json_number_value(
			json_object_get(st, "duration_ms")) / 1e3));
		step_seconds(out, json_object_get(st, "steps"));
		json_array_foreach(json_object_get(st, "iterations"), j, it)
			step_seconds(out, json_object_get(it, "steps"));
	}
}

/*
 * The answer to a job: the result, with the record's input and trace as
 * text (serve stores them as they are) and the steps' durations (for
 * /metrics); the output and response only for a sync flow, which answers
 * with them.
 */
static json_t *result_json(const struct fr_flow *f, const char *inst,
			   const char *id, const json_t *trigger,
			   struct fr_redact *rd, const struct fr_exec_result *res)
{
	json_t *j = json_object(), *steps = json_array();
	struct fr_execution rec;

	fr_runner_record(&rec, f, inst, id, trigger, rd, res);
	json_object_set_new(j, "ok", json_boolean(res->status == FR_EXEC_OK));
	if (rec.error)
		json_object_set_new(j, "error", json_string(rec.error));
	if (f->webhook.sync) {
		json_object_set(j, "output", res->output ? res->output : json_null());
		if (res->response)
			json_object_set(j, "response", res->response);
	}
	json_object_set_new(j, "input", json_string(rec.input));
	json_object_set_new(j, "trace", json_string(rec.trace));
	json_object_set_new(j, "duration_ms", json_real(rec.duration_ms));
	step_seconds(steps, json_object_get(res->trace, "steps"));
	json_object_set_new(j, "steps", steps);
	fr_execution_finish(&rec);
	return j;
}

/* One job: runs it and answers. */
static int run_job(struct world *w, struct fr_engine *e, struct fr_store *store,
		   int fd, const json_t *job)
{
	const char *id = json_string_value(json_object_get(job, "id"));
	const char *integ = json_string_value(json_object_get(job, "integration"));
	const char *inst = json_string_value(json_object_get(job, "instance"));
	const char *flow = json_string_value(json_object_get(job, "flow"));
	const struct fr_flow *f = integ && flow ? serve_world_flow(w, integ, flow) : NULL;
	struct target *t = integ && inst ? serve_world_target(w, integ, inst) : NULL;
	struct fr_log_ctx lc = { .integration = integ, .instance = inst,
				 .flow = flow, .execution = id };
	struct fr_exec_result res = { 0 };
	json_t *answer;
	char *err = NULL;
	int rc;

	atomic_fetch_add(&page->jobs, 1);
	if (!f || !t || !id) {
		answer = json_pack("{ss}", "setup_error", "the flow is not in the "
				   "files this worker loaded");
	} else {
		struct fr_redact *rd = serve_target_redactor(t);
		struct fr_job j = { .flow = f, .instance = t->instance,
				    .config = t->config,
				    .trigger = json_object_get(job, "trigger"),
				    .redact = rd, .execution = id };
		if (fr_runner_execute(e, store, &j, &res, &err) < 0) {
			fr_log(FR_LOG_ERROR, &lc, "%s", err);
			free(err);
		}
		/* no trace: the store failed before the flow began */
		answer = res.trace ? result_json(f, t->instance, id, j.trigger,
						 rd, &res)
				   : json_pack("{ss}", "store_error", "the store "
					       "failed before the flow began");
		fr_exec_result_finish(&res);
		fr_redact_destroy(rd);
	}
	fr_progress_set(page, "", 0);
	rc = fr_frame_send(fd, answer);
	json_decref(answer);
	return rc;
}

int fr_serve_child_main(void)
{
	int fd = FR_WORKER_SOCKET_FD;
	pid_t parent = getppid();
	struct fr_serve_opts so = { 0 };
	struct fr_setting *sets = NULL;
	const char **dirs = NULL;
	struct fr_diag d;
	struct fr_store *store = NULL;
	struct fr_engine *e = NULL;
	struct fr_oauth *oauth = NULL;
	struct world *w = NULL;
	json_t *hello = NULL, *ready, *job;
	int status = FR_WORKER_EXIT_SETUP, exit_status;
	char *err = NULL;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || !(page = fr_workerproc_page()) ||
	    fr_frame_recv(fd, -1, &hello) != 0)
		return FR_WORKER_EXIT_SETUP;
	signal(SIGPIPE, SIG_IGN);
	/* serve's signals are for serve (a terminal's Ctrl-C and systemd's
	 * stop reach the whole group): serve drains, then ends its workers */
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	if (setpriority(PRIO_PROCESS, 0, 10) < 0) {
		/* not fatal: the worker only competes more with serve */
	}
	{
		const json_t *lg = json_object_get(hello, "log");
		struct fr_log_opts lo = {
			.verbosity = (int)json_integer_value(json_object_get(lg, "verbosity")),
			.json = json_is_true(json_object_get(lg, "json")),
			.timestamps = true,
		};
		fr_log_setup(&lo);
	}
	fr_oom_hook = out_of_memory;	/* jqx sends libjq's here too */
	read_opts(json_object_get(hello, "opts"), &so, &dirs, &sets);
	fr_diag_init(&d, stderr);
	w = serve_world_load(&so, &d, &exit_status);
	fr_diag_flush(&d);
	if (!w) {
		ready = json_pack("{sb ss}", "ready", 0, "error",
				  "the files no longer load as serve loaded them");
		fr_frame_send(fd, ready);
		json_decref(ready);
		goto out;
	}
	if (fr_store_open(&store, so.store, &err) < 0) {
		ready = json_pack("{sb ss}", "ready", 0, "error", err);
		fr_frame_send(fd, ready);
		json_decref(ready);
		free(err);
		goto out;
	}
	{
		struct fr_exec_opts eo = { .public_url = so.public_url,
					   .oauth = oauth = fr_oauth_create(so.store) };
		struct fr_exec_hooks hooks = fr_runner_hooks(store);
		hooks.step = note_step;
		e = fr_engine_create(w->p, &eo, &hooks);
	}
	ready = json_pack("{sb ss}", "ready", 1, "fingerprint", w->fingerprint);
	status = fr_frame_send(fd, ready) == 0 ? FR_WORKER_EXIT_OK : FR_WORKER_EXIT_SETUP;
	json_decref(ready);
	/* the limit only now: loading is bounded by the files' own bounds */
	limit_memory(json_integer_value(json_object_get(hello, "memory")));
	while (status == FR_WORKER_EXIT_OK && fr_frame_recv(fd, -1, &job) == 0) {
		int rc = run_job(w, e, store, fd, job);
		json_decref(job);
		if (rc < 0)
			break;			/* serve went away */
	}
out:
	fr_engine_destroy(e);
	fr_oauth_destroy(oauth);
	fr_store_close(store);
	serve_world_put(w);
	free(so.paths);
	free(dirs);
	free(sets);
	json_decref(hello);
	return status;
}
