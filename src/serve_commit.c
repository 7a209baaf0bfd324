/*
 * serve_commit: the committer thread, serve's one writer of the queue.
 * Everything waiting at one moment goes into one transaction: new
 * deliveries are pushed (one fsync) and then answered; those this process
 * has room for are claimed in the same push and handed to the dispatcher
 * without being read back.  Ends of executions are recorded in lazy
 * transactions (no fsync of their own: the next durable commit takes them
 * along).  Between batches it claims what the store holds for this
 * process (retries due, deliveries queued by others or left by a dead
 * process), renews this process's leases, and keeps the store healthy.
 */
/* pthread_setname_np */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "expr.h"
#include "json.h"
#include "jqx.h"
#include "log.h"
#include "runner.h"
#include "serve_ctx.h"
#include "util.h"

#define COMMIT_BATCH 256
#define POLL_INTERVAL_S 1.0
#define MAINTAIN_EVERY 2000	/* rows written between WAL checkpoints */

void serve_commit_push(struct serve *s, struct pending *p)
{
	pthread_mutex_lock(&s->cmu);
	fr_grow(&s->pend, &s->pend_cap, s->npend + 1, sizeof(*s->pend));
	s->pend[s->npend++] = *p;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
}

void serve_commit_finish(struct serve *s, struct finish *f)
{
	pthread_mutex_lock(&s->cmu);
	fr_grow(&s->fin, &s->fin_cap, s->nfin + 1, sizeof(*s->fin));
	s->fin[s->nfin++] = *f;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
}

void serve_commit_wake(struct serve *s, bool notified)
{
	pthread_mutex_lock(&s->cmu);
	s->claim_now = true;
	s->notified |= notified;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
}

/* The committer's own things, on its stack. */
struct committer {
	struct serve *s;
	struct fr_store *store;
	struct world *w;		/* for dedupe keys and claimed flows */
	struct fr_jqx *jx;		/* w's, made when a dedupe needs it */
	double next_claim, next_renew;
	size_t since_maintain;
	/*
	 * Whether the store may hold deliveries this process could claim now
	 * beyond the periodic poll: some were pushed without a claim, the
	 * last claim took all it could, or another process said it queued
	 * some.  Room in the dispatcher triggers a claim only then, so that
	 * a process that runs what it pushes does not also poll per delivery.
	 */
	bool maybe_queued;
};

static void store_failed(struct committer *c, const char *what, char *err)
{
	if (atomic_exchange(&c->s->store_ok, false) || !err)
		fr_log_error("%s: %s", what, err ? err : "failed");
	free(err);
}

static void store_worked(struct committer *c)
{
	if (!atomic_exchange(&c->s->store_ok, true))
		fr_log_info("the store %s answers again", c->s->store_shown);
}

/* Keeps c->w the current world. */
static void refresh_world(struct committer *c)
{
	struct world *w = serve_world_current(c->s);

	if (w == c->w) {
		serve_world_put(w);
		return;
	}
	serve_world_put(c->w);
	fr_jqx_destroy(c->jx);
	c->jx = NULL;
	c->w = w;
}

/* A delivery's dedupe key (fr_dedupe_key), or NULL when it has none. */
static char *dedupe_key(struct committer *c, const struct fr_flow *f,
			const struct fr_delivery *d)
{
	json_t *t = serve_trigger(d);
	jv ctx = jv_object_set(jv_object(), jv_string("trigger"), fr_json_to_jv(t)), v;
	char *err = NULL, *key = NULL;

	json_decref(t);
	if (!c->jx)
		c->jx = fr_jqx_create(c->w->p->prog);
	if (fr_jqx_eval(c->jx, f->webhook.dedupe->id, ctx, jv_array(), &v, &err) < 0) {
		struct fr_log_ctx lc = { .integration = d->integration,
					 .instance = d->instance, .flow = d->flow,
					 .execution = d->id };
		fr_log(FR_LOG_WARN, &lc, "dedupe key: %s", err);
		free(err);
		return NULL;
	}
	if (jv_get_kind(v) != JV_KIND_NULL) {
		/* compared as JSON: "1" and 1 differ, key order does not */
		jv text = jv_dump_string(v, JV_PRINT_SORTED);
		key = fr_dedupe_key(jv_string_value(text));
		jv_free(text);
	} else {
		jv_free(v);
	}
	return key;
}

static void answer_committed(struct pending *p, const char *dup_of)
{
	const char *id = p->id ? p->id : p->d->id;
	char *body;

	if (!p->r || (p->sync && !dup_of))
		return;		/* a schedule; or waiting: the worker answers */
	/* ids are ours: letters, digits and '_', nothing to escape */
	body = dup_of ? fr_xasprintf("{\"execution\":\"%s\",\"duplicate\":true}",
				     dup_of)
		      : fr_xasprintf("{\"execution\":\"%s\"}", id);
	fr_request_respond(p->r, dup_of ? 200 : 202, "application/json", body,
			   "Flowrun-Execution", dup_of ? dup_of : id);
	free(body);
}

static void refuse_batch(struct pending *batch, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (batch[i].r)
			fr_request_error(batch[i].r, 503, "cannot store the "
					 "delivery; try again", "2");
		fr_delivery_free(batch[i].d);
		serve_world_put(batch[i].w);
	}
}

/*
 * Pushes n deliveries in one durable transaction: first those this
 * process runs itself (claimed at once: sync ones always, others while
 * the dispatcher has room), then the rest, queued for any process.  Then
 * answers them and hands the claimed ones to the dispatcher.
 */
static void commit_deliveries(struct committer *c, struct pending *batch,
			      size_t n)
{
	struct serve *s = c->s;
	struct fr_delivery *mine[COMMIT_BATCH], *rest[COMMIT_BATCH];
	char *dmine[COMMIT_BATCH], *drest[COMMIT_BATCH];
	size_t nmine = 0, nrest = 0, room, im = 0, ir = 0;
	struct fr_claim claim = { .owner = s->owner, .lease_s = s->o->lease_s,
				  .now = fr_store_now() };
	char *err = NULL;
	uint64_t t0;

	refresh_world(c);
	pthread_mutex_lock(&s->mu);
	room = fr_dispatch_room(s->dp);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		struct fr_delivery *d = batch[i].d;
		if (batch[i].flow && batch[i].flow->webhook.dedupe && !d->dedupe_key)
			d->dedupe_key = dedupe_key(c, batch[i].flow, d);
		if (batch[i].sync || (!d->max_running && !d->fifo && nmine < room))
			mine[nmine++] = d;
		else
			rest[nrest++] = d;
	}
	t0 = fr_now_ns();
	if (fr_store_begin(c->store, FR_DURABLE, &err) < 0 ||
	    (nmine && fr_store_push(c->store, mine, nmine, &claim, dmine, &err) < 0) ||
	    (nrest && fr_store_push(c->store, rest, nrest, NULL, drest, &err) < 0) ||
	    (nrest && fr_store_notify(c->store, &err) < 0) ||
	    fr_store_commit(c->store, &err) < 0) {
		fr_store_rollback(c->store);
		store_failed(c, "cannot store deliveries", err);
		refuse_batch(batch, n);
		return;
	}
	store_worked(c);
	serve_observe(&s->m.commit, (double)(fr_now_ns() - t0) / 1e9);
	atomic_fetch_add(&s->m.commits, 1);
	atomic_fetch_add(&s->m.committed, n);
	c->since_maintain += n;
	/*
	 * Handed to the dispatcher before they are answered, so that what a
	 * client was told is queued counts against the queue's bound when
	 * its next request comes.  dup_of is in batch order: the two lists
	 * were filled in that order.
	 */
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		bool taken = im < nmine && mine[im] == batch[i].d;
		char *dup = taken ? dmine[im++] : drest[ir++];
		struct fr_delivery *d = batch[i].d;
		if (!dup && batch[i].sync && batch[i].r)
			serve_wait_add(s, d->id, batch[i].r);
		if (!dup && taken) {
			batch[i].id = fr_xstrdup(d->id);
			fr_dispatch_add(s->dp, d);	/* takes it */
			batch[i].d = NULL;
		}
		batch[i].dup = dup;
	}
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		answer_committed(&batch[i], batch[i].dup);
		free(batch[i].dup);
		free(batch[i].id);
		fr_delivery_free(batch[i].d);
		serve_world_put(batch[i].w);
	}
	if (nrest) {
		c->maybe_queued = true;
		c->next_claim = 0;	/* maybe there is room by now */
	}
}

static void finish_free(struct finish *f)
{
	fr_execution_finish(&f->rec);
}

/*
 * Records ends of executions in one lazy transaction: flowrun crashing
 * loses none of them; the machine crashing may lose the last ones, whose
 * deliveries then run again (at least once).  So acknowledging stays one
 * fsync per batch.  On a store error they wait for the next try.
 */
static bool record_batch(struct committer *c, struct finish *fins, size_t nf)
{
	char *err = NULL;
	bool ok = fr_store_begin(c->store, FR_LAZY, &err) == 0;

	for (size_t i = 0; ok && i < nf; i++)
		ok = (fins[i].no_record ||
		      fr_store_execution_put(c->store, &fins[i].rec, &err) == 0) &&
		     fr_store_finish(c->store, fins[i].rec.id, c->s->owner,
				     fins[i].status, fins[i].next_at, &err) == 0;
	ok = ok && fr_store_commit(c->store, &err) == 0;
	if (!ok) {
		fr_store_rollback(c->store);
		store_failed(c, "cannot record executions", err);
		return false;
	}
	store_worked(c);
	for (size_t i = 0; i < nf; i++) {
		if ((fins[i].status == FR_STATUS_RETRYING ||
		     fins[i].status == FR_STATUS_QUEUED) &&
		    (c->next_claim == 0 || fins[i].next_at < c->next_claim))
			c->next_claim = fins[i].next_at;
		finish_free(&fins[i]);
	}
	c->since_maintain += nf;
	return true;
}

/* Gives ends that could not be recorded back, for the next try. */
static void requeue_fins(struct serve *s, struct finish *fins, size_t nf)
{
	pthread_mutex_lock(&s->cmu);
	fr_grow(&s->fin, &s->fin_cap, s->nfin + nf, sizeof(*s->fin));
	memmove(s->fin + nf, s->fin, s->nfin * sizeof(*s->fin));
	memcpy(s->fin, fins, nf * sizeof(*fins));
	s->nfin += nf;
	pthread_mutex_unlock(&s->cmu);
}

/*
 * A claimed delivery whose attempts ran out before it could run (each
 * claim counts one: the process that ran the last ones died, so the
 * delivery may be what kills it): recorded failed, not run again.
 */
static void give_up(struct committer *c, struct fr_delivery *d,
		    const struct fr_flow *f)
{
	char *why = f ? fr_xasprintf("gave up after %d attempts: the last ones "
				     "did not finish (the process running them "
				     "ended)", d->attempts - 1)
		      : fr_xstrdup("the flow is no longer served");
	struct finish fin = { .status = FR_STATUS_FAILED };
	struct fr_log_ctx lc = { .integration = d->integration,
				 .instance = d->instance, .flow = d->flow,
				 .execution = d->id };

	fr_log(FR_LOG_ERROR, &lc, "%s", why);
	fin.rec = (struct fr_execution){
		.id = fr_xstrdup(d->id), .integration = fr_xstrdup(d->integration),
		.instance = fr_xstrdup(d->instance), .flow = fr_xstrdup(d->flow),
		.trigger = fr_xstrdup(f ? fr_trigger_name(f->trigger) : "webhook"),
		.status = FR_STATUS_FAILED, .origin = d->origin,
		.attempt = d->attempts > 1 ? d->attempts - 1 : 1, .error = why,
		.started_at = fr_store_now(), .finished_at = fr_store_now(),
		.replay_of = d->replay_of ? fr_xstrdup(d->replay_of) : NULL,
	};
	if (!record_batch(c, &fin, 1))
		requeue_fins(c->s, &fin, 1);
	fr_delivery_free(d);
}

/* Claims what the dispatcher has room for. */
static void claim_more(struct committer *c)
{
	struct serve *s = c->s;
	struct fr_claim claim = { .owner = s->owner, .lease_s = s->o->lease_s,
				  .now = fr_store_now() };
	struct fr_delivery **ds = NULL;
	size_t n = 0;
	char *err = NULL;

	pthread_mutex_lock(&s->mu);
	claim.max = s->draining ? 0 : fr_dispatch_room(s->dp);
	pthread_mutex_unlock(&s->mu);
	/* the next claim: a retry due before the next poll, else the poll */
	if (!(c->next_claim > claim.now &&
	      c->next_claim < claim.now + POLL_INTERVAL_S))
		c->next_claim = claim.now + POLL_INTERVAL_S;
	if (claim.max == 0)
		return;
	/* lazy: the attempts it counts survive flowrun dying (what they are
	 * for), not the machine */
	if (fr_store_begin(c->store, FR_LAZY, &err) < 0 ||
	    fr_store_claim(c->store, &claim, &ds, &n, &err) < 0 ||
	    fr_store_commit(c->store, &err) < 0) {
		fr_store_rollback(c->store);
		fr_deliveries_free(ds, n);
		store_failed(c, "cannot claim deliveries", err);
		return;
	}
	store_worked(c);
	atomic_fetch_add(&s->m.claims, 1);
	atomic_fetch_add(&s->m.claimed, n);
	c->maybe_queued = n == claim.max;
	refresh_world(c);
	for (size_t i = 0; i < n; i++) {
		const struct fr_flow *f = serve_world_flow(c->w, ds[i]->integration,
							   ds[i]->flow);
		if (!f || fr_dispatch_exhausted(&f->webhook.retry, ds[i]->attempts)) {
			give_up(c, ds[i], f);
			ds[i] = NULL;
		}
	}
	pthread_mutex_lock(&s->mu);
	for (size_t i = 0; i < n; i++) {
		if (ds[i])
			fr_dispatch_add(s->dp, ds[i]);
	}
	pthread_cond_broadcast(&s->work);
	pthread_mutex_unlock(&s->mu);
	free(ds);
	if (n == claim.max)
		c->next_claim = 0;	/* there may be more */
}

static void housekeeping(struct committer *c, bool idle)
{
	struct serve *s = c->s;
	double now = fr_store_now();
	char *err = NULL;

	if (now >= c->next_renew) {
		c->next_renew = now + s->o->lease_s / 3;
		if (fr_store_renew(c->store, s->owner, s->o->lease_s, now, &err) < 0)
			store_failed(c, "cannot renew leases", err);
		else
			store_worked(c);
	}
	if (c->since_maintain >= MAINTAIN_EVERY || (idle && c->since_maintain)) {
		c->since_maintain = 0;
		if (fr_store_maintain(c->store, false, &err) < 0) {
			fr_log_warn("%s", err);
			free(err);
		}
	}
}

/* Waits until there is something to do; false when it is time to stop. */
static bool wait_for_work(struct committer *c, struct pending *batch, size_t *n,
			  struct finish *fins, size_t *nf, bool *claim)
{
	struct serve *s = c->s;

	pthread_mutex_lock(&s->cmu);
	for (;;) {
		double now = fr_store_now();
		double until = c->next_claim > 0 ? c->next_claim
						 : now + POLL_INTERVAL_S;
		struct timespec ts;
		if (s->npend || s->nfin || s->claim_now || c->next_claim <= now ||
		    s->cstop)
			break;
		if (until > now + POLL_INTERVAL_S)
			until = now + POLL_INTERVAL_S;
		ts.tv_sec = (time_t)until;
		ts.tv_nsec = (long)((until - floor(until)) * 1e9);
		if (pthread_cond_timedwait(&s->ccv, &s->cmu, &ts) != 0)
			break;		/* time to poll */
	}
	if (s->npend == 0 && s->nfin == 0 && s->cstop) {
		pthread_mutex_unlock(&s->cmu);
		return false;
	}
	/* (the queues are NULL until something was queued: no memcpy then) */
	*n = s->npend < COMMIT_BATCH ? s->npend : COMMIT_BATCH;
	if (*n) {
		memcpy(batch, s->pend, *n * sizeof(*batch));
		memmove(s->pend, s->pend + *n, (s->npend - *n) * sizeof(*s->pend));
		s->npend -= *n;
	}
	*nf = s->nfin < COMMIT_BATCH ? s->nfin : COMMIT_BATCH;
	if (*nf) {
		memcpy(fins, s->fin, *nf * sizeof(*fins));
		memmove(s->fin, s->fin + *nf, (s->nfin - *nf) * sizeof(*s->fin));
		s->nfin -= *nf;
	}
	if (s->notified)
		c->maybe_queued = true;
	*claim = (s->claim_now && c->maybe_queued) ||
		 c->next_claim <= fr_store_now();
	s->claim_now = s->notified = false;
	pthread_mutex_unlock(&s->cmu);
	return true;
}

void *serve_commit_main(void *arg)
{
	struct committer c = { .s = arg, .maybe_queued = true };
	struct serve *s = c.s;
	struct pending *batch = fr_xcalloc(COMMIT_BATCH, sizeof(*batch));
	struct finish *fins = fr_xcalloc(COMMIT_BATCH, sizeof(*fins));
	char *err = NULL;
	size_t n, nf;
	bool claim;

	pthread_setname_np(pthread_self(), "fr-committer");
	if (fr_store_open(&c.store, s->o->store, &err) < 0) {
		/* serve.c opened the store before: this is rare; keep trying */
		store_failed(&c, "cannot open the store", err);
		err = NULL;
	}
	while (wait_for_work(&c, batch, &n, fins, &nf, &claim)) {
		if (!c.store && fr_store_open(&c.store, s->o->store, &err) < 0) {
			store_failed(&c, "cannot open the store", err);
			err = NULL;
			refuse_batch(batch, n);
			requeue_fins(s, fins, nf);
			nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
			continue;
		}
		if (n)
			commit_deliveries(&c, batch, n);
		if (nf && !record_batch(&c, fins, nf)) {
			requeue_fins(s, fins, nf);
			nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
		}
		if (claim || !atomic_load(&s->store_ok))
			claim_more(&c);
		housekeeping(&c, !n && !nf);
	}
	/* what was recorded without waiting for the disk reaches it now */
	if (c.store && fr_store_maintain(c.store, true, &err) < 0) {
		fr_log_error("%s", err);
		free(err);
	}
	fr_jqx_destroy(c.jx);
	serve_world_put(c.w);
	fr_store_close(c.store);
	free(batch);
	free(fins);
	return NULL;
}
