/*
 * serve_retain: serve's housekeeping on the timer thread's store handle:
 * reads the store's size and oldest data for /metrics each minute, and,
 * with --retain, removes the data of executions that ended longer ago
 * than that (fr_store_prune) at start and every ten minutes.
 */
#include <stdlib.h>

#include "log.h"
#include "serve_ctx.h"
#include "util.h"

#define STATS_EVERY_MS (60 * 1000)
#define PRUNE_EVERY_MS (10 * 60 * 1000)

static int64_t mono_ms(void)
{
	return (int64_t)(fr_now_ns() / 1000000);
}

void serve_housekeep(struct serve *s, struct fr_store *st)
{
	struct serve_metrics *m = &s->m;
	int64_t now = mono_ms();
	char *err = NULL;

	if (s->o->retain_s > 0 && now >= m->next_prune_ms) {
		struct fr_prune_result pr;
		double before = fr_store_now() - s->o->retain_s;
		m->next_prune_ms = now + PRUNE_EVERY_MS;
		if (fr_store_prune(st, before, &pr, &err) < 0) {
			fr_log_warn("retention: %s", err);
			free(err);
			err = NULL;
		} else if (pr.executions || pr.deliveries) {
			atomic_fetch_add(&m->pruned, (unsigned long long)pr.executions);
			fr_log_info("retention: removed the input and trace of %lld "
				    "execution(s) and the body of %lld delivery(ies) "
				    "that ended over %.0f s ago", pr.executions,
				    pr.deliveries, s->o->retain_s);
			m->next_stats_ms = 0;
		}
	}
	if (now >= m->next_stats_ms) {
		struct fr_store_stats ss;
		m->next_stats_ms = now + STATS_EVERY_MS;
		if (fr_store_stats(st, &ss, &err) < 0) {
			free(err);	/* the committer reports the store */
			return;
		}
		atomic_store(&m->store_bytes, ss.bytes);
		atomic_store(&m->oldest_ms, (long long)(ss.oldest * 1000));
	}
}
