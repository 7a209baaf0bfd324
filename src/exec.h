/*
 * exec: the engine.  Runs one flow of a loaded project: every step kind,
 * `if`, on_error with retries, step and flow timeouts, and connector actions
 * over HTTP (http.h), with dry-run, offline and mocks.
 *
 * An engine belongs to one thread: it holds that thread's compiled jq
 * programs (jqx.h) and its HTTP handle (connections stay open between
 * executions).  A jq program running past its step's or flow's deadline is
 * interrupted on the thread that runs it (fr_jqx_deadline).  The project
 * must outlive the engine.
 *
 * The engine knows nothing about HTTP servers or stores: persisted state
 * and log lines leave through the hooks.  Everything it reports (the trace,
 * error messages, log lines) has passed through the execution's redactor.
 */
#ifndef FR_EXEC_H
#define FR_EXEC_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "model.h"
#include "project.h"
#include "redact.h"

struct fr_mock {
	const char *action;	/* "CONNECTION.ACTION", or a step id */
	json_t *output;		/* borrowed */
};

struct fr_http_request;
struct fr_http_response;
struct fr_oauth;

/*
 * Answers actions in place of the network (flowrun test).  With an
 * intercept nothing is ever sent and no retry waits: `action` is called for
 * each action step with its rendered input (borrowed), before --mock and
 * samples.  It returns FR_ANSWER_OUTPUT with *output (new ref),
 * FR_ANSWER_ERROR with *err (the step fails with it), or FR_ANSWER_HTTP:
 * then every request the action makes (retries and pages included) is
 * answered by `http` (0 with *out filled, or -1 with *err as a transport
 * error) and goes through the connector's expect, error, result and
 * pagination as a real answer would; or FR_ANSWER_SAMPLE: the output is
 * the action's sample, as under --offline.  Both may be called from loop worker
 * threads at once (loops with concurrency).
 */
enum fr_answer { FR_ANSWER_OUTPUT, FR_ANSWER_ERROR, FR_ANSWER_HTTP,
		FR_ANSWER_SAMPLE };

struct fr_intercept {
	void *data;
	enum fr_answer (*action)(void *data, const struct fr_step *s,
				 const json_t *input, json_t **output,
				 char **err);
	int (*http)(void *data, const struct fr_step *s, const json_t *input,
		    const struct fr_http_request *req,
		    struct fr_http_response *out, char **err);
};

struct fr_exec_opts {
	bool dry_run;		/* send reads, print writes, use samples */
	bool offline;		/* send nothing: mocks or samples only */
	const struct fr_mock *mocks;
	size_t nmocks;
	const char *public_url;	/* base of .webhooks URLs */
	const struct fr_intercept *intercept;	/* NULL: the network */
	int http_show;		/* run -v: 1 shows each exchange's heads,
				   2 its bodies too (http_show.h) */
	/* connectors' OAuth 2.0 tokens (oauth.h), shared by the process's
	 * engines; NULL: such connectors fail unless intercepted */
	struct fr_oauth *oauth;
};

struct fr_exec_request;

struct fr_exec_hooks {
	void *data;
	/* Persists one state key (durably) before the step completes. */
	int (*set_state)(void *data, const struct fr_exec_request *req,
			 const char *key, const json_t *value, char **err);
	/*
	 * An `update` step's key, atomically: fn gets the key's current
	 * value (NULL: unset) with it locked against every other writer, and
	 * its result (*out of fn) is written in the same transaction; *out
	 * gets the new value.  NULL: the engine updates its own copy only.
	 */
	int (*update_state)(void *data, const struct fr_exec_request *req,
			    const char *key,
			    int (*fn)(void *fn_data, const json_t *old,
				      json_t **out, char **err),
			    void *fn_data, json_t **out, char **err);
	/* A `log` step's text, redacted. */
	void (*log)(void *data, const struct fr_exec_request *req,
		    enum fr_log_level level, const char *step, const char *text);
	/*
	 * A step begins; its timeout (or the flow's, the earlier) passes at
	 * deadline_ns (fr_now_ns's clock).  serve's worker processes write it
	 * where their supervisor reads it.
	 */
	void (*step)(void *data, const struct fr_step *s, uint64_t deadline_ns);
};

struct fr_exec_request {
	const struct fr_flow *flow;
	const char *instance;		/* "default" when NULL */
	const json_t *config;		/* resolved; borrowed */
	const json_t *state;		/* borrowed; NULL = {} */
	const json_t *trigger;		/* borrowed; NULL = {} */
	const char *execution;		/* id */
	struct fr_redact *redact;	/* borrowed; secrets registered */
};

enum fr_exec_status { FR_EXEC_OK, FR_EXEC_FAILED };

struct fr_exec_result {
	enum fr_exec_status status;
	char *error;		/* when failed: redacted, one line (fr_escape_controls) */
	json_t *output;		/* the last step's output (not redacted) */
	json_t *response;	/* set by a respond step, else NULL */
	json_t *trace;		/* redacted; see flowrun(1) "JSON OUTPUT" */
	uint64_t duration_ns;
	unsigned requests, writes_sent, writes_skipped;
};

struct fr_engine;

struct fr_engine *fr_engine_create(const struct fr_project *p,
				   const struct fr_exec_opts *opts,
				   const struct fr_exec_hooks *hooks);
void fr_engine_destroy(struct fr_engine *e);

/* The engine's compiled programs, for its own thread's use between runs. */
struct fr_jqx *fr_engine_jqx(struct fr_engine *e);

/*
 * jq's `now` in the runs that follow, in seconds since the epoch, for a
 * project loaded with fr_load_opts.fixed_clock (else without effect).
 */
void fr_engine_set_now(struct fr_engine *e, double now);

/* Runs req; *out is filled in any case (finish it). 0 ok, -1 failed. */
int fr_engine_run(struct fr_engine *e, const struct fr_exec_request *req,
		  struct fr_exec_result *out);
void fr_exec_result_finish(struct fr_exec_result *r);

/* The public URL of a webhook flow for an instance (caller frees). */
char *fr_webhook_url(const char *public_url, const struct fr_flow *f,
		     const char *instance);

#endif
