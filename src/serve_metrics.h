/*
 * serve_metrics: serve's counters and histograms, and the /metrics text
 * (Prometheus text format).  Counting is lock-free (atomics) from any
 * thread; the per-flow table grows under its own mutex, taken only when a
 * flow is seen for the first time and when the text is made.
 */
#ifndef FR_SERVE_METRICS_H
#define FR_SERVE_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>

#include "util.h"

#define SERVE_NBUCKETS 9

struct histogram {
	atomic_ullong counts[SERVE_NBUCKETS + 1];
	atomic_ullong sum_us;
};

/* The counters of one flow of one instance. */
struct flow_stats {
	char *key;			/* "integration/instance/flow" */
	atomic_ullong ok, failed, retries;
	struct histogram duration, steps;
	struct flow_stats *next;
};

struct serve_metrics {
	pthread_mutex_t mu;		/* the flows list */
	struct flow_stats *flows;
	atomic_ullong not_found, unavailable;
	atomic_ullong commits, committed, claims, claimed;
	atomic_ullong workers_started, workers_lost;
	struct histogram commit;
	/* the store, as the timer last read it (serve_retain.c) */
	atomic_llong store_bytes;	/* -1: not read yet */
	atomic_llong oldest_ms;		/* epoch ms of the oldest data; 0: none */
	atomic_ullong pruned;		/* executions whose data --retain removed */
	int64_t next_stats_ms, next_prune_ms;	/* the timer's own */
};

/* What /metrics reports beside the counters. */
struct serve_gauges {
	size_t queued, running;
	unsigned connections;
	unsigned long long closed_slow, closed_over_limit;
	double now;			/* the clock, seconds since the epoch */
};

struct world;

void serve_metrics_init(struct serve_metrics *m);
void serve_metrics_finish(struct serve_metrics *m);
void serve_observe(struct histogram *h, double seconds);
/* The counters of flow key (created on first use; they live as long as m). */
struct flow_stats *serve_flow_stats(struct serve_metrics *m, const char *key);
/* The whole /metrics text. */
void serve_metrics_text(struct serve_metrics *m, const struct world *w,
			const struct serve_gauges *g, struct fr_buf *b);

#endif
