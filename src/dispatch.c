/* dispatch: which claimed delivery runs next (see dispatch.h). */
#include "dispatch.h"

#include <stdlib.h>
#include <string.h>

#include "action.h"
#include "util.h"

struct item {
	struct fr_delivery *d;
	struct item *next;
};

/* The held deliveries of one flow of one instance. */
struct lane {
	char *integration, *instance, *flow;
	struct item *head, *tail;
	size_t running;
};

struct fr_dispatch {
	struct lane **lanes;
	size_t nlanes, cap;
	size_t rr;			/* the lane to look at first */
	size_t held, running;
	size_t bytes, max_items, max_bytes;
};

struct fr_dispatch *fr_dispatch_create(size_t max_items, size_t max_bytes)
{
	struct fr_dispatch *dp = fr_xcalloc(1, sizeof(*dp));

	dp->max_items = max_items ? max_items : 1;
	dp->max_bytes = max_bytes;
	return dp;
}

void fr_dispatch_destroy(struct fr_dispatch *dp)
{
	if (!dp)
		return;
	for (size_t i = 0; i < dp->nlanes; i++) {
		struct lane *l = dp->lanes[i];
		while (l->head) {
			struct item *it = l->head;
			l->head = it->next;
			fr_delivery_free(it->d);
			free(it);
		}
		free(l->integration);
		free(l->instance);
		free(l->flow);
		free(l);
	}
	free(dp->lanes);
	free(dp);
}

static struct lane *find_lane(const struct fr_dispatch *dp,
			      const char *integration, const char *instance,
			      const char *flow)
{
	for (size_t i = 0; i < dp->nlanes; i++) {
		struct lane *l = dp->lanes[i];
		if (strcmp(l->flow, flow) == 0 && strcmp(l->instance, instance) == 0 &&
		    strcmp(l->integration, integration) == 0)
			return l;
	}
	return NULL;
}

void fr_dispatch_add(struct fr_dispatch *dp, struct fr_delivery *d)
{
	struct lane *l = find_lane(dp, d->integration, d->instance, d->flow);
	struct item *it = fr_xcalloc(1, sizeof(*it));

	if (!l) {
		l = fr_xcalloc(1, sizeof(*l));
		l->integration = fr_xstrdup(d->integration);
		l->instance = fr_xstrdup(d->instance);
		l->flow = fr_xstrdup(d->flow);
		fr_grow(&dp->lanes, &dp->cap, dp->nlanes + 1, sizeof(*dp->lanes));
		dp->lanes[dp->nlanes++] = l;
	}
	it->d = d;
	if (l->tail)
		l->tail->next = it;
	else
		l->head = it;
	l->tail = it;
	dp->held++;
	dp->bytes += d->body_len;
}

struct fr_delivery *fr_dispatch_take(struct fr_dispatch *dp)
{
	for (size_t k = 0; k < dp->nlanes; k++) {
		size_t i = (dp->rr + k) % dp->nlanes;
		struct lane *l = dp->lanes[i];
		struct item *it = l->head;
		struct fr_delivery *d;
		if (!it)
			continue;
		l->head = it->next;
		if (!l->head)
			l->tail = NULL;
		d = it->d;
		free(it);
		dp->held--;
		dp->bytes -= d->body_len;
		dp->running++;
		l->running++;
		dp->rr = i + 1;
		return d;
	}
	return NULL;
}

void fr_dispatch_done(struct fr_dispatch *dp, const struct fr_delivery *d)
{
	struct lane *l = find_lane(dp, d->integration, d->instance, d->flow);

	if (l && l->running)
		l->running--;
	if (dp->running)
		dp->running--;
}

size_t fr_dispatch_room(const struct fr_dispatch *dp)
{
	if (dp->max_bytes && dp->bytes >= dp->max_bytes)
		return 0;
	return dp->held >= dp->max_items ? 0 : dp->max_items - dp->held;
}

size_t fr_dispatch_held(const struct fr_dispatch *dp)
{
	return dp->held;
}

size_t fr_dispatch_running(const struct fr_dispatch *dp)
{
	return dp->running;
}

bool fr_dispatch_busy(const struct fr_dispatch *dp, const char *integration,
		      const char *instance, const char *flow)
{
	const struct lane *l = find_lane(dp, integration, instance, flow);

	return l && (l->head || l->running);
}

struct fr_delivery **fr_dispatch_release(struct fr_dispatch *dp, size_t *n)
{
	struct fr_delivery **out = NULL, *d;
	size_t cap = 0;

	*n = 0;
	while ((d = fr_dispatch_take(dp)) != NULL) {
		fr_dispatch_done(dp, d);
		fr_grow(&out, &cap, *n + 1, sizeof(*out));
		out[(*n)++] = d;
	}
	return out;
}

struct fr_outcome fr_dispatch_outcome(const struct fr_retry *r, int attempts,
				      bool ok, bool sync, double now,
				      double jitter01)
{
	struct fr_outcome o = { ok ? FR_STATUS_OK : FR_STATUS_FAILED, 0 };

	if (!ok && !sync && attempts < r->attempts) {
		double s = (double)fr_retry_delay_ms(r, attempts) / 1000.0;
		o.status = FR_STATUS_RETRYING;
		o.next_at = now + s * (0.8 + 0.4 * jitter01);
	}
	return o;
}

bool fr_dispatch_exhausted(const struct fr_retry *r, int attempts)
{
	/* one claim more: a crash may take deliveries claimed but not begun */
	return attempts > (r->attempts > 0 ? r->attempts : 1) + 1;
}
