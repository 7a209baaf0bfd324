/*
 * store_pg_conn: connections in the PostgreSQL backend: the sealed tokens
 * of each connection (table tokens), refresh locks and pending
 * authorizations.  store_conn.c seals and opens; nothing here sees a token
 * in the clear.  Tokens are read once per execution at most, so the
 * queries are not prepared.
 *
 * The refresh lock is pg_advisory_xact_lock on a hash of the connection's
 * names, inside a transaction that token_unlock commits: the server lets
 * it go when the holder's connection ends, however its process died.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_conn_int.h"
#include "store_pg_int.h"
#include "util.h"

/* SQLSTATE lock_not_available: lock_timeout ran out */
#define LOCK_NOT_AVAILABLE "55P03"

static unsigned char *col_bytes(const PGresult *res, int row, int col,
				size_t *len)
{
	unsigned char *raw, *out;
	size_t n = 0;

	*len = 0;
	if (PQgetisnull(res, row, col))
		return NULL;
	raw = PQunescapeBytea((const unsigned char *)PQgetvalue(res, row, col),
			      &n);
	if (!raw || n == 0) {
		PQfreemem(raw);
		return NULL;
	}
	out = fr_xmalloc(n);
	memcpy(out, raw, n);
	PQfreemem(raw);
	*len = n;
	return out;
}

#define TOKEN_COLUMNS "integration, instance, connection, status, " \
	"expires_at, scopes, updated_at, sealed"

static void token_row(const PGresult *res, int i, struct fr_token_row *r)
{
	memset(r, 0, sizeof(*r));
	r->integration = pgs_col_str(res, i, 0);
	r->instance = pgs_col_str(res, i, 1);
	r->connection = pgs_col_str(res, i, 2);
	r->status = fr_conn_status_of_word(PQgetvalue(res, i, 3));
	r->expires_at = pgs_col_double(res, i, 4);
	r->scopes = pgs_col_str(res, i, 5);
	r->updated_at = pgs_col_double(res, i, 6);
	r->sealed = col_bytes(res, i, 7, &r->sealed_len);
}

int pg_token_read(struct fr_store *s, const char *integration,
		  const char *instance, const char *connection,
		  struct fr_token_row *out, bool *found, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res;

	*found = false;
	pgs_p_text(&p, integration);
	pgs_p_text(&p, instance);
	pgs_p_text(&p, connection);
	if (!(res = pgs_exec(st, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE "
			     "integration = $1 AND instance = $2 AND connection "
			     "= $3", &p, "cannot read a connection's tokens",
			     err)))
		return -1;
	if (PQntuples(res) > 0) {
		token_row(res, 0, out);
		*found = true;
	}
	PQclear(res);
	return 0;
}

int pg_token_write(struct fr_store *s, const struct fr_token_row *r,
		   char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res;

	pgs_p_text(&p, r->integration);
	pgs_p_text(&p, r->instance);
	pgs_p_text(&p, r->connection);
	pgs_p_text(&p, fr_conn_status_word(r->status));
	if (r->expires_at > 0)
		pgs_p_double(&p, r->expires_at);
	else
		pgs_p_text(&p, NULL);
	pgs_p_text(&p, r->scopes);
	if (r->sealed)
		pgs_p_bytes(&p, (const char *)r->sealed, r->sealed_len);
	else
		pgs_p_text(&p, NULL);
	pgs_p_double(&p, fr_store_now());
	res = pgs_exec(st, "INSERT INTO tokens (integration, instance, "
		       "connection, status, expires_at, scopes, sealed, "
		       "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON "
		       "CONFLICT (integration, instance, connection) DO UPDATE SET "
		       "status = excluded.status, expires_at = excluded.expires_at, "
		       "scopes = excluded.scopes, sealed = excluded.sealed, "
		       "updated_at = excluded.updated_at", &p,
		       "cannot store a connection's tokens", err);
	PQclear(res);
	return res ? 0 : -1;
}

int pg_token_rows(struct fr_store *s, const char *integration,
		  const char *instance, struct fr_token_row **out, size_t *n,
		  char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res;
	int rows;

	*out = NULL;
	*n = 0;
	pgs_p_text(&p, integration);
	pgs_p_text(&p, instance);
	if (!(res = pgs_exec(st, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE "
			     "($1::text IS NULL OR integration = $1) AND "
			     "($2::text IS NULL OR instance = $2) ORDER BY "
			     "integration, instance, connection", &p,
			     "cannot list connections", err)))
		return -1;
	rows = PQntuples(res);
	*out = fr_xcalloc(rows > 0 ? (size_t)rows : 1, sizeof(**out));
	for (int i = 0; i < rows; i++)
		token_row(res, i, &(*out)[i]);
	*n = (size_t)rows;
	PQclear(res);
	return 0;
}

int pg_token_lock(struct fr_store *s, const char *integration,
		  const char *instance, const char *connection, double wait_s,
		  double lease_s, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	char timeout[32];
	PGresult *res;
	const char *state;

	(void)lease_s;	/* the lock ends with the holder's connection */
	if (st->in_tx) {
		*err = fr_xasprintf("store %s: a refresh lock is taken outside "
				    "transactions and one at a time", st->base.url);
		return -1;
	}
	if (s->ops->begin(s, FR_DURABLE, err) < 0)
		return -1;
	snprintf(timeout, sizeof(timeout), "%.0fms",
		 wait_s > 0.001 ? wait_s * 1000 : 1);
	pgs_p_text(&p, timeout);
	res = pgs_exec(st, "SELECT set_config('lock_timeout', $1, true)", &p,
		       "cannot take a connection's refresh lock", err);
	if (!res) {
		s->ops->rollback(s);
		return -1;
	}
	PQclear(res);
	p.n = 0;
	pgs_p_text(&p, integration);
	pgs_p_text(&p, instance);
	pgs_p_text(&p, connection);
	/* pgs_exec would hide the SQLSTATE that tells a timeout */
	res = PQexecParams(st->conn, "SELECT pg_advisory_xact_lock("
			   "hashtextextended('flowrun token/' || $1 || '/' || $2 "
			   "|| '/' || $3, 0))", p.n, NULL, p.v, p.len, p.fmt, 0);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state && strcmp(state, LOCK_NOT_AVAILABLE) == 0) {
		PQclear(res);
		s->ops->rollback(s);
		*err = fr_xasprintf("connection '%s' of instance '%s': another "
				    "process has been refreshing its token for "
				    "%.0f s", connection, instance, wait_s);
		return -1;
	}
	if (!pgs_result_ok(st, res, "cannot take a connection's refresh lock",
			   err)) {
		s->ops->rollback(s);
		return -1;
	}
	PQclear(res);
	return 0;
}

int pg_token_unlock(struct fr_store *s, char **err)
{
	struct pg_store *st = (struct pg_store *)s;

	return st->in_tx ? s->ops->commit(s, err) : 0;
}

int pg_pending_write(struct fr_store *s, const struct fr_pending_row *r,
		     char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res;

	pgs_p_double(&p, fr_store_now());
	if (!(res = pgs_exec(st, "DELETE FROM pending_authorizations WHERE "
			     "expires_at < $1", &p,
			     "cannot remove expired authorizations", err)))
		return -1;
	PQclear(res);
	p.n = 0;
	pgs_p_text(&p, r->state);
	pgs_p_text(&p, r->integration);
	pgs_p_text(&p, r->instance);
	pgs_p_text(&p, r->connection);
	pgs_p_text(&p, r->redirect_uri);
	if (r->sealed)
		pgs_p_bytes(&p, (const char *)r->sealed, r->sealed_len);
	else
		pgs_p_text(&p, NULL);
	pgs_p_double(&p, r->expires_at);
	res = pgs_exec(st, "INSERT INTO pending_authorizations (state, "
		       "integration, instance, connection, redirect_uri, sealed, "
		       "expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)", &p,
		       "cannot store a pending authorization", err);
	PQclear(res);
	return res ? 0 : -1;
}

int pg_pending_take(struct fr_store *s, const char *state, double now,
		    struct fr_pending_row *out, bool *found, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res;

	*found = false;
	memset(out, 0, sizeof(*out));
	pgs_p_text(&p, state);
	if (!(res = pgs_exec(st, "DELETE FROM pending_authorizations WHERE "
			     "state = $1 RETURNING state, integration, instance, "
			     "connection, redirect_uri, expires_at, sealed", &p,
			     "cannot take a pending authorization", err)))
		return -1;
	if (PQntuples(res) > 0) {
		out->state = pgs_col_str(res, 0, 0);
		out->integration = pgs_col_str(res, 0, 1);
		out->instance = pgs_col_str(res, 0, 2);
		out->connection = pgs_col_str(res, 0, 3);
		out->redirect_uri = pgs_col_str(res, 0, 4);
		out->expires_at = pgs_col_double(res, 0, 5);
		out->sealed = col_bytes(res, 0, 6, &out->sealed_len);
		*found = out->expires_at >= now;
		if (!*found)
			fr_pending_row_finish(out);
	}
	PQclear(res);
	return 0;
}
