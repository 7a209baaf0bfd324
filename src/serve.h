/*
 * serve: the webhook daemon behind `flowrun serve`.
 *
 * Requests come from the HTTP front (server.h).  A webhook delivery is
 * routed by path to a flow and instance, verified, and handed to one
 * committer thread, which pushes every delivery waiting at that moment
 * into the store's queue in one transaction (one fsync) and only then
 * answers them 202 (or, for `respond: sync` flows, lets them wait for
 * their execution).  Deliveries run under claims with leases (store.h), so
 * several serve processes can share one PostgreSQL store: each runs what
 * it claimed, renews its leases while it runs, and takes over what a dead
 * process held once its leases run out.
 *
 * The pieces, each in its own file:
 *   serve.c          life cycle: threads, signals, drain (main thread)
 *   serve_world.c    the loaded files and their routes, swapped on reload
 *   serve_http.c     request handlers (libmicrohttpd's threads)
 *   serve_commit.c   the committer: pushes, claims, records (its thread)
 *   dispatch.c       which claimed delivery runs next (pure, clock given)
 *   serve_worker.c   the workers: each supervises a worker process that
 *                    runs one execution at a time (their threads)
 *   serve_child.c    the worker process (workerproc.c: what both ends share)
 *   serve_timer.c    schedules, sync timeouts, leases, wake-ups (its thread)
 *   serve_metrics.c  the /metrics text
 * serve_ctx.h holds what they share.
 *
 * The daemon takes a plain options struct: it knows nothing of the
 * command line.
 */
#ifndef FR_SERVE_H
#define FR_SERVE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

struct fr_serve_opts {
	char **paths;			/* flow files or directories */
	size_t npaths;
	const char *const *connector_dirs;
	size_t nconnector_dirs;
	const char *store;		/* store URL */
	const char *listen;		/* ADDR:PORT */
	const char *public_url;		/* NULL: where it listens */
	unsigned workers;
	unsigned http_threads;
	double grace_s;
	double sync_timeout_s;
	unsigned queue_limit;		/* deliveries queued locally before 503 */
	double lease_s;			/* claims held this long unless renewed */
	unsigned long long worker_memory; /* bytes a worker process may map */
	const struct fr_setting *sets;
	size_t nsets;
	const char *instance;		/* NULL: every instance */
	unsigned max_connections;	/* 0: 1024 */
	unsigned max_per_client;	/* connections per client address; 0: 128 */
	unsigned header_timeout_ms;	/* request line + headers; 0: 10 s */
	double retain_s;		/* --retain; 0: keep everything */
};

/*
 * Runs until SIGTERM or SIGINT (then drains) and returns an exit status
 * (enum fr_exit).  SIGHUP reloads the files.
 */
int fr_serve(const struct fr_serve_opts *opts);

#endif
