/* serve_metrics: counters and the /metrics text (see serve_metrics.h). */
#include "serve_metrics.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "serve_world.h"

/* Histogram buckets, seconds. */
static const double buckets[SERVE_NBUCKETS] = {
	0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30,
};

void serve_metrics_init(struct serve_metrics *m)
{
	memset(m, 0, sizeof(*m));
	atomic_init(&m->store_bytes, -1);
	pthread_mutex_init(&m->mu, NULL);
}

void serve_metrics_finish(struct serve_metrics *m)
{
	while (m->flows) {
		struct flow_stats *f = m->flows;
		m->flows = f->next;
		free(f->key);
		free(f);
	}
	pthread_mutex_destroy(&m->mu);
}

void serve_observe(struct histogram *h, double seconds)
{
	size_t i = 0;

	while (i < SERVE_NBUCKETS && seconds > buckets[i])
		i++;
	atomic_fetch_add(&h->counts[i], 1);
	atomic_fetch_add(&h->sum_us, (unsigned long long)(seconds * 1e6));
}

struct flow_stats *serve_flow_stats(struct serve_metrics *m, const char *key)
{
	struct flow_stats *f;

	pthread_mutex_lock(&m->mu);
	for (f = m->flows; f && strcmp(f->key, key) != 0; f = f->next)
		;
	if (!f) {
		f = fr_xcalloc(1, sizeof(*f));
		f->key = fr_xstrdup(key);
		f->next = m->flows;
		m->flows = f;
	}
	pthread_mutex_unlock(&m->mu);
	return f;
}

static void put_histogram(struct fr_buf *b, const char *name, const char *labels,
			  struct histogram *h)
{
	unsigned long long cum = 0;

	for (size_t i = 0; i <= SERVE_NBUCKETS; i++) {
		cum += atomic_load(&h->counts[i]);
		if (i < SERVE_NBUCKETS)
			fr_buf_printf(b, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels,
				      *labels ? "," : "", buckets[i], cum);
		else
			fr_buf_printf(b, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name,
				      labels, *labels ? "," : "", cum);
	}
	fr_buf_printf(b, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels,
		      (double)atomic_load(&h->sum_us) / 1e6, name, labels, cum);
}

static void put_flow_histograms(struct fr_buf *b, struct serve_metrics *m,
				const char *name, const char *help, bool steps)
{
	fr_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name);
	for (struct flow_stats *f = m->flows; f; f = f->next) {
		char *labels = fr_xasprintf("flow=\"%s\"", f->key);
		put_histogram(b, name, labels, steps ? &f->steps : &f->duration);
		free(labels);
	}
}

static void put_counter(struct fr_buf *b, const char *name, const char *help,
			unsigned long long v)
{
	fr_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help,
		      name, name, v);
}

static void put_gauge(struct fr_buf *b, const char *name, const char *help,
		      double v)
{
	fr_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %.17g\n", name, help,
		      name, name, v);
}

void serve_metrics_text(struct serve_metrics *m, const struct world *w,
			const struct serve_gauges *g, struct fr_buf *b)
{
	size_t queued = g->queued, running = g->running;
	long long bytes = atomic_load(&m->store_bytes);
	long long oldest = atomic_load(&m->oldest_ms);

	fr_buf_puts(b, "# HELP flowrun_http_requests_total Webhook requests by "
		    "flow and status.\n# TYPE flowrun_http_requests_total counter\n");
	for (size_t i = 0; i < w->nroutes; i++) {
		for (size_t k = 0; k < SERVE_NCOUNTED; k++) {
			unsigned long long n = atomic_load(&w->routes[i].status[k]);
			if (n)
				fr_buf_printf(b, "flowrun_http_requests_total{flow=\"%s\","
					      "path=\"%s\",status=\"%d\"} %llu\n",
					      w->routes[i].key, w->routes[i].path,
					      serve_counted[k], n);
		}
	}
	fr_buf_printf(b, "flowrun_http_requests_total{flow=\"\",path=\"\",status="
		      "\"404\"} %llu\n", (unsigned long long)atomic_load(&m->not_found));
	pthread_mutex_lock(&m->mu);
	fr_buf_puts(b, "# HELP flowrun_executions_total Executions by flow and "
		    "outcome.\n# TYPE flowrun_executions_total counter\n");
	for (struct flow_stats *f = m->flows; f; f = f->next)
		fr_buf_printf(b, "flowrun_executions_total{flow=\"%s\",outcome=\"ok\"} "
			      "%llu\nflowrun_executions_total{flow=\"%s\",outcome="
			      "\"failed\"} %llu\n", f->key,
			      (unsigned long long)atomic_load(&f->ok), f->key,
			      (unsigned long long)atomic_load(&f->failed));
	fr_buf_puts(b, "# HELP flowrun_retries_total Executions queued again "
		    "after a failure.\n# TYPE flowrun_retries_total counter\n");
	for (struct flow_stats *f = m->flows; f; f = f->next)
		fr_buf_printf(b, "flowrun_retries_total{flow=\"%s\"} %llu\n", f->key,
			      (unsigned long long)atomic_load(&f->retries));
	put_flow_histograms(b, m, "flowrun_execution_duration_seconds",
			    "Execution time.", false);
	put_flow_histograms(b, m, "flowrun_step_duration_seconds", "Step time.",
			    true);
	pthread_mutex_unlock(&m->mu);
	fr_buf_printf(b, "# HELP flowrun_queue_depth Deliveries claimed by this "
		      "process, waiting for a worker.\n# TYPE flowrun_queue_depth "
		      "gauge\nflowrun_queue_depth %zu\n"
		      "# HELP flowrun_executions_running Executions running now.\n"
		      "# TYPE flowrun_executions_running gauge\n"
		      "flowrun_executions_running %zu\n", queued, running);
	put_counter(b, "flowrun_store_commits_total",
		    "Transactions committing deliveries.",
		    (unsigned long long)atomic_load(&m->commits));
	put_counter(b, "flowrun_deliveries_stored_total", "Deliveries committed.",
		    (unsigned long long)atomic_load(&m->committed));
	put_counter(b, "flowrun_store_claims_total",
		    "Claims of queued deliveries from the store.",
		    (unsigned long long)atomic_load(&m->claims));
	put_counter(b, "flowrun_deliveries_claimed_total",
		    "Deliveries taken from the store's queue by claims.",
		    (unsigned long long)atomic_load(&m->claimed));
	put_counter(b, "flowrun_worker_processes_started_total",
		    "Worker processes started.",
		    (unsigned long long)atomic_load(&m->workers_started));
	put_counter(b, "flowrun_worker_processes_lost_total",
		    "Worker processes that crashed, ran out of memory or were "
		    "killed for a step past its timeout.",
		    (unsigned long long)atomic_load(&m->workers_lost));
	put_counter(b, "flowrun_unavailable_total",
		    "Requests answered 503 (draining, queue full, store down).",
		    (unsigned long long)atomic_load(&m->unavailable));
	put_gauge(b, "flowrun_http_connections", "Connections open now.",
		  g->connections);
	fr_buf_printf(b, "# HELP flowrun_http_connections_closed_total "
		      "Connections closed by serve: slow (request line and "
		      "headers past --header-timeout) or over_limit "
		      "(--max-connections).\n# TYPE "
		      "flowrun_http_connections_closed_total counter\n"
		      "flowrun_http_connections_closed_total{reason=\"slow\"} "
		      "%llu\nflowrun_http_connections_closed_total{reason="
		      "\"over_limit\"} %llu\n", g->closed_slow,
		      g->closed_over_limit);
	if (bytes >= 0) {
		put_gauge(b, "flowrun_store_bytes", "The store's size (SQLite: "
			  "the database file's pages; PostgreSQL: flowrun's "
			  "tables and indexes), read each minute.", (double)bytes);
		put_gauge(b, "flowrun_store_oldest_item_age_seconds", "Age of "
			  "the oldest execution or delivery whose data the store "
			  "still holds (0: none).",
			  oldest > 0 && g->now * 1000 > (double)oldest
			  ? (g->now * 1000 - (double)oldest) / 1000 : 0);
	}
	put_counter(b, "flowrun_retention_pruned_total", "Executions whose input "
		    "and trace --retain removed.",
		    (unsigned long long)atomic_load(&m->pruned));
	fr_buf_puts(b, "# HELP flowrun_store_commit_seconds Time to commit "
		    "(fsync) a batch of deliveries.\n# TYPE "
		    "flowrun_store_commit_seconds histogram\n");
	put_histogram(b, "flowrun_store_commit_seconds", "", &m->commit);
}
