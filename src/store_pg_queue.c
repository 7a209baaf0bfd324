/*
 * store_pg_queue: the delivery queue of the PostgreSQL backend: push (in
 * one pipeline), claim with FOR UPDATE SKIP LOCKED under leases, flows
 * with a concurrency bound or fifo order under a per-flow advisory lock,
 * renew, finish, and replays.
 */
#include <stdlib.h>
#include <string.h>

#include "store_pg_int.h"
#include "util.h"

/* Row i of a query that gives DELIVERY_COLUMNS. */
static struct fr_delivery *delivery_row(const PGresult *res, int i)
{
	struct fr_delivery *d = fr_xcalloc(1, sizeof(*d));
	enum fr_origin origin;

	d->id = pgs_col_str(res, i, 0);
	d->integration = pgs_col_str(res, i, 1);
	d->instance = pgs_col_str(res, i, 2);
	d->flow = pgs_col_str(res, i, 3);
	d->request = pgs_col_json(res, i, 4);
	if (!PQgetisnull(res, i, 5)) {
		size_t len = 0;
		unsigned char *raw = PQunescapeBytea(
			(const unsigned char *)PQgetvalue(res, i, 5), &len);
		d->body = fr_xmalloc(len + 1);
		if (raw && len)
			memcpy(d->body, raw, len);
		d->body[raw ? len : 0] = '\0';
		d->body_len = raw ? len : 0;
		PQfreemem(raw);
	}
	d->trigger = pgs_col_json(res, i, 6);
	d->dedupe_key = pgs_col_str(res, i, 7);
	d->max_running = (int)pgs_col_int(res, i, 8);
	d->fifo = strcmp(PQgetvalue(res, i, 9), "t") == 0;
	d->origin = fr_origin_parse(PQgetvalue(res, i, 10), &origin) == 0
		? origin : FR_ORIGIN_SERVE;
	d->replay_of = pgs_col_str(res, i, 11);
	if (fr_status_parse(PQgetvalue(res, i, 12), &d->status) < 0)
		d->status = FR_STATUS_QUEUED;
	d->attempts = (int)pgs_col_int(res, i, 13);
	d->next_at = pgs_col_double(res, i, 14);
	d->seq = pgs_col_int(res, i, 15);
	return d;
}

/* Most deliveries sent in one pipeline before their results are read. */
#define PIPELINE_MAX 64

/* Leaves pipeline mode, reading what is left; a failure breaks the handle. */
static void pipeline_end(struct pg_store *st)
{
	for (int idle = 0; PQpipelineStatus(st->conn) != PQ_PIPELINE_OFF;) {
		PGresult *res;
		if (PQexitPipelineMode(st->conn))
			return;
		if (PQstatus(st->conn) != CONNECTION_OK || idle > 2)
			break;
		res = PQgetResult(st->conn);
		idle = res ? 0 : idle + 1;
		PQclear(res);
	}
	st->broken = true;
}

/* Sends sql (no parameters) into the pipeline. */
static bool send_sql(struct pg_store *st, const char *sql)
{
	return PQsendQueryParams(st->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
}

/* Reads the result of a BEGIN or COMMIT sent into the pipeline. */
static int read_control(struct pg_store *st, bool commit, int rc,
			const char *what, char **err)
{
	PGresult *res = PQgetResult(st->conn);
	char *later = NULL;

	if (!res) {
		if (rc == 0)
			pgs_fail(st, err, what);
		return -1;
	}
	if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED) {
		PQclear(res);
		rc = -1;
	} else if (!pgs_result_ok(st, res, what, rc == 0 ? err : &later)) {
		free(later);
		rc = -1;
	} else {
		if (commit && strcmp(PQcmdStatus(res), "ROLLBACK") == 0 && rc == 0)
			rc = pgs_fail_msg(st, err, what, "the transaction was rolled back");
		PQclear(res);
	}
	PQclear(PQgetResult(st->conn));	/* the end of its results */
	return rc;
}

/*
 * Sends the INSERTs of d[0..n) in one pipeline (one round trip), after a
 * BEGIN and before a COMMIT when asked, and notes each one's seq, or the
 * id it duplicates (dup_of[i]); a duplicate that this statement could not
 * see keeps seq 0 and no dup_of.
 */
static int push_pipeline(struct pg_store *st, struct fr_delivery *const *d,
			 size_t n, const struct fr_claim *claimed, double now,
			 bool begin, bool commit, char **dup_of, char **err)
{
	const char *what = "cannot queue a delivery";
	char name[16], *later = NULL;	/* errors after the first */
	int rc = 0;

	if (pgs_ensure_connected(st, err) < 0 ||
	    pgs_prepare(st, S_PUSH, name, what, err) < 0)
		return -1;
	if (!PQenterPipelineMode(st->conn))
		return pgs_fail(st, err, what);
	if (begin && !send_sql(st, "BEGIN"))
		goto broken;
	for (size_t i = 0; i < n; i++) {
		struct params p = { .n = 0 };
		char *request = d[i]->request_text ? NULL : pgs_json_text(d[i]->request);
		char *trigger = pgs_json_text(d[i]->trigger);
		bool take = claimed && d[i]->max_running <= 0 && !d[i]->fifo;
		int sent;

		d[i]->seq = 0;
		pgs_p_text(&p, d[i]->id);
		pgs_p_text(&p, d[i]->integration);
		pgs_p_text(&p, d[i]->instance);
		pgs_p_text(&p, d[i]->flow);
		pgs_p_double(&p, now);
		pgs_p_text(&p, d[i]->request_text ? d[i]->request_text : request);
		if (d[i]->body)
			pgs_p_bytes(&p, d[i]->body, d[i]->body_len);
		else
			pgs_p_text(&p, NULL);
		pgs_p_text(&p, trigger);
		pgs_p_text(&p, d[i]->dedupe_key);
		pgs_p_text(&p, take ? "running" : "queued");
		pgs_p_int(&p, take ? 1 : 0);
		pgs_p_double(&p, d[i]->next_at);
		pgs_p_text(&p, take ? claimed->owner : NULL);
		pgs_p_double(&p, take ? claimed->now + claimed->lease_s : 0);
		pgs_p_int(&p, d[i]->max_running > 0 ? d[i]->max_running : 0);
		pgs_p_bool(&p, d[i]->fifo);
		pgs_p_text(&p, fr_origin_name(d[i]->origin));
		pgs_p_text(&p, d[i]->replay_of);
		/* the parameters are copied out at once */
		sent = PQsendQueryPrepared(st->conn, name, p.n, p.v, p.len, p.fmt, 0);
		free(request);
		free(trigger);
		if (!sent)
			goto broken;
	}
	if ((commit && !send_sql(st, "COMMIT")) || !PQpipelineSync(st->conn))
		goto broken;
	if (begin)
		rc = read_control(st, false, rc, what, err);
	for (size_t i = 0; i < n; i++) {
		bool take = claimed && d[i]->max_running <= 0 && !d[i]->fifo;
		PGresult *res = PQgetResult(st->conn);

		if (!res) {
			if (rc == 0)
				pgs_fail(st, err, what);
			rc = -1;
			break;
		}
		if (PQresultStatus(res) == PGRES_PIPELINE_ABORTED) {
			PQclear(res);
			rc = -1;
		} else if (!pgs_result_ok(st, res, what, rc == 0 ? err : &later)) {
			rc = -1;
			free(later);
			later = NULL;
		} else {
			if (!PQgetisnull(res, 0, 0)) {
				d[i]->seq = pgs_col_int(res, 0, 0);
				d[i]->status = take ? FR_STATUS_RUNNING : FR_STATUS_QUEUED;
				d[i]->attempts = take ? 1 : 0;
			} else {
				dup_of[i] = pgs_col_str(res, 0, 1);
			}
			PQclear(res);
		}
		PQclear(PQgetResult(st->conn));	/* the end of this one's results */
	}
	if (commit)
		rc = read_control(st, true, rc, what, err);
	pipeline_end(st);
	if (rc == 0 && st->broken)
		return pgs_fail(st, err, what);
	return rc;
broken:
	pgs_fail(st, err, what);
	pipeline_end(st);
	return -1;
}

int pg_push(struct fr_store *s, struct fr_delivery *const *d, size_t n,
	    const struct fr_claim *claimed, char **dup_of, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	double now = claimed ? claimed->now : fr_store_now();
	bool own = !st->in_tx;
	int rc = -1;

	for (size_t i = 0; i < n; i++)
		dup_of[i] = NULL;
	/* our own transaction is begun and committed inside the pipelines */
	for (size_t i = 0; i < n; i += PIPELINE_MAX) {
		size_t k = n - i < PIPELINE_MAX ? n - i : PIPELINE_MAX;
		if (push_pipeline(st, d + i, k, claimed, now, own && i == 0,
				  own && i + k == n, dup_of + i, err) < 0)
			goto out;
	}
	/* duplicates of what another transaction committed meanwhile */
	for (size_t i = 0; i < n; i++) {
		struct params p = { .n = 0 };
		PGresult *res;

		if (d[i]->seq > 0 || dup_of[i])
			continue;
		pgs_p_text(&p, d[i]->integration);
		pgs_p_text(&p, d[i]->instance);
		pgs_p_text(&p, d[i]->flow);
		pgs_p_text(&p, d[i]->dedupe_key);
		if (!(res = pgs_run(st, S_DUP_OF, &p, "cannot find a duplicate", err)))
			goto out;
		if (PQntuples(res) == 1)
			dup_of[i] = pgs_col_str(res, 0, 0);
		PQclear(res);
		if (!dup_of[i]) {
			*err = fr_xasprintf("store %s: delivery %s was not queued",
					    st->base.url, d[i]->id);
			goto out;
		}
	}
	rc = 0;
out:
	if (rc < 0) {
		pgs_own_rollback(st, own);
		for (size_t i = 0; i < n; i++) {
			free(dup_of[i]);
			dup_of[i] = NULL;
		}
	}
	return rc;
}

/* Appends the rows of res to *out (*n of them, room *cap). */
static void take_rows(PGresult *res, struct fr_delivery ***out, size_t *n,
		      size_t *cap)
{
	for (int i = 0; i < PQntuples(res); i++) {
		if (*n == *cap) {
			*cap = *cap ? *cap * 2 : 16;
			*out = fr_xrealloc(*out, *cap * sizeof(**out));
		}
		(*out)[(*n)++] = delivery_row(res, i);
	}
}

static int by_seq(const void *a, const void *b)
{
	const struct fr_delivery *x = *(struct fr_delivery *const *)a;
	const struct fr_delivery *y = *(struct fr_delivery *const *)b;

	return (x->seq > y->seq) - (x->seq < y->seq);
}

/*
 * The flows with a bound (max_running or fifo) that have work ready:
 * each is claimed under its advisory lock, in one transaction, so that
 * two processes never both count the same free slot.  A flow whose lock
 * another claim holds is skipped (that claim serves it): no waiting, and
 * no deadlock between claims that meet flows in different orders.
 */
static int claim_bounded(struct pg_store *st, const struct fr_claim *c,
			 PGresult *flows, struct fr_delivery ***out, size_t *n,
			 size_t *cap, char **err)
{
	bool own;
	int rc = -1;

	if (pgs_own_begin(st, &own, err) < 0)
		return -1;
	for (int i = 0; i < PQntuples(flows) && *n < c->max; i++) {
		struct params p = { .n = 0 };
		bool fifo = strcmp(PQgetvalue(flows, i, 4), "t") == 0, locked;
		PGresult *res;

		pgs_p_text(&p, PQgetvalue(flows, i, 0));
		pgs_p_text(&p, PQgetvalue(flows, i, 1));
		pgs_p_text(&p, PQgetvalue(flows, i, 2));
		if (!(res = pgs_run(st, S_LOCK_FLOW, &p, "cannot lock a flow", err)))
			goto out;
		locked = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
		PQclear(res);
		if (!locked)
			continue;
		p.n = 0;
		pgs_p_double(&p, c->now);
		pgs_p_text(&p, c->owner);
		pgs_p_double(&p, c->lease_s);
		pgs_p_int(&p, (long long)(c->max - *n));
		pgs_p_text(&p, PQgetvalue(flows, i, 0));
		pgs_p_text(&p, PQgetvalue(flows, i, 1));
		pgs_p_text(&p, PQgetvalue(flows, i, 2));
		if (!fifo)
			pgs_p_text(&p, PQgetvalue(flows, i, 3));
		if (!(res = pgs_run(st, fifo ? S_CLAIM_FIFO : S_CLAIM_BOUNDED, &p,
				"cannot claim deliveries", err)))
			goto out;
		take_rows(res, out, n, cap);
		PQclear(res);
	}
	if (pgs_own_commit(st, own, err) < 0) {
		own = false;
		goto out;
	}
	rc = 0;
out:
	if (rc < 0)
		pgs_own_rollback(st, own);
	return rc;
}

int pg_claim(struct fr_store *s, const struct fr_claim *c,
	     struct fr_delivery ***out, size_t *n, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	if (c->max == 0)
		return 0;
	pgs_p_double(&p, c->now);
	pgs_p_text(&p, c->owner);
	pgs_p_double(&p, c->lease_s);
	pgs_p_int(&p, (long long)c->max);
	if (!(res = pgs_run(st, S_CLAIM, &p, "cannot claim deliveries", err)))
		return -1;
	take_rows(res, out, n, &cap);
	PQclear(res);
	if (*n < c->max) {
		p.n = 1;
		if (!(res = pgs_run(st, S_LIMITED_FLOWS, &p, "cannot claim deliveries",
				err)))
			goto fail;
		if (PQntuples(res) > 0 &&
		    claim_bounded(st, c, res, out, n, &cap, err) < 0) {
			PQclear(res);
			goto fail;
		}
		PQclear(res);
	}
	if (*n > 1)
		qsort(*out, *n, sizeof(**out), by_seq);
	return 0;
fail:
	/*
	 * The deliveries taken already stay claimed by c->owner: their
	 * leases run out and another claim takes them again.
	 */
	fr_deliveries_free(*out, *n);
	*out = NULL;
	*n = 0;
	return -1;
}

int pg_renew(struct fr_store *s, const char *owner, double lease_s,
	     double now, char **err)
{
	struct params p = { .n = 0 };

	pgs_p_text(&p, owner);
	pgs_p_double(&p, now);
	pgs_p_double(&p, lease_s);
	return pgs_run_ok((struct pg_store *)s, S_RENEW, &p, "cannot renew leases",
		      err);
}

int pg_finish(struct fr_store *s, const char *id, const char *owner,
	      enum fr_status status, double next_at, char **err)
{
	struct params p = { .n = 0 };

	pgs_p_text(&p, id);
	pgs_p_text(&p, owner);
	pgs_p_text(&p, fr_status_name(status));
	pgs_p_double(&p, status == FR_STATUS_RETRYING ? next_at : 0);
	return pgs_run_ok((struct pg_store *)s, S_FINISH, &p,
		      "cannot finish a delivery", err);
}

int pg_delivery_get(struct fr_store *s, const char *id,
		    struct fr_delivery **out, char **err)
{
	struct params p = { .n = 0 };
	PGresult *res;

	*out = NULL;
	pgs_p_text(&p, id);
	if (!(res = pgs_run((struct pg_store *)s, S_DELIVERY_GET, &p,
			"cannot read a delivery", err)))
		return -1;
	if (PQntuples(res) > 0)
		*out = delivery_row(res, 0);
	PQclear(res);
	return 0;
}

int pg_replay(struct fr_store *s, const char *id, char **new_id,
	      char **err)
{
	struct params p = { .n = 0 };
	char *nid = fr_new_id("ex_");
	PGresult *res;

	*new_id = NULL;
	pgs_p_text(&p, nid);
	pgs_p_double(&p, fr_store_now());
	pgs_p_text(&p, id);
	if (!(res = pgs_run((struct pg_store *)s, S_REPLAY, &p,
			"cannot queue the replay", err))) {
		free(nid);
		return -1;
	}
	if (PQntuples(res) > 0)
		*new_id = nid;
	else
		free(nid);
	PQclear(res);
	return 0;
}
