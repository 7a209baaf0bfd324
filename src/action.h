/*
 * action: runs connector actions for the engine (see action.c).
 *
 * The engine owns the context: the thread's jq programs and HTTP handle,
 * the execution's redactor (Authorization headers, secret connection
 * inputs and OAuth tokens are registered as they are met), the connection
 * inputs rendered so far, and the counters of the execution's result.
 */
#ifndef FR_ACTION_H
#define FR_ACTION_H

#include <jansson.h>
#include <jv.h>
#include <stdbool.h>
#include <stdint.h>

#include "exec.h"
#include "jqx.h"
#include "model.h"
#include "redact.h"

struct fr_http;

struct fr_action_ctx {
	struct fr_jqx *jx;
	struct fr_http *http;
	const struct fr_connector *http_connector;	/* the built-in */
	const struct fr_exec_opts *opts;
	struct fr_redact *redact;
	json_t *conns;		/* connection name -> rendered inputs */
	const jv *ctx;		/* the execution context, as it is now */
	const char *integration, *instance;	/* whose tokens (oauth.h) */
	unsigned *requests, *writes_sent, *writes_skipped;
	/* the action step running now and its input (for opts->intercept) */
	const struct fr_step *step;
	const json_t *input;
};

/*
 * Runs action step s (its `with` rendered against the context and vars),
 * recording requests and the dry-run picture in rec.  0 with *out, or -1
 * with *err (caller frees), naming method, URL and status where known.
 */
int fr_action_run(struct fr_action_ctx *a, const struct fr_step *s, jv vars,
		  json_t *rec, uint64_t deadline, jv *out, char **err);

/* Milliseconds since t0 (fr_now_ns), rounded to microseconds. */
json_t *fr_json_ms_since(uint64_t t0);
/* Sleeps ms unless that passes deadline (0: none); false then. */
bool fr_sleep_ms(uint64_t ms, uint64_t deadline);
/* The delay before try attempt + 1 under policy rt. */
int64_t fr_retry_delay_ms(const struct fr_retry *rt, int attempt);

#endif
