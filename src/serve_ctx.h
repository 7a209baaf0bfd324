/*
 * serve_ctx: what serve's pieces share (serve.h lists them).  One mutex,
 * mu, guards the world pointer, the dispatcher, the sync waits and the
 * flags; the committer's hand-off queues have their own (cmu), so that
 * HTTP threads never wait for a worker or the disk.  Counters for
 * /metrics are atomics.
 */
#ifndef FR_SERVE_CTX_H
#define FR_SERVE_CTX_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "dispatch.h"
#include "server.h"
#include "serve.h"
#include "serve_metrics.h"
#include "serve_world.h"
#include "store.h"
#include "workerproc.h"

/* A delivery on its way to the store, and who waits for its answer. */
struct pending {
	struct fr_delivery *d;
	struct fr_request *r;		/* NULL: schedule */
	struct world *w;		/* a reference */
	const struct fr_flow *flow;
	bool sync;
	/* the committer's, once pushed */
	char *id;			/* d's id, when the dispatcher took d */
	char *dup;			/* the earlier delivery's id, or NULL */
};

/* An attempt's end, written by the committer with the next batch. */
struct finish {
	struct fr_execution rec;	/* the execution's record */
	enum fr_status status;		/* the delivery's */
	double next_at;
	bool no_record;			/* only the delivery: rec holds its id */
};

/* A sync request waiting for its execution. */
struct syncwait {
	char *id;
	struct fr_request *r;
	double deadline;
	struct syncwait *next;
};

/* A worker thread and the worker process it supervises (workerproc.h). */
struct worker {
	struct serve *s;
	pthread_t thread;
	bool started;
	struct fr_workerproc proc;	/* pid 0: none running */
	struct world *world;		/* what proc loaded (a reference) */
	unsigned failures;		/* starts that failed in a row */
};

struct serve {
	const struct fr_serve_opts *o;
	struct fr_server *srv;
	char *public_url;		/* --public-url, else where we listen */
	char *owner;			/* this process in the store's claims */
	char *store_shown;		/* the store URL without its password */
	json_t *hello;			/* what worker processes load */

	pthread_mutex_t mu;		/* world, dispatcher, waits, flags */
	pthread_cond_t work;		/* workers: something to run */
	pthread_cond_t idle;		/* drain: a worker finished */
	struct world *world;
	struct fr_dispatch *dp;
	struct syncwait *waits;
	bool draining, stopping;
	atomic_bool ready;
	atomic_bool store_ok;		/* the last store call worked */

	/* the committer's queues (cmu) */
	pthread_t committer;
	bool committer_started;
	pthread_mutex_t cmu;
	pthread_cond_t ccv;
	struct pending *pend;
	size_t npend, pend_cap;
	struct finish *fin;
	size_t nfin, fin_cap;
	bool claim_now;			/* workers have room, or work was queued */
	bool notified;			/* another process queued deliveries */
	bool cstop;

	pthread_t timer;
	bool timer_started;
	struct worker *workers;
	size_t nworkers;

	struct serve_metrics m;
};

/* Another reference to the current world (mu not held). */
struct world *serve_world_current(struct serve *s);

/* serve_commit.c: hand-offs to the committer (any thread). */
void serve_commit_push(struct serve *s, struct pending *p);
void serve_commit_finish(struct serve *s, struct finish *f);
/* Asks the committer to claim what may run (woken by the timer or a
 * worker that became free). */
void serve_commit_wake(struct serve *s, bool notified);
void *serve_commit_main(void *arg);

/* serve_http.c */
long serve_http_start(void *data, struct fr_request *r);
void serve_http_handle(void *data, struct fr_request *r);
void serve_http_done(void *data, struct fr_request *r);
/* The trigger value of a delivery (new reference). */
json_t *serve_trigger(const struct fr_delivery *d);

/* serve_worker.c */
void *serve_worker_main(void *arg);

/* serve_timer.c */
void *serve_timer_main(void *arg);

/* serve_retain.c: from the timer thread, on its store handle: the store's
 * size for /metrics (each minute) and --retain (each ten minutes). */
void serve_housekeep(struct serve *s, struct fr_store *st);
/* A sync request waits for execution id (mu held). */
void serve_wait_add(struct serve *s, const char *id, struct fr_request *r);
/* Takes the request waiting for execution id, if any (mu not held). */
struct fr_request *serve_wait_take(struct serve *s, const char *id);

#endif
