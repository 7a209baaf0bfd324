/*
 * store_sqlite: the SQLite backend of the store (the only includer of
 * <sqlite3.h>).  WAL mode with synchronous=FULL: a committed transaction
 * has reached the disk.  The schema is versioned with PRAGMA user_version
 * and migrated forward when a handle opens.
 */
#include <errno.h>
#include <libgen.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "store.h"
#include "util.h"

struct sqlite_store {
	struct fr_store base;	/* first: the handle callers hold */
	sqlite3 *db;
	char *path;
	/* prepared statements, by their SQL text (static strings) */
	struct { const char *sql; sqlite3_stmt *stmt; } cache[32];
	size_t ncache;
};

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
};

static int fail(struct sqlite_store *st, char **err, const char *what)
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
 * back with release().
 */
static int prepare(struct sqlite_store *st, sqlite3_stmt **stmt,
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
		return fail(st, err, "cannot prepare a query");
	if (st->ncache < FR_ARRAY_LEN(st->cache)) {
		st->cache[st->ncache].sql = sql;
		st->cache[st->ncache].stmt = *stmt;
		st->ncache++;
	}
	return 0;
}

/* Gives a statement back (reset; finalized if it was not cached). */
static void release(struct sqlite_store *st, sqlite3_stmt *stmt)
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

static void bind_text(sqlite3_stmt *stmt, int i, const char *s)
{
	if (s)
		sqlite3_bind_text(stmt, i, s, -1, SQLITE_TRANSIENT);
	else
		sqlite3_bind_null(stmt, i);
}

/* Binds the string member key of obj (NULL when it is missing). */
static void bind_field(sqlite3_stmt *stmt, int i, const json_t *obj,
		       const char *key)
{
	bind_text(stmt, i, json_string_value(json_object_get(obj, key)));
}

/* Binds j as JSON text (NULL for a missing value). */
static void bind_json(sqlite3_stmt *stmt, int i, const json_t *j)
{
	char *s;

	if (!j) {
		sqlite3_bind_null(stmt, i);
		return;
	}
	s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	sqlite3_bind_text(stmt, i, s, -1, free);
}

static json_t *column_json(sqlite3_stmt *stmt, int i)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);
	json_t *j;

	if (!s)
		return json_null();
	j = json_loadb(s, (size_t)sqlite3_column_bytes(stmt, i),
		       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	return j ? j : json_string(s);
}

static json_t *column_text(sqlite3_stmt *stmt, int i)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);

	return s ? json_string(s) : json_null();
}

static json_t *column_real(sqlite3_stmt *stmt, int i)
{
	if (sqlite3_column_type(stmt, i) == SQLITE_NULL)
		return json_null();
	return json_real(sqlite3_column_double(stmt, i));
}

/* Runs a statement that returns no rows; finalizes it. */
static int step_done(struct sqlite_store *st, sqlite3_stmt *stmt,
		     const char *what, char **err)
{
	int rc = sqlite3_step(stmt);

	release(st, stmt);
	if (rc != SQLITE_DONE)
		return fail(st, err, what);
	return 0;
}

static int user_version(struct sqlite_store *st, int *out, char **err)
{
	sqlite3_stmt *stmt;

	*out = 0;
	if (prepare(st, &stmt, "PRAGMA user_version", err) < 0)
		return -1;
	if (sqlite3_step(stmt) == SQLITE_ROW)
		*out = sqlite3_column_int(stmt, 0);
	release(st, stmt);
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
/*
 * Runs stmt (bound) and puts each row, as row() makes it, in a new array
 * *out; releases stmt.  what names the query for the error message.
 */
static int collect_rows(struct sqlite_store *st, sqlite3_stmt *stmt,
			json_t *(*row)(sqlite3_stmt *stmt), json_t **out,
			const char *what, char **err)
{
	int rc;

	*out = json_array();
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		json_array_append_new(*out, row(stmt));
	release(st, stmt);
	if (rc != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return fail(st, err, what);
	}
	return 0;
}

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

static void sqlite_close(struct fr_store *s)
{
	struct sqlite_store *st = (struct sqlite_store *)s;

	for (size_t i = 0; i < st->ncache; i++)
		sqlite3_finalize(st->cache[i].stmt);
	sqlite3_close(st->db);
	free(st->path);
	free(st->base.url);
	free(st);
}

static int sqlite_execution_begin(struct fr_store *s, const json_t *e, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	const char *status = json_string_value(json_object_get(e, "status"));

	if (prepare(st, &stmt, "INSERT INTO executions (id, integration, "
		    "instance, flow, trigger, status, started_at, input) VALUES "
		    "(?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
		    "status = excluded.status, started_at = excluded.started_at, "
		    "error = NULL, finished_at = NULL, attempt = attempt + 1",
		    err) < 0)
		return -1;
	bind_field(stmt, 1, e, "id");
	bind_field(stmt, 2, e, "integration");
	bind_field(stmt, 3, e, "instance");
	bind_field(stmt, 4, e, "flow");
	bind_field(stmt, 5, e, "trigger");
	bind_text(stmt, 6, status ? status : "running");
	sqlite3_bind_double(stmt, 7, fr_store_now());
	bind_json(stmt, 8, json_object_get(e, "input"));
	return step_done(st, stmt, "cannot record an execution", err);
}

static int sqlite_execution_finish(struct fr_store *s, const char *id,
				   const json_t *trace, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	if (prepare(st, &stmt, "UPDATE executions SET status = ?, error = ?, "
		    "finished_at = ?, duration_ms = ?, trace = ? WHERE id = ?",
		    err) < 0)
		return -1;
	bind_field(stmt, 1, trace, "status");
	bind_field(stmt, 2, trace, "error");
	sqlite3_bind_double(stmt, 3, fr_store_now());
	sqlite3_bind_double(stmt, 4,
			    json_number_value(json_object_get(trace, "duration_ms")));
	bind_json(stmt, 5, trace);
	bind_text(stmt, 6, id);
	return step_done(st, stmt, "cannot record an execution's end", err);
}

static json_t *summary_row(sqlite3_stmt *stmt)
{
	json_t *row = json_object();

	json_object_set_new(row, "id", column_text(stmt, 0));
	json_object_set_new(row, "integration", column_text(stmt, 1));
	json_object_set_new(row, "instance", column_text(stmt, 2));
	json_object_set_new(row, "flow", column_text(stmt, 3));
	json_object_set_new(row, "trigger", column_text(stmt, 4));
	json_object_set_new(row, "status", column_text(stmt, 5));
	json_object_set_new(row, "error", column_text(stmt, 6));
	json_object_set_new(row, "started_at", column_real(stmt, 7));
	json_object_set_new(row, "finished_at", column_real(stmt, 8));
	json_object_set_new(row, "duration_ms", column_real(stmt, 9));
	return row;
}

#define SUMMARY_COLUMNS "id, integration, instance, flow, trigger, status, " \
			"error, started_at, finished_at, duration_ms"

static int sqlite_execution_list(struct fr_store *s,
				 const struct fr_execution_filter *f,
				 json_t **out, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	const char *slash = f && f->flow ? strchr(f->flow, '/') : NULL;
	char *integration = slash ? fr_xstrndup(f->flow, (size_t)(slash - f->flow))
				  : NULL;

	*out = NULL;
	if (prepare(st, &stmt, "SELECT " SUMMARY_COLUMNS " FROM executions "
		    "WHERE (?1 IS NULL OR flow = ?1) AND (?2 IS NULL OR "
		    "integration = ?2) AND (?3 IS NULL OR instance = ?3) AND "
		    "(?4 IS NULL OR status = ?4) AND (?6 = 0 OR replayed_as IS "
		    "NULL) ORDER BY started_at DESC, rowid DESC LIMIT ?5", err) < 0) {
		free(integration);
		return -1;
	}
	bind_text(stmt, 1, f && f->flow ? (slash ? slash + 1 : f->flow) : NULL);
	bind_text(stmt, 2, integration);
	bind_text(stmt, 3, f ? f->instance : NULL);
	bind_text(stmt, 4, f ? f->status : NULL);
	sqlite3_bind_int(stmt, 5, f && f->limit > 0 ? f->limit : 50);
	sqlite3_bind_int(stmt, 6, f && f->not_replayed);
	free(integration);
	return collect_rows(st, stmt, summary_row, out, "cannot list executions",
			    err);
}

static int sqlite_execution_get(struct fr_store *s, const char *id,
				json_t **out, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	*out = NULL;
	if (prepare(st, &stmt, "SELECT " SUMMARY_COLUMNS ", input, trace FROM "
		    "executions WHERE id = ?", err) < 0)
		return -1;
	bind_text(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*out = summary_row(stmt);
		json_object_set_new(*out, "input", column_json(stmt, 10));
		json_object_set_new(*out, "trace", column_json(stmt, 11));
	}
	release(st, stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(st, err, "cannot read an execution");
	return 0;
}

static int sqlite_state_get(struct fr_store *s, const char *integration,
			    const char *instance, json_t **out, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	*out = NULL;
	if (prepare(st, &stmt, "SELECT key, value FROM state WHERE "
		    "integration = ? AND instance = ? ORDER BY key", err) < 0)
		return -1;
	bind_text(stmt, 1, integration);
	bind_text(stmt, 2, instance);
	*out = json_object();
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
		json_object_set_new(*out, (const char *)sqlite3_column_text(stmt, 0),
				    column_json(stmt, 1));
	release(st, stmt);
	if (rc != SQLITE_DONE) {
		json_decref(*out);
		*out = NULL;
		return fail(st, err, "cannot read state");
	}
	return 0;
}

static int sqlite_state_set(struct fr_store *s, const char *integration,
			    const char *instance, const char *key,
			    const json_t *value, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	if (prepare(st, &stmt, "INSERT INTO state (integration, instance, key, "
		    "value, updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT "
		    "(integration, instance, key) DO UPDATE SET value = "
		    "excluded.value, updated_at = excluded.updated_at", err) < 0)
		return -1;
	bind_text(stmt, 1, integration);
	bind_text(stmt, 2, instance);
	bind_text(stmt, 3, key);
	bind_json(stmt, 4, value);
	sqlite3_bind_double(stmt, 5, fr_store_now());
	return step_done(st, stmt, "cannot write state", err);
}

static int sqlite_deployment_add(struct fr_store *s, const json_t *d, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	if (prepare(st, &stmt, "INSERT INTO deployments (integration, instance, "
		    "file_hash, outcome, started_at, finished_at, summary) "
		    "VALUES (?, ?, ?, ?, ?, ?, ?)", err) < 0)
		return -1;
	bind_field(stmt, 1, d, "integration");
	bind_field(stmt, 2, d, "instance");
	bind_field(stmt, 3, d, "file_hash");
	bind_field(stmt, 4, d, "outcome");
	sqlite3_bind_double(stmt, 5, json_number_value(json_object_get(d, "started_at")));
	sqlite3_bind_double(stmt, 6, json_number_value(json_object_get(d, "finished_at")));
	bind_json(stmt, 7, d);
	return step_done(st, stmt, "cannot record a deployment", err);
}

static json_t *deployment_row(sqlite3_stmt *stmt)
{
	return column_json(stmt, 0);
}

static int sqlite_deployment_list(struct fr_store *s, json_t **out, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	*out = NULL;
	if (prepare(st, &stmt, "SELECT summary FROM deployments ORDER BY id DESC "
		    "LIMIT 100", err) < 0)
		return -1;
	return collect_rows(st, stmt, deployment_row, out,
			    "cannot list deployments", err);
}

static int sqlite_check(struct fr_store *s, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	if (prepare(st, &stmt, "PRAGMA integrity_check", err) < 0)
		return -1;
	rc = sqlite3_step(stmt);
	if (rc != SQLITE_ROW ||
	    strcmp((const char *)sqlite3_column_text(stmt, 0), "ok") != 0) {
		*err = fr_xasprintf("store %s fails its integrity check: %s",
				    st->path, rc == SQLITE_ROW
					? (const char *)sqlite3_column_text(stmt, 0)
					: sqlite3_errmsg(st->db));
		release(st, stmt);
		return -1;
	}
	release(st, stmt);
	return 0;
}

static int sqlite_delivery_add(struct fr_store *s, struct fr_delivery *const *d,
			       size_t n, char **dup_of, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *ins = NULL, *dup = NULL;
	double now = fr_store_now();
	int rc = -1;

	bool own = sqlite3_get_autocommit(st->db);

	for (size_t i = 0; i < n; i++)
		dup_of[i] = NULL;
	if (own && exec_sql(st, "BEGIN IMMEDIATE", err) < 0)
		return -1;
	if (prepare(st, &ins, "INSERT INTO deliveries (id, integration, instance, "
		    "flow, received_at, request, body, trigger, dedupe_key, "
		    "attempts, next_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
		    "ON CONFLICT DO NOTHING", err) < 0 ||
	    prepare(st, &dup, "SELECT id FROM deliveries WHERE integration = ? "
		    "AND instance = ? AND flow = ? AND dedupe_key = ?", err) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bind_text(ins, 1, d[i]->id);
		bind_text(ins, 2, d[i]->integration);
		bind_text(ins, 3, d[i]->instance);
		bind_text(ins, 4, d[i]->flow);
		sqlite3_bind_double(ins, 5, now);
		if (d[i]->request_text)
			sqlite3_bind_text(ins, 6, d[i]->request_text, -1,
					  SQLITE_STATIC);
		else
			bind_json(ins, 6, d[i]->request);
		if (d[i]->body)
			sqlite3_bind_blob(ins, 7, d[i]->body, (int)d[i]->body_len,
					  SQLITE_STATIC);
		else
			sqlite3_bind_null(ins, 7);
		bind_json(ins, 8, d[i]->trigger);
		bind_text(ins, 9, d[i]->dedupe_key);
		sqlite3_bind_int(ins, 10, d[i]->attempts);
		sqlite3_bind_double(ins, 11, d[i]->next_at);
		if (sqlite3_step(ins) != SQLITE_DONE) {
			fail(st, err, "cannot queue a delivery");
			goto out;
		}
		if (sqlite3_changes(st->db) == 1) {
			d[i]->seq = sqlite3_last_insert_rowid(st->db);
		} else if (d[i]->dedupe_key) {
			bind_text(dup, 1, d[i]->integration);
			bind_text(dup, 2, d[i]->instance);
			bind_text(dup, 3, d[i]->flow);
			bind_text(dup, 4, d[i]->dedupe_key);
			if (sqlite3_step(dup) == SQLITE_ROW)
				dup_of[i] = fr_xstrdup((const char *)sqlite3_column_text(dup, 0));
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
	if (own && exec_sql(st, "COMMIT", err) < 0)
		goto out;
	rc = 0;
out:
	release(st, ins);
	release(st, dup);
	if (rc < 0) {
		if (own)
			sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
		for (size_t i = 0; i < n; i++) {
			free(dup_of[i]);
			dup_of[i] = NULL;
		}
	}
	return rc;
}

static char *column_strdup(sqlite3_stmt *stmt, int i)
{
	const char *s = (const char *)sqlite3_column_text(stmt, i);

	return s ? fr_xstrdup(s) : NULL;
}

static int sqlite_delivery_get(struct fr_store *s, const char *id,
			       struct fr_delivery **out, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	int rc;

	*out = NULL;
	if (prepare(st, &stmt, "SELECT id, integration, instance, flow, request, "
		    "body, trigger, dedupe_key, attempts, next_at, seq FROM "
		    "deliveries WHERE id = ?", err) < 0)
		return -1;
	bind_text(stmt, 1, id);
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		struct fr_delivery *d = fr_xcalloc(1, sizeof(*d));
		d->id = column_strdup(stmt, 0);
		d->integration = column_strdup(stmt, 1);
		d->instance = column_strdup(stmt, 2);
		d->flow = column_strdup(stmt, 3);
		if (sqlite3_column_type(stmt, 4) != SQLITE_NULL)
			d->request = column_json(stmt, 4);
		if (sqlite3_column_type(stmt, 5) != SQLITE_NULL) {
			d->body_len = (size_t)sqlite3_column_bytes(stmt, 5);
			d->body = fr_xmalloc(d->body_len + 1);
			if (d->body_len)
				memcpy(d->body, sqlite3_column_blob(stmt, 5), d->body_len);
			d->body[d->body_len] = '\0';
		}
		if (sqlite3_column_type(stmt, 6) != SQLITE_NULL)
			d->trigger = column_json(stmt, 6);
		d->dedupe_key = column_strdup(stmt, 7);
		d->attempts = sqlite3_column_int(stmt, 8);
		d->next_at = sqlite3_column_double(stmt, 9);
		d->seq = sqlite3_column_int64(stmt, 10);
		*out = d;
	}
	release(st, stmt);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return fail(st, err, "cannot read a delivery");
	return 0;
}

static json_t *pending_row(sqlite3_stmt *stmt)
{
	return json_pack("{so so so so si sf sI}",
			 "id", column_text(stmt, 0),
			 "integration", column_text(stmt, 1),
			 "instance", column_text(stmt, 2),
			 "flow", column_text(stmt, 3),
			 "attempts", sqlite3_column_int(stmt, 4),
			 "next_at", sqlite3_column_double(stmt, 5),
			 "seq", (json_int_t)sqlite3_column_int64(stmt, 6));
}

static int sqlite_delivery_pending(struct fr_store *s, long long after_seq,
				   json_t **out, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	*out = NULL;
	if (prepare(st, &stmt, "SELECT id, integration, instance, flow, attempts, "
		    "next_at, seq FROM deliveries WHERE status = 'queued' AND "
		    "seq > ? ORDER BY seq", err) < 0)
		return -1;
	sqlite3_bind_int64(stmt, 1, after_seq);
	return collect_rows(st, stmt, pending_row, out,
			    "cannot list queued deliveries", err);
}

static int sqlite_delivery_update(struct fr_store *s, const char *id,
				  const char *status, int attempts,
				  double next_at, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;

	if (prepare(st, &stmt, "UPDATE deliveries SET status = ?, attempts = ?, "
		    "next_at = ? WHERE id = ?", err) < 0)
		return -1;
	bind_text(stmt, 1, status);
	sqlite3_bind_int(stmt, 2, attempts);
	sqlite3_bind_double(stmt, 3, next_at);
	bind_text(stmt, 4, id);
	return step_done(st, stmt, "cannot update a delivery", err);
}

static int sqlite_replay(struct fr_store *s, const char *id, char **new_id,
			 char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt = NULL;
	char *nid = fr_new_id("ex_");
	bool own = sqlite3_get_autocommit(st->db);
	int rc = -1;

	*new_id = NULL;
	if (own && exec_sql(st, "BEGIN IMMEDIATE", err) < 0) {
		free(nid);
		return -1;
	}
	/* the delivery of a webhook execution, else the recorded input */
	if (prepare(st, &stmt, "INSERT INTO deliveries (id, integration, "
		    "instance, flow, received_at, request, body, trigger) "
		    "SELECT ?1, e.integration, e.instance, e.flow, ?2, d.request, "
		    "d.body, CASE WHEN d.seq IS NULL THEN e.input ELSE d.trigger "
		    "END FROM executions e LEFT JOIN deliveries d ON d.id = e.id "
		    "WHERE e.id = ?3", err) < 0)
		goto out;
	bind_text(stmt, 1, nid);
	sqlite3_bind_double(stmt, 2, fr_store_now());
	bind_text(stmt, 3, id);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		fail(st, err, "cannot queue the replay");
		goto out;
	}
	release(st, stmt);
	stmt = NULL;
	if (sqlite3_changes(st->db) == 0) {
		rc = 0;		/* unknown execution */
		goto out;
	}
	if (prepare(st, &stmt, "UPDATE executions SET replayed_as = ? WHERE id = ?",
		    err) < 0)
		goto out;
	bind_text(stmt, 1, nid);
	bind_text(stmt, 2, id);
	if (sqlite3_step(stmt) != SQLITE_DONE) {
		fail(st, err, "cannot note the replay");
		goto out;
	}
	if (own && exec_sql(st, "COMMIT", err) < 0)
		goto out;
	*new_id = nid;
	nid = NULL;
	rc = 0;
out:
	release(st, stmt);
	if (!*new_id && own)
		sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	free(nid);
	return rc;
}

static int sqlite_begin(struct fr_store *s, char **err)
{
	return exec_sql((struct sqlite_store *)s, "BEGIN IMMEDIATE", err);
}

static int sqlite_commit(struct fr_store *s, char **err)
{
	return exec_sql((struct sqlite_store *)s, "COMMIT", err);
}

static void sqlite_rollback(struct fr_store *s)
{
	sqlite3_exec(((struct sqlite_store *)s)->db, "ROLLBACK", NULL, NULL, NULL);
}

static int sqlite_execution_put(struct fr_store *s, const json_t *e,
				const char *input, const char *trace, char **err)
{
	struct sqlite_store *st = (struct sqlite_store *)s;
	sqlite3_stmt *stmt;
	double now = fr_store_now();
	double ms = json_number_value(json_object_get(e, "duration_ms"));

	if (prepare(st, &stmt, "INSERT INTO executions (id, integration, "
		    "instance, flow, trigger, status, error, started_at, "
		    "finished_at, duration_ms, input, trace, attempt) VALUES "
		    "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO "
		    "UPDATE SET status = excluded.status, error = excluded.error, "
		    "started_at = excluded.started_at, finished_at = "
		    "excluded.finished_at, duration_ms = excluded.duration_ms, "
		    "trace = excluded.trace, attempt = excluded.attempt", err) < 0)
		return -1;
	bind_field(stmt, 1, e, "id");
	bind_field(stmt, 2, e, "integration");
	bind_field(stmt, 3, e, "instance");
	bind_field(stmt, 4, e, "flow");
	bind_field(stmt, 5, e, "trigger");
	bind_field(stmt, 6, e, "status");
	bind_field(stmt, 7, e, "error");
	sqlite3_bind_double(stmt, 8, now - ms / 1000.0);
	sqlite3_bind_double(stmt, 9, now);
	sqlite3_bind_double(stmt, 10, ms);
	sqlite3_bind_text(stmt, 11, input, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 12, trace, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 13, (int)json_integer_value(json_object_get(e, "attempt")));
	return step_done(st, stmt, "cannot record an execution", err);
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

static int sqlite_set_synchronous(struct fr_store *s, bool on, char **err)
{
	return exec_sql((struct sqlite_store *)s, on ? "PRAGMA synchronous = FULL"
						     : "PRAGMA synchronous = NORMAL",
			err);
}

static int sqlite_set_checkpoints(struct fr_store *s, bool on, char **err)
{
	return exec_sql((struct sqlite_store *)s, on ? "PRAGMA wal_autocheckpoint = 1000"
						     : "PRAGMA wal_autocheckpoint = 0",
			err);
}

static int sqlite_checkpoint(struct fr_store *s, bool wait, char **err)
{
	return exec_sql((struct sqlite_store *)s, wait ? "PRAGMA wal_checkpoint(FULL)"
						       : "PRAGMA wal_checkpoint(PASSIVE)",
			err);
}

static const struct fr_store_ops sqlite_ops = {
	.checkpoint = sqlite_checkpoint,
	.set_synchronous = sqlite_set_synchronous,
	.set_checkpoints = sqlite_set_checkpoints,
	.begin = sqlite_begin,
	.commit = sqlite_commit,
	.rollback = sqlite_rollback,
	.execution_put = sqlite_execution_put,
	.replay = sqlite_replay,
	.delivery_add = sqlite_delivery_add,
	.delivery_get = sqlite_delivery_get,
	.delivery_pending = sqlite_delivery_pending,
	.delivery_update = sqlite_delivery_update,
	.close = sqlite_close,
	.execution_begin = sqlite_execution_begin,
	.execution_finish = sqlite_execution_finish,
	.execution_list = sqlite_execution_list,
	.execution_get = sqlite_execution_get,
	.state_get = sqlite_state_get,
	.state_set = sqlite_state_set,
	.deployment_add = sqlite_deployment_add,
	.deployment_list = sqlite_deployment_list,
	.check = sqlite_check,
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

int fr_store_sqlite_open(struct fr_store **out, const char *path, char **err)
{
	struct sqlite_store *st;

	*out = NULL;
	*err = NULL;
	if (!*path) {
		*err = fr_xstrdup("the store URL names no file");
		return -1;
	}
	if (make_parent(path, err) < 0)
		return -1;
	st = fr_xcalloc(1, sizeof(*st));
	st->base.ops = &sqlite_ops;
	st->base.url = fr_xasprintf("sqlite:%s", path);
	st->path = fr_xstrdup(path);
	if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		fail(st, err, "cannot open");
		sqlite_close(&st->base);
		return -1;
	}
	sqlite3_busy_handler(st->db, busy_wait, NULL);
	/* refuse a newer schema before changing anything in the file */
	if (check_version(st, err) < 0 ||
	    exec_sql(st, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;",
		     err) < 0 || migrate(st, err) < 0) {
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
