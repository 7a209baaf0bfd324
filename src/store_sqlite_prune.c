/*
 * store_sqlite_prune: retention (fr_store_prune) and the store's size and
 * oldest data (fr_store_stats) for the SQLite backend.
 */
#include <stdlib.h>

#include "store_sqlite_int.h"

/* An execution that ended before ?1 and whose delivery (if any) did too. */
#define ENDED_BEFORE \
	"e.status IN ('ok', 'failed') AND e.finished_at IS NOT NULL AND " \
	"e.finished_at < ?1 AND NOT EXISTS (SELECT 1 FROM deliveries q " \
	"WHERE q.id = e.id AND q.status NOT IN ('ok', 'failed'))"

static const char prune_deliveries[] =
	"UPDATE deliveries SET request = NULL, body = NULL, trigger = NULL "
	"WHERE status IN ('ok', 'failed') AND (request IS NOT NULL OR body IS "
	"NOT NULL OR trigger IS NOT NULL) AND id IN (SELECT e.id FROM "
	"executions e WHERE " ENDED_BEFORE ")";
static const char prune_executions[] =
	"UPDATE executions SET input = NULL, trace = NULL WHERE id IN (SELECT "
	"e.id FROM executions e WHERE (e.input IS NOT NULL OR e.trace IS NOT "
	"NULL) AND " ENDED_BEFORE ")";

static int prune_one(struct sqlite_store *st, const char *sql, double before,
		     long long *changed, char **err)
{
	sqlite3_stmt *stmt;

	if (sq_prepare(st, &stmt, sql, err) < 0)
		return -1;
	sqlite3_bind_double(stmt, 1, before);
	if (sq_step_done(st, stmt, "cannot remove old data", err) < 0)
		return -1;
	*changed = sqlite3_changes64(st->db);
	return 0;
}

int sqlite_prune(struct fr_store *s, double before, struct fr_prune_result *out,
		 char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	bool own;
	int rc;

	if (sq_begin_own(st, &own, err) < 0)
		return -1;
	rc = prune_one(st, prune_deliveries, before, &out->deliveries, err);
	if (rc == 0)
		rc = prune_one(st, prune_executions, before, &out->executions, err);
	return sq_end_own(st, own, rc, err);
}

static int one_number(struct sqlite_store *st, const char *sql, double *out,
		      char **err)
{
	sqlite3_stmt *stmt;
	int rc;

	*out = 0;
	if (sq_prepare(st, &stmt, sql, err) < 0)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW)
		*out = sqlite3_column_double(stmt, 0);
	sq_release(st, stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(st, err, "cannot read the store's size");
	return 0;
}

int sqlite_stats(struct fr_store *s, struct fr_store_stats *out, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	double pages, page_size;

	if (one_number(st, "PRAGMA page_count", &pages, err) < 0 ||
	    one_number(st, "PRAGMA page_size", &page_size, err) < 0 ||
	    one_number(st, "SELECT min(t) FROM (SELECT min(started_at) AS t "
		       "FROM executions WHERE started_at > 0 AND (input IS NOT "
		       "NULL OR trace IS NOT NULL) UNION ALL SELECT "
		       "min(received_at) FROM deliveries WHERE request IS NOT "
		       "NULL OR body IS NOT NULL OR trigger IS NOT NULL)",
		       &out->oldest, err) < 0)
		return -1;
	out->bytes = (long long)(pages * page_size);
	return 0;
}
