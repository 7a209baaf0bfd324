/*
 * serve: the life cycle of `flowrun serve` (serve.h lists the pieces).
 * The main thread loads the world, opens the store (taking its serve
 * lock), starts the committer, the workers, the timer and the HTTP front,
 * then waits for signals: SIGHUP reloads the files, SIGTERM and SIGINT
 * drain and stop.
 */
#include "serve.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "exec.h"
#include "http.h"
#include "log.h"
#include "serve_ctx.h"
#include "util.h"

/* committed deliveries handed to the workers in memory, up to this size */
#define HELD_MAX_BYTES (8u << 20)

struct world *serve_world_current(struct serve *s)
{
	struct world *w;

	pthread_mutex_lock(&s->mu);
	w = serve_world_ref(s->world);
	pthread_mutex_unlock(&s->mu);
	return w;
}

static void print_startup(struct serve *s, struct world *w)
{
	fr_log_info("serving on port %u (%s), store %s, %zu worker%s, %zu hook%s",
		    fr_server_port(s->srv), s->o->listen, s->store_shown,
		    s->nworkers, s->nworkers == 1 ? "" : "s", w->nroutes,
		    w->nroutes == 1 ? "" : "s");
	for (size_t i = 0; i < w->nroutes; i++)
		fr_log_info("  %s -> %s%s", w->routes[i].key, s->public_url,
			    w->routes[i].path);
}

static void reload(struct serve *s)
{
	struct fr_diag d;
	struct world *w, *old;
	int status;

	fr_diag_init(&d, stderr);
	w = serve_world_load(s->o, &d, &status);
	fr_diag_flush(&d);
	if (!w) {
		fr_log_error("reload failed; still serving the files loaded before");
		return;
	}
	pthread_mutex_lock(&s->mu);
	old = s->world;
	s->world = w;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	serve_world_put(old);
	fr_log_info("reloaded: %zu hook%s", w->nroutes, w->nroutes == 1 ? "" : "s");
}

/* This process's name in the store's claims: host, pid and a nonce. */
static char *owner_name(void)
{
	char host[256] = "host";
	char *nonce = fr_new_id(""), *owner;

	gethostname(host, sizeof(host) - 1);
	host[sizeof(host) - 1] = '\0';
	owner = fr_xasprintf("%s:%ld:%s", host, (long)getpid(), nonce + 12);
	free(nonce);
	return owner;
}

static char *public_url(const struct fr_serve_opts *o, unsigned port)
{
	const char *colon = strrchr(o->listen, ':');
	int hl = (int)(colon ? colon - o->listen : 0);
	bool any = hl == 0 || (hl == 7 && strncmp(o->listen, "0.0.0.0", 7) == 0);

	if (o->public_url)
		return fr_xstrdup(o->public_url);
	return fr_xasprintf("http://%.*s:%u", any ? 9 : hl,
			    any ? "127.0.0.1" : o->listen, port);
}

static int start_thread(pthread_t *t, bool *started, void *(*fn)(void *),
			void *arg, const char *what)
{
	int rc = pthread_create(t, NULL, fn, arg);

	if (rc != 0) {
		fr_log_error("cannot start the %s thread: %s", what, strerror(rc));
		return -1;
	}
	*started = true;
	return 0;
}

/*
 * Gives every claimed delivery that no worker started back to the queue,
 * for this process after restart or for another one now.
 */
static void release_held(struct serve *s, struct fr_store *store)
{
	struct fr_delivery **ds;
	size_t n;
	char *err = NULL;

	pthread_mutex_lock(&s->mu);
	ds = fr_dispatch_release(s->dp, &n);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		if (fr_store_finish(store, ds[i]->id, s->owner, FR_STATUS_QUEUED, 0,
				    &err) < 0) {
			fr_log_warn("%s (its lease runs out instead)", err);
			free(err);
			err = NULL;
		}
	}
	fr_deliveries_free(ds, n);
}

/* Stops accepting, lets running executions finish within the grace. */
static int drain(struct serve *s, int sig, struct fr_store *store)
{
	double until = fr_store_now() + s->o->grace_s;
	size_t left;

	fr_log_info("%s: draining (up to %.0f s)", sig == SIGINT ? "SIGINT"
							     : "SIGTERM",
		    s->o->grace_s);
	atomic_store(&s->ready, false);
	pthread_mutex_lock(&s->mu);
	s->draining = true;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	release_held(s, store);
	pthread_mutex_lock(&s->mu);
	while (fr_dispatch_running(s->dp) > 0 && fr_store_now() < until) {
		struct timespec ts = { .tv_sec = (time_t)until + 1, .tv_nsec = 0 };
		pthread_cond_timedwait(&s->idle, &s->mu, &ts);
	}
	left = fr_dispatch_running(s->dp);
	s->stopping = true;
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	return (int)left;
}

static void stop_threads(struct serve *s)
{
	if (s->timer_started)
		pthread_join(s->timer, NULL);
	for (size_t i = 0; i < s->nworkers; i++) {
		if (s->workers[i].started)
			pthread_join(s->workers[i].thread, NULL);
	}
	/* the committer answers what it holds, records the last ends, stops */
	pthread_mutex_lock(&s->cmu);
	s->cstop = true;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
	if (s->committer_started)
		pthread_join(s->committer, NULL);
	/* sync requests still waiting: their executions stay queued */
	while (s->waits) {
		struct syncwait *sw = s->waits;
		s->waits = sw->next;
		fr_request_error(sw->r, 503, "shutting down; the delivery is stored "
				 "and runs after restart", "5");
		free(sw->id);
		free(sw);
	}
}

static void cleanup(struct serve *s, struct fr_store *store)
{
	for (size_t i = 0; i < s->nworkers; i++)
		serve_world_put(s->workers[i].world);
	free(s->workers);
	json_decref(s->hello);
	fr_dispatch_destroy(s->dp);
	free(s->pend);
	for (size_t i = 0; i < s->nfin; i++)
		fr_execution_finish(&s->fin[i].rec);
	free(s->fin);
	serve_world_put(s->world);
	free(s->public_url);
	free(s->owner);
	free(s->store_shown);
	serve_metrics_finish(&s->m);
	fr_store_close(store);
}

/* What every worker process loads: the files and settings serve loaded. */
static json_t *hello(const struct serve *s)
{
	const struct fr_serve_opts *o = s->o;
	json_t *paths = json_array(), *dirs = json_array(), *sets = json_array();
	struct fr_log_opts lo;

	for (size_t i = 0; i < o->npaths; i++)
		json_array_append_new(paths, json_string(o->paths[i]));
	for (size_t i = 0; i < o->nconnector_dirs; i++)
		json_array_append_new(dirs, json_string(o->connector_dirs[i]));
	for (size_t i = 0; i < o->nsets; i++)
		json_array_append_new(sets, json_pack("[ss]", o->sets[i].key,
						      o->sets[i].value));
	fr_log_current(&lo);
	return json_pack("{s{so so so ss? ss? ss} s{si sb} sI}",
			 "opts", "paths", paths, "connector_dirs", dirs,
			 "sets", sets, "instance", o->instance,
			 "public_url", s->public_url, "store", o->store,
			 "log", "verbosity", lo.verbosity, "json", lo.json,
			 "memory", (json_int_t)o->worker_memory);
}

static int start(struct serve *s, struct fr_store **store)
{
	const struct fr_serve_opts *o = s->o;
	struct fr_server_handlers h = { s, serve_http_start, serve_http_handle,
					serve_http_done };
	struct fr_server_opts so = { .listen = o->listen,
				     .threads = o->http_threads,
				     .max_connections = o->max_connections,
				     .max_per_client = o->max_per_client,
				     .header_timeout_ms = o->header_timeout_ms,
				     .connection_timeout_s = 30 };
	char *err = NULL;
	struct rlimit rl;

	/* a descriptor per connection: allow as many as the hard limit */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur < (rlim_t)(o->max_connections ? o->max_connections : 1024) + 256)
		fr_log_warn("the file descriptor limit (%llu) is below "
			    "--max-connections + 256: connections may be refused",
			    (unsigned long long)rl.rlim_cur);

	if (fr_store_open(store, o->store, &err) < 0 ||
	    fr_store_serve_lock(*store, &err) < 0)
		goto failed;
	s->nworkers = o->workers ? o->workers : 4;
	s->workers = fr_xcalloc(s->nworkers, sizeof(*s->workers));
	for (size_t i = 0; i < s->nworkers; i++)
		s->workers[i].s = s;
	s->srv = fr_server_start(&so, &h, &err);
	if (!s->srv)
		goto failed;
	s->public_url = public_url(o, fr_server_port(s->srv));
	s->hello = hello(s);
	if (start_thread(&s->committer, &s->committer_started, serve_commit_main,
			 s, "committer") < 0)
		return -1;
	for (size_t i = 0; i < s->nworkers; i++) {
		if (start_thread(&s->workers[i].thread, &s->workers[i].started,
				 serve_worker_main, &s->workers[i], "worker") < 0)
			return -1;
	}
	if (start_thread(&s->timer, &s->timer_started, serve_timer_main, s,
			 "timer") < 0)
		return -1;
	serve_commit_wake(s, false);	/* what is queued already */
	return 0;
failed:
	fr_log_error("%s", err);
	free(err);
	return -1;
}

int fr_serve(const struct fr_serve_opts *o)
{
	struct serve s = { .o = o };
	struct fr_store *store = NULL;
	struct fr_diag d;
	sigset_t set;
	int status, sig = SIGTERM, left;

	/* signals go to this thread only, through sigwait */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	fr_diag_init(&d, stderr);
	s.world = serve_world_load(o, &d, &status);
	fr_diag_flush(&d);
	if (!s.world)
		return status;
	pthread_mutex_init(&s.mu, NULL);
	pthread_cond_init(&s.work, NULL);
	pthread_cond_init(&s.idle, NULL);
	pthread_mutex_init(&s.cmu, NULL);
	pthread_cond_init(&s.ccv, NULL);
	atomic_init(&s.ready, false);
	atomic_init(&s.store_ok, true);
	serve_metrics_init(&s.m);
	s.owner = owner_name();
	s.store_shown = fr_store_url_redacted(o->store);
	fr_http_global_init();
	/* the workers' backlog: enough to keep them busy, bounded in memory */
	s.dp = fr_dispatch_create(4 * (o->workers ? o->workers : 4) + 16,
				  HELD_MAX_BYTES);
	if (start(&s, &store) < 0) {
		status = FR_EXIT_SYSTEM;
		goto stop;
	}
	atomic_store(&s.ready, true);
	print_startup(&s, s.world);

	for (;;) {
		if (sigwait(&set, &sig) != 0)
			continue;
		if (sig == SIGHUP) {
			reload(&s);
			continue;
		}
		break;
	}
	status = FR_EXIT_OK;
	left = drain(&s, sig, store);
	if (left) {
		fr_log_warn("%d execution%s still running after the grace period; "
			    "they run again when their leases run out (at the next "
			    "start, with SQLite)", left, left == 1 ? "" : "s");
		_exit(FR_EXIT_OK);	/* at least once: they are still claimed */
	}
stop:
	if (s.srv)
		fr_server_quiesce(s.srv);
	pthread_mutex_lock(&s.mu);
	s.draining = s.stopping = true;
	pthread_cond_broadcast(&s.work);
	pthread_mutex_unlock(&s.mu);
	stop_threads(&s);
	if (store)
		release_held(&s, store);	/* what the committer added last */
	if (s.srv)
		fr_server_stop(s.srv);
	cleanup(&s, store);
	if (status == FR_EXIT_OK)
		fr_log_info("stopped");
	return status;
}
