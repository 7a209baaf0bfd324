/* dispatch: order, fairness, room, release, and the outcome of attempts */
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "tap.h"
#include "util.h"

static struct fr_delivery *delivery(const char *flow, const char *id,
				    size_t body_len)
{
	struct fr_delivery *d = fr_xcalloc(1, sizeof(*d));

	d->id = fr_xstrdup(id);
	d->integration = fr_xstrdup("in");
	d->instance = fr_xstrdup("default");
	d->flow = fr_xstrdup(flow);
	d->body_len = body_len;
	return d;
}

/* The deliveries taken, to end them later. */
static struct fr_delivery *taken[16];
static size_t ntaken;

/* Takes one and returns its id, or "" for none. */
static const char *take_id(struct fr_dispatch *dp)
{
	struct fr_delivery *d = fr_dispatch_take(dp);

	if (!d)
		return "";
	taken[ntaken++] = d;
	return d->id;
}

static void test_order_and_fairness(void)
{
	struct fr_dispatch *dp = fr_dispatch_create(100, 0);

	/* a busy flow and a quiet one: the quiet one is not starved */
	for (int i = 0; i < 4; i++) {
		char id[8];
		snprintf(id, sizeof(id), "a%d", i);
		fr_dispatch_add(dp, delivery("busy", id, 0));
	}
	fr_dispatch_add(dp, delivery("quiet", "q0", 0));
	is_int((int)fr_dispatch_held(dp), 5, "five held");
	is_str(take_id(dp), "a0", "the first flow's oldest first");
	is_str(take_id(dp), "q0", "then the other flow");
	is_str(take_id(dp), "a1", "then back, in arrival order");
	is_str(take_id(dp), "a2", "a2");
	is_str(take_id(dp), "a3", "a3");
	is_str(take_id(dp), "", "then nothing");
	is_int((int)fr_dispatch_running(dp), 5, "five running");
	ok(fr_dispatch_busy(dp, "in", "default", "busy"), "busy while running");
	for (size_t i = 0; i < ntaken; i++) {
		fr_dispatch_done(dp, taken[i]);
		fr_delivery_free(taken[i]);
	}
	ok(!fr_dispatch_busy(dp, "in", "default", "busy"), "idle when done");
	ok(!fr_dispatch_busy(dp, "in", "default", "other"), "unknown flow idle");
	fr_dispatch_destroy(dp);
}

static void test_room(void)
{
	struct fr_dispatch *dp = fr_dispatch_create(3, 1000);

	is_int((int)fr_dispatch_room(dp), 3, "room for three");
	fr_dispatch_add(dp, delivery("f", "1", 10));
	is_int((int)fr_dispatch_room(dp), 2, "two after one");
	fr_dispatch_add(dp, delivery("f", "2", 2000));
	is_int((int)fr_dispatch_room(dp), 0, "none once bodies pass the bound");
	for (int i = 0; i < 2; i++) {
		struct fr_delivery *d = fr_dispatch_take(dp);
		if (i == 0)
			is_int((int)fr_dispatch_room(dp), 0,
			       "none while the big body is held");
		fr_dispatch_done(dp, d);
		fr_delivery_free(d);
	}
	is_int((int)fr_dispatch_room(dp), 3, "room again once taken");
	fr_dispatch_destroy(dp);
}

static void test_release(void)
{
	struct fr_dispatch *dp = fr_dispatch_create(10, 0);
	struct fr_delivery **ds;
	size_t n;

	fr_dispatch_add(dp, delivery("f", "1", 0));
	fr_dispatch_add(dp, delivery("g", "2", 0));
	fr_dispatch_add(dp, delivery("f", "3", 0));
	struct fr_delivery *one = fr_dispatch_take(dp);	/* "1" runs */
	ds = fr_dispatch_release(dp, &n);
	is_int((int)n, 2, "the two not begun are given back");
	ok(n == 2 && strcmp(ds[0]->id, "2") == 0 && strcmp(ds[1]->id, "3") == 0,
	   "in the order they would have run");
	is_int((int)fr_dispatch_held(dp), 0, "nothing held after");
	is_int((int)fr_dispatch_running(dp), 1, "the running one still counts");
	ok(fr_dispatch_busy(dp, "in", "default", "f"), "its flow is busy");
	fr_dispatch_done(dp, one);
	fr_delivery_free(one);
	ok(!fr_dispatch_busy(dp, "in", "default", "f"), "then not");
	fr_deliveries_free(ds, n);
	fr_dispatch_destroy(dp);
}

static void test_outcome(void)
{
	struct fr_retry r = { .attempts = 3, .delay_ms = 1000, .backoff = 2,
			      .max_delay_ms = 3000 };
	struct fr_outcome o;

	o = fr_dispatch_outcome(&r, 1, true, false, 100, 0.5);
	ok(o.status == FR_STATUS_OK, "ok is ok");
	o = fr_dispatch_outcome(&r, 1, false, false, 100, 0.5);
	ok(o.status == FR_STATUS_RETRYING, "a first failure is retried");
	ok(o.next_at > 100.99 && o.next_at < 101.01, "after the delay (%g)", o.next_at);
	o = fr_dispatch_outcome(&r, 2, false, false, 100, 0.5);
	ok(o.next_at > 101.99 && o.next_at < 102.01, "backoff doubles (%g)", o.next_at);
	o = fr_dispatch_outcome(&r, 2, false, false, 100, 0.0);
	ok(o.next_at > 101.59 && o.next_at < 101.61, "jitter -20%% (%g)", o.next_at);
	o = fr_dispatch_outcome(&r, 2, false, false, 100, 0.999);
	ok(o.next_at > 102.39 && o.next_at < 102.41, "jitter +20%% (%g)", o.next_at);
	o = fr_dispatch_outcome(&r, 3, false, false, 100, 0.5);
	ok(o.status == FR_STATUS_FAILED, "failed after the last attempt");
	o = fr_dispatch_outcome(&r, 1, false, true, 100, 0.5);
	ok(o.status == FR_STATUS_FAILED, "a sync flow is not retried");
	r.attempts = 10;
	o = fr_dispatch_outcome(&r, 8, false, false, 100, 0.5);
	ok(o.next_at > 102.99 && o.next_at < 103.01, "capped at max_delay (%g)",
	   o.next_at);
	r.attempts = 2;
	ok(!fr_dispatch_exhausted(&r, 2), "claim 2 of 2 runs");
	ok(!fr_dispatch_exhausted(&r, 3), "one claim more (a crash took it unbegun)");
	ok(fr_dispatch_exhausted(&r, 4), "then it is given up");
	r.attempts = 0;
	ok(fr_dispatch_exhausted(&r, 3), "no policy: one attempt, one more claim");
}

int main(void)
{
	test_order_and_fairness();
	test_room();
	test_release();
	test_outcome();
	return done_testing();
}
