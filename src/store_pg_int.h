/*
 * store_pg_int: what the files of the PostgreSQL backend share, private to
 * them: store_pg.c (the connection, schema, statements, transactions,
 * history, state, deployments), store_pg_queue.c (the delivery queue),
 * store_pg_prune.c (retention, size) and store_pg_conn.c (connections:
 * tokens, refresh locks, pending authorizations).
 */
#ifndef FR_STORE_PG_INT_H
#define FR_STORE_PG_INT_H

#include <libpq-fe.h>
#include <stdbool.h>

#include "store.h"

/* The prepared statements of a handle, prepared on first use. */
enum stmt {
	S_PUSH,
	S_DUP_OF,
	S_CLAIM,
	S_LIMITED_FLOWS,
	S_LOCK_FLOW,
	S_CLAIM_BOUNDED,
	S_CLAIM_FIFO,
	S_RENEW,
	S_FINISH,
	S_DELIVERY_GET,
	S_REPLAY,
	S_EXECUTION_PUT,
	S_EXECUTION_LIST,
	S_EXECUTION_GET,
	S_STATE_GET,
	S_STATE_LIST,
	S_STATE_SET,
	S_STATE_DELETE,
	S_STATE_LOCK,
	S_STATE_WRITE,
	S_DEPLOYMENT_ADD,
	S_DEPLOYMENT_LIST,
	S_COUNT
};

struct pg_store {
	struct fr_store base;	/* first: the handle callers hold */
	PGconn *conn;
	char *url;		/* as given: only for connecting */
	char *secrets[4];	/* what scrub() hides: the password, as given
				   and decoded */
	bool in_tx;		/* inside fr_store_begin ... commit */
	bool listening;		/* LISTEN flowrun_queue was sent */
	bool broken;		/* lost in a pipeline: connect afresh */
	bool prepared[S_COUNT];
};

/* The parameters of one statement. */
struct params {
	const char *v[20];
	int len[20];
	int fmt[20];
	char num[20][32];	/* room for numbers written as text */
	int n;
};

int pgs_fail_msg(struct pg_store *st, char **err, const char *what,
		 const char *why);
int pgs_fail(struct pg_store *st, char **err, const char *what);
int pgs_ensure_connected(struct pg_store *st, char **err);
void pgs_p_text(struct params *p, const char *s);
void pgs_p_bytes(struct params *p, const char *s, size_t len);
void pgs_p_double(struct params *p, double d);
void pgs_p_int(struct params *p, long long i);
void pgs_p_bool(struct params *p, bool b);
int pgs_prepare(struct pg_store *st, enum stmt k, char name[16],
		const char *what, char **err);
bool pgs_result_ok(struct pg_store *st, PGresult *res, const char *what,
		   char **err);
PGresult *pgs_run(struct pg_store *st, enum stmt k, const struct params *p,
		     const char *what, char **err);
int pgs_run_ok(struct pg_store *st, enum stmt k, const struct params *p,
	       const char *what, char **err);
char *pgs_col_str(const PGresult *res, int row, int col);
double pgs_col_double(const PGresult *res, int row, int col);
long long pgs_col_int(const PGresult *res, int row, int col);
json_t *pgs_col_json(const PGresult *res, int row, int col);
char *pgs_json_text(const json_t *j);
int pgs_own_begin(struct pg_store *st, bool *own, char **err);
int pgs_own_commit(struct pg_store *st, bool own, char **err);
void pgs_own_rollback(struct pg_store *st, bool own);
int pg_push(struct fr_store *s, struct fr_delivery *const *d, size_t n,
	    const struct fr_claim *claimed, char **dup_of, char **err);
int pg_claim(struct fr_store *s, const struct fr_claim *c,
	     struct fr_delivery ***out, size_t *n, char **err);
int pg_renew(struct fr_store *s, const char *owner, double lease_s,
	     double now, char **err);
int pg_finish(struct fr_store *s, const char *id, const char *owner,
	      enum fr_status status, double next_at, char **err);
int pg_delivery_get(struct fr_store *s, const char *id,
		    struct fr_delivery **out, char **err);
int pg_replay(struct fr_store *s, const char *id, char **new_id,
	      char **err);
/* store_pg_prune.c */
/* Runs sql unprepared (for rare queries); its result when it succeeded. */
PGresult *pgs_exec(struct pg_store *st, const char *sql,
		   const struct params *p, const char *what, char **err);
int pg_prune(struct fr_store *s, double before, struct fr_prune_result *out,
	     char **err);
int pg_stats(struct fr_store *s, struct fr_store_stats *out, char **err);
int pg_set_runner(struct fr_store *s, const char *id, const char *runner,
		  char **err);
int pg_reap(struct fr_store *s, bool (*gone)(const char *runner),
	    long long *n, char **err);

/* store_pg_conn.c */
struct fr_token_row;
struct fr_pending_row;
int pg_token_read(struct fr_store *s, const char *integration,
		  const char *instance, const char *connection,
		  struct fr_token_row *out, bool *found, char **err);
int pg_token_write(struct fr_store *s, const struct fr_token_row *r,
		   char **err);
int pg_token_rows(struct fr_store *s, const char *integration,
		  const char *instance, struct fr_token_row **out, size_t *n,
		  char **err);
int pg_token_lock(struct fr_store *s, const char *integration,
		  const char *instance, const char *connection, double wait_s,
		  double lease_s, char **err);
int pg_token_unlock(struct fr_store *s, char **err);
int pg_pending_write(struct fr_store *s, const struct fr_pending_row *r,
		     char **err);
int pg_pending_take(struct fr_store *s, const char *state, double now,
		    struct fr_pending_row *out, bool *found, char **err);

#endif
