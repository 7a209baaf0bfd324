/*
 * serve: the webhook daemon behind `flowrun serve`.
 *
 * Requests come from the HTTP front (server.h).  A webhook delivery is
 * routed by path to a flow and instance, verified, and handed to one
 * committer thread, which writes every delivery waiting at that moment in
 * one transaction (one fsync) and only then answers them 202 (or, for
 * `respond: sync` flows, lets them wait for their execution).  Workers take
 * queued deliveries from an in-memory dispatcher that honours each flow's
 * `concurrency` and `fifo`, run them (runner.h), and retry failures with
 * exponential backoff and jitter.  A timer thread fires schedules, answers
 * sync requests that waited too long (504) and wakes delayed retries.
 *
 * Every delivery that was answered 2xx is in the store; whatever did not
 * finish (kill -9 included) is queued again when serve starts.
 */
#ifndef FR_SERVE_H
#define FR_SERVE_H

#include <stdbool.h>

#include "cmd.h"
#include "config.h"

struct fr_serve_opts {
	const struct fr_common *common;
	char **paths;
	size_t npaths;
	const char *listen;
	const char *public_url;
	unsigned workers;
	unsigned http_threads;
	double grace_s;
	double sync_timeout_s;
	unsigned queue_limit;
	const struct fr_setting *sets;
	size_t nsets;
	const char *instance;		/* NULL: every instance */
};

/*
 * Runs until SIGTERM or SIGINT (then drains) and returns an exit status.
 * SIGHUP reloads the files.
 */
int fr_serve(const struct fr_serve_opts *opts);

#endif
