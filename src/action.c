/*
 * action: one connector action over HTTP, for the engine: the request
 * rendered from the connector's templates (base URL, path with URL-encoded
 * values, query, headers, JSON/form/raw body), sent with the connector's
 * retry policy (listed statuses and connection errors, Retry-After), checked
 * (`expect`, the `error` condition), its `result` taken, and pages followed.
 * Also the built-in http.request, mocks, dry-run and offline.
 */
#include "action.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "crypto.h"
#include "expr.h"
#include "form.h"
#include "http.h"
#include "http_show.h"
#include "json.h"
#include "oauth.h"
#include "util.h"

#define BODY_EXCERPT 200

json_t *fr_json_ms_since(uint64_t t0)
{
	double ms = (double)(fr_now_ns() - t0) / 1e6;

	return json_real(round(ms * 1000.0) / 1000.0);
}

bool fr_sleep_ms(uint64_t ms, uint64_t deadline)
{
	uint64_t until = fr_now_ns() + ms * 1000000u;
	struct timespec ts;

	if (deadline && until > deadline)
		return false;
	ts.tv_sec = (time_t)(ms / 1000);
	ts.tv_nsec = (long)(ms % 1000) * 1000000;
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return true;
}

int64_t fr_retry_delay_ms(const struct fr_retry *rt, int attempt)
{
	double d = (double)rt->delay_ms * pow(rt->backoff, attempt - 1);

	if (rt->max_delay_ms > 0 && d > (double)rt->max_delay_ms)
		d = (double)rt->max_delay_ms;
	return (int64_t)d;
}

static int eval(struct fr_action_ctx *a, const struct fr_expr *x, jv input,
		jv vars, jv *out, char **err)
{
	return fr_jqx_eval(a->jx, x->id, input, jv_copy(vars), out, err);
}

static int render(struct fr_action_ctx *a, const struct fr_tmpl *t, jv input,
		  jv vars, json_t **out, char **err)
{
	return fr_tmpl_render(t, a->jx, input, vars, out, err);
}

static char *url_escape(const char *s, size_t len)
{
	return fr_http_urlencode(s, len);
}

/* The rendered inputs of a connection, once per execution. */
static json_t *connection_inputs(struct fr_action_ctx *a, const struct fr_connection *cn,
				 char **err)
{
	json_t *in = json_object_get(a->conns, cn->name);
	const struct fr_connector *c = cn->connector;

	*err = NULL;
	if (in)
		return in;
	if (cn->with) {
		jv none = jv_array();
		int rc = render(a, cn->with, *a->ctx, none, &in, err);
		jv_free(none);
		if (rc < 0) {
			char *m = fr_xasprintf("connection '%s': %s", cn->name, *err);
			free(*err);
			*err = m;
			return NULL;
		}
		if (!json_is_object(in)) {
			json_decref(in);
			*err = fr_xasprintf("connection '%s': 'with' must yield an "
					    "object", cn->name);
			return NULL;
		}
	} else {
		in = json_object();
	}
	for (size_t i = 0; i < c->ninputs; i++) {
		json_t *v = json_object_get(in, c->inputs[i].name);
		if (c->inputs[i].secret && v)
			fr_redact_add_json(a->redact, v);
		if (c->inputs[i].required && (!v || json_is_null(v))) {
			*err = fr_xasprintf("connection '%s' has no value for input "
					    "'%s' of connector '%s'", cn->name,
					    c->inputs[i].name, c->name);
			json_decref(in);
			return NULL;
		}
	}
	json_object_set_new(a->conns, cn->name, in);
	return in;
}

/* requests */

struct request {
	char *method;
	char *url;
	struct fr_http_header *headers;
	size_t nheaders;
	struct fr_buf body;
	bool has_body;
	bool idempotent;	/* carries an Idempotency-Key */
};

static void request_finish(struct request *q)
{
	free(q->method);
	free(q->url);
	for (size_t i = 0; i < q->nheaders; i++) {
		free(q->headers[i].name);
		free(q->headers[i].value);
	}
	free(q->headers);
	fr_buf_finish(&q->body);
	memset(q, 0, sizeof(*q));
}

static char *value_text(const json_t *v)
{
	return json_is_string(v) ? fr_xstrdup(json_string_value(v))
				 : fr_json_dump(v);
}

/* Sets (or replaces) a header; an Idempotency-Key with a value marks q. */
static void set_header(struct request *q, const char *name, const char *value)
{
	size_t i;

	for (i = 0; i < q->nheaders; i++) {
		if (strcasecmp(q->headers[i].name, name) == 0)
			break;
	}
	if (i < q->nheaders) {
		free(q->headers[i].value);
	} else {
		q->headers = fr_xrealloc(q->headers, (q->nheaders + 1) *
					 sizeof(*q->headers));
		q->headers[i].name = fr_xstrdup(name);
		q->nheaders++;
	}
	q->headers[i].value = fr_xstrdup(value);
	if (strcasecmp(name, "Idempotency-Key") == 0)
		q->idempotent = value[0] != '\0';
}

static void add_headers(struct fr_action_ctx *a, struct request *q, const json_t *h)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)h, key, v) {
		char *text;
		if (json_is_null(v))
			continue;
		text = value_text(v);
		if (strcasecmp(key, "Authorization") == 0 ||
		    strcasecmp(key, "Proxy-Authorization") == 0) {
			const char *sp = strchr(text, ' ');
			fr_redact_add(a->redact, text);
			if (sp && sp[1])
				fr_redact_add(a->redact, sp + 1);
		}
		set_header(q, key, text);
		free(text);
	}
}

/* Appends ?k=v&... for an object (arrays repeat the key; null skipped). */
static void add_query(struct fr_buf *url, const json_t *query, bool *first)
{
	const char *key;
	json_t *v;

	json_object_foreach((json_t *)query, key, v) {
		bool list = json_is_array(v);
		size_t n = list ? json_array_size(v) : 1;
		for (size_t i = 0; i < n; i++) {
			const json_t *x = list ? json_array_get(v, i) : v;
			char *text, *ek, *ev;
			if (json_is_null(x))
				continue;
			text = value_text(x);
			ek = fr_http_urlencode(key, strlen(key));
			ev = fr_http_urlencode(text, strlen(text));
			fr_buf_printf(url, "%c%s=%s", *first ? '?' : '&', ek, ev);
			*first = false;
			free(text);
			free(ek);
			free(ev);
		}
	}
}

/* Where a later page is: a cursor sent as ?param=value, or a whole URL. */
struct page_ref {
	const char *param, *value;	/* paginate.next and .query */
	const char *url;		/* paginate.next_url */
};

/*
 * The URL of a later page that paginate.next_url gave, resolved against
 * the first page's URL.  The connection's credentials go with it, so it
 * must be on the same origin (scheme, host and port): an API, or whoever
 * stands between, must not be able to send them to another host.
 */
static char *page_url(const char *first, const char *next, char **err)
{
	char *url = fr_http_url_resolve(first, next);
	char *want = fr_http_url_origin(first);
	char *got = url ? fr_http_url_origin(url) : NULL;

	*err = NULL;
	if (!got || !want) {
		*err = fr_xasprintf("the next page's URL '%s' is not a URL", next);
	} else if (strcasecmp(got, want) != 0) {
		*err = fr_xasprintf("refused to follow the next page's URL '%s': "
				    "it is on %s, not on %s like the first page "
				    "(its scheme, host and port must stay the "
				    "same)", next, got, want);
	}
	if (*err) {
		free(url);
		url = NULL;
	}
	free(want);
	free(got);
	return url;
}

/*
 * Builds the request of action a from the connector context cctx
 * ({connection, input}); pg (NULL on the first page) says where a later
 * page is.
 */
static int build_request(struct fr_action_ctx *a, const struct fr_connector *c,
			 const struct fr_action *act, jv cctx,
			 const struct page_ref *pg, struct request *q, char **err)
{
	char *base = NULL, *path = NULL;
	json_t *j = NULL;
	struct fr_buf url;
	bool first;
	jv none = jv_array();
	int rc = -1;

	memset(q, 0, sizeof(*q));
	fr_buf_init(&q->body);
	fr_buf_init(&url);
	q->method = fr_xstrdup(act->method);
	if (fr_tmpl_render_text(c->base_url, a->jx, cctx, none, NULL, &base, err) < 0 ||
	    fr_tmpl_render_text(act->path, a->jx, cctx, none, url_escape, &path, err) < 0)
		goto out;
	fr_buf_puts(&url, base);
	while (url.len && url.data[url.len - 1] == '/')
		url.data[--url.len] = '\0';
	if (path[0] != '/')
		fr_buf_putc(&url, '/');
	fr_buf_puts(&url, path);
	first = strchr(path, '?') == NULL;
	if (act->query) {
		if (render(a, act->query, cctx, none, &j, err) < 0)
			goto out;
		if (json_is_object(j))
			add_query(&url, j, &first);
		json_decref(j);
		j = NULL;
	}
	if (pg && pg->param && pg->value) {
		json_t *pq = json_pack("{ss}", pg->param, pg->value);
		add_query(&url, pq, &first);
		json_decref(pq);
	}
	if (pg && pg->url) {
		if (!(q->url = page_url(url.data, pg->url, err)))
			goto out;
	} else {
		q->url = fr_buf_steal(&url);
	}
	set_header(q, "Accept", "application/json");
	if (c->headers) {
		if (render(a, c->headers, cctx, none, &j, err) < 0)
			goto out;
		add_headers(a, q, j);
		json_decref(j);
		j = NULL;
	}
	if (act->headers) {
		if (render(a, act->headers, cctx, none, &j, err) < 0)
			goto out;
		add_headers(a, q, j);
		json_decref(j);
		j = NULL;
	}
	if (act->body) {
		if (render(a, act->body, cctx, none, &j, err) < 0)
			goto out;
		q->has_body = true;
		if (act->body_kind == FR_BODY_FORM) {
			fr_form_encode(&q->body, j);
			set_header(q, "Content-Type", "application/x-www-form-urlencoded");
		} else if (act->body_kind == FR_BODY_RAW) {
			char *text = value_text(j);
			fr_buf_puts(&q->body, text);
			free(text);
			set_header(q, "Content-Type", act->content_type ? act->content_type
								       : "text/plain");
		} else {
			char *text = fr_json_dump(j);
			fr_buf_puts(&q->body, text);
			free(text);
			set_header(q, "Content-Type", "application/json");
		}
	}
	rc = 0;
out:
	json_decref(j);
	jv_free(none);
	free(base);
	free(path);
	fr_buf_finish(&url);
	return rc;
}

/* A redacted JSON picture of a request, for dry-run and traces. */
static json_t *request_json(const struct fr_action_ctx *a, const struct request *q)
{
	json_t *h = json_object(), *out;

	for (size_t i = 0; i < q->nheaders; i++) {
		bool auth = strcasecmp(q->headers[i].name, "Authorization") == 0;
		json_object_set_new(h, q->headers[i].name,
				    json_string(auth ? "***" : q->headers[i].value));
	}
	out = json_pack("{ss ss so}", "method", q->method, "url", q->url,
			"headers", h);
	if (q->has_body) {
		json_t *b = json_loads(q->body.data ? q->body.data : "", JSON_DECODE_ANY, NULL);
		json_object_set_new(out, "body", b ? b : json_string(q->body.data ? q->body.data : ""));
	}
	(void)a;
	return out;
}

/* The response as jq sees it: {connection, input, status, headers, body}. */
static jv response_ctx(jv cctx, const struct fr_http_response *resp)
{
	jv headers = jv_object(), body;
	const char *ct = fr_http_response_header(resp, "content-type");

	for (size_t i = 0; i < resp->nheaders; i++)
		headers = jv_object_set(headers, jv_string(resp->headers[i].name),
					jv_string(resp->headers[i].value));
	if (resp->body_len == 0) {
		body = jv_null();
	} else {
		body = jv_invalid();
		if ((ct && strstr(ct, "json")) || resp->body[0] == '{' ||
		    resp->body[0] == '[')
			body = jv_parse_sized(resp->body, (int)resp->body_len);
		if (!jv_is_valid(body)) {
			jv_free(body);
			body = jv_string_sized(resp->body, (int)resp->body_len);
		}
	}
	cctx = jv_object_set(cctx, jv_string("status"), jv_number((double)resp->status));
	cctx = jv_object_set(cctx, jv_string("headers"), headers);
	return jv_object_set(cctx, jv_string("body"), body);
}

static bool status_in(long status, const int *list, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (list[i] == status)
			return true;
	}
	return false;
}

/*
 * Sends q with the connector's retry policy: on connection errors and on
 * the statuses it lists; writes only when it allows or the request carries
 * an Idempotency-Key.  Retry-After (seconds) is honoured up to the deadline.
 */
static int send_with_retry(struct fr_action_ctx *a, const struct fr_connector *c,
			   bool write, int64_t timeout_ms, struct request *q,
			   json_t *attempts, uint64_t deadline,
			   struct fr_http_response *resp, char **err)
{
	int max = c->retry.attempts > 0 ? c->retry.attempts : 1;
	bool may_retry = !write || c->retry_writes || q->idempotent;

	for (int attempt = 1;; attempt++) {
		struct fr_http_request hr = {
			.method = q->method, .url = q->url,
			.headers = q->headers, .nheaders = q->nheaders,
			.body = q->has_body ? (q->body.data ? q->body.data : "") : NULL,
			.body_len = q->body.len,
		};
		uint64_t now = fr_now_ns(), t0 = now;
		int64_t left = deadline > now ? (int64_t)((deadline - now) / 1000000u) : 0;
		bool retryable;
		int64_t delay;
		int rc;

		if (left <= 0) {
			*err = fr_xstrdup("timed out");
			return -1;
		}
		hr.timeout_ms = (long)(timeout_ms < left ? timeout_ms : left);
		memset(resp, 0, sizeof(*resp));
		if (a->opts->intercept)
			rc = a->opts->intercept->http(a->opts->intercept->data,
						      a->step, a->input, &hr,
						      resp, err);
		else if (a->opts->http_show > 0) {
			struct fr_http_show show;
			fr_http_show_begin(&show, a->redact, a->opts->http_show,
					   a->step ? a->step->id : NULL, &hr);
			rc = fr_http_send(a->http, &hr, resp, err);
			fr_http_show_end(&show, rc, resp, *err);
		} else {
			rc = fr_http_send(a->http, &hr, resp, err);
		}
		(*a->requests)++;
		{
			json_t *a = json_pack("{ss ss so}", "method", q->method,
					      "url", q->url, "duration_ms", fr_json_ms_since(t0));
			if (rc == 0)
				json_object_set_new(a, "status", json_integer(resp->status));
			else
				json_object_set_new(a, "error", json_string(*err));
			json_array_append_new(attempts, a);
		}
		retryable = rc < 0 || status_in(resp->status, c->retry_on, c->nretry_on);
		if (!retryable || !may_retry || attempt >= max)
			return rc;
		delay = fr_retry_delay_ms(&c->retry, attempt);
		if (rc == 0) {
			const char *ra = fr_http_response_header(resp, "retry-after");
			if (ra && *ra >= '0' && *ra <= '9') {
				int64_t s = strtoll(ra, NULL, 10) * 1000;
				if (s > delay)
					delay = s;
			}
			fr_http_response_finish(resp);
		} else {
			free(*err);
			*err = NULL;
		}
		if (a->opts->intercept)	/* answers from a test: no waiting */
			continue;
		if (!fr_sleep_ms((uint64_t)delay, deadline)) {
			*err = fr_xasprintf("gave up retrying: the next try (in %lld ms) "
					    "would pass the timeout", (long long)delay);
			return -1;
		}
	}
}

/*
 * The access token of connection cn (auth: oauth2), got or refreshed by
 * the process's oauth (oauth.h); stale: the one the API just refused.
 */
static int get_token(struct fr_action_ctx *a, const struct fr_connector *c,
		     const struct fr_connection *cn, int64_t timeout_ms,
		     uint64_t deadline, const char *stale, char **token,
		     char **err)
{
	struct fr_oauth_call call = {
		.connector = c, .integration = a->integration,
		.instance = a->instance, .connection = cn->name,
		.inputs = json_object_get(a->conns, cn->name), .jx = a->jx,
		.http = a->http, .redact = a->redact, .deadline = deadline,
		.timeout_ms = timeout_ms,
	};

	*token = NULL;
	if (!a->opts->oauth) {
		*err = fr_xasprintf("connection '%s' uses OAuth 2.0, which needs "
				    "a store for its tokens", cn->name);
		return -1;
	}
	return fr_oauth_token(a->opts->oauth, &call, stale, token, err);
}

/* Puts the access token where the connector's auth says. */
static void apply_token(struct fr_action_ctx *a, const struct fr_oauth2 *o2,
			struct request *q, const char *token)
{
	fr_redact_add(a->redact, token);
	if (o2->apply_query) {
		char *k = fr_http_urlencode(o2->apply_query, strlen(o2->apply_query));
		char *v = fr_http_urlencode(token, strlen(token));
		char *url = fr_xasprintf("%s%c%s=%s", q->url,
					 strchr(q->url, '?') ? '&' : '?', k, v);
		free(q->url);
		q->url = url;
		free(k);
		free(v);
	} else {
		char *value = fr_xasprintf("%s%s", o2->apply_prefix, token);
		set_header(q, o2->apply_header, value);
		free(value);
	}
}

/*
 * One request of an action, checked: expect and the error condition.  A
 * connector with auth: oauth2 sends the connection's access token; when
 * the API answers 401 the token is refreshed once and the request sent
 * again.
 */
static int action_request(struct fr_action_ctx *a, const struct fr_connector *c,
			  const struct fr_connection *cn,
			  const struct fr_action *act, bool write,
			  int64_t timeout_ms, jv cctx, const struct page_ref *pg,
			  json_t *rec, uint64_t deadline, jv *rctx_out,
			  char **err)
{
	struct request q;
	struct fr_http_response resp;
	json_t *attempts = json_object_get(rec, "http");
	jv rctx = jv_invalid();
	bool ok, oauth = c->oauth2 && cn && !a->opts->intercept;
	char *token = NULL;
	int rc = -1;

	memset(&resp, 0, sizeof(resp));
	memset(&q, 0, sizeof(q));
	if (build_request(a, c, act, cctx, pg, &q, err) < 0)
		goto out;
	if (oauth) {
		if (get_token(a, c, cn, timeout_ms, deadline, NULL, &token, err) < 0)
			goto out;
		apply_token(a, c->oauth2, &q, token);
	}
	if (!attempts) {
		attempts = json_array();
		json_object_set_new(rec, "http", attempts);
	}
	if (write)
		(*a->writes_sent)++;
	for (int tries = 0;; tries++) {
		char *fresh = NULL;
		if (send_with_retry(a, c, write, timeout_ms, &q, attempts,
				    deadline, &resp, err) < 0) {
			char *m = fr_xasprintf("%s %s: %s", q.method, q.url, *err);
			free(*err);
			*err = m;
			goto out;
		}
		if (!oauth || resp.status != 401 || tries > 0)
			break;
		/* refused: a new token, once, then the same request again */
		fr_http_response_finish(&resp);
		if (get_token(a, c, cn, timeout_ms, deadline, token, &fresh,
			      err) < 0) {
			char *m = fr_xasprintf("%s %s answered 401, and no new "
					       "token could be had: %s", q.method,
					       q.url, *err);
			free(*err);
			*err = m;
			goto out;
		}
		free(token);
		token = fresh;
		request_finish(&q);
		if (build_request(a, c, act, cctx, pg, &q, err) < 0)
			goto out;
		apply_token(a, c->oauth2, &q, token);
	}
	ok = act->nexpect ? status_in(resp.status, act->expect, act->nexpect)
			: resp.status >= 200 && resp.status < 300;
	if (!ok) {
		char *ex = fr_redact_excerpt(a->redact, resp.body,
					     resp.body_len, BODY_EXCERPT);
		*err = fr_xasprintf("%s %s answered %ld%s%s", q.method, q.url,
				    resp.status, *ex ? ": " : "", ex);
		free(ex);
		goto out;
	}
	rctx = response_ctx(jv_copy(cctx), &resp);
	if (act->error) {
		jv bad;
		if (eval(a, act->error, jv_copy(rctx), jv_null(), &bad, err) < 0) {
			char *m = fr_xasprintf("connector '%s' action '%s' error "
					       "condition: %s", c->name, act->name, *err);
			free(*err);
			*err = m;
			goto out;
		}
		if (fr_jv_truthy(bad)) {
			*err = jv_get_kind(bad) == JV_KIND_STRING
				       ? fr_xasprintf("%s %s: %s", q.method, q.url,
						      jv_string_value(bad))
				       : fr_xasprintf("%s %s: the response matched "
						      "the error condition of %s.%s",
						      q.method, q.url, c->name, act->name);
			jv_free(bad);
			goto out;
		}
		jv_free(bad);
	}
	*rctx_out = rctx;
	rctx = jv_invalid();
	rc = 0;
out:
	jv_free(rctx);
	fr_http_response_finish(&resp);
	request_finish(&q);
	if (token) {
		fr_crypto_wipe(token, strlen(token));
		free(token);
	}
	return rc;
}

/*
 * What a connector's templates and expressions see (flowrun-connector(5),
 * EXPRESSIONS): {connection, input, execution: {id}, step, iteration}.
 * step is the step's id, or "line N" for a step without one; iteration
 * the indexes of the loops the step runs in, outermost first, taken from
 * vars ([item, index] per loop).  Together with the execution id they name
 * one call of the step, the same when the step or the execution is tried
 * again: what an Idempotency-Key is made of.
 */
static jv connector_ctx(const struct fr_action_ctx *a, const struct fr_step *s,
			const json_t *conn, const json_t *input, jv vars)
{
	jv id = jv_object_get(jv_copy(*a->ctx), jv_string("execution"));
	jv iteration = jv_array(), ctx = jv_object();
	int n = jv_array_length(jv_copy(vars));

	if (jv_get_kind(id) != JV_KIND_STRING) {
		jv_free(id);
		id = jv_null();
	}
	for (int i = 1; i < n; i += 2)
		iteration = jv_array_append(iteration, jv_array_get(jv_copy(vars), i));
	ctx = jv_object_set(ctx, jv_string("connection"), fr_json_to_jv(conn));
	ctx = jv_object_set(ctx, jv_string("input"), fr_json_to_jv(input));
	ctx = jv_object_set(ctx, jv_string("execution"),
			    jv_object_set(jv_object(), jv_string("id"), id));
	ctx = jv_object_set(ctx, jv_string("step"),
			    s->id ? jv_string(s->id)
				  : jv_string_fmt("line %u", s->loc.line));
	return jv_object_set(ctx, jv_string("iteration"), iteration);
}

/* The --mock of step s: by its id first, else by its action. */
static const struct fr_mock *find_mock(const struct fr_action_ctx *a,
				       const struct fr_step *s)
{
	for (size_t i = 0; s->id && i < a->opts->nmocks; i++) {
		if (strcmp(a->opts->mocks[i].action, s->id) == 0)
			return &a->opts->mocks[i];
	}
	for (size_t i = 0; i < a->opts->nmocks; i++) {
		if (strcmp(a->opts->mocks[i].action, s->action_name) == 0)
			return &a->opts->mocks[i];
	}
	return NULL;
}

/* http.request: {method, url, headers, query, body, expect, timeout} */
static int builtin_request(struct fr_action_ctx *a, const json_t *in, json_t *rec,
			   uint64_t deadline, jv *out, char **err)
{
	const char *method = json_string_value(json_object_get(in, "method"));
	const char *url = json_string_value(json_object_get(in, "url"));
	const json_t *headers = json_object_get(in, "headers");
	const json_t *query = json_object_get(in, "query");
	const json_t *body = json_object_get(in, "body");
	const json_t *expect = json_object_get(in, "expect");
	const char *timeout = json_string_value(json_object_get(in, "timeout"));
	struct request q;
	struct fr_http_response resp;
	struct fr_connector plain = { .retry = { .attempts = 1 } };
	json_t *attempts = json_array();
	struct fr_buf u;
	bool first, write, ok = false;
	int64_t tmo = timeout ? fr_parse_duration_ms(timeout) : 30000;
	int rc = -1;

	if (!method)
		method = "GET";
	if (!url) {
		*err = fr_xstrdup("http.request needs 'url'");
		json_decref(attempts);
		return -1;
	}
	if (tmo <= 0)
		tmo = 30000;
	write = strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0;
	memset(&q, 0, sizeof(q));
	memset(&resp, 0, sizeof(resp));
	fr_buf_init(&q.body);
	fr_buf_init(&u);
	fr_buf_puts(&u, url);
	first = strchr(url, '?') == NULL;
	if (json_is_object(query))
		add_query(&u, query, &first);
	q.method = fr_xstrdup(method);
	q.url = fr_buf_steal(&u);
	if (json_is_object(headers))
		add_headers(a, &q, headers);
	if (body && !json_is_null(body)) {
		char *text = json_is_string(body) ? fr_xstrdup(json_string_value(body))
						  : fr_json_dump(body);
		fr_buf_puts(&q.body, text);
		free(text);
		q.has_body = true;
		if (!json_is_string(body))
			set_header(&q, "Content-Type", "application/json");
	}
	json_object_set_new(rec, "http", attempts);
	if (write && (a->opts->dry_run || a->opts->offline)) {
		json_object_set_new(rec, "request", request_json(a, &q));
		json_object_set_new(rec, "dry_run", json_true());
		(*a->writes_skipped)++;
		*out = jv_object();
		rc = 0;
		goto done;
	}
	if (a->opts->offline) {
		*err = fr_xasprintf("offline: http.request %s %s has no --mock",
				    method, q.url);
		goto done;
	}
	if (write)
		(*a->writes_sent)++;
	if (send_with_retry(a, &plain, write, tmo, &q, attempts, deadline, &resp, err) < 0) {
		char *m = fr_xasprintf("%s %s: %s", q.method, q.url, *err);
		free(*err);
		*err = m;
		goto done;
	}
	if (json_is_array(expect) && json_array_size(expect) > 0) {
		for (size_t i = 0; i < json_array_size(expect); i++)
			ok |= json_integer_value(json_array_get(expect, i)) == resp.status;
	} else {
		ok = resp.status >= 200 && resp.status < 300;
	}
	if (!ok) {
		char *ex = fr_redact_excerpt(a->redact, resp.body,
					     resp.body_len, BODY_EXCERPT);
		*err = fr_xasprintf("%s %s answered %ld%s%s", q.method, q.url,
				    resp.status, *ex ? ": " : "", ex);
		free(ex);
		goto done;
	}
	{
		jv rctx = response_ctx(jv_object(), &resp);
		*out = jv_object_set(jv_object_set(jv_object_set(jv_object(),
			jv_string("status"), jv_object_get(jv_copy(rctx), jv_string("status"))),
			jv_string("headers"), jv_object_get(jv_copy(rctx), jv_string("headers"))),
			jv_string("body"), jv_object_get(jv_copy(rctx), jv_string("body")));
		jv_free(rctx);
	}
	rc = 0;
done:
	fr_http_response_finish(&resp);
	request_finish(&q);
	return rc;
}

int fr_action_run(struct fr_action_ctx *a, const struct fr_step *s, jv vars,
		     json_t *rec, uint64_t deadline, jv *out, char **err)
{
	const struct fr_action *act = s->action;
	const struct fr_connector *c = s->conn ? s->conn->connector
					      : a->http_connector;
	const struct fr_mock *mock = find_mock(a, s);
	json_t *input = NULL, *conn;
	jv cctx = jv_invalid(), rctx = jv_invalid(), results = jv_invalid();
	char *cursor = NULL;
	bool use_sample = false;
	int rc = -1;

	*out = jv_null();
	json_object_set_new(rec, "action", json_string(s->action_name));
	if (s->with) {
		if (render(a, s->with, *a->ctx, vars, &input, err) < 0)
			goto out;
		if (!json_is_object(input)) {
			*err = fr_xstrdup("'with' must yield an object");
			goto out;
		}
	} else {
		input = json_object();
	}
	json_object_set(rec, "input", input);
	a->step = s;
	a->input = input;
	if (a->opts->intercept) {
		json_t *o = NULL;
		enum fr_answer ans = a->opts->intercept->action(
			a->opts->intercept->data, s, input, &o, err);
		use_sample = ans == FR_ANSWER_SAMPLE;
		if (ans == FR_ANSWER_OUTPUT || ans == FR_ANSWER_ERROR) {
			json_object_set_new(rec, "mocked", json_true());
			if (ans == FR_ANSWER_ERROR)
				goto out;
			*out = fr_json_to_jv(o);
			json_decref(o);
			rc = 0;
			goto out;
		}
	} else if (mock) {
		json_object_set_new(rec, "mocked", json_true());
		*out = fr_json_to_jv(mock->output);
		rc = 0;
		goto out;
	}
	if ((!c || c->builtin) && use_sample) {
		*err = fr_xstrdup("http.request has no sample");
		goto out;
	}
	if (!c || c->builtin) {
		rc = builtin_request(a, input, rec, deadline, out, err);
		goto out;
	}
	if (!(conn = connection_inputs(a, s->conn, err)))
		goto out;
	cctx = connector_ctx(a, s, conn, input, vars);
	if (a->opts->offline || use_sample || (a->opts->dry_run && act->write)) {
		struct request q;
		json_t *sample = NULL;
		if (build_request(a, c, act, cctx, NULL, &q, err) < 0)
			goto out;
		json_object_set_new(rec, "request", request_json(a, &q));
		request_finish(&q);
		if (act->sample) {
			jv none = jv_array();
			int src = render(a, act->sample, cctx, none, &sample, err);
			jv_free(none);
			if (src < 0)
				goto out;
		} else if (use_sample) {
			*err = fr_xasprintf("%s has no sample", s->action_name);
			goto out;
		} else if (a->opts->offline && !act->write) {
			/* a write without sample is {} as in a dry-run; a read
			 * is what the flow goes on with: it needs its value */
			*err = fr_xasprintf("offline: %s has no sample; give "
					    "--mock %s=JSON", s->action_name,
					    s->action_name);
			goto out;
		} else {
			sample = json_object();
		}
		json_object_set_new(rec, "dry_run", json_true());
		if (act->write)
			(*a->writes_skipped)++;
		*out = fr_json_to_jv(sample);
		json_decref(sample);
		rc = 0;
		goto out;
	}
	{
		int64_t tmo = act->timeout_ms ? act->timeout_ms : c->timeout_ms;
		for (int page = 0;; page++) {
			struct page_ref pg = { act->paginate_query, cursor, NULL };
			jv result, next;
			/* cursor: the next page's cursor, or its URL */
			if (act->paginate_url)
				pg = (struct page_ref){ NULL, NULL, cursor };
			if (action_request(a, c, s->conn, act, act->write, tmo, cctx,
					   cursor ? &pg : NULL, rec, deadline,
					   &rctx, err) < 0)
				goto out;
			if (act->result) {
				if (eval(a, act->result, jv_copy(rctx), jv_null(), &result, err) < 0) {
					char *m = fr_xasprintf("result of %s: %s", s->action_name, *err);
					free(*err);
					*err = m;
					goto out;
				}
			} else {
				result = jv_object_get(jv_copy(rctx), jv_string("body"));
			}
			if (!act->paginate_next) {
				*out = result;
				rc = 0;
				goto out;
			}
			if (jv_get_kind(result) != JV_KIND_ARRAY) {
				jv_free(result);
				*err = fr_xasprintf("%s paginates, so its result must be "
						    "a list", s->action_name);
				goto out;
			}
			results = jv_is_valid(results) ? jv_array_concat(results, result)
						       : result;
			if (eval(a, act->paginate_next, jv_copy(rctx), jv_null(), &next, err) < 0)
				goto out;
			jv_free(rctx);
			rctx = jv_invalid();
			free(cursor);
			cursor = NULL;
			if (!fr_jv_truthy(next) || (jv_get_kind(next) == JV_KIND_STRING &&
						    jv_string_length_bytes(jv_copy(next)) == 0)) {
				jv_free(next);
				break;
			}
			if (jv_get_kind(next) == JV_KIND_STRING) {
				cursor = fr_xstrdup(jv_string_value(next));
				jv_free(next);
			} else {
				cursor = fr_jv_dump(next);
				jv_free(next);
			}
			if (page + 1 >= act->paginate_max) {
				*err = fr_xasprintf("%s: more than %d pages", s->action_name,
						    act->paginate_max);
				goto out;
			}
		}
		*out = results;
		results = jv_invalid();
		rc = 0;
	}
out:
	free(cursor);
	jv_free(results);
	jv_free(rctx);
	jv_free(cctx);
	a->input = NULL;
	json_decref(input);
	return rc;
}

