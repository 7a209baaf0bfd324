/*
 * store_pg_prune: housekeeping for the PostgreSQL backend: retention
 * (fr_store_prune), the store's size and oldest data (fr_store_stats),
 * and interrupted runs (fr_store_reap).  All are rare (a timer, a
 * command, a run's start), so their queries are not prepared.
 */
#include <stdio.h>
#include <stdlib.h>

#include "store_pg_int.h"
#include "util.h"

/* An execution that ended before $1 and whose delivery (if any) did too. */
#define ENDED_BEFORE \
	"((e.status IN ('ok', 'failed') AND e.finished_at IS NOT NULL AND " \
	"e.finished_at < $1) OR (e.status = 'interrupted' AND e.started_at < " \
	"$1)) AND NOT EXISTS (SELECT 1 FROM deliveries q " \
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

PGresult *pgs_exec(struct pg_store *st, const char *sql,
		   const struct params *p, const char *what, char **err)
{
	PGresult *res;

	if (pgs_ensure_connected(st, err) < 0)
		return NULL;
	res = PQexecParams(st->conn, sql, p ? p->n : 0, NULL, p ? p->v : NULL,
			   p ? p->len : NULL, p ? p->fmt : NULL, 0);
	return pgs_result_ok(st, res, what, err) ? res : NULL;
}

static int prune_one(struct pg_store *st, const char *sql, double before,
		     long long *changed, char **err)
{
	struct params p = { .n = 0 };
	PGresult *res;

	pgs_p_double(&p, before);
	if (!(res = pgs_exec(st, sql, &p, "cannot remove old data", err)))
		return -1;
	*changed = atoll(PQcmdTuples(res));
	PQclear(res);
	return 0;
}

int pg_prune(struct fr_store *s, double before, struct fr_prune_result *out,
	     char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	bool own;

	if (pgs_own_begin(st, &own, err) < 0)
		return -1;
	if (prune_one(st, prune_deliveries, before, &out->deliveries, err) < 0 ||
	    prune_one(st, prune_executions, before, &out->executions, err) < 0 ||
	    pgs_own_commit(st, own, err) < 0) {
		pgs_own_rollback(st, own);
		return -1;
	}
	return 0;
}

int pg_stats(struct fr_store *s, struct fr_store_stats *out, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	PGresult *res = pgs_exec(st,
		"SELECT pg_total_relation_size('executions') + "
		"pg_total_relation_size('deliveries') + "
		"pg_total_relation_size('state') + "
		"pg_total_relation_size('deployments'), (SELECT min(t) FROM ("
		"SELECT min(started_at) AS t FROM executions WHERE started_at > 0 "
		"AND (input IS NOT NULL OR trace IS NOT NULL) UNION ALL SELECT "
		"min(received_at) FROM deliveries WHERE request IS NOT NULL OR "
		"body IS NOT NULL OR trigger IS NOT NULL) m)", NULL,
		"cannot read the store's size", err);

	if (!res)
		return -1;
	out->bytes = pgs_col_int(res, 0, 0);
	out->oldest = pgs_col_double(res, 0, 1);
	PQclear(res);
	return 0;
}

int pg_set_runner(struct fr_store *s, const char *id, const char *runner,
		  char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res;

	pgs_p_text(&p, id);
	pgs_p_text(&p, runner);
	res = pgs_exec(st, "UPDATE executions SET runner = $2 WHERE id = $1", &p,
		  "cannot record an execution", err);
	PQclear(res);
	return res ? 0 : -1;
}

int pg_reap(struct fr_store *s, bool (*gone)(const char *runner),
	    long long *n, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	PGresult *res = pgs_exec(st, "SELECT id, runner FROM executions WHERE status "
			    "= 'running' AND runner IS NOT NULL", NULL,
			    "cannot read running executions", err);
	int rc = 0;

	*n = 0;
	if (!res)
		return -1;
	for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
		const char *runner = PQgetvalue(res, i, 1);
		char host[256] = "-", *msg;
		long pid = 0;
		struct params p = { .n = 0 };
		PGresult *u;

		if (!gone(runner))
			continue;
		sscanf(runner, "%255s %*s %ld", host, &pid);
		msg = fr_xasprintf("interrupted: its process (pid %ld on %s) ended "
				   "without finishing it", pid, host);
		pgs_p_text(&p, PQgetvalue(res, i, 0));
		pgs_p_text(&p, runner);
		pgs_p_text(&p, msg);
		u = pgs_exec(st, "UPDATE executions SET status = 'interrupted', error = "
			"$3 WHERE id = $1 AND status = 'running' AND runner = $2",
			&p, "cannot mark an execution interrupted", err);
		free(msg);
		if (!u) {
			rc = -1;
			break;
		}
		*n += atoll(PQcmdTuples(u));
		PQclear(u);
	}
	PQclear(res);
	return rc;
}
