/* gettid(): the workers lower their own priority (Linux) */
#define _GNU_SOURCE
#include "serve.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <sys/resource.h>
#include <unistd.h>

#include "cron.h"
#include "exec.h"
#include "expr.h"
#include "http.h"
#include "jqx.h"
#include "json.h"
#include "redact.h"
#include "runner.h"
#include "server.h"
#include "store.h"
#include "util.h"
#include "verify.h"

#define COMMIT_BATCH 256
#define POLL_INTERVAL_S 1.0
#define CHECKPOINT_EVERY 2000	/* rows written between WAL checkpoints */
/* committed deliveries handed to the workers in memory, up to this size */
#define HELD_MAX (8u << 20)

/* statuses counted per route */
static const int counted[] = { 200, 202, 400, 401, 405, 413, 500, 503, 504 };
#define NCOUNTED (sizeof(counted) / sizeof(counted[0]))

/* Histogram buckets, seconds. */
static const double buckets[] = { 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30 };
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct histogram {
	atomic_ullong counts[NBUCKETS + 1];
	atomic_ullong sum_us;
};

static void observe(struct histogram *h, double seconds)
{
	size_t i = 0;

	while (i < NBUCKETS && seconds > buckets[i])
		i++;
	atomic_fetch_add(&h->counts[i], 1);
	atomic_fetch_add(&h->sum_us, (unsigned long long)(seconds * 1e6));
}

/* One (integration, instance) being served: its config and secrets. */
struct target {
	const struct fr_integration *in;
	char *instance;
	json_t *config;
	struct fr_redact *secrets;	/* the config's secret values */
};

struct route {
	char *path;
	const struct fr_flow *flow;
	struct target *t;
	char **vsecrets;		/* verification secrets */
	size_t nvsecrets;
	char *key;			/* "integration/instance/flow" */
	atomic_ullong status[NCOUNTED];
};

/* Everything loaded from the files; replaced whole on SIGHUP. */
struct world {
	atomic_int refs;
	unsigned generation;
	struct fr_project *p;
	struct target *targets;
	size_t ntargets;
	struct route *routes;
	size_t nroutes;
};

/* A queued delivery in the dispatcher. */
struct item {
	char *id;
	long long seq;
	int attempts;
	double next_at;
	struct fr_delivery *d;		/* as committed, or NULL: read it */
	struct item *next;
};

/* The dispatcher's queue of one flow of one instance. */
struct flowq {
	char *key;			/* "integration/instance/flow" */
	char *integration, *instance, *flow;
	struct item *head, *tail;
	int running, limit;		/* limit 0: none */
	bool fifo, schedule;
	double next_fire;
	atomic_ullong ok, failed, retries;
	struct histogram duration, steps;
};

struct pending {
	struct fr_delivery *d;
	struct fr_request *r;		/* NULL: schedule or internal */
	struct world *w;
	const struct fr_flow *flow;
	bool sync;
};

/* An execution's end, written by the committer with the next batch. */
struct finish {
	json_t *exec;			/* the execution row (store.h) */
	char *input, *trace;		/* as JSON text */
	char *id, *status;		/* the delivery's new status */
	int attempts;
	double next_at;
};

struct syncwait {
	char *id;
	struct fr_request *r;
	double deadline;
	struct syncwait *next;
};

struct worker {
	struct serve *s;
	pthread_t thread;
	struct fr_store *store;
	struct fr_engine *engine;
	struct world *world;
	bool busy;
};

struct serve {
	const struct fr_serve_opts *o;
	struct fr_server *srv;
	char *public_url;		/* --public-url, else where we listen */
	pthread_mutex_t mu;		/* world, dispatcher, waits, flags */
	pthread_cond_t work;		/* workers: something to run */
	pthread_cond_t idle;		/* drain: a worker finished */
	struct world *world;
	unsigned generation;
	struct flowq **qs;
	size_t nqs;
	size_t rr;
	size_t queued;
	size_t held;			/* body bytes of deliveries in items */
	int running;
	struct syncwait *waits;
	bool draining, stopping;
	atomic_bool ready;
	atomic_bool store_ok;		/* the last store write or read worked */

	/* committer */
	pthread_t committer;
	pthread_mutex_t cmu;
	pthread_cond_t ccv;
	struct pending *pend;
	size_t npend, pend_cap;
	bool cstop;

	struct finish *fin;		/* ends of executions to record */
	size_t nfin, fin_cap;
	long long last_seq;

	pthread_t timer;
	struct worker *workers;
	size_t nworkers;

	/* metrics */
	atomic_ullong not_found, unavailable_total;
	struct histogram commit;
	atomic_ullong commits, committed;
};

/*
 * Workers yield the CPU to the request threads and the
 * committer: acknowledging is what clients wait for, and what cannot be run
 * at once waits durably in the queue.
 */
static void lower_priority(void)
{
	setpriority(PRIO_PROCESS, (id_t)gettid(), 10);
}

/* worlds */

static void world_put(struct world *w)
{
	if (!w || atomic_fetch_sub(&w->refs, 1) != 1)
		return;
	for (size_t i = 0; i < w->nroutes; i++) {
		free(w->routes[i].path);
		free(w->routes[i].key);
		for (size_t j = 0; j < w->routes[i].nvsecrets; j++)
			free(w->routes[i].vsecrets[j]);
		free(w->routes[i].vsecrets);
	}
	free(w->routes);
	for (size_t i = 0; i < w->ntargets; i++) {
		free(w->targets[i].instance);
		json_decref(w->targets[i].config);
		fr_redact_destroy(w->targets[i].secrets);
	}
	free(w->targets);
	fr_project_destroy(w->p);
	free(w);
}

static struct world *world_get(struct serve *s)
{
	struct world *w;

	pthread_mutex_lock(&s->mu);
	w = s->world;
	atomic_fetch_add(&w->refs, 1);
	pthread_mutex_unlock(&s->mu);
	return w;
}

static struct target *world_target(struct world *w, const char *integration,
				   const char *instance)
{
	for (size_t i = 0; i < w->ntargets; i++) {
		if (strcmp(w->targets[i].in->name, integration) == 0 &&
		    strcmp(w->targets[i].instance, instance) == 0)
			return &w->targets[i];
	}
	return NULL;
}

static void add_vsecret(struct route *rt, const json_t *v)
{
	if (!json_is_string(v) || !*json_string_value(v))
		return;
	rt->vsecrets = fr_xrealloc(rt->vsecrets, (rt->nvsecrets + 1) * sizeof(char *));
	rt->vsecrets[rt->nvsecrets++] = fr_xstrdup(json_string_value(v));
}

static void add_route(struct world *w, struct target *t, const struct fr_flow *f,
		      const char *path, struct fr_jqx *jx, struct fr_diag *d)
{
	struct route *rt;

	w->routes = fr_xrealloc(w->routes, (w->nroutes + 1) * sizeof(*w->routes));
	rt = &w->routes[w->nroutes++];
	memset(rt, 0, sizeof(*rt));
	rt->path = fr_xstrdup(path);
	rt->flow = f;
	rt->t = t;
	rt->key = fr_xasprintf("%s/%s/%s", t->in->name, t->instance, f->name);
	if (w->nroutes > 1 && w->routes[w->nroutes - 2].flow == f &&
	    w->routes[w->nroutes - 2].t == t) {
		/* the default instance's second path: same secrets */
		const struct route *prev = &w->routes[w->nroutes - 2];
		for (size_t i = 0; i < prev->nvsecrets; i++) {
			json_t *v = json_string(prev->vsecrets[i]);
			add_vsecret(rt, v);
			json_decref(v);
		}
	} else if (f->webhook.verify.scheme && f->webhook.verify.secret) {
		json_t *v = NULL;
		char *err = NULL;
		jv ctx = jv_object_set(jv_object(), jv_string("config"),
				       fr_json_to_jv(t->config));
		jv none = jv_array();
		if (fr_tmpl_render(f->webhook.verify.secret, jx, ctx, none, &v, &err) < 0) {
			fr_diag_at(d, FR_ERROR, fr_tmpl_loc(f->webhook.verify.secret),
				   "verify secret of flow '%s', instance '%s': %s",
				   f->name, t->instance, err);
			free(err);
		} else if (json_is_array(v)) {
			size_t i;
			json_t *x;
			json_array_foreach(v, i, x)
				add_vsecret(rt, x);
		} else {
			add_vsecret(rt, v);
		}
		if (!rt->nvsecrets && !err)
			fr_diag_at(d, FR_ERROR, fr_tmpl_loc(f->webhook.verify.secret),
				   "verify secret of flow '%s', instance '%s' is "
				   "empty", f->name, t->instance);
		json_decref(v);
		jv_free(ctx);
		jv_free(none);
	}
}

static void add_target(struct world *w, const struct fr_integration *in,
		       const struct fr_instance *inst, const char *name,
		       const struct fr_serve_opts *o, struct fr_diag *d)
{
	struct target *t;
	json_t *config = NULL;
	struct fr_redact *rd = fr_redact_create();

	if (fr_config_resolve(&config, in, inst, o->sets, o->nsets, rd, d) < 0) {
		fr_redact_destroy(rd);
		return;
	}
	w->targets = fr_xrealloc(w->targets, (w->ntargets + 1) * sizeof(*w->targets));
	t = &w->targets[w->ntargets++];
	t->in = in;
	t->instance = fr_xstrdup(name);
	t->config = config;
	t->secrets = rd;
}

/*
 * Loads the files into a new world: every instance of every integration
 * (instance files, else the default instance), their config, the routes of
 * their webhook flows and the verification secrets.  NULL after reporting.
 */
static struct world *world_load(const struct fr_serve_opts *o, struct fr_diag *d,
				int *status)
{
	struct world *w = fr_xcalloc(1, sizeof(*w));
	struct fr_jqx *jx;

	atomic_init(&w->refs, 1);
	*status = FR_EXIT_INVALID;
	fr_common_load(&w->p, o->common, o->paths, o->npaths, d);
	if (d->nerrors)
		goto fail;
	*status = FR_EXIT_CONFIG;
	for (size_t k = 0; k < o->nsets; k++) {
		bool known = false;
		for (size_t i = 0; i < w->p->nintegrations; i++)
			known |= fr_integration_config(w->p->integrations[i],
						       o->sets[k].key) != NULL;
		if (!known)
			fr_diag(d, FR_ERROR, "--set %s: no integration declares config "
				"variable '%s'", o->sets[k].key, o->sets[k].key);
	}
	for (size_t i = 0; i < w->p->nintegrations; i++) {
		const struct fr_integration *in = w->p->integrations[i];
		bool any = false;
		for (size_t j = 0; j < w->p->ninstances; j++) {
			const struct fr_instance *inst = w->p->instances[j];
			if (inst->integration != in ||
			    (o->instance && strcmp(o->instance, inst->name) != 0))
				continue;
			add_target(w, in, inst, inst->name, o, d);
			any = true;
		}
		if (!any && (!o->instance || strcmp(o->instance, "default") == 0))
			add_target(w, in, NULL, "default", o, d);
	}
	if (d->nerrors)
		goto fail;
	/* routes; the verification secrets are rendered once, here */
	jx = fr_jqx_create(w->p->prog);
	for (size_t i = 0; i < w->ntargets; i++) {
		struct target *t = &w->targets[i];
		for (size_t j = 0; j < t->in->nflows; j++) {
			const struct fr_flow *f = &t->in->flows[j];
			char *path;
			if (f->trigger != FR_TRIGGER_WEBHOOK)
				continue;
			path = fr_xasprintf("/hooks/%s/%s/%s", t->instance,
					    t->in->name, f->name);
			add_route(w, t, f, path, jx, d);
			free(path);
			if (strcmp(t->instance, "default") == 0) {
				path = f->webhook.path
					       ? fr_xstrdup(f->webhook.path)
					       : fr_xasprintf("/hooks/%s/%s",
							      t->in->name, f->name);
				add_route(w, t, f, path, jx, d);
				free(path);
			}
		}
	}
	fr_jqx_destroy(jx);
	for (size_t i = 0; i < w->nroutes; i++) {
		for (size_t j = 0; j < i; j++) {
			if (strcmp(w->routes[i].path, w->routes[j].path) == 0)
				fr_diag(d, FR_ERROR, "two webhook flows answer %s: "
					"%s and %s", w->routes[i].path,
					w->routes[j].key, w->routes[i].key);
		}
	}
	if (d->nerrors)
		goto fail;
	*status = FR_EXIT_OK;
	return w;
fail:
	world_put(w);
	return NULL;
}

static const struct route *find_route(const struct world *w, const char *path)
{
	for (size_t i = 0; i < w->nroutes; i++) {
		if (strcmp(w->routes[i].path, path) == 0)
			return &w->routes[i];
	}
	return NULL;
}

/* the dispatcher (s->mu held) */

static struct flowq *find_q(struct serve *s, const char *integration,
			    const char *instance, const char *flow)
{
	struct flowq *q;
	char *key = fr_xasprintf("%s/%s/%s", integration, instance, flow);

	for (size_t i = 0; i < s->nqs; i++) {
		if (strcmp(s->qs[i]->key, key) == 0) {
			free(key);
			return s->qs[i];
		}
	}
	q = fr_xcalloc(1, sizeof(*q));
	q->key = key;
	q->integration = fr_xstrdup(integration);
	q->instance = fr_xstrdup(instance);
	q->flow = fr_xstrdup(flow);
	s->qs = fr_xrealloc(s->qs, (s->nqs + 1) * sizeof(*s->qs));
	s->qs[s->nqs++] = q;
	return q;
}

/* Sets each queue's limit from its flow in world w. */
static void apply_limits(struct serve *s, struct world *w)
{
	for (size_t i = 0; i < s->nqs; i++) {
		struct flowq *q = s->qs[i];
		const struct fr_integration *in = NULL;
		const struct fr_flow *f = NULL;
		for (size_t j = 0; j < w->p->nintegrations; j++) {
			if (strcmp(w->p->integrations[j]->name, q->integration) == 0)
				in = w->p->integrations[j];
		}
		if (in)
			f = fr_integration_flow(in, q->flow);
		q->limit = 0;
		q->fifo = f && (f->webhook.fifo || f->trigger == FR_TRIGGER_SCHEDULE);
		if (q->fifo)
			q->limit = 1;
		else if (f && f->webhook.concurrency)
			q->limit = f->webhook.concurrency;
	}
}

/*
 * Queues delivery id for a worker.  d (may be NULL) is the delivery as
 * committed: the item takes it while the deliveries held stay under
 * HELD_MAX, and the worker need not read it back; else it is freed.
 */
static void enqueue(struct serve *s, struct flowq *q, const char *id,
		    long long seq, int attempts, double next_at, bool front,
		    struct fr_delivery *d)
{
	struct item *it = fr_xcalloc(1, sizeof(*it));

	it->id = fr_xstrdup(id);	/* first: id may be d's */
	if (d && s->held + d->body_len < HELD_MAX) {
		it->d = d;
		s->held += d->body_len;
	} else {
		fr_delivery_free(d);
	}
	it->seq = seq;
	it->attempts = attempts;
	it->next_at = next_at;
	if (front) {
		it->next = q->head;
		q->head = it;
		if (!q->tail)
			q->tail = it;
	} else {
		if (q->tail)
			q->tail->next = it;
		else
			q->head = it;
		q->tail = it;
	}
	s->queued++;
}

/*
 * The next item a worker may run: heads of queues below their limit whose
 * time has come, taken round-robin across flows.  *wait_until gets the
 * earliest time something delayed becomes runnable.
 */
static struct item *take(struct serve *s, struct flowq **qout, double *wait_until)
{
	double now = fr_store_now();

	*wait_until = 0;
	for (size_t k = 0; k < s->nqs; k++) {
		size_t i = (s->rr + k) % s->nqs;
		struct flowq *q = s->qs[i];
		struct item *it = q->head, *prev = NULL;
		int scanned = 0;
		if (!it || (q->limit && q->running >= q->limit))
			continue;
		/* a fifo flow waits for its head; others pass delayed retries */
		while (it && it->next_at > now && !q->fifo && ++scanned < 64) {
			if (!*wait_until || it->next_at < *wait_until)
				*wait_until = it->next_at;
			prev = it;
			it = it->next;
		}
		if (!it || it->next_at > now) {
			if (it && (!*wait_until || it->next_at < *wait_until))
				*wait_until = it->next_at;
			continue;
		}
		if (prev)
			prev->next = it->next;
		else
			q->head = it->next;
		if (q->tail == it)
			q->tail = prev;
		it->next = NULL;
		if (it->d)
			s->held -= it->d->body_len;
		q->running++;
		s->queued--;
		s->running++;
		s->rr = i + 1;
		*qout = q;
		return it;
	}
	return NULL;
}

static void item_free(struct item *it)
{
	if (it) {
		fr_delivery_free(it->d);
		free(it->id);
		free(it);
	}
}

static void free_queues(struct serve *s)
{
	for (size_t i = 0; i < s->nqs; i++) {
		struct flowq *q = s->qs[i];
		while (q->head) {
			struct item *it = q->head;
			q->head = it->next;
			item_free(it);
		}
		free(q->key);
		free(q->integration);
		free(q->instance);
		free(q->flow);
		free(q);
	}
	free(s->qs);
}

/* sync waits */

/* A sync request waits for execution id (s->mu held). */
static void wait_add(struct serve *s, const char *id, struct fr_request *r)
{
	struct syncwait *sw = fr_xcalloc(1, sizeof(*sw));

	sw->id = fr_xstrdup(id);
	sw->r = r;
	sw->deadline = fr_store_now() + s->o->sync_timeout_s;
	sw->next = s->waits;
	s->waits = sw;
}

/* Takes the request waiting for execution id, if any (s->mu not held). */
static struct fr_request *wait_take(struct serve *s, const char *id)
{
	struct syncwait **pp, *sw;
	struct fr_request *r = NULL;

	pthread_mutex_lock(&s->mu);
	for (pp = &s->waits; (sw = *pp) != NULL; pp = &sw->next) {
		if (strcmp(sw->id, id) == 0) {
			*pp = sw->next;
			r = sw->r;
			free(sw->id);
			free(sw);
			break;
		}
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* request handling */

struct req_ctx {
	struct world *w;
	const struct route *route;
};

static int status_slot(int status)
{
	for (size_t i = 0; i < NCOUNTED; i++) {
		if (counted[i] == status)
			return (int)i;
	}
	return -1;
}

static void count(const struct route *rt, int status)
{
	int i = status_slot(status);

	if (rt && i >= 0)
		atomic_fetch_add((atomic_ullong *)&rt->status[i], 1);
}

/* An error answer; counted here before the request has its context
 * (on_start), else when it is done (on_done). */
static void answer_error(const struct route *rt, struct fr_request *r,
			 int status, const char *msg, const char *retry_after)
{
	if (!fr_request_data(r))
		count(rt, status);
	fr_request_error(r, status, msg, retry_after);
}

static void metrics(struct serve *s, struct fr_request *r);

static long on_start(void *data, struct fr_request *r)
{
	struct serve *s = data;
	const char *path = fr_request_path(r), *method = fr_request_method(r);
	struct req_ctx *c;
	struct world *w;
	const struct route *rt;
	bool allowed = false;

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
	w = world_get(s);
	rt = find_route(w, path);
	if (!rt) {
		atomic_fetch_add(&s->not_found, 1);
		fr_request_error(r, 404, "no such hook", NULL);
		world_put(w);
		return -1;
	}
	for (size_t i = 0; i < rt->flow->webhook.nmethods; i++)
		allowed |= strcasecmp(rt->flow->webhook.methods[i], method) == 0;
	if (!allowed) {
		answer_error(rt, r, 405, "method not allowed", NULL);
		world_put(w);
		return -1;
	}
	pthread_mutex_lock(&s->mu);
	bool busy = s->draining || s->queued >= s->o->queue_limit;
	pthread_mutex_unlock(&s->mu);
	if (busy) {
		atomic_fetch_add(&s->unavailable_total, 1);
		answer_error(rt, r, 503, s->draining ? "shutting down"
						      : "queue full", "5");
		world_put(w);
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

/* The trigger value of a webhook delivery. */
static json_t *webhook_trigger(const struct fr_delivery *d)
{
	json_t *req = d->request, *t, *body = NULL, *raw;
	const char *ct = json_string_value(json_object_get(
		json_object_get(req, "headers"), "content-type"));

	if (d->trigger)
		return json_incref(d->trigger);
	if (d->body_len && claims_json(ct))
		body = json_loadb(d->body, d->body_len, JSON_DECODE_ANY, NULL);
	raw = json_stringn(d->body ? d->body : "", d->body_len);
	if (!body)
		body = d->body_len ? json_incref(raw ? raw : json_null()) : json_null();
	t = json_pack("{so so sO sO sO sO}", "body", body,
		      "raw_body", raw ? raw : json_null(),
		      "headers", json_object_get(req, "headers"),
		      "query", json_object_get(req, "query"),
		      "method", json_object_get(req, "method"),
		      "path", json_object_get(req, "path"));
	return t;
}

static void committer_push(struct serve *s, struct pending *p)
{
	pthread_mutex_lock(&s->cmu);
	fr_grow(&s->pend, &s->pend_cap, s->npend + 1, sizeof(*s->pend));
	s->pend[s->npend++] = *p;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
}

static void on_handle(void *data, struct fr_request *r)
{
	struct serve *s = data;
	struct req_ctx *c = fr_request_data(r);
	const struct route *rt = c->route;
	const struct fr_verify *v = &rt->flow->webhook.verify;
	size_t len;
	const char *body = fr_request_body(r, &len);
	struct fr_delivery *d;
	json_t *headers;
	struct pending p;

	if (v->scheme) {
		struct fr_verify_input in = { body, len, header_of, r, time(NULL) };
		const char *why = NULL;
		if (fr_verify_check(v, (const char *const *)rt->vsecrets,
				    rt->nvsecrets, &in, &why) < 0) {
			fprintf(stderr, "flowrun: warn: %s: %s %s refused: %s\n",
				rt->key, fr_request_method(r), fr_request_path(r), why);
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
	d->flow = fr_xstrdup(rt->flow->name);
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
	p.w = c->w;
	atomic_fetch_add(&c->w->refs, 1);
	p.flow = rt->flow;
	p.sync = rt->flow->webhook.sync;
	committer_push(s, &p);
}

static void on_done(void *data, struct fr_request *r)
{
	struct req_ctx *c = fr_request_data(r);

	(void)data;
	if (c) {
		count(c->route, fr_request_status(r));
		world_put(c->w);
		free(c);
	}
}

/* the committer */

static char *dedupe_key(struct fr_jqx *jx, const struct fr_flow *f,
			const struct fr_delivery *d)
{
	json_t *t = webhook_trigger(d);
	jv ctx = jv_object_set(jv_object(), jv_string("trigger"), fr_json_to_jv(t)), v;
	char *err = NULL, *key = NULL;

	json_decref(t);
	if (fr_jqx_eval(jx, f->webhook.dedupe->id, ctx, jv_array(), &v, &err) < 0) {
		fprintf(stderr, "flowrun: warn: %s: dedupe key: %s\n", f->name, err);
		free(err);
		return NULL;
	}
	if (jv_get_kind(v) == JV_KIND_STRING)
		key = fr_xstrdup(jv_string_value(v));
	else if (jv_get_kind(v) != JV_KIND_NULL)
		key = fr_jv_dump(v);
	jv_free(v);
	return key;
}

static void answer_committed(struct serve *s, struct pending *p,
			     const char *dup_of)
{
	char *body;

	if (!p->r)
		return;
	if (p->sync && !dup_of)
		return;		/* waiting: the worker answers */
	/* ids are ours: letters, digits and '_', nothing to escape */
	body = dup_of ? fr_xasprintf("{\"execution\":\"%s\",\"duplicate\":true}",
				     dup_of)
		      : fr_xasprintf("{\"execution\":\"%s\"}", p->d->id);
	fr_request_respond(p->r, dup_of ? 200 : 202, "application/json", body,
			   "Flowrun-Execution", dup_of ? dup_of : p->d->id);
	free(body);
}

static void add_pending_rows(struct serve *s, const json_t *rows)
{
	size_t i;
	json_t *row;

	pthread_mutex_lock(&s->mu);
	json_array_foreach(rows, i, row) {
		long long seq = json_integer_value(json_object_get(row, "seq"));
		struct flowq *q;
		if (seq <= s->last_seq)
			continue;
		q = find_q(s, json_string_value(json_object_get(row, "integration")),
			   json_string_value(json_object_get(row, "instance")),
			   json_string_value(json_object_get(row, "flow")));
		enqueue(s, q, json_string_value(json_object_get(row, "id")), seq,
			(int)json_integer_value(json_object_get(row, "attempts")),
			json_number_value(json_object_get(row, "next_at")), false,
			NULL);
		s->last_seq = seq;
	}
	apply_limits(s, s->world);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
}

/*
 * Writes every waiting delivery in one transaction, then answers them.
 * Between batches (at least every second) it also picks up deliveries that
 * another process queued (flowrun replay).
 */
static void finish_free(struct finish *f)
{
	json_decref(f->exec);
	free(f->input);
	free(f->trace);
	free(f->id);
	free(f->status);
}

/* Hands the end of an execution to the committer, which records it. */
static void record_finish(struct serve *s, struct finish *f)
{
	pthread_mutex_lock(&s->cmu);
	fr_grow(&s->fin, &s->fin_cap, s->nfin + 1, sizeof(*s->fin));
	s->fin[s->nfin++] = *f;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
}

/*
 * Records ends of executions in one transaction that does not wait for
 * the disk: the next fsync'd commit of deliveries takes it along.  flowrun
 * crashing loses none of them; the machine crashing may lose the last
 * ones, whose deliveries then run again (at least once).  So acknowledging
 * stays one fsync per batch, and the store has one writer: no waiting for
 * its lock.
 */
static void record_batch(struct fr_store *store, struct finish *fins, size_t nf)
{
	char *err = NULL;
	bool ok = fr_store_set_synchronous(store, false, &err) == 0 &&
		  fr_store_begin(store, &err) == 0;

	for (size_t i = 0; ok && i < nf; i++) {
		ok = fr_store_execution_put(store, fins[i].exec, fins[i].input,
					    fins[i].trace, &err) == 0 &&
		     fr_store_delivery_update(store, fins[i].id, fins[i].status,
					      fins[i].attempts, fins[i].next_at,
					      &err) == 0;
	}
	ok = ok && fr_store_commit(store, &err) == 0;
	if (!ok) {
		fr_store_rollback(store);
		fprintf(stderr, "flowrun: error: recording %zu execution%s: %s\n",
			nf, nf == 1 ? "" : "s", err);
		free(err);
		err = NULL;
	}
	if (fr_store_set_synchronous(store, true, &err) < 0) {
		fprintf(stderr, "flowrun: error: %s\n", err);
		free(err);
	}
	for (size_t i = 0; i < nf; i++)
		finish_free(&fins[i]);
}

/* Picks up deliveries that another process queued (flowrun replay). */
static void poll_store(struct serve *s, struct fr_store *store)
{
	json_t *rows = NULL;
	long long after;
	char *err = NULL;

	pthread_mutex_lock(&s->mu);
	after = s->last_seq;
	pthread_mutex_unlock(&s->mu);
	if (fr_store_delivery_pending(store, after, &rows, &err) < 0) {
		fprintf(stderr, "flowrun: error: %s\n", err);
		free(err);
		atomic_store(&s->store_ok, false);
		return;
	}
	atomic_store(&s->store_ok, true);
	add_pending_rows(s, rows);
	json_decref(rows);
}

static void checkpoint(struct fr_store *store, size_t *since)
{
	char *err = NULL;

	if (fr_store_checkpoint(store, false, &err) < 0) {
		fprintf(stderr, "flowrun: warn: %s\n", err);
		free(err);
	}
	*since = 0;
}

/*
 * Writes n deliveries in one transaction (one fsync), then queues them for
 * the workers and answers them (sync ones wait for their execution).
 */
static void commit_deliveries(struct serve *s, struct fr_store *store,
			      struct fr_jqx **jx, unsigned *jx_gen,
			      struct pending *batch, size_t n,
			      struct fr_delivery **ds, char **dups)
{
	char *err = NULL;
	uint64_t t0;
	bool ok;

	for (size_t i = 0; i < n; i++) {
		ds[i] = batch[i].d;
		if (batch[i].flow && batch[i].flow->webhook.dedupe) {
			if (!*jx || *jx_gen != batch[i].w->generation) {
				fr_jqx_destroy(*jx);
				*jx = fr_jqx_create(batch[i].w->p->prog);
				*jx_gen = batch[i].w->generation;
			}
			batch[i].d->dedupe_key = dedupe_key(*jx, batch[i].flow,
							    batch[i].d);
		}
	}
	t0 = fr_now_ns();
	ok = fr_store_delivery_add(store, ds, n, dups, &err) == 0;
	atomic_store(&s->store_ok, ok);
	if (!ok) {
		fprintf(stderr, "flowrun: error: %s\n", err);
		free(err);
		for (size_t i = 0; i < n; i++) {
			if (batch[i].r)
				fr_request_error(batch[i].r, 503,
						 "cannot store the delivery", "1");
			fr_delivery_free(batch[i].d);
			world_put(batch[i].w);
		}
		return;
	}
	observe(&s->commit, (double)(fr_now_ns() - t0) / 1e9);
	atomic_fetch_add(&s->commits, 1);
	atomic_fetch_add(&s->committed, n);
	for (size_t i = 0; i < n; i++)
		answer_committed(s, &batch[i], dups[i]);
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		struct fr_delivery *d = batch[i].d;
		if (dups[i]) {
			fr_delivery_free(d);
			continue;
		}
		if (batch[i].sync && batch[i].r)
			wait_add(s, d->id, batch[i].r);
		if (d->seq > s->last_seq)
			s->last_seq = d->seq;
		enqueue(s, find_q(s, d->integration, d->instance, d->flow),
			d->id, d->seq, 0, 0, false, d);	/* takes d */
	}
	apply_limits(s, s->world);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		free(dups[i]);
		world_put(batch[i].w);
	}
}

/*
 * The only writer of the queue: everything waiting at that moment (new
 * deliveries, and the ends of executions) goes into one transaction, one
 * fsync; then the deliveries are answered and handed to the workers.
 */
static void *committer(void *arg)
{
	struct serve *s = arg;
	struct fr_store *store = NULL;
	struct fr_jqx *jx = NULL;
	unsigned jx_gen = 0;
	char *err = NULL;
	double last_poll = 0;
	size_t since_checkpoint = 0;
	struct pending *batch = fr_xcalloc(COMMIT_BATCH, sizeof(*batch));
	struct finish *fins = fr_xcalloc(COMMIT_BATCH, sizeof(*fins));
	struct fr_delivery **ds = fr_xcalloc(COMMIT_BATCH, sizeof(*ds));
	char **dups = fr_xcalloc(COMMIT_BATCH, sizeof(*dups));

	pthread_setname_np(pthread_self(), "fr-committer");
	if (fr_store_open(&store, s->o->common->store, &err) < 0 ||
	    fr_store_set_checkpoints(store, false, &err) < 0) {
		fprintf(stderr, "flowrun: error: %s\n", err);
		free(err);
		abort();
	}
	for (;;) {
		size_t n, nf;

		pthread_mutex_lock(&s->cmu);
		while (s->npend == 0 && s->nfin == 0 && !s->cstop &&
		       fr_store_now() - last_poll < POLL_INTERVAL_S) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_nsec += 200 * 1000 * 1000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&s->ccv, &s->cmu, &ts);
		}
		if (s->npend == 0 && s->nfin == 0 && s->cstop) {
			pthread_mutex_unlock(&s->cmu);
			break;
		}
		n = s->npend < COMMIT_BATCH ? s->npend : COMMIT_BATCH;
		if (n) {
			memcpy(batch, s->pend, n * sizeof(*batch));
			memmove(s->pend, s->pend + n,
				(s->npend - n) * sizeof(*s->pend));
			s->npend -= n;
		}
		nf = s->nfin < COMMIT_BATCH ? s->nfin : COMMIT_BATCH;
		if (nf) {
			memcpy(fins, s->fin, nf * sizeof(*fins));
			memmove(s->fin, s->fin + nf, (s->nfin - nf) * sizeof(*s->fin));
			s->nfin -= nf;
		}
		pthread_mutex_unlock(&s->cmu);

		if (n == 0 && nf == 0) {
			last_poll = fr_store_now();
			poll_store(s, store);
			if (since_checkpoint)
				checkpoint(store, &since_checkpoint);
			continue;
		}
		if (n)
			commit_deliveries(s, store, &jx, &jx_gen, batch, n, ds, dups);
		if (nf)
			record_batch(store, fins, nf);
		/* the log is folded in here, after the answers, not in them */
		since_checkpoint += n + nf;
		if (since_checkpoint >= CHECKPOINT_EVERY)
			checkpoint(store, &since_checkpoint);
	}
	/* what was recorded without waiting for the disk reaches it now */
	if (fr_store_checkpoint(store, true, &err) < 0) {
		fprintf(stderr, "flowrun: error: %s\n", err);
		free(err);
	}
	fr_jqx_destroy(jx);
	fr_store_close(store);
	free(batch);
	free(fins);
	free(ds);
	free(dups);
	return NULL;
}

/* workers */

static double retry_delay_s(const struct fr_retry *r, int attempt)
{
	double d = (double)r->delay_ms / 1000.0 * pow(r->backoff, attempt - 1);
	double jitter = 0.8 + 0.4 * ((double)(fr_now_ns() % 1000) / 1000.0);

	if (r->max_delay_ms > 0 && d > (double)r->max_delay_ms / 1000.0)
		d = (double)r->max_delay_ms / 1000.0;
	return d * jitter;
}

static void count_steps(struct flowq *q, const json_t *steps)
{
	size_t i, j;
	json_t *st, *it;

	json_array_foreach(steps, i, st) {
		observe(&q->steps, json_number_value(json_object_get(st, "duration_ms")) / 1e3);
		count_steps(q, json_object_get(st, "steps"));
		json_array_foreach(json_object_get(st, "iterations"), j, it)
			count_steps(q, json_object_get(it, "steps"));
	}
}

/* Answers a sync request from the execution's result. */
static void answer_sync(struct fr_request *r, const char *id,
			const struct fr_exec_result *res)
{
	json_t *j;
	char *body;

	if (res->status != FR_EXEC_OK) {
		j = json_pack("{ss ss}", "error", "execution failed", "execution", id);
		body = json_dumps(j, JSON_COMPACT);
		fr_request_respond(r, 500, "application/json", body,
				   "Flowrun-Execution", id);
	} else if (res->response) {
		const json_t *b = json_object_get(res->response, "body");
		json_int_t st = json_integer_value(json_object_get(res->response, "status"));
		const json_t *hs = json_object_get(res->response, "headers");
		const char *name;
		json_t *v;
		bool has_ct = false;
		/* the respond step's headers, Content-Type by default from the body */
		j = json_object();
		json_object_foreach((json_t *)hs, name, v) {
			char *text = json_is_string(v) ? fr_xstrdup(json_string_value(v))
						       : fr_json_dump(v);
			json_object_set_new(j, name, json_string(text));
			has_ct |= strcasecmp(name, "Content-Type") == 0;
			free(text);
		}
		if (!has_ct)
			json_object_set_new(j, "Content-Type", json_string(
				json_is_string(b) ? "text/plain" : "application/json"));
		json_object_set_new(j, "Flowrun-Execution", json_string(id));
		body = json_is_string(b) ? fr_xstrdup(json_string_value(b))
					 : b ? json_dumps(b, JSON_COMPACT | JSON_ENCODE_ANY)
					     : fr_xstrdup("");
		fr_request_respond_headers(r, st >= 100 && st <= 599 ? (int)st : 200,
					   body, j);
	} else {
		j = json_incref(res->output);
		body = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
		fr_request_respond(r, 200, "application/json", body,
				   "Flowrun-Execution", id);
	}
	free(body);
	json_decref(j);
}

static void run_item(struct worker *wk, struct flowq *q, struct item *it)
{
	struct serve *s = wk->s;
	struct world *w = world_get(s);
	struct fr_delivery *d = NULL;
	const struct fr_flow *f = NULL;
	struct target *t;
	struct fr_exec_result res = { 0 };
	struct fr_redact *rd = NULL;
	json_t *trigger = NULL;
	char *err = NULL, *name;
	const char *status = "done";
	double next_at = 0;
	int attempts = it->attempts + 1;

	if (wk->world != w) {
		fr_engine_destroy(wk->engine);
		world_put(wk->world);
		struct fr_exec_opts opts = { .public_url = s->public_url };
		struct fr_exec_hooks hooks = fr_runner_hooks(wk->store, fr_log_stderr);
		wk->engine = fr_engine_create(w->p, &opts, &hooks);
		wk->world = w;
		atomic_fetch_add(&w->refs, 1);
	}
	name = fr_xasprintf("%s/%s", q->integration, q->flow);
	t = world_target(w, q->integration, q->instance);
	if (t)
		f = fr_project_flow(w->p, name);
	free(name);
	if (it->d) {
		d = it->d;
		it->d = NULL;
	} else if (fr_store_delivery_get(wk->store, it->id, &d, &err) < 0 || !d) {
		fprintf(stderr, "flowrun: error: delivery %s: %s\n", it->id,
			err ? err : "not in the store");
		free(err);
		goto out;
	}
	if (!f || !t) {
		fprintf(stderr, "flowrun: error: %s: flow %s is no longer served; "
			"delivery %s failed\n", q->key, q->flow, it->id);
		status = "failed";
		goto record;
	}
	trigger = webhook_trigger(d);
	rd = fr_redact_create();
	for (size_t i = 0; i < t->in->nconfig; i++) {
		if (t->in->config[i].secret)
			fr_redact_add_json(rd, json_object_get(t->config,
							       t->in->config[i].name));
	}
	{
		struct fr_job job = { .flow = f, .instance = t->instance,
				      .config = t->config, .trigger = trigger,
				      .redact = rd, .execution = it->id };
		if (fr_runner_execute(wk->engine, wk->store, &job, &res, &err) < 0) {
			fprintf(stderr, "flowrun: error: %s\n", err);
			free(err);
			err = NULL;
		}
	}
	observe(&q->duration, (double)res.duration_ns / 1e9);
	count_steps(q, json_object_get(res.trace, "steps"));
	if (res.status == FR_EXEC_OK) {
		atomic_fetch_add(&q->ok, 1);
	} else if (!f->webhook.sync && attempts < f->webhook.retry.attempts) {
		status = "queued";
		next_at = fr_store_now() + retry_delay_s(&f->webhook.retry, attempts);
		atomic_fetch_add(&q->retries, 1);
		fprintf(stderr, "flowrun: warn: %s: execution %s failed (try %d of "
			"%d), retrying in %.1f s: %s\n", q->key, it->id, attempts,
			f->webhook.retry.attempts, next_at - fr_store_now(), res.error);
	} else {
		status = "failed";
		atomic_fetch_add(&q->failed, 1);
		fprintf(stderr, "flowrun: error: %s: execution %s failed: %s\n",
			q->key, it->id, res.error);
	}
record:
	{
		/* serialized here, so the committer only writes */
		json_t *input = trigger ? fr_redact_json(rd, trigger) : json_null();
		const json_t *tr = res.trace;
		struct finish fin = {
			.exec = json_pack("{ss ss ss ss ss si ss so sf}", "id", it->id,
					  "integration", q->integration,
					  "instance", q->instance, "flow", q->flow,
					  "trigger", f ? fr_trigger_name(f->trigger) : "webhook",
					  "attempt", attempts,
					  "status", tr ? json_string_value(json_object_get(tr, "status"))
						       : "failed",
					  "error", tr ? json_incref(json_object_get(tr, "error"))
						      : json_string("flow no longer served"),
					  "duration_ms", tr ? json_number_value(
						  json_object_get(tr, "duration_ms")) : 0.0),
			.input = fr_json_dump(input),
			.trace = tr ? fr_json_dump(tr) : fr_xstrdup("null"),
			.id = fr_xstrdup(it->id), .status = fr_xstrdup(status),
			.attempts = attempts, .next_at = next_at,
		};
		json_decref(input);
		record_finish(s, &fin);
	}
	if (f && f->webhook.sync) {
		struct fr_request *r = wait_take(s, it->id);
		if (r)
			answer_sync(r, it->id, &res);
	}
out:
	pthread_mutex_lock(&s->mu);
	q->running--;
	s->running--;
	if (strcmp(status, "queued") == 0) {
		/* back in line; a fifo flow waits for it */
		enqueue(s, q, it->id, it->seq, attempts, next_at, true, NULL);
		it = NULL;
	}
	pthread_cond_broadcast(&s->work);
	pthread_cond_broadcast(&s->idle);
	pthread_mutex_unlock(&s->mu);
	item_free(it);
	fr_exec_result_finish(&res);
	fr_redact_destroy(rd);
	json_decref(trigger);
	fr_delivery_free(d);
	world_put(w);
}

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct serve *s = wk->s;

	pthread_setname_np(pthread_self(), "fr-worker");
	lower_priority();
	for (;;) {
		struct flowq *q = NULL;
		struct item *it = NULL;
		double until = 0;

		pthread_mutex_lock(&s->mu);
		while (!s->stopping && !s->draining &&
		       !(it = take(s, &q, &until))) {
			if (until) {
				struct timespec ts = {
					.tv_sec = (time_t)until,
					.tv_nsec = (long)((until - floor(until)) * 1e9),
				};
				pthread_cond_timedwait(&s->work, &s->mu, &ts);
			} else {
				pthread_cond_wait(&s->work, &s->mu);
			}
		}
		pthread_mutex_unlock(&s->mu);
		if (!it)
			break;
		run_item(wk, q, it);
	}
	return NULL;
}

/* the timer: schedules and sync timeouts */

static void fire_schedules(struct serve *s, struct world *w)
{
	double now = fr_store_now();

	for (size_t i = 0; i < w->ntargets; i++) {
		struct target *t = &w->targets[i];
		for (size_t j = 0; j < t->in->nflows; j++) {
			const struct fr_flow *f = &t->in->flows[j];
			struct flowq *q;
			bool due, idle;
			if (f->trigger != FR_TRIGGER_SCHEDULE)
				continue;
			pthread_mutex_lock(&s->mu);
			q = find_q(s, t->in->name, t->instance, f->name);
			q->schedule = true;
			q->limit = 1;
			if (q->next_fire == 0)
				q->next_fire = (double)fr_cron_next(&f->cron, (time_t)now);
			due = q->next_fire > 0 && now >= q->next_fire;
			idle = !q->head && q->running == 0;
			if (due)
				q->next_fire = (double)fr_cron_next(&f->cron, (time_t)now);
			pthread_mutex_unlock(&s->mu);
			if (!due)
				continue;
			if (!idle) {
				fprintf(stderr, "flowrun: warn: %s/%s/%s: schedule "
					"skipped: the previous run is not over\n",
					t->in->name, t->instance, f->name);
				continue;
			}
			struct pending p = { 0 };
			char when[32];
			time_t tt = (time_t)now;
			struct tm tm;
			gmtime_r(&tt, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			p.d = fr_xcalloc(1, sizeof(*p.d));
			p.d->id = fr_new_id("ex_");
			p.d->integration = fr_xstrdup(t->in->name);
			p.d->instance = fr_xstrdup(t->instance);
			p.d->flow = fr_xstrdup(f->name);
			p.d->trigger = json_pack("{ss ss}", "schedule", f->schedule,
						 "fired_at", when);
			p.w = w;
			atomic_fetch_add(&w->refs, 1);
			p.flow = f;
			committer_push(s, &p);
		}
	}
}

static void *timer_main(void *arg)
{
	struct serve *s = arg;

	pthread_setname_np(pthread_self(), "fr-timer");
	for (;;) {
		struct syncwait *expired = NULL, **pp, *sw;
		struct world *w;
		double now = fr_store_now();
		struct timespec ts = { 0, 100 * 1000 * 1000 };

		pthread_mutex_lock(&s->mu);
		if (s->stopping) {
			pthread_mutex_unlock(&s->mu);
			break;
		}
		for (pp = &s->waits; (sw = *pp) != NULL;) {
			if (sw->deadline <= now) {
				*pp = sw->next;
				sw->next = expired;
				expired = sw;
			} else {
				pp = &sw->next;
			}
		}
		bool draining = s->draining;
		pthread_mutex_unlock(&s->mu);
		while ((sw = expired) != NULL) {
			char *body = fr_xasprintf("{\"error\":\"the flow did not "
						  "answer in time; it goes on\","
						  "\"execution\":\"%s\"}", sw->id);
			expired = sw->next;
			fr_request_respond(sw->r, 504, "application/json", body,
					   "Flowrun-Execution", sw->id);
			free(body);
			free(sw->id);
			free(sw);
		}
		if (!draining) {
			w = world_get(s);
			fire_schedules(s, w);
			world_put(w);
		}
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* metrics, in Prometheus text format */

static void put_histogram(struct fr_buf *b, const char *name, const char *labels,
			  struct histogram *h)
{
	unsigned long long cum = 0;

	for (size_t i = 0; i <= NBUCKETS; i++) {
		cum += atomic_load(&h->counts[i]);
		if (i < NBUCKETS)
			fr_buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
				      *labels ? "," : "", buckets[i], cum);
		else
			fr_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name,
				      labels, *labels ? "," : "", cum);
	}
	fr_buf_printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels,
		      (double)atomic_load(&h->sum_us) / 1e6, name, labels, cum);
}

static void metrics(struct serve *s, struct fr_request *r)
{
	struct fr_buf b;
	struct world *w = world_get(s);
	size_t queued;
	int running;

	fr_buf_init(&b);
	fr_buf_puts(&b, "# HELP flowrun_http_requests_total Webhook requests by "
		    "flow and status.\n# TYPE flowrun_http_requests_total counter\n");
	for (size_t i = 0; i < w->nroutes; i++) {
		for (size_t k = 0; k < NCOUNTED; k++) {
			unsigned long long n = atomic_load(&w->routes[i].status[k]);
			if (n)
				fr_buf_printf(&b, "flowrun_http_requests_total{flow=\"%s\","
					      "path=\"%s\",status=\"%d\"} %llu\n",
					      w->routes[i].key, w->routes[i].path,
					      counted[k], n);
		}
	}
	fr_buf_printf(&b, "flowrun_http_requests_total{flow=\"\",path=\"\",status="
		      "\"404\"} %llu\n", (unsigned long long)atomic_load(&s->not_found));
	fr_buf_puts(&b, "# HELP flowrun_executions_total Executions by flow and "
		    "outcome.\n# TYPE flowrun_executions_total counter\n");
	pthread_mutex_lock(&s->mu);
	queued = s->queued;
	running = s->running;
	for (size_t i = 0; i < s->nqs; i++) {
		struct flowq *q = s->qs[i];
		fr_buf_printf(&b, "flowrun_executions_total{flow=\"%s\",outcome=\"ok\"} "
			      "%llu\nflowrun_executions_total{flow=\"%s\",outcome="
			      "\"failed\"} %llu\n", q->key,
			      (unsigned long long)atomic_load(&q->ok), q->key,
			      (unsigned long long)atomic_load(&q->failed));
	}
	fr_buf_puts(&b, "# HELP flowrun_retries_total Executions queued again "
		    "after a failure.\n# TYPE flowrun_retries_total counter\n");
	for (size_t i = 0; i < s->nqs; i++)
		fr_buf_printf(&b, "flowrun_retries_total{flow=\"%s\"} %llu\n",
			      s->qs[i]->key,
			      (unsigned long long)atomic_load(&s->qs[i]->retries));
	fr_buf_puts(&b, "# HELP flowrun_execution_duration_seconds Execution "
		    "time.\n# TYPE flowrun_execution_duration_seconds histogram\n");
	for (size_t i = 0; i < s->nqs; i++) {
		char *labels = fr_xasprintf("flow=\"%s\"", s->qs[i]->key);
		put_histogram(&b, "flowrun_execution_duration_seconds", labels,
			      &s->qs[i]->duration);
		free(labels);
	}
	fr_buf_puts(&b, "# HELP flowrun_step_duration_seconds Step time.\n"
		    "# TYPE flowrun_step_duration_seconds histogram\n");
	for (size_t i = 0; i < s->nqs; i++) {
		char *labels = fr_xasprintf("flow=\"%s\"", s->qs[i]->key);
		put_histogram(&b, "flowrun_step_duration_seconds", labels,
			      &s->qs[i]->steps);
		free(labels);
	}
	pthread_mutex_unlock(&s->mu);
	fr_buf_printf(&b, "# HELP flowrun_queue_depth Deliveries waiting to run.\n"
		      "# TYPE flowrun_queue_depth gauge\nflowrun_queue_depth %zu\n"
		      "# HELP flowrun_executions_running Executions running now.\n"
		      "# TYPE flowrun_executions_running gauge\n"
		      "flowrun_executions_running %d\n", queued, running);
	fr_buf_printf(&b, "# HELP flowrun_store_commits_total Transactions "
		      "committing deliveries.\n# TYPE flowrun_store_commits_total "
		      "counter\nflowrun_store_commits_total %llu\n"
		      "# HELP flowrun_deliveries_stored_total Deliveries committed.\n"
		      "# TYPE flowrun_deliveries_stored_total counter\n"
		      "flowrun_deliveries_stored_total %llu\n",
		      (unsigned long long)atomic_load(&s->commits),
		      (unsigned long long)atomic_load(&s->committed));
	fr_buf_puts(&b, "# HELP flowrun_store_commit_seconds Time to commit "
		    "(fsync) a batch of deliveries.\n# TYPE "
		    "flowrun_store_commit_seconds histogram\n");
	put_histogram(&b, "flowrun_store_commit_seconds", "", &s->commit);
	fr_request_respond(r, 200, "text/plain; version=0.0.4", fr_buf_cstr(&b),
			   NULL, NULL);
	fr_buf_finish(&b);
	world_put(w);
}

/* life cycle */

static void print_startup(struct serve *s, struct world *w)
{
	const char *base = s->public_url;
	fprintf(stderr, "flowrun: serving on port %u (%s), store %s, %zu worker%s, "
		"%zu hook%s\n", fr_server_port(s->srv), s->o->listen,
		s->o->common->store, s->nworkers, s->nworkers == 1 ? "" : "s",
		w->nroutes, w->nroutes == 1 ? "" : "s");
	for (size_t i = 0; i < w->nroutes; i++)
		fprintf(stderr, "flowrun:   %s -> %s%s\n", w->routes[i].key, base,
			w->routes[i].path);
}

static void reload(struct serve *s)
{
	struct fr_diag d;
	struct world *w, *old;
	int status;

	fr_diag_init(&d, stderr);
	w = world_load(s->o, &d, &status);
	fr_diag_flush(&d);
	if (!w) {
		fprintf(stderr, "flowrun: error: reload failed; still serving the "
			"files loaded before\n");
		return;
	}
	pthread_mutex_lock(&s->mu);
	w->generation = ++s->generation;
	old = s->world;
	s->world = w;
	apply_limits(s, w);
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	world_put(old);
	fprintf(stderr, "flowrun: reloaded: %zu hook%s\n", w->nroutes,
		w->nroutes == 1 ? "" : "s");
}

/* Queues again what a previous run left: queued, retrying, interrupted. */
static int recover(struct serve *s, char **err)
{
	struct fr_store *store = NULL;
	json_t *rows = NULL;

	if (fr_store_open(&store, s->o->common->store, err) < 0)
		return -1;
	if (fr_store_delivery_pending(store, 0, &rows, err) < 0) {
		fr_store_close(store);
		return -1;
	}
	add_pending_rows(s, rows);
	if (json_array_size(rows))
		fprintf(stderr, "flowrun: %zu deliver%s from before queued again\n",
			json_array_size(rows), json_array_size(rows) == 1 ? "y" : "ies");
	json_decref(rows);
	fr_store_close(store);
	return 0;
}

int fr_serve(const struct fr_serve_opts *o)
{
	struct serve s = { .o = o };
	struct fr_diag d;
	sigset_t set;
	int status, sig;
	char *err = NULL;
	struct fr_server_handlers h = { &s, on_start, on_handle, on_done };
	struct fr_server_opts so = { .listen = o->listen,
				     .threads = o->http_threads,
				     .max_connections = 1000,
				     .connection_timeout_s = 30 };

	/* signals go to this thread only, through sigwait */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);

	fr_diag_init(&d, stderr);
	s.world = world_load(o, &d, &status);
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
	fr_http_global_init();
	if (recover(&s, &err) < 0) {
		fprintf(stderr, "flowrun: error: %s\n", err);
		free(err);
		world_put(s.world);
		return FR_EXIT_SYSTEM;
	}
	s.nworkers = o->workers ? o->workers : 4;
	s.workers = fr_xcalloc(s.nworkers, sizeof(*s.workers));
	for (size_t i = 0; i < s.nworkers; i++) {
		s.workers[i].s = &s;
		if (fr_store_open(&s.workers[i].store, o->common->store, &err) < 0)
			goto startup_failed;
	}
	s.srv = fr_server_start(&so, &h, &err);
	if (!s.srv)
		goto startup_failed;
	if (o->public_url) {
		s.public_url = fr_xstrdup(o->public_url);
	} else {
		const char *colon = strrchr(o->listen, ':');
		int hl = (int)(colon ? colon - o->listen : 0);
		bool any = hl == 0 || (hl == 7 && strncmp(o->listen, "0.0.0.0", 7) == 0);
		s.public_url = fr_xasprintf("http://%.*s:%u", any ? 9 : hl,
					    any ? "127.0.0.1" : o->listen,
					    fr_server_port(s.srv));
	}
	pthread_create(&s.committer, NULL, committer, &s);
	for (size_t i = 0; i < s.nworkers; i++)
		pthread_create(&s.workers[i].thread, NULL, worker_main, &s.workers[i]);
	pthread_create(&s.timer, NULL, timer_main, &s);
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

	/* drain: refuse new work, let running executions finish */
	fprintf(stderr, "flowrun: %s: draining (up to %.0f s)\n",
		sig == SIGINT ? "SIGINT" : "SIGTERM", o->grace_s);
	atomic_store(&s.ready, false);
	pthread_mutex_lock(&s.mu);
	s.draining = true;
	pthread_cond_broadcast(&s.work);
	{
		double until = fr_store_now() + o->grace_s;
		while (s.running > 0 && fr_store_now() < until) {
			struct timespec ts = { .tv_sec = (time_t)until,
					       .tv_nsec = 0 };
			pthread_cond_timedwait(&s.idle, &s.mu, &ts);
		}
	}
	int left = s.running;
	s.stopping = true;
	pthread_cond_broadcast(&s.work);
	pthread_mutex_unlock(&s.mu);
	if (left) {
		fprintf(stderr, "flowrun: %d execution%s still running after the "
			"grace period; they run again at the next start\n", left,
			left == 1 ? "" : "s");
		fflush(stderr);
		_exit(FR_EXIT_OK);	/* at least once: they are still queued */
	}
	fr_server_quiesce(s.srv);
	pthread_join(s.timer, NULL);
	for (size_t i = 0; i < s.nworkers; i++)
		pthread_join(s.workers[i].thread, NULL);
	/* the committer answers what it holds, records the last ends, stops */
	pthread_mutex_lock(&s.cmu);
	s.cstop = true;
	pthread_cond_signal(&s.ccv);
	pthread_mutex_unlock(&s.cmu);
	pthread_join(s.committer, NULL);
	/* sync requests still waiting: their executions stay queued */
	while (s.waits) {
		struct syncwait *sw = s.waits;
		s.waits = sw->next;
		fr_request_error(sw->r, 503, "shutting down; the delivery is stored "
				 "and runs after restart", "5");
		free(sw->id);
		free(sw);
	}
	fr_server_stop(s.srv);
	for (size_t i = 0; i < s.nworkers; i++) {
		fr_engine_destroy(s.workers[i].engine);
		world_put(s.workers[i].world);
		fr_store_close(s.workers[i].store);
	}
	free(s.workers);
	free_queues(&s);
	free(s.pend);
	free(s.fin);
	world_put(s.world);
	free(s.public_url);
	fprintf(stderr, "flowrun: stopped\n");
	return FR_EXIT_OK;

startup_failed:
	fprintf(stderr, "flowrun: error: %s\n", err);
	free(err);
	for (size_t i = 0; i < s.nworkers; i++)
		fr_store_close(s.workers[i].store);
	free(s.workers);
	free_queues(&s);
	world_put(s.world);
	return FR_EXIT_SYSTEM;
}
