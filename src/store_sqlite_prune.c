/*
 * store_sqlite_prune: housekeeping for the SQLite backend: retention
 * (fr_store_prune), the store's size and oldest data (fr_store_stats),
 * and interrupted runs (fr_store_reap).
 */
#include <stdio.h>
#include <stdlib.h>

#include "store_sqlite_int.h"
#include "util.h"

/* An execution that ended before ?1 and whose delivery (if any) did too. */
#define ENDED_BEFORE \
	"((e.status IN ('ok', 'failed') AND e.finished_at IS NOT NULL AND " \
	"e.finished_at < ?1) OR (e.status = 'interrupted' AND e.started_at < " \
	"?1)) AND NOT EXISTS (SELECT 1 FROM deliveries q " \
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

int sqlite_set_runner(struct fr_store *s, const char *id, const char *runner,
		      char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	if (sq_prepare(st, &stmt, "UPDATE executions SET runner = ?2 WHERE "
		       "id = ?1", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, id);
	sq_bind_text(stmt, 2, runner);
	return sq_step_done(st, stmt, "cannot record an execution", err);
}

/* The message of an interrupted execution (caller frees). */
static char *interrupted_error(const char *runner)
{
	char host[256] = "-";
	long pid = 0;

	sscanf(runner, "%255s %*s %ld", host, &pid);
	return fr_xasprintf("interrupted: its process (pid %ld on %s) ended "
			    "without finishing it", pid, host);
}

int sqlite_reap(struct fr_store *s, bool (*gone)(const char *runner),
		long long *n, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	char **ids = NULL, **runners = NULL;
	size_t k = 0;
	int rc = 0;

	*n = 0;
	if (sq_prepare(st, &stmt, "SELECT id, runner FROM executions WHERE "
		       "status = 'running' AND runner IS NOT NULL", err) < 0)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		char *runner = sq_column_strdup(stmt, 1);
		if (!runner || !gone(runner)) {
			free(runner);
			continue;
		}
		ids = fr_xrealloc(ids, (k + 1) * sizeof(*ids));
		runners = fr_xrealloc(runners, (k + 1) * sizeof(*runners));
		ids[k] = sq_column_strdup(stmt, 0);
		runners[k++] = runner;
	}
	sq_release(st, stmt);
	rc = rc == SQLITE_DONE ? 0 : sq_fail(st, err, "cannot read running executions");
	for (size_t i = 0; rc == 0 && i < k; i++) {
		char *msg = interrupted_error(runners[i]);
		if (sq_prepare(st, &stmt, "UPDATE executions SET status = "
			       "'interrupted', error = ?3 WHERE id = ?1 AND status = "
			       "'running' AND runner = ?2", err) < 0) {
			free(msg);
			rc = -1;
			break;
		}
		sq_bind_text(stmt, 1, ids[i]);
		sq_bind_text(stmt, 2, runners[i]);
		sq_bind_text(stmt, 3, msg);
		rc = sq_step_done(st, stmt, "cannot mark an execution interrupted", err);
		if (rc == 0)
			*n += sqlite3_changes(st->db);
		free(msg);
	}
	for (size_t i = 0; i < k; i++) {
		free(ids[i]);
		free(runners[i]);
	}
	free(ids);
	free(runners);
	return rc;
}
