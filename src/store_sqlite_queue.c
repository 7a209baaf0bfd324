/*
 * store_sqlite_queue: the delivery queue of the SQLite backend: push,
 * claim under leases (with per-flow bounds and fifo order), renew,
 * finish, and replays.
 */
#include <stdlib.h>
#include <string.h>

#include "store_sqlite_int.h"
#include "util.h"

static const char *delivery_kind(const struct fr_delivery *d)
{
	if (d->request)
		return "webhook";
	if (json_object_get(d->trigger, "schedule"))
		return "schedule";
	return "manual";
}

int sqlite_push(struct fr_store *s, struct fr_delivery *const *d, size_t n,
		const struct fr_claim *claimed, char **dup_of, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *ins = NULL, *dup = NULL;
	double now = fr_store_now();
	bool own;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		dup_of[i] = NULL;
	if (sq_begin_own(st, &own, err) < 0)
		return -1;
	if (sq_prepare(st, &ins, "INSERT INTO deliveries (id, integration, instance, "
		    "flow, received_at, request, body, trigger, dedupe_key, "
		    "attempts, next_at, status, owner, lease_until, max_running, "
		    "fifo, origin, replay_of, kind) VALUES (?, ?, ?, ?, ?, ?, ?, "
		    "?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
		    err) < 0 ||
	    sq_prepare(st, &dup, "SELECT id FROM deliveries WHERE integration = ? "
		    "AND instance = ? AND flow = ? AND dedupe_key = ?", err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool take = claimed && !d[i]->max_running && !d[i]->fifo;
		sq_bind_text(ins, 1, d[i]->id);
		sq_bind_text(ins, 2, d[i]->integration);
		sq_bind_text(ins, 3, d[i]->instance);
		sq_bind_text(ins, 4, d[i]->flow);
		sqlite3_bind_double(ins, 5, now);
		if (d[i]->request_text)
			sqlite3_bind_text(ins, 6, d[i]->request_text, -1,
					  SQLITE_STATIC);
		else
			sq_bind_json(ins, 6, d[i]->request);
		if (d[i]->body)
			sqlite3_bind_blob(ins, 7, d[i]->body, (int)d[i]->body_len,
					  SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 7);
		sq_bind_json(ins, 8, d[i]->trigger);
		sq_bind_text(ins, 9, d[i]->dedupe_key);
		sqlite3_bind_int(ins, 10, take ? 1 : d[i]->attempts);
		sqlite3_bind_double(ins, 11, d[i]->next_at);
		sq_bind_text(ins, 12, take ? "running" : "queued");
		sq_bind_text(ins, 13, take ? claimed->owner : NULL);
		sqlite3_bind_double(ins, 14, take ? claimed->now + claimed->lease_s : 0);
		sqlite3_bind_int(ins, 15, d[i]->max_running);
		sqlite3_bind_int(ins, 16, d[i]->fifo);
		sq_bind_text(ins, 17, fr_origin_name(d[i]->origin));
		sq_bind_text(ins, 18, d[i]->replay_of);
		sq_bind_text(ins, 19, delivery_kind(d[i]));
		if (sqlite3_step(ins) != SQLITE_DONE) {
			sq_fail(st, err, "cannot queue a delivery");
			goto out;
		}
		d[i]->seq = 0;
		if (sqlite3_changes(st->db) == 1) {
			d[i]->seq = sqlite3_last_insert_rowid(st->db);
			d[i]->status = take ? FR_STATUS_RUNNING : FR_STATUS_QUEUED;
			if (take)
				d[i]->attempts = 1;
		} else if (d[i]->dedupe_key) {
			sq_bind_text(dup, 1, d[i]->integration);
			sq_bind_text(dup, 2, d[i]->instance);
			sq_bind_text(dup, 3, d[i]->flow);
			sq_bind_text(dup, 4, d[i]->dedupe_key);
			if (sqlite3_step(dup) == SQLITE_ROW)
				dup_of[i] = sq_column_strdup(dup, 0);
			sqlite3_reset(dup);
		}
		if (d[i]->seq <= 0 && !dup_of[i]) {
			*err = fr_xasprintf("store %s: delivery %s is stored already",
					    st->path, d[i]->id);
			goto out;
		}
		sqlite3_reset(ins);
		sqlite3_clear_bindings(ins);
	}
	rc = 0;
out:
	sq_release(st, ins);
	sq_release(st, dup);
	rc = sq_end_own(st, own, rc, err);
	if (rc < 0) {
		for (size_t i = 0; i < n; i++) {
			free(dup_of[i]);
			dup_of[i] = NULL;
		}
	}
	return rc;
}

#define DELIVERY_COLUMNS "id, integration, instance, flow, request, body, " \
	"trigger, dedupe_key, attempts, next_at, seq, status, max_running, "	\
	"fifo, origin, replay_of"

static struct fr_delivery *delivery_row(sqlite3_stmt *stmt)
{
	struct fr_delivery *d = fr_xcalloc(1, sizeof(*d));

	d->id = sq_column_strdup(stmt, 0);
	d->integration = sq_column_strdup(stmt, 1);
	d->instance = sq_column_strdup(stmt, 2);
	d->flow = sq_column_strdup(stmt, 3);
	if (sqlite3_column_type(stmt, 4) != SQLITE_NULL)
		d->request = sq_column_json(stmt, 4);
	if (sqlite3_column_type(stmt, 5) != SQLITE_NULL) {
		d->body_len = (size_t)sqlite3_column_bytes(stmt, 5);
		d->body = fr_xmalloc(d->body_len + 1);
		if (d->body_len)
			memcpy(d->body, sqlite3_column_blob(stmt, 5), d->body_len);
		d->body[d->body_len] = '\0';
	}
	if (sqlite3_column_type(stmt, 6) != SQLITE_NULL)
		d->trigger = sq_column_json(stmt, 6);
	d->dedupe_key = sq_column_strdup(stmt, 7);
	d->attempts = sqlite3_column_int(stmt, 8);
	d->next_at = sqlite3_column_double(stmt, 9);
	d->seq = sqlite3_column_int64(stmt, 10);
	if (fr_status_parse((const char *)sqlite3_column_text(stmt, 11),
			    &d->status) < 0)
		d->status = FR_STATUS_FAILED;
	d->max_running = sqlite3_column_int(stmt, 12);
	d->fifo = sqlite3_column_int(stmt, 13);
	if (fr_origin_parse((const char *)sqlite3_column_text(stmt, 14),
			    &d->origin) < 0)
		d->origin = FR_ORIGIN_SERVE;
	d->replay_of = sq_column_strdup(stmt, 15);
	return d;
}

/*
 * Takes up to max deliveries of one statement's choice: stmt is bound
 * from ?3 on by the caller; ?1 is the owner, ?2 the lease's end.
 */
static int take_rows(struct sqlite_store *st, sqlite3_stmt *stmt,
		     const struct fr_claim *c, struct fr_delivery ***out,
		     size_t *n, size_t *cap, char **err)
{
	int rc;

	sq_bind_text(stmt, 1, c->owner);
	sqlite3_bind_double(stmt, 2, c->now + c->lease_s);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		fr_grow(out, cap, *n + 1, sizeof(**out));
		(*out)[(*n)++] = delivery_row(stmt);
	}
	sq_release(st, stmt);
	return rc == SQLITE_DONE ? 0 : sq_fail(st, err, "cannot claim deliveries");
}

/* A delivery that may be claimed at ?4 (now). */
#define CLAIMABLE "((status IN ('queued', 'retrying') AND next_at <= ?4) OR " \
	"(status = 'running' AND lease_until < ?4))"
#define TAKE "UPDATE deliveries SET status = 'running', owner = ?1, "	\
	"lease_until = ?2, attempts = attempts + 1 WHERE seq IN "

/* The flows with limits that have open deliveries. */
struct limited {
	char *integration, *instance, *flow;
	int max_running;
	bool fifo;
};

static int claim_limited(struct sqlite_store *st, const struct fr_claim *c,
			 const struct limited *l, struct fr_delivery ***out,
			 size_t *n, size_t *cap, char **err)
{
	sqlite3_stmt *stmt;
	int running = 0, room;

	if (sq_prepare(st, &stmt, "SELECT count(*) FROM deliveries WHERE "
		    "integration = ? AND instance = ? AND flow = ? AND status = "
		    "'running' AND lease_until >= ?", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, l->integration);
	sq_bind_text(stmt, 2, l->instance);
	sq_bind_text(stmt, 3, l->flow);
	sqlite3_bind_double(stmt, 4, c->now);
	if (sqlite3_step(stmt) == SQLITE_ROW)
		running = sqlite3_column_int(stmt, 0);
	sq_release(st, stmt);
	room = l->fifo ? 1 - running
		       : (l->max_running > 0 ? l->max_running : 1) - running;
	if (room <= 0)
		return 0;
	if ((size_t)room > c->max - *n)
		room = (int)(c->max - *n);
	if (l->fifo) {
		/* the oldest unfinished one, once it may run */
		if (sq_prepare(st, &stmt, TAKE "(SELECT seq FROM (SELECT seq, status, "
			    "next_at, lease_until FROM deliveries WHERE "
			    "integration = ?5 AND instance = ?6 AND flow = ?7 AND "
			    "status IN ('queued', 'retrying', 'running') ORDER BY seq "
			    "LIMIT 1) WHERE " CLAIMABLE " LIMIT ?3) RETURNING "
			    DELIVERY_COLUMNS, err) < 0)
			return -1;
	} else if (sq_prepare(st, &stmt, TAKE "(SELECT seq FROM deliveries WHERE "
			   "integration = ?5 AND instance = ?6 AND flow = ?7 AND "
			   CLAIMABLE " ORDER BY seq LIMIT ?3) RETURNING "
			   DELIVERY_COLUMNS, err) < 0) {
		return -1;
	}
	sqlite3_bind_int(stmt, 3, room);
	sqlite3_bind_double(stmt, 4, c->now);
	sq_bind_text(stmt, 5, l->integration);
	sq_bind_text(stmt, 6, l->instance);
	sq_bind_text(stmt, 7, l->flow);
	return take_rows(st, stmt, c, out, n, cap, err);
}

int sqlite_claim(struct fr_store *s, const struct fr_claim *c,
		 struct fr_delivery ***out, size_t *n, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	struct limited *ls = NULL;
	size_t nls = 0, lcap = 0, cap = 0;
	bool own;
	int rc = -1, step;

	*out = NULL;
	*n = 0;
	if (c->max == 0)
		return 0;
	if (sq_begin_own(st, &own, err) < 0)
		return -1;
	if (sq_prepare(st, &stmt, TAKE "(SELECT seq FROM deliveries WHERE "
		    CLAIMABLE " AND max_running = 0 AND fifo = 0 ORDER BY seq "
		    "LIMIT ?3) RETURNING " DELIVERY_COLUMNS, err) < 0)
		goto out;
	sqlite3_bind_int64(stmt, 3, (sqlite3_int64)c->max);
	sqlite3_bind_double(stmt, 4, c->now);
	if (take_rows(st, stmt, c, out, n, &cap, err) < 0)
		goto out;
	if (*n < c->max) {
		if (sq_prepare(st, &stmt, "SELECT DISTINCT integration, instance, "
			    "flow, max_running, fifo FROM deliveries WHERE status "
			    "IN ('queued', 'retrying', 'running') AND (max_running "
			    "> 0 OR fifo)", err) < 0)
			goto out;
		while ((step = sqlite3_step(stmt)) == SQLITE_ROW) {
			fr_grow(&ls, &lcap, nls + 1, sizeof(*ls));
			ls[nls].integration = sq_column_strdup(stmt, 0);
			ls[nls].instance = sq_column_strdup(stmt, 1);
			ls[nls].flow = sq_column_strdup(stmt, 2);
			ls[nls].max_running = sqlite3_column_int(stmt, 3);
			ls[nls].fifo = sqlite3_column_int(stmt, 4);
			nls++;
		}
		sq_release(st, stmt);
		if (step != SQLITE_DONE) {
			sq_fail(st, err, "cannot claim deliveries");
			goto out;
		}
	}
	for (size_t i = 0; i < nls && *n < c->max; i++) {
		if (claim_limited(st, c, &ls[i], out, n, &cap, err) < 0)
			goto out;
	}
	rc = 0;
out:
	for (size_t i = 0; i < nls; i++) {
		free(ls[i].integration);
		free(ls[i].instance);
		free(ls[i].flow);
	}
	free(ls);
	rc = sq_end_own(st, own, rc, err);
	if (rc < 0) {
		fr_deliveries_free(*out, *n);
		*out = NULL;
		*n = 0;
	}
	return rc;
}

int sqlite_renew(struct fr_store *s, const char *owner, double lease_s,
		 double now, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	if (sq_prepare(st, &stmt, "UPDATE deliveries SET lease_until = ? WHERE "
		    "owner = ? AND status = 'running'", err) < 0)
		return -1;
	sqlite3_bind_double(stmt, 1, now + lease_s);
	sq_bind_text(stmt, 2, owner);
	return sq_step_done(st, stmt, "cannot renew leases", err);
}

int sqlite_finish(struct fr_store *s, const char *id, const char *owner,
		  enum fr_status status, double next_at, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	/* given back unrun (QUEUED): that claim's attempt does not count */
	if (sq_prepare(st, &stmt, "UPDATE deliveries SET status = ?1, next_at = ?2, "
		    "owner = NULL, lease_until = 0, attempts = CASE WHEN ?1 = "
		    "'queued' AND attempts > 0 THEN attempts - 1 ELSE attempts END "
		    "WHERE id = ?3 AND (?4 IS NULL OR owner = ?4)", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, fr_status_name(status));
	sqlite3_bind_double(stmt, 2, next_at);
	sq_bind_text(stmt, 3, id);
	sq_bind_text(stmt, 4, owner);
	return sq_step_done(st, stmt, "cannot update a delivery", err);
}

int sqlite_delivery_get(struct fr_store *s, const char *id,
			struct fr_delivery **out, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	*out = NULL;
	if (sq_prepare(st, &stmt, "SELECT " DELIVERY_COLUMNS " FROM deliveries "
		    "WHERE id = ?", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = delivery_row(stmt);
	sq_release(st, stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(st, err, "cannot read a delivery");
	return 0;
}

int sqlite_replay(struct fr_store *s, const char *id, char **new_id,
		  char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt = NULL;
	char *nid = fr_new_id("ex_");
	bool own;
	int rc = -1;

	*new_id = NULL;
	if (sq_begin_own(st, &own, err) < 0) {
		free(nid);
		return -1;
	}
	/* the delivery of a webhook execution, else the recorded input */
	if (sq_prepare(st, &stmt, "INSERT INTO deliveries (id, integration, "
		    "instance, flow, received_at, request, body, trigger, "
		    "max_running, fifo, origin, replay_of, kind) SELECT ?1, "
		    "e.integration, e.instance, e.flow, ?2, d.request, d.body, "
		    "CASE WHEN d.seq IS NULL THEN e.input ELSE d.trigger END, "
		    "coalesce(d.max_running, 0), coalesce(d.fifo, 0), 'replay', "
		    "e.id, e.trigger FROM executions e LEFT JOIN deliveries d ON "
		    "d.id = e.id WHERE e.id = ?3", err) < 0)
		goto out;
	sq_bind_text(stmt, 1, nid);
	sqlite3_bind_double(stmt, 2, fr_store_now());
	sq_bind_text(stmt, 3, id);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		sq_fail(st, err, "cannot queue the replay");
		goto out;
	}
	sq_release(st, stmt);
	stmt = NULL;
	if (sqlite3_changes(st->db) == 0) {
		rc = 0;		/* unknown execution */
		goto out;
	}
	if (sq_prepare(st, &stmt, "UPDATE executions SET replayed_as = ? WHERE id = ?",
		    err) < 0)
		goto out;
	sq_bind_text(stmt, 1, nid);
	sq_bind_text(stmt, 2, id);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		sq_fail(st, err, "cannot note the replay");
		goto out;
	}
	*new_id = nid;
	nid = NULL;
	rc = 0;
out:
	sq_release(st, stmt);
	rc = sq_end_own(st, own, rc, err);
	if (rc < 0) {
		free(*new_id);
		*new_id = NULL;
	}
	free(nid);
	return rc;
}
