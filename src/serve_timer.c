/*
 * serve_timer: the timer thread.  Fires schedules (each slot once across
 * every process: the slot is the delivery's dedupe key), answers sync
 * requests that waited too long (504; the execution goes on), and listens
 * for other processes' notifications of queued work (PostgreSQL), on
 * which it wakes the committer to claim; and keeps house (serve_retain.c).
 */
/* pthread_setname_np */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cron.h"
#include "log.h"
#include "serve_ctx.h"
#include "util.h"

#define TICK_S 0.1

void serve_wait_add(struct serve *s, const char *id, struct fr_request *r)
{
	struct syncwait *sw = fr_xcalloc(1, sizeof(*sw));

	sw->id = fr_xstrdup(id);
	sw->r = r;
	sw->deadline = fr_store_now() + s->o->sync_timeout_s;
	sw->next = s->waits;
	s->waits = sw;
}

struct fr_request *serve_wait_take(struct serve *s, const char *id)
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

/* The next slot of each schedule flow, by target and flow. */
struct slot {
	const struct fr_flow *flow;
	const struct target *t;
	time_t next;
	struct slot *next_slot;
};

static struct slot *slot_of(struct slot **slots, const struct target *t,
			    const struct fr_flow *f, time_t now)
{
	struct slot *sl;

	for (sl = *slots; sl; sl = sl->next_slot) {
		if (sl->flow == f && sl->t == t)
			return sl;
	}
	sl = fr_xcalloc(1, sizeof(*sl));
	sl->flow = f;
	sl->t = t;
	sl->next = fr_cron_next(&f->cron, now);
	sl->next_slot = *slots;
	*slots = sl;
	return sl;
}

static void free_slots(struct slot *sl)
{
	while (sl) {
		struct slot *next = sl->next_slot;
		free(sl);
		sl = next;
	}
}

/* Queues the schedule flow f of t for its slot `when`. */
static void fire(struct serve *s, struct world *w, const struct target *t,
		 const struct fr_flow *f, time_t when)
{
	struct pending p = { 0 };
	char at[32];
	struct tm tm;

	gmtime_r(&when, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	p.d = fr_xcalloc(1, sizeof(*p.d));
	p.d->id = fr_new_id("ex_");
	p.d->integration = fr_xstrdup(t->in->name);
	p.d->instance = fr_xstrdup(t->instance);
	p.d->flow = fr_xstrdup(f->name);
	p.d->trigger = json_pack("{ss ss}", "schedule", f->schedule,
				 "fired_at", at);
	/* one delivery per slot, whichever process queues it first */
	p.d->dedupe_key = fr_xasprintf("schedule@%s", at);
	p.d->fifo = true;
	p.d->origin = FR_ORIGIN_SERVE;
	p.w = serve_world_ref(w);
	p.flow = f;
	serve_commit_push(s, &p);
}

static void fire_schedules(struct serve *s, struct world *w, struct slot **slots)
{
	time_t now = time(NULL);

	for (size_t i = 0; i < w->ntargets; i++) {
		const struct target *t = &w->targets[i];
		for (size_t j = 0; j < t->in->nflows; j++) {
			const struct fr_flow *f = &t->in->flows[j];
			struct slot *sl;
			time_t when;
			bool busy;
			if (f->trigger != FR_TRIGGER_SCHEDULE)
				continue;
			sl = slot_of(slots, t, f, now);
			if (sl->next <= 0 || now < sl->next)
				continue;
			when = sl->next;
			sl->next = fr_cron_next(&f->cron, now);
			pthread_mutex_lock(&s->mu);
			busy = fr_dispatch_busy(s->dp, t->in->name, t->instance,
						f->name);
			pthread_mutex_unlock(&s->mu);
			if (busy) {
				struct fr_log_ctx lc = { .integration = t->in->name,
							 .instance = t->instance,
							 .flow = f->name };
				fr_log(FR_LOG_WARN, &lc, "schedule skipped: the "
				       "previous run is not over");
				continue;
			}
			fire(s, w, t, f, when);
		}
	}
}

static void expire_waits(struct serve *s)
{
	struct syncwait *expired = NULL, **pp, *sw;
	double now = fr_store_now();

	pthread_mutex_lock(&s->mu);
	for (pp = &s->waits; (sw = *pp) != NULL;) {
		if (sw->deadline <= now) {
			*pp = sw->next;
			sw->next = expired;
			expired = sw;
		} else {
			pp = &sw->next;
		}
	}
	pthread_mutex_unlock(&s->mu);
	while ((sw = expired) != NULL) {
		char *body = fr_xasprintf("{\"error\":\"the flow did not answer in "
					  "time; it goes on\",\"execution\":"
					  "\"%s\"}", sw->id);
		expired = sw->next;
		fr_request_respond(sw->r, 504, "application/json", body,
				   "Flowrun-Execution", sw->id);
		free(body);
		free(sw->id);
		free(sw);
	}
}

void *serve_timer_main(void *arg)
{
	struct serve *s = arg;
	struct fr_store *listener = NULL;
	struct slot *slots = NULL;
	struct world *slots_world = NULL;
	char *err = NULL;

	pthread_setname_np(pthread_self(), "fr-timer");
	for (;;) {
		struct world *w;
		bool stop, draining, woken = false;

		pthread_mutex_lock(&s->mu);
		stop = s->stopping;
		draining = s->draining;
		pthread_mutex_unlock(&s->mu);
		if (stop)
			break;
		expire_waits(s);
		w = serve_world_current(s);
		if (w != slots_world) {
			/* a new world: its schedules start from now */
			free_slots(slots);
			slots = NULL;
			serve_world_put(slots_world);
			slots_world = serve_world_ref(w);
		}
		if (!draining)
			fire_schedules(s, w, &slots);
		serve_world_put(w);
		if (!listener && fr_store_open(&listener, s->o->store, &err) < 0) {
			free(err);	/* the committer reports the store */
			err = NULL;
		}
		if (!listener ||
		    fr_store_wait(listener, TICK_S, &woken, &err) < 0) {
			free(err);
			err = NULL;
			nanosleep(&(struct timespec){ 0, (long)(TICK_S * 1e9) }, NULL);
		}
		if (woken)
			serve_commit_wake(s, true);
		if (listener)
			serve_housekeep(s, listener);
	}
	free_slots(slots);
	serve_world_put(slots_world);
	fr_store_close(listener);
	return NULL;
}
