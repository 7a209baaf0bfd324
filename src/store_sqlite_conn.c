/*
 * store_sqlite_conn: connections in the SQLite backend: the sealed tokens
 * of each connection (table tokens), refresh locks (token_locks) and
 * pending authorizations.  store_conn.c seals and opens; nothing here
 * sees a token in the clear.
 *
 * The refresh lock is a row with a lease, not a transaction: a refresh
 * waits for a token endpoint, and BEGIN IMMEDIATE held that long would
 * make every other writer of the file (serve's queue) wait too.  A lock
 * whose lease ran out (its process died) is taken over.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_conn_int.h"
#include "store_sqlite_int.h"
#include "util.h"

static unsigned char *column_blob(sqlite3_stmt *stmt, int i, size_t *len)
{
	const void *b = sqlite3_column_blob(stmt, i);
	int n = sqlite3_column_bytes(stmt, i);
	unsigned char *out;

	*len = 0;
	if (!b || n <= 0)
		return NULL;
	out = fr_xmalloc((size_t)n);
	memcpy(out, b, (size_t)n);
	*len = (size_t)n;
	return out;
}

static void bind_blob(sqlite3_stmt *stmt, int i, const unsigned char *b,
		      size_t len)
{
	if (b)
		sqlite3_bind_blob(stmt, i, b, (int)len, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, i);
}

#define TOKEN_COLUMNS "integration, instance, connection, status, " \
	"expires_at, scopes, updated_at, sealed"

static void token_row(sqlite3_stmt *stmt, struct fr_token_row *r)
{
	memset(r, 0, sizeof(*r));
	r->integration = sq_column_strdup(stmt, 0);
	r->instance = sq_column_strdup(stmt, 1);
	r->connection = sq_column_strdup(stmt, 2);
	r->status = fr_conn_status_of_word((const char *)
					   sqlite3_column_text(stmt, 3));
	r->expires_at = sqlite3_column_double(stmt, 4);
	r->scopes = sq_column_strdup(stmt, 5);
	r->updated_at = sqlite3_column_double(stmt, 6);
	r->sealed = column_blob(stmt, 7, &r->sealed_len);
}

int sqlite_token_read(struct fr_store *s, const char *integration,
		      const char *instance, const char *connection,
		      struct fr_token_row *out, bool *found, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	*found = false;
	if (sq_prepare(st, &stmt, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE "
		    "integration = ? AND instance = ? AND connection = ?",
		    err) < 0)
		return -1;
	sq_bind_text(stmt, 1, integration);
	sq_bind_text(stmt, 2, instance);
	sq_bind_text(stmt, 3, connection);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		token_row(stmt, out);
		*found = true;
	}
	sq_release(st, stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(st, err, "cannot read a connection's tokens");
	return 0;
}

int sqlite_token_write(struct fr_store *s, const struct fr_token_row *r,
		       char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	if (sq_prepare(st, &stmt, "INSERT INTO tokens (integration, instance, "
		    "connection, status, expires_at, scopes, sealed, updated_at) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (integration, "
		    "instance, connection) DO UPDATE SET status = excluded.status, "
		    "expires_at = excluded.expires_at, scopes = excluded.scopes, "
		    "sealed = excluded.sealed, updated_at = excluded.updated_at",
		    err) < 0)
		return -1;
	sq_bind_text(stmt, 1, r->integration);
	sq_bind_text(stmt, 2, r->instance);
	sq_bind_text(stmt, 3, r->connection);
	sq_bind_text(stmt, 4, fr_conn_status_word(r->status));
	if (r->expires_at > 0)
		sqlite3_bind_double(stmt, 5, r->expires_at);
	else
		sqlite3_bind_null(stmt, 5);
	sq_bind_text(stmt, 6, r->scopes);
	bind_blob(stmt, 7, r->sealed, r->sealed_len);
	sqlite3_bind_double(stmt, 8, fr_store_now());
	return sq_step_done(st, stmt, "cannot store a connection's tokens", err);
}

int sqlite_token_rows(struct fr_store *s, const char *integration,
		      const char *instance, struct fr_token_row **out,
		      size_t *n, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (sq_prepare(st, &stmt, "SELECT " TOKEN_COLUMNS " FROM tokens WHERE "
		    "(?1 IS NULL OR integration = ?1) AND (?2 IS NULL OR instance "
		    "= ?2) ORDER BY integration, instance, connection", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, integration);
	sq_bind_text(stmt, 2, instance);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		fr_grow(out, &cap, *n + 1, sizeof(**out));
		token_row(stmt, &(*out)[(*n)++]);
	}
	sq_release(st, stmt);
	if (rc != SQLITE_DONE) {
		fr_token_rows_free(*out, *n);
		*out = NULL;
		*n = 0;
		return sq_fail(st, err, "cannot list connections");
	}
	return 0;
}

/* One try at the lock: 1 taken, 0 held by another, -1 error. */
static int try_lock(struct sqlite_store *st, const char *integration,
		    const char *instance, const char *connection,
		    const char *owner, double lease_s, char **err)
{
	sqlite3_stmt *stmt;
	double now = fr_store_now();

	if (sq_prepare(st, &stmt, "INSERT INTO token_locks (integration, "
		    "instance, connection, owner, lease_until) VALUES (?1, ?2, "
		    "?3, ?4, ?5) ON CONFLICT (integration, instance, connection) "
		    "DO UPDATE SET owner = excluded.owner, lease_until = "
		    "excluded.lease_until WHERE token_locks.lease_until < ?6",
		    err) < 0)
		return -1;
	sq_bind_text(stmt, 1, integration);
	sq_bind_text(stmt, 2, instance);
	sq_bind_text(stmt, 3, connection);
	sq_bind_text(stmt, 4, owner);
	sqlite3_bind_double(stmt, 5, now + lease_s);
	sqlite3_bind_double(stmt, 6, now);
	if (sq_step_done(st, stmt, "cannot take a connection's refresh lock",
			 err) < 0)
		return -1;
	return sqlite3_changes(st->db) == 1;
}

int sqlite_token_lock(struct fr_store *s, const char *integration,
		      const char *instance, const char *connection,
		      double wait_s, double lease_s, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	double deadline = fr_store_now() + wait_s;
	long pause_ns = 2000000;
	char *owner;
	int got;

	if (!sqlite3_get_autocommit(st->db) || st->token_owner) {
		*err = fr_xasprintf("store %s: a refresh lock is taken outside "
				    "transactions and one at a time", st->path);
		return -1;
	}
	owner = fr_new_id("lock");
	while ((got = try_lock(st, integration, instance, connection, owner,
			       lease_s, err)) == 0) {
		struct timespec ts = { 0, pause_ns };
		if (fr_store_now() >= deadline) {
			*err = fr_xasprintf("connection '%s' of instance '%s': "
					    "another process has been refreshing "
					    "its token for %.0f s", connection,
					    instance, wait_s);
			free(owner);
			return -1;
		}
		nanosleep(&ts, NULL);
		if (pause_ns < 50000000)
			pause_ns *= 2;
	}
	if (got < 0) {
		free(owner);
		return -1;
	}
	st->token_owner = owner;
	return 0;
}

int sqlite_token_unlock(struct fr_store *s, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	if (!st->token_owner)
		return 0;
	if (sq_prepare(st, &stmt, "DELETE FROM token_locks WHERE owner = ?",
		       err) < 0)
		return -1;
	sq_bind_text(stmt, 1, st->token_owner);
	rc = sq_step_done(st, stmt, "cannot give back a refresh lock", err);
	free(st->token_owner);
	st->token_owner = NULL;
	return rc;
}

void sqlite_token_release(struct sqlite_store *st)
{
	char *err = NULL;

	if (st->token_owner && st->db)
		sqlite_token_unlock(&st->base, &err);
	free(err);
	free(st->token_owner);
	st->token_owner = NULL;
}

int sqlite_pending_write(struct fr_store *s, const struct fr_pending_row *r,
			 char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	bool own;
	int rc = -1;

	if (sq_begin_own(st, &own, err) < 0)
		return -1;
	if (sq_prepare(st, &stmt, "DELETE FROM pending_authorizations WHERE "
		    "expires_at < ?", err) < 0)
		goto out;
	sqlite3_bind_double(stmt, 1, fr_store_now());
	if (sq_step_done(st, stmt, "cannot remove expired authorizations",
			 err) < 0)
		goto out;
	if (sq_prepare(st, &stmt, "INSERT INTO pending_authorizations (state, "
		    "integration, instance, connection, redirect_uri, sealed, "
		    "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)", err) < 0)
		goto out;
	sq_bind_text(stmt, 1, r->state);
	sq_bind_text(stmt, 2, r->integration);
	sq_bind_text(stmt, 3, r->instance);
	sq_bind_text(stmt, 4, r->connection);
	sq_bind_text(stmt, 5, r->redirect_uri);
	bind_blob(stmt, 6, r->sealed, r->sealed_len);
	sqlite3_bind_double(stmt, 7, r->expires_at);
	rc = sq_step_done(st, stmt, "cannot store a pending authorization", err);
out:
	return sq_end_own(st, own, rc, err);
}

int sqlite_pending_take(struct fr_store *s, const char *state, double now,
			struct fr_pending_row *out, bool *found, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	*found = false;
	memset(out, 0, sizeof(*out));
	if (sq_prepare(st, &stmt, "DELETE FROM pending_authorizations WHERE "
		    "state = ? RETURNING state, integration, instance, connection, "
		    "redirect_uri, expires_at, sealed", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, state);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		out->state = sq_column_strdup(stmt, 0);
		out->integration = sq_column_strdup(stmt, 1);
		out->instance = sq_column_strdup(stmt, 2);
		out->connection = sq_column_strdup(stmt, 3);
		out->redirect_uri = sq_column_strdup(stmt, 4);
		out->expires_at = sqlite3_column_double(stmt, 5);
		out->sealed = column_blob(stmt, 6, &out->sealed_len);
		*found = true;
	}
	sq_release(st, stmt);
	if (rc != SQLITE_DONE) {
		fr_pending_row_finish(out);
		*found = false;
		return sq_fail(st, err, "cannot take a pending authorization");
	}
	if (*found && out->expires_at < now) {
		fr_pending_row_finish(out);
		*found = false;
	}
	return 0;
}
