/*
 * store_sqlite_int: what the files of the SQLite backend share, private to
 * them: store_sqlite.c (the handle, schema, transactions, history, state,
 * deployments), store_sqlite_queue.c (the delivery queue),
 * store_sqlite_prune.c (retention, size) and store_sqlite_conn.c
 * (connections: tokens, refresh locks, pending authorizations).
 */
#ifndef FR_STORE_SQLITE_INT_H
#define FR_STORE_SQLITE_INT_H

#include <sqlite3.h>
#include <stdbool.h>

#include "store.h"

struct sqlite_store {
	struct fr_store base;	/* first: the handle callers hold */
	sqlite3 *db;
	char *path;
	/* prepared statements, by their SQL text (static strings) */
	struct { const char *sql; sqlite3_stmt *stmt; } cache[40];
	size_t ncache;
	int lock_fd;		/* the serve lock, or -1 */
	char *token_owner;	/* the refresh lock held (its owner), or NULL */
};

int sq_fail(struct sqlite_store *st, char **err, const char *what);
int sq_prepare(struct sqlite_store *st, sqlite3_stmt **stmt,
	       const char *sql, char **err);
void sq_release(struct sqlite_store *st, sqlite3_stmt *stmt);
void sq_bind_text(sqlite3_stmt *stmt, int i, const char *s);
void sq_bind_json(sqlite3_stmt *stmt, int i, const json_t *j);
json_t *sq_column_json(sqlite3_stmt *stmt, int i);
int sq_step_done(struct sqlite_store *st, sqlite3_stmt *stmt,
		 const char *what, char **err);
char *sq_column_strdup(sqlite3_stmt *stmt, int i);
int sq_begin_own(struct sqlite_store *st, bool *own, char **err);
int sq_end_own(struct sqlite_store *st, bool own, int rc, char **err);
int sqlite_push(struct fr_store *s, struct fr_delivery *const *d, size_t n,
		const struct fr_claim *claimed, char **dup_of, char **err);
int sqlite_claim(struct fr_store *s, const struct fr_claim *c,
		 struct fr_delivery ***out, size_t *n, char **err);
int sqlite_renew(struct fr_store *s, const char *owner, double lease_s,
		 double now, char **err);
int sqlite_finish(struct fr_store *s, const char *id, const char *owner,
		  enum fr_status status, double next_at, char **err);
int sqlite_delivery_get(struct fr_store *s, const char *id,
			struct fr_delivery **out, char **err);
int sqlite_replay(struct fr_store *s, const char *id, char **new_id,
		  char **err);
/* store_sqlite_prune.c */
int sqlite_prune(struct fr_store *s, double before, struct fr_prune_result *out,
		 char **err);
int sqlite_stats(struct fr_store *s, struct fr_store_stats *out, char **err);
int sqlite_set_runner(struct fr_store *s, const char *id, const char *runner,
		      char **err);
int sqlite_reap(struct fr_store *s, bool (*gone)(const char *runner),
		long long *n, char **err);

/* store_sqlite_conn.c */
struct fr_token_row;
struct fr_pending_row;
int sqlite_token_read(struct fr_store *s, const char *integration,
		      const char *instance, const char *connection,
		      struct fr_token_row *out, bool *found, char **err);
int sqlite_token_write(struct fr_store *s, const struct fr_token_row *r,
		       char **err);
int sqlite_token_rows(struct fr_store *s, const char *integration,
		      const char *instance, struct fr_token_row **out,
		      size_t *n, char **err);
int sqlite_token_lock(struct fr_store *s, const char *integration,
		      const char *instance, const char *connection,
		      double wait_s, double lease_s, char **err);
int sqlite_token_unlock(struct fr_store *s, char **err);
/* Gives up a refresh lock still held (at close). */
void sqlite_token_release(struct sqlite_store *st);
int sqlite_pending_write(struct fr_store *s, const struct fr_pending_row *r,
			 char **err);
int sqlite_pending_take(struct fr_store *s, const char *state, double now,
			struct fr_pending_row *out, bool *found, char **err);

#endif
