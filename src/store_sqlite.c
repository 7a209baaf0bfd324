/*
 * store_sqlite: the SQLite backend of the store: the handle, schema,
 * transactions, history, state and deployments (the queue is in
 * store_sqlite_queue.c, retention in store_sqlite_prune.c, connections in
 * store_sqlite_conn.c: these are the only includers of <sqlite3.h>).
 * WAL mode with synchronous=FULL: a committed transaction has reached the
 * disk.  The schema is versioned with PRAGMA user_version
 * and migrated forward when a handle opens.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store_sqlite_int.h"
#include "util.h"


/* Each entry moves the schema from version i to i + 1. */
static const char *const migrations[] = {
	/* 1: executions, state, deployments */
	"CREATE TABLE executions ("
	"  id TEXT PRIMARY KEY,"
	"  integration TEXT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  flow TEXT NOT NULL,"
	"  trigger TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  error TEXT,"
	"  started_at REAL NOT NULL,"
	"  finished_at REAL,"
	"  duration_ms REAL,"
	"  input TEXT,"
	"  trace TEXT);"
	"CREATE INDEX executions_by_time ON executions(started_at DESC);"
	"CREATE INDEX executions_by_flow ON executions(integration, flow, started_at DESC);"
	"CREATE TABLE state ("
	"  integration TEXT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  key TEXT NOT NULL,"
	"  value TEXT NOT NULL,"
	"  updated_at REAL NOT NULL,"
	"  PRIMARY KEY (integration, instance, key));"
	"CREATE TABLE deployments ("
	"  id INTEGER PRIMARY KEY,"
	"  integration TEXT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  file_hash TEXT,"
	"  outcome TEXT NOT NULL,"
	"  started_at REAL NOT NULL,"
	"  finished_at REAL,"
	"  summary TEXT);",
	/* 2: the delivery queue; executions count their attempts */
	"CREATE TABLE deliveries ("
	"  seq INTEGER PRIMARY KEY,"
	"  id TEXT NOT NULL UNIQUE,"
	"  integration TEXT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  flow TEXT NOT NULL,"
	"  received_at REAL NOT NULL,"
	"  request TEXT,"
	"  body BLOB,"
	"  trigger TEXT,"
	"  dedupe_key TEXT,"
	"  status TEXT NOT NULL DEFAULT 'queued',"
	"  attempts INTEGER NOT NULL DEFAULT 0,"
	"  next_at REAL NOT NULL DEFAULT 0);"
	"CREATE UNIQUE INDEX deliveries_dedupe ON deliveries(integration, "
	"  instance, flow, dedupe_key) WHERE dedupe_key IS NOT NULL;"
	"CREATE INDEX deliveries_queued ON deliveries(seq) WHERE status = 'queued';"
	"ALTER TABLE executions ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1;",
	/* 3: replays */
	"ALTER TABLE executions ADD COLUMN replayed_as TEXT;",
	/* 4: claims and leases, flow limits, origins; status words of store.h */
	"ALTER TABLE deliveries ADD COLUMN owner TEXT;"
	"ALTER TABLE deliveries ADD COLUMN lease_until REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE deliveries ADD COLUMN max_running INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE deliveries ADD COLUMN fifo INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE deliveries ADD COLUMN origin TEXT NOT NULL DEFAULT 'serve';"
	"ALTER TABLE deliveries ADD COLUMN replay_of TEXT;"
	"ALTER TABLE deliveries ADD COLUMN kind TEXT NOT NULL DEFAULT 'webhook';"
	"UPDATE deliveries SET status = 'ok' WHERE status = 'done';"
	"UPDATE deliveries SET kind = 'schedule' WHERE request IS NULL;"
	"DROP INDEX deliveries_queued;"
	"CREATE INDEX deliveries_open ON deliveries(seq) WHERE status IN "
	"  ('queued', 'retrying', 'running');"
	"CREATE INDEX deliveries_owner ON deliveries(owner) WHERE status = 'running';"
	"ALTER TABLE executions ADD COLUMN origin TEXT NOT NULL DEFAULT 'run';"
	"ALTER TABLE executions ADD COLUMN replay_of TEXT;"
	"UPDATE executions SET origin = 'serve' WHERE id IN (SELECT id FROM deliveries);",
	/* 5: who runs a running run (fr_store_reap) */
	"ALTER TABLE executions ADD COLUMN runner TEXT;",
	/* 6: connections: sealed tokens, refresh locks, pending authorizations */
	"CREATE TABLE tokens ("
	"  integration TEXT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  connection TEXT NOT NULL,"
	"  status TEXT NOT NULL,"
	"  expires_at REAL,"
	"  scopes TEXT,"
	"  sealed BLOB,"
	"  updated_at REAL NOT NULL,"
	"  PRIMARY KEY (integration, instance, connection));"
	"CREATE TABLE token_locks ("
	"  integration TEXT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  connection TEXT NOT NULL,"
	"  owner TEXT NOT NULL,"
	"  lease_until REAL NOT NULL,"
	"  PRIMARY KEY (integration, instance, connection));"
	"CREATE TABLE pending_authorizations ("
	"  state TEXT PRIMARY KEY,"
	"  integration TEXT NOT NULL,"
	"  instance TEXT NOT NULL,"
	"  connection TEXT NOT NULL,"
	"  redirect_uri TEXT,"
	"  sealed BLOB,"
	"  expires_at REAL NOT NULL);",
};

int sq_fail(struct sqlite_store *st, char **err, const char *what)
{
	*err = fr_xasprintf("store %s: %s: %s", st->path, what,
			    sqlite3_errmsg(st->db));
	return -1;
}

static int exec_sql(struct sqlite_store *st, const char *sql, char **err)
{
	char *msg = NULL;

	if (sqlite3_exec(st->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		*err = fr_xasprintf("store %s: %s", st->path,
				    msg ? msg : sqlite3_errmsg(st->db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

/*
 * A prepared statement for sql, kept for the life of the handle: parsing
 * SQL again for every delivery would cost more than running it.  Give it
 * back with sq_release().
 */
int sq_prepare(struct sqlite_store *st, sqlite3_stmt **stmt,
	       const char *sql, char **err)
{
	for (size_t i = 0; i < st->ncache; i++) {
		if (st->cache[i].sql == sql) {
			*stmt = st->cache[i].stmt;
			return 0;
		}
	}
	if (sqlite3_prepare_v3(st->db, sql, -1, SQLITE_PREPARE_PERSISTENT, stmt,
			       NULL) != SQLITE_OK)
		return sq_fail(st, err, "cannot prepare a query");
	if (st->ncache < FR_ARRAY_LEN(st->cache)) {
		st->cache[st->ncache].sql = sql;
		st->cache[st->ncache].stmt = *stmt;
		st->ncache++;
	}
	return 0;
}

/* Gives a statement back (reset; finalized if it was not cached). */
void sq_release(struct sqlite_store *st, sqlite3_stmt *stmt)
{
	if (!stmt)
		return;
	for (size_t i = 0; i < st->ncache; i++) {
		if (st->cache[i].stmt == stmt) {
			sqlite3_reset(stmt);
			sqlite3_clear_bindings(stmt);
			return;
		}
	}
	sqlite3_finalize(stmt);
}

void sq_bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, i);
}

/* Binds j as JSON text (NULL for a missing value). */
void sq_bind_json(sqlite3_stmt *stmt, int i, const json_t *j)
{
	char *s;

	if (!j) {
		sqlite3_bind_null(stmt, i);
		return;
	}
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	sqlite3_bind_text(stmt, i, s, -1, free);
}

json_t *sq_column_json(sqlite3_stmt *stmt, int i)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);
	json_t *j;

	if (!s)
		return json_null();
	j = json_loadb(s, (size_t)sqlite3_column_bytes(stmt, i),
		       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	return j ? j : json_string(s);
}

/* Runs a statement that returns no rows; finalizes it. */
int sq_step_done(struct sqlite_store *st, sqlite3_stmt *stmt,
		 const char *what, char **err)
{
	int rc = sqlite3_step(stmt);

	sq_release(st, stmt);
	if (rc != SQLITE_DONE)
		return sq_fail(st, err, what);
	return 0;
}

static int user_version(struct sqlite_store *st, int *out, char **err)
{
	sqlite3_stmt *stmt;

	*out = 0;
	if (sq_prepare(st, &stmt, "PRAGMA user_version", err) < 0)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*out = sqlite3_column_int(stmt, 0);
	sq_release(st, stmt);
	return 0;
}

static int check_version(struct sqlite_store *st, char **err)
{
	int version;

	if (user_version(st, &version, err) < 0)
		return -1;
	if (version > (int)FR_ARRAY_LEN(migrations)) {
		*err = fr_xasprintf("store %s has schema version %d, newer than "
				    "this flowrun knows (%zu); upgrade flowrun",
				    st->path, version, FR_ARRAY_LEN(migrations));
		return -1;
	}
	return 0;
}

/* Moves the schema to the newest version, in one transaction. */
static int migrate(struct sqlite_store *st, char **err)
{
	int version;

	if (exec_sql(st, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	/* again inside the transaction: another process may have migrated */
	if (user_version(st, &version, err) < 0 || check_version(st, err) < 0)
		goto rollback;
	for (int v = version; v < (int)FR_ARRAY_LEN(migrations); v++) {
		char sql[64];
		if (exec_sql(st, migrations[v], err) < 0)
			goto rollback;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (exec_sql(st, sql, err) < 0)
			goto rollback;
	}
	return exec_sql(st, "COMMIT", err);
rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

char *sq_column_strdup(sqlite3_stmt *stmt, int i)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);

	return s ? fr_xstrdup(s) : NULL;
}

static void sqlite_close(struct fr_store *s)
{
	struct sqlite_store *st = (struct sqlite_store *)s;

	sqlite_token_release(st);
	for (size_t i = 0; i < st->ncache; i++)
		sqlite3_finalize(st->cache[i].stmt);
	sqlite3_close(st->db);
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	free(st->path);
	free(st->base.url);
	free(st);
}

/*
 * Opens a transaction of our own when the caller has none: *own says
 * whether to commit it (end_own).
 */
int sq_begin_own(struct sqlite_store *st, bool *own, char **err)
{
	*own = sqlite3_get_autocommit(st->db);
	return *own ? exec_sql(st, "BEGIN IMMEDIATE", err) : 0;
}

int sq_end_own(struct sqlite_store *st, bool own, int rc, char **err)
{
	if (!own)
		return rc;
	if (rc == 0)
		return exec_sql(st, "COMMIT", err);
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int sqlite_begin(struct fr_store *s, enum fr_durability d, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;

	/* the pragma holds for the connection: set it for each transaction */
	if (exec_sql(st, d == FR_LAZY ? "PRAGMA synchronous = NORMAL"
				       : "PRAGMA synchronous = FULL", err) < 0)
		return -1;
	return exec_sql(st, "BEGIN IMMEDIATE", err);
}

static int sqlite_commit(struct fr_store *s, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	int rc = exec_sql(st, "COMMIT", err);

	sqlite3_exec(st->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	return rc;
}

static void sqlite_rollback(struct fr_store *s)
{
	struct sqlite_store *st = (struct sqlite_store *)s;

	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_exec(st->db, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
}

static int sqlite_check(struct fr_store *s, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	if (sq_prepare(st, &stmt, "PRAGMA integrity_check", err) < 0)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") != 0) {
		*err = fr_xasprintf("store %s fails its integrity check: %s",
				    st->path, rc == SQLITE_ROW
					? (const char *)sqlite3_column_text(stmt, 0)
					: sqlite3_errmsg(st->db));
		sq_release(st, stmt);
		return -1;
	}
	sq_release(st, stmt);
	return 0;
}

/*
 * One serve process per file: an exclusive flock(2) on PATH.serve, held
 * while the handle is open and released by the kernel when the process
 * dies, even by kill -9.  (Not a POSIX lock on the database itself:
 * SQLite's own locks are those, and closing any descriptor of the file
 * would drop ours.)  The file holds the holder's pid, for the message.
 */
static int sqlite_serve_lock(struct fr_store *s, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	char *path = fr_xasprintf("%s.serve", st->path);
	char pid[32] = "";
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0) {
		*err = fr_xasprintf("cannot open the serve lock %s: %s", path,
				    strerror(errno));
		free(path);
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		*err = fr_xasprintf("store %s is served already by another flowrun "
				    "serve%s%s%s; one SQLite store serves one process "
				    "(several processes share a postgresql:// store)",
				    st->path, *pid ? " (pid " : "", pid, *pid ? ")" : "");
		close(fd);
		free(path);
		return -1;
	}
	snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0) {
		/* the lock holds without the pid: only the message loses it */
	}
	free(path);
	st->lock_fd = fd;
	/* the lock holder runs the file's queue alone: whatever a process
	 * before it held is free at once (its attempts stay counted) */
	if (exec_sql(st, "UPDATE deliveries SET status = 'queued', owner = NULL, "
		     "lease_until = 0 WHERE status = 'running'", err) < 0) {
		close(fd);
		st->lock_fd = -1;
		return -1;
	}
	return 0;
}

static int sqlite_maintain(struct fr_store *s, bool wait, char **err)
{
	return exec_sql((struct sqlite_store *)s,
			wait ? "PRAGMA wal_checkpoint(FULL)"
			     : "PRAGMA wal_checkpoint(PASSIVE)", err);
}

/* One serve process per file wakes itself: waiting is sleeping. */
static int sqlite_wait(struct fr_store *s, double timeout_s, bool *woken,
		       char **err)
{
	struct timespec ts = { (time_t)timeout_s,
			       (long)((timeout_s - (double)(time_t)timeout_s) * 1e9) };

	(void)s;
	(void)err;
	*woken = false;
	if (timeout_s > 0)
		nanosleep(&ts, NULL);
	return 0;
}

static int sqlite_notify(struct fr_store *s, char **err)
{
	(void)s;
	(void)err;
	return 0;
}

/* executions */

static void bind_double_or_null(sqlite3_stmt *stmt, int i, double v)
{
	if (v > 0)
		sqlite3_bind_double(stmt, i, v);
	else
		sqlite3_bind_null(stmt, i);
}

static int sqlite_execution_put(struct fr_store *s, const struct fr_execution *e,
				char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	if (sq_prepare(st, &stmt, "INSERT INTO executions (id, integration, "
		    "instance, flow, trigger, status, origin, attempt, error, "
		    "started_at, finished_at, duration_ms, replay_of, input, "
		    "trace) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
		    "ON CONFLICT (id) DO UPDATE SET status = excluded.status, "
		    "attempt = excluded.attempt, error = excluded.error, "
		    "started_at = excluded.started_at, finished_at = "
		    "excluded.finished_at, duration_ms = excluded.duration_ms, "
		    "input = coalesce(excluded.input, input), trace = "
		    "excluded.trace", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, e->id);
	sq_bind_text(stmt, 2, e->integration);
	sq_bind_text(stmt, 3, e->instance);
	sq_bind_text(stmt, 4, e->flow);
	sq_bind_text(stmt, 5, e->trigger ? e->trigger : "manual");
	sq_bind_text(stmt, 6, fr_status_name(e->status));
	sq_bind_text(stmt, 7, fr_origin_name(e->origin));
	sqlite3_bind_int(stmt, 8, e->attempt > 0 ? e->attempt : 1);
	sq_bind_text(stmt, 9, e->error);
	sqlite3_bind_double(stmt, 10, e->started_at > 0 ? e->started_at
							: fr_store_now());
	bind_double_or_null(stmt, 11, e->finished_at);
	if (e->finished_at > 0)
		sqlite3_bind_double(stmt, 12, e->duration_ms);
	else
		sqlite3_bind_null(stmt, 12);
	sq_bind_text(stmt, 13, e->replay_of);
	if (e->input)
		sqlite3_bind_text(stmt, 14, e->input, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 14);
	if (e->trace)
		sqlite3_bind_text(stmt, 15, e->trace, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(stmt, 15);
	return sq_step_done(st, stmt, "cannot record an execution", err);
}

/*
 * Every execution, recorded or still in the queue: a delivery that is
 * open (queued, running) shows its own status and attempt over its
 * record's (the last attempt's end), and one with no record yet shows
 * as it is queued.
 */
#define EXECUTIONS_VIEW							\
	"SELECT e.id AS id, e.integration AS integration, e.instance AS "	\
	"instance, e.flow AS flow, e.trigger AS trigger, CASE WHEN "	\
	"d.status IN ('queued', 'running') THEN d.status ELSE e.status END "	\
	"AS status, e.origin AS origin, CASE WHEN d.status = 'running' THEN "	\
	"d.attempts ELSE e.attempt END AS attempt, e.error AS error, "	\
	"e.started_at AS started_at, e.finished_at AS finished_at, "	\
	"e.duration_ms AS duration_ms, e.replay_of AS replay_of, "	\
	"e.replayed_as AS replayed_as, e.input AS input, e.trace AS trace "	\
	"FROM executions e LEFT JOIN deliveries d ON d.id = e.id "	\
	"UNION ALL SELECT d.id, d.integration, d.instance, d.flow, d.kind, "	\
	"d.status, d.origin, max(d.attempts, 1), NULL, d.received_at, NULL, "	\
	"NULL, d.replay_of, NULL, NULL, NULL FROM deliveries d WHERE NOT "	\
	"EXISTS (SELECT 1 FROM executions e WHERE e.id = d.id)"

#define EXECUTION_COLUMNS "id, integration, instance, flow, trigger, status, " \
	"origin, attempt, error, started_at, finished_at, duration_ms, "	\
	"replay_of, replayed_as"

static void execution_row(sqlite3_stmt *stmt, struct fr_execution *e)
{
	memset(e, 0, sizeof(*e));
	e->id = sq_column_strdup(stmt, 0);
	e->integration = sq_column_strdup(stmt, 1);
	e->instance = sq_column_strdup(stmt, 2);
	e->flow = sq_column_strdup(stmt, 3);
	e->trigger = sq_column_strdup(stmt, 4);
	if (fr_status_parse((const char *)sqlite3_column_text(stmt, 5),
			    &e->status) < 0)
		e->status = FR_STATUS_FAILED;
	if (fr_origin_parse((const char *)sqlite3_column_text(stmt, 6),
			    &e->origin) < 0)
		e->origin = FR_ORIGIN_RUN;
	e->attempt = sqlite3_column_int(stmt, 7);
	e->error = sq_column_strdup(stmt, 8);
	e->started_at = sqlite3_column_double(stmt, 9);
	e->finished_at = sqlite3_column_double(stmt, 10);
	e->duration_ms = sqlite3_column_double(stmt, 11);
	e->replay_of = sq_column_strdup(stmt, 12);
	e->replayed_as = sq_column_strdup(stmt, 13);
}

static int sqlite_execution_list(struct fr_store *s,
				 const struct fr_execution_filter *f,
				 struct fr_execution **out, size_t *n,
				 char **err)
{
	static const struct fr_execution_filter none = { 0 };
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	const char *slash;
	char *integration = NULL, *prefix = NULL;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (!f)
		f = &none;
	slash = f->flow ? strchr(f->flow, '/') : NULL;
	if (slash)
		integration = fr_xstrndup(f->flow, (size_t)(slash - f->flow));
	if (f->id_prefix) {
		/* LIKE's own characters in an id are taken literally */
		struct fr_buf b;
		fr_buf_init(&b);
		for (const char *p = f->id_prefix; *p; p++) {
			if (*p == '%' || *p == '_' || *p == '\\')
				fr_buf_putc(&b, '\\');
			fr_buf_putc(&b, *p);
		}
		fr_buf_putc(&b, '%');
		prefix = fr_buf_steal(&b);
	}
	if (sq_prepare(st, &stmt, "SELECT " EXECUTION_COLUMNS " FROM ("
		    EXECUTIONS_VIEW ") WHERE (?1 IS NULL OR flow = ?1) AND (?2 IS "
		    "NULL OR integration = ?2) AND (?3 IS NULL OR instance = ?3) "
		    "AND (?4 IS NULL OR status = ?4) AND (?6 = 0 OR replayed_as IS "
		    "NULL) AND (?7 IS NULL OR origin = ?7) AND (?8 IS NULL OR "
		    "trigger = ?8) AND (?9 IS NULL OR id LIKE ?9 ESCAPE '\\') AND "
		    "started_at >= ?10 AND (?11 IS NULL OR id = ?11 OR replay_of = "
		    "?11 OR id IN (SELECT id FROM deliveries "
		    "WHERE dedupe_key = ?12) OR replay_of IN (SELECT id FROM "
		    "deliveries WHERE dedupe_key = ?12)) ORDER BY started_at DESC, "
		    "id DESC LIMIT ?5",
		    err) < 0) {
		free(integration);
		free(prefix);
		return -1;
	}
	sq_bind_text(stmt, 1, f->flow ? (slash ? slash + 1 : f->flow) : NULL);
	sq_bind_text(stmt, 2, integration);
	sq_bind_text(stmt, 3, f->instance);
	sq_bind_text(stmt, 4, f->status ? fr_status_name(*f->status) : NULL);
	sqlite3_bind_int(stmt, 5, f->limit > 0 ? f->limit : 50);
	sqlite3_bind_int(stmt, 6, f->not_replayed);
	sq_bind_text(stmt, 7, f->origin ? fr_origin_name(*f->origin) : NULL);
	sq_bind_text(stmt, 8, f->trigger);
	sq_bind_text(stmt, 9, prefix);
	sqlite3_bind_double(stmt, 10, f->since);
	sq_bind_text(stmt, 11, f->delivery);
	sq_bind_text(stmt, 12, f->dedupe_key);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		fr_grow(out, &cap, *n + 1, sizeof(**out));
		execution_row(stmt, &(*out)[(*n)++]);
	}
	sq_release(st, stmt);
	free(integration);
	free(prefix);
	if (rc != SQLITE_DONE) {
		fr_executions_free(*out, *n);
		*out = NULL;
		*n = 0;
		return sq_fail(st, err, "cannot list executions");
	}
	return 0;
}

static int sqlite_execution_get(struct fr_store *s, const char *id,
				struct fr_execution *out, bool *found,
				char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	memset(out, 0, sizeof(*out));
	*found = false;
	if (sq_prepare(st, &stmt, "SELECT " EXECUTION_COLUMNS ", input, trace FROM ("
		    EXECUTIONS_VIEW ") WHERE id = ?", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		execution_row(stmt, out);
		out->input = sq_column_strdup(stmt, 14);
		out->trace = sq_column_strdup(stmt, 15);
		*found = true;
	}
	sq_release(st, stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return sq_fail(st, err, "cannot read an execution");
	return 0;
}

/* state */

static int sqlite_state_get(struct fr_store *s, const char *integration,
			    const char *instance, json_t **out, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	*out = NULL;
	if (sq_prepare(st, &stmt, "SELECT key, value FROM state WHERE "
		    "integration = ? AND instance = ? ORDER BY key", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, integration);
	sq_bind_text(stmt, 2, instance);
	*out = json_object();
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		json_object_set_new(*out, (const char *)sqlite3_column_text(stmt, 0),
				    sq_column_json(stmt, 1));
	sq_release(st, stmt);
	if (rc != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return sq_fail(st, err, "cannot read state");
	}
	return 0;
}

static int sqlite_state_set(struct fr_store *s, const char *integration,
			    const char *instance, const char *key,
			    const json_t *value, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	if (!value) {
		if (sq_prepare(st, &stmt, "DELETE FROM state WHERE integration = ? "
			    "AND instance = ? AND key = ?", err) < 0)
			return -1;
		sq_bind_text(stmt, 1, integration);
		sq_bind_text(stmt, 2, instance);
		sq_bind_text(stmt, 3, key);
		return sq_step_done(st, stmt, "cannot delete state", err);
	}
	if (sq_prepare(st, &stmt, "INSERT INTO state (integration, instance, key, "
		    "value, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT "
		    "(integration, instance, key) DO UPDATE SET value = "
		    "excluded.value, updated_at = excluded.updated_at", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, integration);
	sq_bind_text(stmt, 2, instance);
	sq_bind_text(stmt, 3, key);
	sq_bind_json(stmt, 4, value);
	sqlite3_bind_double(stmt, 5, fr_store_now());
	return sq_step_done(st, stmt, "cannot write state", err);
}

static int sqlite_state_list(struct fr_store *s, const char *integration,
			     const char *instance, const char *key,
			     struct fr_state_row **out, size_t *n, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (sq_prepare(st, &stmt, "SELECT integration, instance, key, value, "
		    "updated_at FROM state WHERE (?1 IS NULL OR integration = ?1) "
		    "AND (?2 IS NULL OR instance = ?2) AND (?3 IS NULL OR key = ?3) "
		    "AND value IS NOT NULL ORDER BY integration, instance, key",
		    err) < 0)
		return -1;
	sq_bind_text(stmt, 1, integration);
	sq_bind_text(stmt, 2, instance);
	sq_bind_text(stmt, 3, key);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct fr_state_row *r;
		fr_grow(out, &cap, *n + 1, sizeof(**out));
		r = &(*out)[(*n)++];
		r->integration = sq_column_strdup(stmt, 0);
		r->instance = sq_column_strdup(stmt, 1);
		r->key = sq_column_strdup(stmt, 2);
		r->value = sq_column_json(stmt, 3);
		r->updated_at = sqlite3_column_double(stmt, 4);
	}
	sq_release(st, stmt);
	if (rc != SQLITE_DONE) {
		fr_state_rows_free(*out, *n);
		*out = NULL;
		*n = 0;
		return sq_fail(st, err, "cannot list state");
	}
	return 0;
}

/* BEGIN IMMEDIATE takes the write lock first: no other writer between
 * the read and the write. */
static int sqlite_state_update(struct fr_store *s, const char *integration,
			       const char *instance, const char *key,
			       fr_state_fn fn, void *data, json_t **out,
			       char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt = NULL;
	json_t *old = NULL, *new = NULL;
	bool own;
	int rc = -1, step;

	if (out)
		*out = NULL;
	if (sq_begin_own(st, &own, err) < 0)
		return -1;
	if (sq_prepare(st, &stmt, "SELECT value FROM state WHERE integration = ? "
		    "AND instance = ? AND key = ?", err) < 0)
		goto out;
	sq_bind_text(stmt, 1, integration);
	sq_bind_text(stmt, 2, instance);
	sq_bind_text(stmt, 3, key);
	step = sqlite3_step(stmt);
	if (step == SQLITE_ROW)
		old = sq_column_json(stmt, 0);
	sq_release(st, stmt);
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		sq_fail(st, err, "cannot read state");
		goto out;
	}
	if (fn(data, old, &new, err) < 0)
		goto out;
	if (sqlite_state_set(s, integration, instance, key, new, err) < 0)
		goto out;
	rc = 0;
out:
	rc = sq_end_own(st, own, rc, err);
	if (rc == 0 && out)
		*out = json_incref(new);
	json_decref(old);
	json_decref(new);
	return rc;
}

/* deployments */

static int sqlite_deployment_add(struct fr_store *s, const struct fr_deployment *d,
				 char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	if (sq_prepare(st, &stmt, "INSERT INTO deployments (integration, instance, "
		    "file_hash, outcome, started_at, finished_at, summary) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?)", err) < 0)
		return -1;
	sq_bind_text(stmt, 1, d->integration);
	sq_bind_text(stmt, 2, d->instance);
	sq_bind_text(stmt, 3, d->file_hash);
	sq_bind_text(stmt, 4, d->outcome);
	sqlite3_bind_double(stmt, 5, d->started_at);
	sqlite3_bind_double(stmt, 6, d->finished_at);
	sq_bind_json(stmt, 7, d->summary);
	return sq_step_done(st, stmt, "cannot record a deployment", err);
}

static int sqlite_deployment_list(struct fr_store *s, struct fr_deployment **out,
				  size_t *n, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	size_t cap = 0;
	int rc;

	*out = NULL;
	*n = 0;
	if (sq_prepare(st, &stmt, "SELECT integration, instance, file_hash, outcome, "
		    "started_at, finished_at, summary FROM deployments ORDER BY "
		    "id DESC LIMIT 100", err) < 0)
		return -1;
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct fr_deployment *d;
		fr_grow(out, &cap, *n + 1, sizeof(**out));
		d = &(*out)[(*n)++];
		d->integration = sq_column_strdup(stmt, 0);
		d->instance = sq_column_strdup(stmt, 1);
		d->file_hash = sq_column_strdup(stmt, 2);
		d->outcome = sq_column_strdup(stmt, 3);
		d->started_at = sqlite3_column_double(stmt, 4);
		d->finished_at = sqlite3_column_double(stmt, 5);
		d->summary = sq_column_json(stmt, 6);
	}
	sq_release(st, stmt);
	if (rc != SQLITE_DONE) {
		fr_deployments_free(*out, *n);
		*out = NULL;
		*n = 0;
		return sq_fail(st, err, "cannot list deployments");
	}
	return 0;
}

/*
 * Waits for the write lock in short sleeps: SQLite's default busy handler
 * backs off to 100 ms steps, far too coarse for a queue.
 */
static int busy_wait(void *data, int count)
{
	struct timespec ts = { 0, count < 10 ? 100000 : 1000000 };

	(void)data;
	if (count > 10000)	/* about 10 s */
		return 0;
	nanosleep(&ts, NULL);
	return 1;
}

static const struct fr_store_ops sqlite_ops = {
	.close = sqlite_close,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.check = sqlite_check,
	.serve_lock = sqlite_serve_lock,
	.maintain = sqlite_maintain,
	.wait = sqlite_wait,
	.notify = sqlite_notify,
	.execution_put = sqlite_execution_put,
	.execution_list = sqlite_execution_list,
	.execution_get = sqlite_execution_get,
	.state_get = sqlite_state_get,
	.state_set = sqlite_state_set,
	.state_list = sqlite_state_list,
	.state_update = sqlite_state_update,
	.deployment_add = sqlite_deployment_add,
	.deployment_list = sqlite_deployment_list,
	.push = sqlite_push,
	.claim = sqlite_claim,
	.renew = sqlite_renew,
	.finish = sqlite_finish,
	.delivery_get = sqlite_delivery_get,
	.replay = sqlite_replay,
	.prune = sqlite_prune,
	.stats = sqlite_stats,
	.set_runner = sqlite_set_runner,
	.reap = sqlite_reap,
	.token_read = sqlite_token_read,
	.token_write = sqlite_token_write,
	.token_rows = sqlite_token_rows,
	.token_lock = sqlite_token_lock,
	.token_unlock = sqlite_token_unlock,
	.pending_write = sqlite_pending_write,
	.pending_take = sqlite_pending_take,
};

/* mkdir -p of path's directory. */
static int make_parent(const char *path, char **err)
{
	char *copy = fr_xstrdup(path), *dir = dirname(copy);
	int rc = 0;

	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) < 0 && errno != EEXIST)
			rc = -1;
		*p = '/';
	}
	if (rc == 0 && mkdir(dir, 0700) < 0 && errno != EEXIST)
		rc = -1;
	if (rc < 0)
		*err = fr_xasprintf("cannot create the store's directory %s: %s",
				    dir, strerror(errno));
	free(copy);
	return rc;
}

int fr_store_sqlite_open(struct fr_store **out, const char *url, char **err)
{
	const char *path = strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
	struct sqlite_store *st;
	bool created;

	*out = NULL;
	*err = NULL;
	if (!*path) {
		*err = fr_xstrdup("the store URL names no file");
		return -1;
	}
	if (make_parent(path, err) < 0)
		return -1;
	created = access(path, F_OK) != 0;
	st = fr_xcalloc(1, sizeof(*st));
	st->base.ops = &sqlite_ops;
	st->base.url = fr_xasprintf("sqlite:%s", path);
	st->base.backend = "sqlite";
	st->path = fr_xstrdup(path);
	st->lock_fd = -1;
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		sq_fail(st, err, "cannot open");
		sqlite_close(&st->base);
		return -1;
	}
	/*
	 * Made 0600: the store holds traces and tokens (SQLite gives its
	 * -wal and -shm files the same mode).  Not by open(2) and close(2)
	 * of our own: closing any descriptor of the file would drop the
	 * POSIX locks SQLite's other handles in this process hold on it.
	 */
	if (created)
		chmod(path, 0600);
	sqlite3_busy_handler(st->db, busy_wait, NULL);
	/* refuse a newer schema before changing anything in the file;
	 * checkpoints only where fr_store_maintain asks for them */
	if (check_version(st, err) < 0 ||
	    exec_sql(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; "
		     "PRAGMA wal_autocheckpoint = 10000;", err) < 0 ||
	    migrate(st, err) < 0) {
		sqlite_close(&st->base);
		return -1;
	}
	*out = &st->base;
	return 0;
}

const char *fr_store_sqlite_version(void)
{
	return sqlite3_libversion();
}
