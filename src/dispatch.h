/*
 * dispatch: which of the deliveries this process claimed runs next, and
 * what becomes of one that ended.  Pure code: no threads, no store, no
 * clock of its own (the caller passes the time), so that it can be tested
 * alone.  serve's committer adds what it claims; workers take and finish
 * under serve's lock.
 *
 * Limits across processes (a flow's concurrency, fifo) are the store's
 * claim's business: what is here may run now.  The dispatcher runs the
 * deliveries of each flow in arrival order and takes flows round-robin,
 * so one busy flow does not starve the others, and it says how many more
 * deliveries this process has room to claim.
 */
#ifndef FR_DISPATCH_H
#define FR_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "model.h"
#include "store.h"

struct fr_dispatch;

/* Holds at most max_items deliveries (and their bodies up to max_bytes)
 * beside the running ones. */
struct fr_dispatch *fr_dispatch_create(size_t max_items, size_t max_bytes);
/* Frees the deliveries still held. */
void fr_dispatch_destroy(struct fr_dispatch *dp);

/* Holds a claimed delivery (takes d) until a worker takes it. */
void fr_dispatch_add(struct fr_dispatch *dp, struct fr_delivery *d);
/* The next delivery to run (the caller owns it), or NULL. */
struct fr_delivery *fr_dispatch_take(struct fr_dispatch *dp);
/* A delivery taken before has ended (d: it, still not freed). */
void fr_dispatch_done(struct fr_dispatch *dp, const struct fr_delivery *d);
/* How many more this process may claim now (0: it holds enough). */
size_t fr_dispatch_room(const struct fr_dispatch *dp);
/* Deliveries held (not running), running ones. */
size_t fr_dispatch_held(const struct fr_dispatch *dp);
size_t fr_dispatch_running(const struct fr_dispatch *dp);
/* Whether a delivery of this flow is held or running here. */
bool fr_dispatch_busy(const struct fr_dispatch *dp, const char *integration,
		      const char *instance, const char *flow);
/* Gives back every held delivery (for the store, at drain): *n of them. */
struct fr_delivery **fr_dispatch_release(struct fr_dispatch *dp, size_t *n);

/* What becomes of a delivery whose attempt ended. */
struct fr_outcome {
	enum fr_status status;		/* OK, FAILED or RETRYING */
	double next_at;			/* RETRYING: not before */
};

/*
 * The outcome of attempt number `attempts` (1 for the first) under policy
 * r, at time now: retried with exponential backoff and jitter (jitter01 is
 * a number in [0, 1): the delay varies by +-20%) while attempts remain,
 * then failed.  Sync flows are not retried (their caller had the answer).
 */
struct fr_outcome fr_dispatch_outcome(const struct fr_retry *r, int attempts,
				      bool ok, bool sync, double now,
				      double jitter01);

/*
 * Whether a claimed delivery has used up its attempts before it runs:
 * attempts are counted at each claim, so a delivery whose earlier
 * attempts never ended (the process running it died, perhaps of it) is
 * not run again and again.  One claim more than the retry policy's
 * attempts is allowed: a process that dies also takes with it the
 * deliveries it had claimed but not begun.
 */
bool fr_dispatch_exhausted(const struct fr_retry *r, int attempts);

#endif
