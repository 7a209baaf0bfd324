/*
 * serve_http: the request handlers, run by libmicrohttpd's threads.  They
 * route, check the method, the queue's bound, the signature and the body,
 * then hand the delivery to the committer and return: the connection
 * stays suspended until the committer (or, for sync flows, the worker)
 * answers.  /healthz, /readyz and /metrics are answered here at once.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "json.h"
#include "log.h"
#include "redact.h"
#include "serve_ctx.h"
#include "util.h"
#include "verify.h"

struct req_ctx {
	struct world *w;
	const struct route *route;
};

static void count(const struct route *rt, int status)
{
	for (size_t i = 0; rt && i < SERVE_NCOUNTED; i++) {
		if (serve_counted[i] == status)
			atomic_fetch_add((atomic_ullong *)&rt->status[i], 1);
	}
}

/* An error answer; counted here before the request has its context
 * (start), else when it is done (done). */
static void answer_error(const struct route *rt, struct fr_request *r,
			 int status, const char *msg, const char *retry_after)
{
	if (!fr_request_data(r))
		count(rt, status);
	fr_request_error(r, status, msg, retry_after);
}

static void metrics(struct serve *s, struct fr_request *r)
{
	struct world *w = serve_world_current(s);
	struct fr_buf b;
	struct serve_gauges g = { .now = fr_store_now() };
	struct fr_server_stats st;

	pthread_mutex_lock(&s->mu);
	g.queued = fr_dispatch_held(s->dp);
	g.running = fr_dispatch_running(s->dp);
	pthread_mutex_unlock(&s->mu);
	fr_server_stats(s->srv, &st);
	g.connections = st.connections;
	g.closed_slow = st.closed_slow;
	g.closed_over_limit = st.closed_over_limit;
	fr_buf_init(&b);
	serve_metrics_text(&s->m, w, &g, &b);
	fr_request_respond(r, 200, "text/plain; version=0.0.4", fr_buf_cstr(&b),
			   NULL, NULL);
	fr_buf_finish(&b);
	serve_world_put(w);
}

long serve_http_start(void *data, struct fr_request *r)
{
	struct serve *s = data;
	const char *path = fr_request_path(r), *method = fr_request_method(r);
	struct req_ctx *c;
	struct world *w;
	const struct route *rt;
	bool allowed = false, busy, draining;

	if (strcmp(path, "/healthz") == 0) {
		fr_request_respond(r, 200, "application/json", "{\"status\":\"ok\"}",
				   NULL, NULL);
		return -1;
	}
	if (strcmp(path, "/readyz") == 0) {
		bool ready = atomic_load(&s->ready) && atomic_load(&s->store_ok);
		fr_request_respond(r, ready ? 200 : 503, "application/json",
				   ready ? "{\"status\":\"ready\"}"
					 : "{\"error\":\"not ready\"}", NULL, NULL);
		return -1;
	}
	if (strcmp(path, "/metrics") == 0) {
		metrics(s, r);
		return -1;
	}
	w = serve_world_current(s);
	rt = serve_world_route(w, path);
	if (!rt) {
		atomic_fetch_add(&s->m.not_found, 1);
		fr_request_error(r, 404, "no such hook", NULL);
		serve_world_put(w);
		return -1;
	}
	for (size_t i = 0; i < rt->flow->webhook.nmethods; i++)
		allowed |= strcasecmp(rt->flow->webhook.methods[i], method) == 0;
	if (!allowed) {
		answer_error(rt, r, 405, "method not allowed", NULL);
		serve_world_put(w);
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	draining = s->draining;
	busy = fr_dispatch_held(s->dp) >= s->o->queue_limit;
	pthread_mutex_unlock(&s->mu);
	pthread_mutex_lock(&s->cmu);
	busy |= s->npend >= s->o->queue_limit;
	pthread_mutex_unlock(&s->cmu);
	if (draining || busy || !atomic_load(&s->store_ok)) {
		atomic_fetch_add(&s->m.unavailable, 1);
		answer_error(rt, r, 503, draining ? "shutting down"
				: busy ? "queue full" : "the store is unavailable",
			     draining || busy ? "5" : "2");
		serve_world_put(w);
		return -1;
	}
	c = fr_xcalloc(1, sizeof(*c));
	c->w = w;
	c->route = rt;
	fr_request_set_data(r, c);
	return (long)rt->flow->webhook.max_body;
}

static const char *header_of(void *data, const char *name)
{
	return fr_request_header(data, name);
}

static bool claims_json(const char *ct)
{
	return ct && (strncasecmp(ct, "application/json", 16) == 0 ||
		      strstr(ct, "+json"));
}

json_t *serve_trigger(const struct fr_delivery *d)
{
	json_t *req = d->request, *body = NULL, *raw;
	const char *ct = json_string_value(json_object_get(
		json_object_get(req, "headers"), "content-type"));

	if (d->trigger)
		return json_incref(d->trigger);
	if (d->body_len && claims_json(ct))
		body = json_loadb(d->body, d->body_len, JSON_DECODE_ANY, NULL);
	raw = json_stringn(d->body ? d->body : "", d->body_len);
	if (!body)
		body = d->body_len ? json_incref(raw ? raw : json_null()) : json_null();
	return json_pack("{so so sO sO sO sO}", "body", body,
			 "raw_body", raw ? raw : json_null(),
			 "headers", json_object_get(req, "headers"),
			 "query", json_object_get(req, "query"),
			 "method", json_object_get(req, "method"),
			 "path", json_object_get(req, "path"));
}

void serve_http_handle(void *data, struct fr_request *r)
{
	struct serve *s = data;
	struct req_ctx *c = fr_request_data(r);
	const struct route *rt = c->route;
	const struct fr_flow *f = rt->flow;
	const struct fr_verify *v = &f->webhook.verify;
	size_t len;
	const char *body = fr_request_body(r, &len);
	struct fr_delivery *d;
	json_t *headers;
	struct pending p = { 0 };

	if (v->scheme) {
		struct fr_verify_input in = { body, len, header_of, r, time(NULL) };
		const char *why = NULL;
		if (fr_verify_check(v, (const char *const *)rt->vsecrets,
				    rt->nvsecrets, &in, &why) < 0) {
			struct fr_log_ctx lc = { .instance = rt->t->instance,
						 .integration = rt->t->in->name,
						 .flow = f->name };
			fr_log(FR_LOG_WARN, &lc, "%s %s refused: %s",
			       fr_request_method(r), fr_request_path(r), why);
			answer_error(rt, r, 401, "verification failed", NULL);
			return;
		}
	}
	if (claims_json(fr_request_header(r, "Content-Type")) && len) {
		json_error_t e;
		json_t *j = json_loadb(body, len, JSON_DECODE_ANY, &e);
		if (!j) {
			char *msg = fr_xasprintf("body is not valid JSON: %s", e.text);
			answer_error(rt, r, 400, msg, NULL);
			free(msg);
			return;
		}
		json_decref(j);
	}
	headers = fr_request_headers(r);
	fr_redact_inbound_headers(headers, v);	/* credentials: never stored */
	d = fr_xcalloc(1, sizeof(*d));
	d->id = fr_new_id("ex_");
	d->integration = fr_xstrdup(rt->t->in->name);
	d->instance = fr_xstrdup(rt->t->instance);
	d->flow = fr_xstrdup(f->name);
	d->origin = FR_ORIGIN_SERVE;
	/* limits hold across processes; a sync flow runs where it waits */
	if (!f->webhook.sync) {
		d->fifo = f->webhook.fifo;
		d->max_running = f->webhook.concurrency;
	}
	d->request = json_pack("{ss ss so so}", "method", fr_request_method(r),
			       "path", fr_request_path(r),
			       "query", fr_request_query(r), "headers", headers);
	/* made here, in parallel, not in the committer's transaction */
	d->request_text = fr_json_dump(d->request);
	d->body = fr_xmalloc(len + 1);
	memcpy(d->body, body, len);
	d->body[len] = '\0';
	d->body_len = len;
	p.d = d;
	p.r = r;	/* kept alive by the server until answered */
	p.w = serve_world_ref(c->w);
	p.flow = f;
	p.sync = f->webhook.sync;
	serve_commit_push(s, &p);
}

void serve_http_done(void *data, struct fr_request *r)
{
	struct req_ctx *c = fr_request_data(r);

	(void)data;
	if (c) {
		count(c->route, fr_request_status(r));
		serve_world_put(c->w);
		free(c);
	}
}
