#include "exec.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "expr.h"
#include "http.h"
#include "jqx.h"
#include "json.h"
#include "util.h"

#define BODY_EXCERPT 200

struct fr_engine {
	const struct fr_project *p;
	struct fr_exec_opts opts;
	struct fr_exec_hooks hooks;
	struct fr_jqx *jx;
	struct fr_http *http;
	const struct fr_connector *http_connector;
	struct fr_engine *pool[64];	/* for loops with concurrency */

	/* watchdog: interrupts jq past the deadline */
	pthread_t wd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	uint64_t deadline;	/* monotonic ns; 0 = none */
	uint64_t wake_at;	/* when the watchdog wakes; 0 = when told */
	bool quit;
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
};

/* watchdog */

/*
 * The watchdog sleeps until the deadline.  Deadlines move on every step and
 * execution, so waking it each time would cost a context switch per step:
 * it is only woken when the new deadline is sooner than its alarm; when it
 * wakes for nothing, it sleeps again until the deadline now in force.
 */
static void *watchdog(void *arg)
{
	struct fr_engine *e = arg;

	pthread_mutex_lock(&e->mu);
	while (!e->quit) {
		uint64_t now = fr_now_ns();
		if (e->deadline && now >= e->deadline) {
			fr_jqx_interrupt(e->jx);
			e->deadline = 0;
		}
		e->wake_at = e->deadline;
		if (e->wake_at == 0) {
			pthread_cond_wait(&e->cv, &e->mu);
			continue;
		}
		struct timespec ts = {
			.tv_sec = (time_t)(e->wake_at / 1000000000u),
			.tv_nsec = (long)(e->wake_at % 1000000000u),
		};
		pthread_cond_timedwait(&e->cv, &e->mu, &ts);
	}
	pthread_mutex_unlock(&e->mu);
	return NULL;
}

/* Sets the deadline (0: none); wakes the watchdog only when it must. */
static void arm(struct fr_engine *e, uint64_t deadline)
{
	pthread_mutex_lock(&e->mu);
	e->deadline = deadline;
	if (deadline && (e->wake_at == 0 || deadline < e->wake_at))
		pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
}

struct fr_engine *fr_engine_create(const struct fr_project *p,
				   const struct fr_exec_opts *opts,
				   const struct fr_exec_hooks *hooks)
{
	struct fr_engine *e = fr_xcalloc(1, sizeof(*e));
	pthread_condattr_t ca;

	e->p = p;
	if (opts)
		e->opts = *opts;
	if (hooks)
		e->hooks = *hooks;
	e->jx = fr_jqx_create(p->prog);
	e->http = fr_http_create();
	if (!e->http)
		abort();
	for (size_t i = 0; i < p->nconnectors; i++) {
		if (p->connectors[i]->builtin)
			e->http_connector = p->connectors[i];
	}
	pthread_mutex_init(&e->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&e->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&e->wd, NULL, watchdog, e) != 0)
		abort();
	return e;
}

void fr_engine_destroy(struct fr_engine *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&e->mu);
	e->quit = true;
	pthread_cond_signal(&e->cv);
	pthread_mutex_unlock(&e->mu);
	pthread_join(e->wd, NULL);
	for (size_t i = 0; i < FR_ARRAY_LEN(e->pool); i++)
		fr_engine_destroy(e->pool[i]);
	pthread_mutex_destroy(&e->mu);
	pthread_cond_destroy(&e->cv);
	fr_jqx_destroy(e->jx);
	fr_http_destroy(e->http);
	free(e);
}

/* helpers */

static double ms_since(uint64_t t0)
{
	return (double)(fr_now_ns() - t0) / 1e6;
}

static json_t *ms_json(uint64_t t0)
{
	return json_real(round(ms_since(t0) * 1000.0) / 1000.0);
}

/* The context with .steps[id] = v (consumes v), updated in place. */
static void set_ctx_field(struct run *r, const char *field, const char *key,
			  jv v)
{
	jv obj = jv_object_get(jv_copy(r->ctx), jv_string(field));

	r->ctx = jv_object_delete(r->ctx, jv_string(field));
	obj = jv_object_set(obj, jv_string(key), v);
	r->ctx = jv_object_set(r->ctx, jv_string(field), obj);
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
static bool sleep_ms(uint64_t ms, uint64_t deadline)
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

static int64_t retry_delay(const struct fr_retry *rt, int attempt)
{
	double d = (double)rt->delay_ms * pow(rt->backoff, attempt - 1);

	if (rt->max_delay_ms > 0 && d > (double)rt->max_delay_ms)
		d = (double)rt->max_delay_ms;
	return (int64_t)d;
}

/* connections */

static char *url_escape(const char *s, size_t len)
{
	return fr_http_urlencode(s, len);
}

/* The rendered inputs of a connection, once per execution. */
static json_t *connection_inputs(struct run *r, const struct fr_connection *cn,
				 char **err)
{
	json_t *in = json_object_get(r->conns, cn->name);
	const struct fr_connector *c = cn->connector;

	*err = NULL;
	if (in)
		return in;
	if (cn->with) {
		if (render(r, cn->with, r->ctx, jv_array(), &in, err) < 0) {
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
			fr_redact_add_json(r->req->redact, v);
		if (c->inputs[i].required && (!v || json_is_null(v))) {
			*err = fr_xasprintf("connection '%s' has no value for input "
					    "'%s' of connector '%s'", cn->name,
					    c->inputs[i].name, c->name);
			json_decref(in);
			return NULL;
		}
	}
	json_object_set_new(r->conns, cn->name, in);
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

static void set_header(struct request *q, const char *name, const char *value)
{
	for (size_t i = 0; i < q->nheaders; i++) {
		if (strcasecmp(q->headers[i].name, name) == 0) {
			free(q->headers[i].value);
			q->headers[i].value = fr_xstrdup(value);
			return;
		}
	}
	q->headers = fr_xrealloc(q->headers, (q->nheaders + 1) * sizeof(*q->headers));
	q->headers[q->nheaders].name = fr_xstrdup(name);
	q->headers[q->nheaders].value = fr_xstrdup(value);
	q->nheaders++;
	if (strcasecmp(name, "Idempotency-Key") == 0)
		q->idempotent = true;
}

static void add_headers(struct run *r, struct request *q, const json_t *h)
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
			fr_redact_add(r->req->redact, text);
			if (sp && sp[1])
				fr_redact_add(r->req->redact, sp + 1);
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

static void form_encode(struct fr_buf *b, const json_t *obj)
{
	bool first = true;

	add_query(b, obj, &first);
	if (b->len && b->data[0] == '?')
		memmove(b->data, b->data + 1, b->len--);
}

/*
 * Builds the request of action a from the connector context cctx
 * ({connection, input}); page_param/page_value add the pagination query.
 */
static int build_request(struct run *r, const struct fr_connector *c,
			 const struct fr_action *a, jv cctx,
			 const char *page_param, const char *page_value,
			 struct request *q, char **err)
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
	q->method = fr_xstrdup(a->method);
	if (fr_tmpl_render_text(c->base_url, r->e->jx, cctx, none, NULL, &base, err) < 0 ||
	    fr_tmpl_render_text(a->path, r->e->jx, cctx, none, url_escape, &path, err) < 0)
		goto out;
	fr_buf_puts(&url, base);
	while (url.len && url.data[url.len - 1] == '/')
		url.data[--url.len] = '\0';
	if (path[0] != '/')
		fr_buf_putc(&url, '/');
	fr_buf_puts(&url, path);
	first = strchr(path, '?') == NULL;
	if (a->query) {
		if (render(r, a->query, cctx, none, &j, err) < 0)
			goto out;
		if (json_is_object(j))
			add_query(&url, j, &first);
		json_decref(j);
		j = NULL;
	}
	if (page_param && page_value) {
		json_t *pq = json_pack("{ss}", page_param, page_value);
		add_query(&url, pq, &first);
		json_decref(pq);
	}
	q->url = fr_buf_steal(&url);
	set_header(q, "Accept", "application/json");
	if (c->headers) {
		if (render(r, c->headers, cctx, none, &j, err) < 0)
			goto out;
		add_headers(r, q, j);
		json_decref(j);
		j = NULL;
	}
	if (a->headers) {
		if (render(r, a->headers, cctx, none, &j, err) < 0)
			goto out;
		add_headers(r, q, j);
		json_decref(j);
		j = NULL;
	}
	if (a->body) {
		if (render(r, a->body, cctx, none, &j, err) < 0)
			goto out;
		q->has_body = true;
		if (a->body_kind == FR_BODY_FORM) {
			form_encode(&q->body, j);
			set_header(q, "Content-Type", "application/x-www-form-urlencoded");
		} else if (a->body_kind == FR_BODY_RAW) {
			char *text = value_text(j);
			fr_buf_puts(&q->body, text);
			free(text);
			set_header(q, "Content-Type", a->content_type ? a->content_type
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
static json_t *request_json(const struct run *r, const struct request *q)
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
	(void)r;
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

static char *body_excerpt(const struct fr_http_response *resp)
{
	size_t n = resp->body_len < BODY_EXCERPT ? resp->body_len : BODY_EXCERPT;
	char *s = fr_xstrndup(resp->body ? resp->body : "", n);

	for (char *p = s; *p; p++) {
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	}
	if (resp->body_len > n) {
		char *t = fr_xasprintf("%s...", s);
		free(s);
		s = t;
	}
	return s;
}

/*
 * Sends q with the connector's retry policy: on connection errors and on
 * the statuses it lists; writes only when it allows or the request carries
 * an Idempotency-Key.  Retry-After (seconds) is honoured up to the deadline.
 */
static int send_with_retry(struct run *r, const struct fr_connector *c,
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
		rc = fr_http_send(r->e->http, &hr, resp, err);
		r->res->requests++;
		{
			json_t *a = json_pack("{ss ss so}", "method", q->method,
					      "url", q->url, "duration_ms", ms_json(t0));
			if (rc == 0)
				json_object_set_new(a, "status", json_integer(resp->status));
			else
				json_object_set_new(a, "error", json_string(*err));
			json_array_append_new(attempts, a);
		}
		retryable = rc < 0 || status_in(resp->status, c->retry_on, c->nretry_on);
		if (!retryable || !may_retry || attempt >= max)
			return rc;
		delay = retry_delay(&c->retry, attempt);
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
		if (!sleep_ms((uint64_t)delay, deadline)) {
			*err = fr_xasprintf("gave up retrying: the next try (in %lld ms) "
					    "would pass the timeout", (long long)delay);
			return -1;
		}
	}
}

/* One request of an action, checked: expect and the error condition. */
static int action_request(struct run *r, const struct fr_connector *c,
			  const struct fr_action *a, bool write,
			  int64_t timeout_ms, jv cctx, const char *page_param,
			  const char *page_value, json_t *rec, uint64_t deadline,
			  jv *rctx_out, char **err)
{
	struct request q;
	struct fr_http_response resp;
	json_t *attempts = json_object_get(rec, "http");
	jv rctx = jv_invalid();
	bool ok;
	int rc = -1;

	memset(&resp, 0, sizeof(resp));
	if (build_request(r, c, a, cctx, page_param, page_value, &q, err) < 0)
		goto out;
	if (!attempts) {
		attempts = json_array();
		json_object_set_new(rec, "http", attempts);
	}
	if (write)
		r->res->writes_sent++;
	if (send_with_retry(r, c, write, timeout_ms, &q, attempts, deadline,
			    &resp, err) < 0) {
		char *m = fr_xasprintf("%s %s: %s", q.method, q.url, *err);
		free(*err);
		*err = m;
		goto out;
	}
	ok = a->nexpect ? status_in(resp.status, a->expect, a->nexpect)
			: resp.status >= 200 && resp.status < 300;
	if (!ok) {
		char *ex = body_excerpt(&resp);
		*err = fr_xasprintf("%s %s answered %ld%s%s", q.method, q.url,
				    resp.status, *ex ? ": " : "", ex);
		free(ex);
		goto out;
	}
	rctx = response_ctx(jv_copy(cctx), &resp);
	if (a->error) {
		jv bad;
		if (eval(r, a->error, jv_copy(rctx), jv_null(), &bad, err) < 0) {
			char *m = fr_xasprintf("connector '%s' action '%s' error "
					       "condition: %s", c->name, a->name, *err);
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
						      q.method, q.url, c->name, a->name);
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
	return rc;
}

static const struct fr_mock *find_mock(const struct run *r, const char *name)
{
	for (size_t i = 0; i < r->e->opts.nmocks; i++) {
		if (strcmp(r->e->opts.mocks[i].action, name) == 0)
			return &r->e->opts.mocks[i];
	}
	return NULL;
}

/* http.request: {method, url, headers, query, body, expect, timeout} */
static int builtin_request(struct run *r, const json_t *in, json_t *rec,
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
		add_headers(r, &q, headers);
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
	if (write && (r->e->opts.dry_run || r->e->opts.offline)) {
		json_object_set_new(rec, "request", request_json(r, &q));
		json_object_set_new(rec, "dry_run", json_true());
		r->res->writes_skipped++;
		*out = jv_object();
		rc = 0;
		goto done;
	}
	if (r->e->opts.offline) {
		*err = fr_xasprintf("offline: http.request %s %s has no --mock",
				    method, q.url);
		goto done;
	}
	if (write)
		r->res->writes_sent++;
	if (send_with_retry(r, &plain, write, tmo, &q, attempts, deadline, &resp, err) < 0) {
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
		char *ex = body_excerpt(&resp);
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

static int do_action(struct run *r, const struct fr_step *s, jv vars,
		     json_t *rec, uint64_t deadline, jv *out, char **err)
{
	const struct fr_action *a = s->action;
	const struct fr_connector *c = s->conn ? s->conn->connector
					      : r->e->http_connector;
	const struct fr_mock *mock = find_mock(r, s->action_name);
	json_t *input = NULL, *conn;
	jv cctx = jv_invalid(), rctx = jv_invalid(), results = jv_invalid();
	char *cursor = NULL;
	int rc = -1;

	*out = jv_null();
	json_object_set_new(rec, "action", json_string(s->action_name));
	if (s->with) {
		if (render(r, s->with, r->ctx, vars, &input, err) < 0)
			goto out;
		if (!json_is_object(input)) {
			*err = fr_xstrdup("'with' must yield an object");
			goto out;
		}
	} else {
		input = json_object();
	}
	json_object_set(rec, "input", input);
	if (mock) {
		json_object_set_new(rec, "mocked", json_true());
		*out = fr_json_to_jv(mock->output);
		rc = 0;
		goto out;
	}
	if (!c || c->builtin) {
		rc = builtin_request(r, input, rec, deadline, out, err);
		goto out;
	}
	if (!(conn = connection_inputs(r, s->conn, err)))
		goto out;
	cctx = jv_object_set(jv_object_set(jv_object(), jv_string("connection"),
					   fr_json_to_jv(conn)),
			     jv_string("input"), fr_json_to_jv(input));
	if (r->e->opts.offline || (r->e->opts.dry_run && a->write)) {
		struct request q;
		json_t *sample = NULL;
		if (build_request(r, c, a, cctx, NULL, NULL, &q, err) < 0)
			goto out;
		json_object_set_new(rec, "request", request_json(r, &q));
		request_finish(&q);
		if (a->sample) {
			jv none = jv_array();
			int src = render(r, a->sample, cctx, none, &sample, err);
			jv_free(none);
			if (src < 0)
				goto out;
		} else if (r->e->opts.offline) {
			*err = fr_xasprintf("offline: %s has no sample; give "
					    "--mock %s=JSON", s->action_name,
					    s->action_name);
			goto out;
		} else {
			sample = json_object();
		}
		json_object_set_new(rec, "dry_run", json_true());
		if (a->write)
			r->res->writes_skipped++;
		*out = fr_json_to_jv(sample);
		json_decref(sample);
		rc = 0;
		goto out;
	}
	{
		int64_t tmo = a->timeout_ms ? a->timeout_ms : c->timeout_ms;
		for (int page = 0;; page++) {
			jv result, next;
			if (action_request(r, c, a, a->write, tmo, cctx,
					   a->paginate_query, cursor, rec, deadline,
					   &rctx, err) < 0)
				goto out;
			if (a->result) {
				if (eval(r, a->result, jv_copy(rctx), jv_null(), &result, err) < 0) {
					char *m = fr_xasprintf("result of %s: %s", s->action_name, *err);
					free(*err);
					*err = m;
					goto out;
				}
			} else {
				result = jv_object_get(jv_copy(rctx), jv_string("body"));
			}
			if (!a->paginate_next) {
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
			if (eval(r, a->paginate_next, jv_copy(rctx), jv_null(), &next, err) < 0)
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
			if (page + 1 >= a->paginate_max) {
				*err = fr_xasprintf("%s: more than %d pages", s->action_name,
						    a->paginate_max);
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
	json_decref(input);
	return rc;
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
 * state, HTTP handle and watchdog) and its own copies of the context, made
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
};

static void *loop_worker(void *arg)
{
	struct worker *w = arg;
	struct par *par = w->par;
	struct run sub = { .e = w->e, .req = par->parent->req, .res = &w->res };
	jv vars = jv_parse(par->vars), items = jv_parse(par->items);

	sub.ctx = jv_parse(par->ctx);
	sub.conns = w->conns;
	sub.deadline = par->deadline;
	sub.last = jv_null();
	arm(w->e, sub.deadline);
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
		steps = jv_object_get(jv_copy(sub.ctx), jv_string("steps"));
		run_steps(&sub, &par->s->body, ivars, sl->trace, &sl->out);
		sub.ctx = jv_object_set(sub.ctx, jv_string("steps"), steps);
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
	arm(w->e, 0);
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
		jv steps = jv_object_get(jv_copy(r->ctx), jv_string("steps"));
		jv last = jv_null();
		json_array_append_new(iters, json_pack("{si so}", "index", i, "steps", sub));
		rc = run_steps(r, &s->body, ivars, sub, &last);
		r->ctx = jv_object_set(r->ctx, jv_string("steps"), steps);
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
		r->e->hooks.log(r->e->hooks.data, s->level, r->req->flow->name,
				s->id, red);
	free(red);
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
			set_ctx_field(r, "state", key, fr_json_to_jv(val));
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
		return do_action(r, s, vars, rec, deadline, out, err);
	case FR_STEP_BRANCH:
		return do_branch(r, s, vars, rec, out, err);
	case FR_STEP_LOOP:
		return do_loop(r, s, vars, rec, deadline, out, err);
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
	char *err = NULL;
	int rc = 0;

	json_array_append_new(trace, rec);
	json_object_set_new(rec, "id", s->id ? json_string(s->id) : json_null());
	json_object_set_new(rec, "kind", json_string(fr_step_kind_name(s->kind)));
	json_object_set_new(rec, "line", json_integer(s->loc.line));
	if (s->timeout_ms) {
		uint64_t d = t0 + (uint64_t)s->timeout_ms * 1000000u;
		if (d < deadline)
			deadline = d;
	}
	if (deadline != r->deadline)	/* the flow's deadline is armed already */
		arm(r->e, deadline);
	if (s->cond) {
		jv c;
		if (eval(r, s->cond, jv_copy(r->ctx), vars, &c, &err) < 0)
			goto failed;
		bool run = fr_jv_truthy(c);
		jv_free(c);
		if (!run) {
			json_object_set_new(rec, "status", json_string("skipped"));
			json_object_set_new(rec, "duration_ms", ms_json(t0));
			if (deadline != r->deadline)
				arm(r->e, r->deadline);
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
		json_object_set_new(rec, "retries", json_integer(attempt));
		if (!sleep_ms((uint64_t)retry_delay(&s->retry, attempt), deadline))
			break;
		jv_free(out);
		out = jv_null();
		free(err);
		err = NULL;
	}
	if (deadline != r->deadline)
		arm(r->e, r->deadline);
	if (rc < 0 && !err && r->failed) {
		/* a step inside (a loop or branch) failed and said why */
		json_object_set_new(rec, "status", json_string("failed"));
		rc = -1;
		goto done;
	}
	if (rc == 0 && s->kind == FR_STEP_FAIL) {
		json_object_set_new(rec, "status", json_string("failed"));
		json_object_set_new(rec, "error", json_string(r->error));
		goto done;
	}
	if (rc == 0 || (r->stop && !err)) {
		json_object_set_new(rec, "status", json_string(
			json_object_get(rec, "dry_run") ? "dry-run" : "ok"));
		goto done;
	}
failed:
	if (timed_out(r, deadline) && !strstr(err, "timed out after") &&
	    !strstr(err, "timeout ("))
		err = timeout_message(r, s, err);
	if (s->on_error == FR_ON_ERROR_IGNORE && !timed_out(r, 0)) {
		jv_free(out);
		out = jv_object_set(jv_object(), jv_string("error"), jv_string(err));
		json_object_set_new(rec, "status", json_string("ignored"));
		json_object_set_new(rec, "error", json_string(err));
		rc = 0;
	} else {
		char *name = step_name(s);
		json_object_set_new(rec, "status", json_string("failed"));
		json_object_set_new(rec, "error", json_string(err));
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
	json_object_set_new(rec, "duration_ms", ms_json(t0));
	{
		json_t *o = fr_jv_to_json(jv_copy(out));
		json_object_set_new(rec, "output", o);
	}
	if (s->id)
		set_ctx_field(r, "steps", s->id, jv_copy(out));
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
	if (f->webhook.path)
		return fr_xasprintf("%.*s%s", (int)n, base, f->webhook.path);
	if (!instance || strcmp(instance, "default") == 0)
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
	r.last = jv_null();
	r.deadline = t0 + (uint64_t)req->flow->timeout_ms * 1000000u;
	arm(e, r.deadline);
	run_steps(&r, &req->flow->steps, vars, steps, &r.last);
	arm(e, 0);
	jv_free(vars);

	out->duration_ns = fr_now_ns() - t0;
	out->status = r.failed ? FR_EXEC_FAILED : FR_EXEC_OK;
	out->error = r.error ? fr_redact_str(req->redact, r.error) : NULL;
	out->output = fr_jv_to_json(r.last);
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
	json_object_set_new(trace, "error", r.error ? json_string(r.error) : json_null());
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
