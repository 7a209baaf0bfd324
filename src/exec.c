#include "exec.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "action.h"
#include "expr.h"
#include "http.h"
#include "jqx.h"
#include "json.h"
#include "util.h"


struct fr_engine {
	const struct fr_project *p;
	struct fr_exec_opts opts;
	struct fr_exec_hooks hooks;
	struct fr_jqx *jx;
	struct fr_http *http;
	const struct fr_connector *http_connector;
	struct fr_engine *pool[64];	/* for loops with concurrency */
	jv k_steps, k_state;	/* the context's keys, made once */
	double now;		/* jq's `now` with a fixed clock */
};

struct run {
	struct fr_engine *e;
	const struct fr_exec_request *req;
	struct fr_exec_result *res;
	jv ctx;
	json_t *conns;		/* connection name -> rendered inputs */
	uint64_t deadline;	/* the flow's */
	bool stop;		/* a stop or fail step, or a failure */
	bool failed;
	char *error;
	json_t *response;
	jv last;
	json_t *lastj;		/* last, as converted for the trace, or NULL */
	struct fr_action_ctx act;
};

struct fr_engine *fr_engine_create(const struct fr_project *p,
				   const struct fr_exec_opts *opts,
				   const struct fr_exec_hooks *hooks)
{
	struct fr_engine *e = fr_xcalloc(1, sizeof(*e));

	e->p = p;
	if (opts)
		e->opts = *opts;
	if (hooks)
		e->hooks = *hooks;
	e->jx = fr_jqx_create(p->prog);
	e->k_steps = jv_string("steps");
	e->k_state = jv_string("state");
	e->http = fr_http_create();
	if (!e->http)
		abort();
	for (size_t i = 0; i < p->nconnectors; i++) {
		if (p->connectors[i]->builtin)
			e->http_connector = p->connectors[i];
	}
	return e;
}

void fr_engine_destroy(struct fr_engine *e)
{
	if (!e)
		return;
	for (size_t i = 0; i < FR_ARRAY_LEN(e->pool); i++)
		fr_engine_destroy(e->pool[i]);
	fr_jqx_destroy(e->jx);
	fr_http_destroy(e->http);
	jv_free(e->k_steps);
	jv_free(e->k_state);
	free(e);
}

struct fr_jqx *fr_engine_jqx(struct fr_engine *e)
{
	return e->jx;
}

void fr_engine_set_now(struct fr_engine *e, double now)
{
	e->now = now;
	fr_jqx_set_now(e->jx, now);
}

/* The context with .FIELD[key] = v (field borrowed, v consumed), in place. */
static void set_ctx_field(struct run *r, jv field, const char *key, jv v)
{
	jv obj = jv_object_get(jv_copy(r->ctx), jv_copy(field));

	/* the context lets go of obj, so that obj is changed in place */
	r->ctx = jv_object_set(r->ctx, jv_copy(field), jv_null());
	obj = jv_object_set(obj, jv_string(key), v);
	r->ctx = jv_object_set(r->ctx, jv_copy(field), obj);
}

static int eval(struct run *r, const struct fr_expr *x, jv input, jv vars,
		jv *out, char **err)
{
	return fr_jqx_eval(r->e->jx, x->id, input, jv_copy(vars), out, err);
}

static int render(struct run *r, const struct fr_tmpl *t, jv input, jv vars,
		  json_t **out, char **err)
{
	return fr_tmpl_render(t, r->e->jx, input, vars, out, err);
}

static bool timed_out(const struct run *r, uint64_t step_deadline)
{
	uint64_t now = fr_now_ns();

	return now >= r->deadline || (step_deadline && now >= step_deadline);
}

/* Sleeps ms, but not past the deadline; false when the deadline came. */


/* The action runner's view of run r (action.h). */
static void init_action_ctx(struct run *r)
{
	r->act = (struct fr_action_ctx){
		.jx = r->e->jx, .http = r->e->http,
		.http_connector = r->e->http_connector, .opts = &r->e->opts,
		.redact = r->req->redact, .conns = r->conns, .ctx = &r->ctx,
		.integration = r->req->flow->integration
				       ? r->req->flow->integration->name : "",
		.instance = r->req->instance ? r->req->instance : "default",
		.requests = &r->res->requests,
		.writes_sent = &r->res->writes_sent,
		.writes_skipped = &r->res->writes_skipped,
	};
}

/* steps */

static int run_steps(struct run *r, const struct fr_steps *steps, jv vars,
		     json_t *trace, jv *last);

static int do_branch(struct run *r, const struct fr_step *s, jv vars,
		     json_t *rec, jv *out, char **err)
{
	const struct fr_steps *chosen = NULL;
	const char *name = NULL;
	json_t *sub = json_array();
	jv last = jv_null();
	int rc;

	for (size_t i = 0; i < s->ncases && !chosen; i++) {
		jv v;
		if (eval(r, s->cases[i].when, jv_copy(r->ctx), vars, &v, err) < 0) {
			char *m = fr_xasprintf("case '%s': %s", s->cases[i].name, *err);
			free(*err);
			*err = m;
			json_decref(sub);
			return -1;
		}
		if (fr_jv_truthy(v)) {
			chosen = &s->cases[i].steps;
			name = s->cases[i].name;
		}
		jv_free(v);
	}
	if (!chosen && s->has_else) {
		chosen = &s->else_steps;
		name = "else";
	}
	json_object_set_new(rec, "branch", name ? json_string(name) : json_null());
	json_object_set_new(rec, "steps", sub);
	if (!chosen) {
		*out = jv_object_set(jv_object(), jv_string("branch"), jv_null());
		return 0;
	}
	rc = run_steps(r, chosen, vars, sub, &last);
	*out = jv_object_set(jv_object_set(jv_object(), jv_string("branch"),
					   jv_string(name)),
			     jv_string("output"), last);
	return rc;
}

/*
 * Parallel iterations (concurrency > 1).  jv and json_t values are not
 * thread-safe, so each worker gets its own engine (from e->pool: its own jq
 * state and HTTP handle) and its own copies of the context, made
 * from text before the threads start.  Results and traces come back per
 * index after the join, so the loop's output keeps the items' order.
 */
struct slot {
	jv out;
	json_t *trace;
	bool ran, failed, stopped;
	char *error;
};

struct par {
	struct run *parent;
	const struct fr_step *s;
	char *ctx, *vars, *items;
	uint64_t deadline;
	int n;
	atomic_int next;
	atomic_bool stop;
	struct slot *slots;
};

struct worker {
	struct par *par;
	struct fr_engine *e;
	json_t *conns;
	struct fr_exec_result res;
	char *state;		/* .state when done, as text */
};

static void *loop_worker(void *arg)
{
	struct worker *w = arg;
	struct par *par = w->par;
	struct run sub = { .e = w->e, .req = par->parent->req, .res = &w->res };
	jv vars = jv_parse(par->vars), items = jv_parse(par->items);

	sub.ctx = jv_parse(par->ctx);
	sub.conns = w->conns;
	init_action_ctx(&sub);
	sub.deadline = par->deadline;
	sub.last = jv_null();
	fr_jqx_deadline(sub.deadline);
	for (;;) {
		int k = atomic_fetch_add(&par->next, 1);
		struct slot *sl;
		jv ivars, steps;
		if (k >= par->n || atomic_load(&par->stop))
			break;
		sl = &par->slots[k];
		sl->trace = json_array();
		sl->out = jv_null();
		sl->ran = true;
		ivars = jv_array_append(jv_array_append(jv_copy(vars),
			jv_array_get(jv_copy(items), k)), jv_number(k));
		steps = jv_object_get(jv_copy(sub.ctx), jv_copy(w->e->k_steps));
		run_steps(&sub, &par->s->body, ivars, sl->trace, &sl->out);
		sub.ctx = jv_object_set(sub.ctx, jv_copy(w->e->k_steps), steps);
		jv_free(ivars);
		if (sub.failed || sub.stop) {
			sl->failed = sub.failed;
			sl->stopped = true;
			sl->error = sub.error;
			sub.error = NULL;
			sub.failed = sub.stop = false;
			atomic_store(&par->stop, true);
		}
	}
	fr_jqx_deadline(0);
	{
		jv state = jv_object_get(jv_copy(sub.ctx), jv_string("state"));
		w->state = fr_jv_dump(state);
		jv_free(state);
	}
	jv_free(vars);
	jv_free(items);
	jv_free(sub.ctx);
	jv_free(sub.last);
	return NULL;
}

static int loop_parallel(struct run *r, const struct fr_step *s, jv vars,
			 jv items, int n, uint64_t deadline, json_t *iters,
			 jv *results)
{
	int nworkers = s->concurrency < n ? s->concurrency : n, rc = 0;
	struct par par = { .parent = r, .s = s, .n = n, .deadline = deadline };
	struct worker *w = fr_xcalloc((size_t)nworkers, sizeof(*w));
	pthread_t *t = fr_xcalloc((size_t)nworkers, sizeof(*t));

	if (nworkers > (int)FR_ARRAY_LEN(r->e->pool))
		nworkers = (int)FR_ARRAY_LEN(r->e->pool);
	par.ctx = fr_jv_dump(r->ctx);
	par.vars = fr_jv_dump(vars);
	par.items = fr_jv_dump(items);
	par.slots = fr_xcalloc((size_t)n, sizeof(*par.slots));
	atomic_init(&par.next, 0);
	atomic_init(&par.stop, false);
	for (int i = 0; i < nworkers; i++) {
		if (!r->e->pool[i])
			r->e->pool[i] = fr_engine_create(r->e->p, &r->e->opts,
							 &r->e->hooks);
		fr_engine_set_now(r->e->pool[i], r->e->now);
		w[i].par = &par;
		w[i].e = r->e->pool[i];
		w[i].conns = json_deep_copy(r->conns);
		if (pthread_create(&t[i], NULL, loop_worker, &w[i]) != 0)
			abort();
	}
	for (int i = 0; i < nworkers; i++) {
		pthread_join(t[i], NULL);
		r->res->requests += w[i].res.requests;
		r->res->writes_sent += w[i].res.writes_sent;
		r->res->writes_skipped += w[i].res.writes_skipped;
		json_decref(w[i].conns);
		/* what `set` wrote in the iterations is visible after the loop */
		jv st = jv_parse(w[i].state);
		jv_object_foreach(st, key, val) {
			set_ctx_field(r, r->e->k_state, jv_string_value(key), val);
			jv_free(key);
		}
		jv_free(st);
		free(w[i].state);
	}
	for (int k = 0; k < n; k++) {
		struct slot *sl = &par.slots[k];
		if (!sl->ran)
			continue;
		json_array_append_new(iters, json_pack("{si so}", "index", k,
						       "steps", sl->trace));
		*results = jv_array_append(*results, sl->out);
		if (sl->stopped && !r->stop) {
			r->stop = true;
			r->failed = sl->failed;
			r->error = sl->error;
			sl->error = NULL;
			rc = sl->failed ? -1 : 0;
		}
		free(sl->error);
	}
	free(par.slots);
	free(par.ctx);
	free(par.vars);
	free(par.items);
	free(w);
	free(t);
	return rc;
}

/*
 * Runs the body once per item.  Inside an iteration, .steps.ID of the body's
 * steps are that iteration's; they are not kept after it, whatever the
 * concurrency.  The output is the list of each iteration's last output.
 */
static int do_loop(struct run *r, const struct fr_step *s, jv vars,
		   json_t *rec, uint64_t deadline, jv *out, char **err)
{
	json_t *iters;
	jv items, results = jv_array();
	int n, rc = 0;

	*out = jv_null();
	if (eval(r, s->over, jv_copy(r->ctx), vars, &items, err) < 0) {
		jv_free(results);
		return -1;
	}
	if (jv_get_kind(items) == JV_KIND_NULL) {
		jv_free(items);
		items = jv_array();
	}
	if (jv_get_kind(items) != JV_KIND_ARRAY) {
		*err = fr_xasprintf("loop 'over' must yield a list, not %s",
				    jv_kind_name(jv_get_kind(items)));
		jv_free(items);
		jv_free(results);
		return -1;
	}
	n = jv_array_length(jv_copy(items));
	if (s->max && n > s->max) {
		*err = fr_xasprintf("loop over %d items exceeds its max of %d",
				    n, s->max);
		jv_free(items);
		jv_free(results);
		return -1;
	}
	iters = json_array();
	json_object_set_new(rec, "iterations", iters);
	if (s->concurrency > 1 && n > 1) {
		rc = loop_parallel(r, s, vars, items, n, deadline, iters, &results);
		jv_free(items);
		*out = results;
		return rc;
	}
	for (int i = 0; i < n && !r->stop; i++) {
		json_t *sub = json_array();
		jv ivars = jv_array_append(jv_array_append(jv_copy(vars),
			jv_array_get(jv_copy(items), i)), jv_number(i));
		jv steps = jv_object_get(jv_copy(r->ctx), jv_copy(r->e->k_steps));
		jv last = jv_null();
		json_array_append_new(iters, json_pack("{si so}", "index", i, "steps", sub));
		rc = run_steps(r, &s->body, ivars, sub, &last);
		r->ctx = jv_object_set(r->ctx, jv_copy(r->e->k_steps), steps);
		jv_free(ivars);
		results = jv_array_append(results, last);
		if (rc < 0)
			break;
	}
	jv_free(items);
	*out = results;
	return rc;
}

static void log_text(struct run *r, const struct fr_step *s, const char *text)
{
	char *red = fr_redact_str(r->req->redact, text);

	if (r->e->hooks.log)
		r->e->hooks.log(r->e->hooks.data, r->req, s->level,
				s->id, red);
	free(red);
}

/* One key's program, run by the store with the key's row locked. */
struct update_call {
	struct run *r;
	const struct fr_expr *expr;
	jv vars;
};

static int update_fn(void *data, const json_t *old, json_t **out, char **err)
{
	struct update_call *c = data;
	jv v;

	/* `.` is the key's current value, $ctx the execution's context */
	if (fr_jqx_eval_on(c->r->e->jx, c->expr->id, jv_copy(c->r->ctx),
			   jv_copy(c->vars), old ? fr_json_to_jv(old) : jv_null(),
			   &v, err) < 0)
		return -1;
	*out = fr_jv_to_json(v);
	if (!*out) {
		*err = fr_xstrdup("the update's value is not JSON");
		return -1;
	}
	return 0;
}

/* Each key's program over its current value, in the store or in memory. */
static int do_update(struct run *r, const struct fr_step *s, jv vars,
		     json_t *rec, jv *out, char **err)
{
	bool write = !r->e->opts.dry_run && !r->e->opts.offline &&
		     r->e->hooks.update_state;
	json_t *result = json_object();

	for (size_t i = 0; i < s->nupdates; i++) {
		const char *key = s->updates[i].key;
		struct update_call c = { r, s->updates[i].expr, vars };
		json_t *val = NULL, *old = NULL;
		int rc;
		if (write) {
			rc = r->e->hooks.update_state(r->e->hooks.data, r->req, key,
						      update_fn, &c, &val, err);
		} else {
			jv cur = jv_object_get(jv_object_get(jv_copy(r->ctx),
							     jv_string("state")),
					       jv_string(key));
			if (jv_is_valid(cur) && jv_get_kind(cur) != JV_KIND_NULL)
				old = fr_jv_to_json(cur);
			else
				jv_free(cur);
			rc = update_fn(&c, old, &val, err);
			json_decref(old);
		}
		if (rc < 0) {
			json_decref(result);
			return -1;
		}
		set_ctx_field(r, r->e->k_state, key, fr_json_to_jv(val));
		json_object_set_new(result, key, val ? val : json_null());
	}
	if (!write)
		json_object_set_new(rec, "dry_run", json_true());
	*out = fr_json_to_jv(result);
	json_decref(result);
	return 0;
}

static int do_simple(struct run *r, const struct fr_step *s, jv vars,
		     json_t *rec, jv *out, char **err)
{
	json_t *v = NULL;
	const char *key;
	json_t *val;

	switch (s->kind) {
	case FR_STEP_TRANSFORM:
		return eval(r, s->expr, jv_copy(r->ctx), vars, out, err);
	case FR_STEP_LOG:
	case FR_STEP_FAIL:
	case FR_STEP_STOP:
		if (fr_tmpl_render_text(s->value, r->e->jx, r->ctx, vars, NULL,
					(char **)&key, err) < 0)
			return -1;
		if (s->kind == FR_STEP_LOG) {
			log_text(r, s, key);
			*out = jv_string(key);
		} else {
			r->stop = true;
			if (s->kind == FR_STEP_FAIL) {
				r->failed = true;
				free(r->error);
				r->error = fr_xstrdup(key);
			}
			*out = jv_string(key);
		}
		json_object_set_new(rec, "text", json_string(key));
		free((char *)key);
		return 0;
	case FR_STEP_SET:
		if (render(r, s->value, r->ctx, vars, &v, err) < 0)
			return -1;
		json_object_foreach(v, key, val) {
			if (!r->e->opts.dry_run && !r->e->opts.offline &&
			    r->e->hooks.set_state &&
			    r->e->hooks.set_state(r->e->hooks.data, r->req, key, val,
						  err) < 0) {
				json_decref(v);
				return -1;
			}
			set_ctx_field(r, r->e->k_state, key, fr_json_to_jv(val));
		}
		if (r->e->opts.dry_run || r->e->opts.offline)
			json_object_set_new(rec, "dry_run", json_true());
		*out = fr_json_to_jv(v);
		json_decref(v);
		return 0;
	case FR_STEP_RESPOND:
		if (render(r, s->value, r->ctx, vars, &v, err) < 0)
			return -1;
		json_decref(r->response);
		r->response = json_incref(v);
		*out = fr_json_to_jv(v);
		json_decref(v);
		return 0;
	default:
		*err = fr_xstrdup("internal error: unknown step kind");
		return -1;
	}
}

static int exec_step(struct run *r, const struct fr_step *s, jv vars,
		     json_t *rec, uint64_t deadline, jv *out, char **err)
{
	switch (s->kind) {
	case FR_STEP_ACTION:
		return fr_action_run(&r->act, s, vars, rec, deadline, out, err);
	case FR_STEP_BRANCH:
		return do_branch(r, s, vars, rec, out, err);
	case FR_STEP_LOOP:
		return do_loop(r, s, vars, rec, deadline, out, err);
	case FR_STEP_UPDATE:
		return do_update(r, s, vars, rec, out, err);
	default:
		return do_simple(r, s, vars, rec, out, err);
	}
}

static char *step_name(const struct fr_step *s)
{
	if (s->id)
		return fr_xasprintf("step '%s'", s->id);
	return fr_xasprintf("%s step at line %u", fr_step_kind_name(s->kind),
			    s->loc.line);
}

/* The message for a step stopped by its timeout or the flow's (frees err). */
static char *timeout_message(const struct run *r, const struct fr_step *s,
			     char *err)
{
	char *m;
	bool flow = timed_out(r, 0);
	long long ms = flow ? (long long)r->req->flow->timeout_ms
			    : (long long)s->timeout_ms;
	bool detail = err && !strstr(err, "interrupted") && strcmp(err, "timed out");

	m = fr_xasprintf("%s %lld ms%s%s%s", flow ? "the flow's timeout passed:"
						  : "timed out after", ms,
			 detail ? " (" : "", detail ? err : "", detail ? ")" : "");
	free(err);
	return m;
}

/* Step records: keys and statuses are ASCII, every jv string valid UTF-8. */
static void put(json_t *rec, const char *key, json_t *v)
{
	json_object_set_new_nocheck(rec, key, v);
}

static void put_status(json_t *rec, const char *status)
{
	put(rec, "status", json_string_nocheck(status));
}

/*
 * Runs one step with its `if`, timeout and on_error.  A failure that is not
 * ignored stops the execution (r->failed, r->error).
 */
static int run_step(struct run *r, const struct fr_step *s, jv vars,
		    json_t *trace, jv *last)
{
	json_t *rec = json_object();
	uint64_t t0 = fr_now_ns();
	uint64_t deadline = r->deadline;
	jv out = jv_null();
	json_t *outj = NULL;
	char *err = NULL;
	int rc = 0;

	json_array_append_new(trace, rec);
	put(rec, "id", s->id ? json_string_nocheck(s->id) : json_null());
	put(rec, "kind", json_string_nocheck(fr_step_kind_name(s->kind)));
	put(rec, "line", json_integer(s->loc.line));
	if (s->timeout_ms) {
		uint64_t d = t0 + (uint64_t)s->timeout_ms * 1000000u;
		if (d < deadline)
			deadline = d;
	}
	if (deadline != r->deadline)	/* the flow's deadline is armed already */
		fr_jqx_deadline(deadline);
	if (r->e->hooks.step)
		r->e->hooks.step(r->e->hooks.data, s, deadline);
	if (s->cond) {
		jv c;
		if (eval(r, s->cond, jv_copy(r->ctx), vars, &c, &err) < 0)
			goto failed;
		bool run = fr_jv_truthy(c);
		jv_free(c);
		if (!run) {
			put_status(rec, "skipped");
			put(rec, "duration_ms", fr_json_ms_since(t0));
			if (deadline != r->deadline)
				fr_jqx_deadline(r->deadline);
			return 0;
		}
	}
	for (int attempt = 1;; attempt++) {
		rc = exec_step(r, s, vars, rec, deadline, &out, &err);
		if (rc == 0 && timed_out(r, deadline) && s->kind != FR_STEP_LOOP &&
		    s->kind != FR_STEP_BRANCH)
			rc = -1;
		if (rc == 0 || r->stop)
			break;
		if (!err || timed_out(r, deadline)) {
			err = timeout_message(r, s, err);
			break;
		}
		if (attempt >= s->retry.attempts)
			break;
		put(rec, "retries", json_integer(attempt));
		if (!r->e->opts.intercept &&	/* a test does not wait */
		    !fr_sleep_ms((uint64_t)fr_retry_delay_ms(&s->retry, attempt), deadline))
			break;
		jv_free(out);
		out = jv_null();
		free(err);
		err = NULL;
	}
	if (deadline != r->deadline)
		fr_jqx_deadline(r->deadline);
	/* the output is converted for the trace anyway: a value nested too
	 * deep for the conversions (and the context) fails the step */
	if (rc == 0 && !(outj = fr_jv_to_json(jv_copy(out)))) {
		fr_jv_free_deep(out);
		out = jv_null();
		err = fr_xstrdup(FR_JSON_TOO_DEEP);
		rc = -1;
	}
	if (rc < 0 && !err && r->failed) {
		/* a step inside (a loop or branch) failed and said why */
		put_status(rec, "failed");
		rc = -1;
		goto done;
	}
	if (rc == 0 && s->kind == FR_STEP_FAIL) {
		put_status(rec, "failed");
		put(rec, "error", json_string(r->error));
		goto done;
	}
	if (rc == 0 || (r->stop && !err)) {
		put_status(rec, json_object_get(rec, "dry_run") ? "dry-run" : "ok");
		goto done;
	}
failed:
	if (timed_out(r, deadline) && !strstr(err, "timed out after") &&
	    !strstr(err, "timeout ("))
		err = timeout_message(r, s, err);
	if (s->on_error == FR_ON_ERROR_IGNORE && !timed_out(r, 0)) {
		jv_free(out);
		out = jv_object_set(jv_object(), jv_string("error"), jv_string(err));
		put_status(rec, "ignored");
		put(rec, "error", json_string(err));
		rc = 0;
	} else {
		char *name = step_name(s);
		put_status(rec, "failed");
		put(rec, "error", json_string(err));
		if (!r->failed) {
			r->failed = true;
			free(r->error);
			r->error = fr_xasprintf("%s of flow '%s' failed: %s", name,
						r->req->flow->name, err);
		}
		r->stop = true;
		free(name);
		rc = -1;
	}
done:
	free(err);
	put(rec, "duration_ms", fr_json_ms_since(t0));
	if (!outj)
		outj = fr_jv_to_json(jv_copy(out));
	put(rec, "output", outj);
	if (last == &r->last) {
		/* the execution's output, unless a later step changes it */
		json_decref(r->lastj);
		r->lastj = json_incref(outj);
	}
	if (s->id)
		set_ctx_field(r, r->e->k_steps, s->id, jv_copy(out));
	jv_free(*last);
	*last = out;
	return rc;
}

static int run_steps(struct run *r, const struct fr_steps *steps, jv vars,
		     json_t *trace, jv *last)
{
	for (size_t i = 0; i < steps->n && !r->stop; i++) {
		if (run_step(r, steps->v[i], vars, trace, last) < 0)
			return -1;
	}
	return r->failed ? -1 : 0;
}

char *fr_webhook_url(const char *public_url, const struct fr_flow *f,
		     const char *instance)
{
	const char *base = public_url ? public_url : "http://127.0.0.1:8080";
	size_t n = strlen(base);

	while (n && base[n - 1] == '/')
		n--;
	bool dflt = !instance || strcmp(instance, "default") == 0;

	if (f->webhook.path && dflt)
		return fr_xasprintf("%.*s%s", (int)n, base, f->webhook.path);
	if (dflt)
		return fr_xasprintf("%.*s/hooks/%s/%s", (int)n, base,
				    f->integration->name, f->name);
	return fr_xasprintf("%.*s/hooks/%s/%s/%s", (int)n, base, instance,
			    f->integration->name, f->name);
}

static jv base_context(const struct fr_engine *e, const struct fr_exec_request *req)
{
	const struct fr_integration *in = req->flow->integration;
	const char *instance = req->instance ? req->instance : "default";
	jv hooks = jv_object();

	for (size_t i = 0; i < in->nflows; i++) {
		if (in->flows[i].trigger != FR_TRIGGER_WEBHOOK)
			continue;
		char *url = fr_webhook_url(e->opts.public_url, &in->flows[i], instance);
		hooks = jv_object_set(hooks, jv_string(in->flows[i].name), jv_string(url));
		free(url);
	}
	jv ctx = jv_object();
	ctx = jv_object_set(ctx, jv_string("trigger"),
			    req->trigger ? fr_json_to_jv(req->trigger) : jv_object());
	ctx = jv_object_set(ctx, jv_string("steps"), jv_object());
	ctx = jv_object_set(ctx, jv_string("config"),
			    req->config ? fr_json_to_jv(req->config) : jv_object());
	ctx = jv_object_set(ctx, jv_string("state"),
			    req->state ? fr_json_to_jv(req->state) : jv_object());
	ctx = jv_object_set(ctx, jv_string("webhooks"), hooks);
	ctx = jv_object_set(ctx, jv_string("instance"), jv_string(instance));
	ctx = jv_object_set(ctx, jv_string("integration"), jv_string(in->name));
	ctx = jv_object_set(ctx, jv_string("flow"), jv_string(req->flow->name));
	ctx = jv_object_set(ctx, jv_string("execution"),
			    jv_string(req->execution ? req->execution : ""));
	return ctx;
}

int fr_engine_run(struct fr_engine *e, const struct fr_exec_request *req,
		  struct fr_exec_result *out)
{
	struct run r = { .e = e, .req = req, .res = out };
	uint64_t t0 = fr_now_ns();
	json_t *steps = json_array(), *trace;
	jv vars = jv_array();

	memset(out, 0, sizeof(*out));
	r.ctx = base_context(e, req);
	r.conns = json_object();
	init_action_ctx(&r);
	r.last = jv_null();
	r.deadline = t0 + (uint64_t)req->flow->timeout_ms * 1000000u;
	fr_jqx_deadline(r.deadline);
	run_steps(&r, &req->flow->steps, vars, steps, &r.last);
	fr_jqx_deadline(0);
	jv_free(vars);

	out->duration_ns = fr_now_ns() - t0;
	out->status = r.failed ? FR_EXEC_FAILED : FR_EXEC_OK;
	if (r.error) {
		/* redacted whole, then made one line: logs print it as is */
		char *red = fr_redact_str(req->redact, r.error);
		out->error = fr_escape_controls(red);
		free(red);
	}
	/* the same value as the last step's record holds: no conversion */
	if (r.lastj) {
		out->output = r.lastj;
		jv_free(r.last);
	} else {
		out->output = fr_jv_to_json(r.last);
	}
	out->response = r.response;
	trace = json_pack("{ss ss ss ss ss sb ss}",
			  "execution", req->execution ? req->execution : "",
			  "integration", req->flow->integration->name,
			  "flow", req->flow->name,
			  "instance", req->instance ? req->instance : "default",
			  "status", r.failed ? "failed" : "ok",
			  "dry_run", e->opts.dry_run || e->opts.offline,
			  "trigger", fr_trigger_name(req->flow->trigger));
	json_object_set_new(trace, "duration_ms",
			    json_real(round((double)out->duration_ns / 1e3) / 1e3));
	json_object_set_new(trace, "error", out->error ? json_string(out->error)
						       : json_null());
	json_object_set_new(trace, "requests", json_integer(out->requests));
	json_object_set_new(trace, "writes_sent", json_integer(out->writes_sent));
	json_object_set_new(trace, "writes_skipped", json_integer(out->writes_skipped));
	json_object_set(trace, "output", out->output);
	json_object_set_new(trace, "steps", steps);
	fr_redact_json_inplace(req->redact, trace);
	out->trace = trace;
	free(r.error);
	json_decref(r.conns);
	jv_free(r.ctx);
	return r.failed ? -1 : 0;
}

void fr_exec_result_finish(struct fr_exec_result *r)
{
	free(r->error);
	json_decref(r->output);
	json_decref(r->response);
	json_decref(r->trace);
	memset(r, 0, sizeof(*r));
}
