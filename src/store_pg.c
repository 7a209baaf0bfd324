/*
 * store_pg: the PostgreSQL backend of the store (with store_pg_queue.c, the
 * only includer of <libpq-fe.h>).  One connection per handle; many
 * processes share one database.  The queue is claimed with FOR UPDATE SKIP
 * LOCKED under leases; flows with a concurrency bound or fifo order are
 * claimed under a per-flow advisory lock so that the bound holds across
 * processes.
 * The schema is versioned in flowrun_schema and migrated under a session
 * advisory lock, so processes that start together migrate once.
 *
 * Times are double precision seconds since the epoch, bodies bytea, JSON
 * text (kept byte for byte as the caller made it).
 *
 * The URL as given (password included) is kept only to connect; every
 * message goes through scrub(), which replaces the password.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store_pg_int.h"
#include "util.h"

/* The key of the session advisory lock held while migrating. */
#define MIGRATE_LOCK "7452316021"

/* Each entry moves the schema from version i to i + 1. */
static const char *const migrations[] = {
	/* 1: executions, state, deployments, the delivery queue */
	"CREATE TABLE executions ("
	"  id text PRIMARY KEY,"
	"  integration text NOT NULL,"
	"  instance text NOT NULL,"
	"  flow text NOT NULL,"
	"  trigger text NOT NULL,"
	"  status text NOT NULL,"
	"  origin text NOT NULL DEFAULT 'run',"
	"  attempt integer NOT NULL DEFAULT 1,"
	"  error text,"
	"  started_at double precision NOT NULL DEFAULT 0,"
	"  finished_at double precision,"
	"  duration_ms double precision,"
	"  input text,"
	"  trace text,"
	"  replay_of text,"
	"  replayed_as text);"
	"CREATE INDEX executions_by_time ON executions(started_at DESC);"
	"CREATE INDEX executions_by_flow ON executions(integration, flow,"
	"  started_at DESC);"
	/* value NULL: a row made only to be locked by an update */
	"CREATE TABLE state ("
	"  integration text NOT NULL,"
	"  instance text NOT NULL,"
	"  key text NOT NULL,"
	"  value text,"
	"  updated_at double precision NOT NULL,"
	"  PRIMARY KEY (integration, instance, key));"
	"CREATE TABLE deployments ("
	"  id bigserial PRIMARY KEY,"
	"  integration text NOT NULL,"
	"  instance text NOT NULL,"
	"  file_hash text,"
	"  outcome text,"
	"  started_at double precision NOT NULL,"
	"  finished_at double precision,"
	"  summary text);"
	"CREATE TABLE deliveries ("
	"  seq bigserial PRIMARY KEY,"
	"  id text NOT NULL UNIQUE,"
	"  integration text NOT NULL,"
	"  instance text NOT NULL,"
	"  flow text NOT NULL,"
	"  received_at double precision NOT NULL,"
	"  request text,"
	"  body bytea,"
	"  trigger text,"
	"  dedupe_key text,"
	"  status text NOT NULL DEFAULT 'queued',"
	"  attempts integer NOT NULL DEFAULT 0,"
	"  next_at double precision NOT NULL DEFAULT 0,"
	"  owner text,"
	"  lease_until double precision NOT NULL DEFAULT 0,"
	"  max_running integer NOT NULL DEFAULT 0,"
	"  fifo boolean NOT NULL DEFAULT false,"
	"  origin text NOT NULL DEFAULT 'serve',"
	"  replay_of text);"
	"CREATE UNIQUE INDEX deliveries_dedupe ON deliveries(integration,"
	"  instance, flow, dedupe_key) WHERE dedupe_key IS NOT NULL;"
	/* what claims read: the open deliveries, free ones and bounded ones */
	"CREATE INDEX deliveries_free ON deliveries(seq) WHERE status IN"
	"  ('queued', 'retrying', 'running') AND max_running = 0 AND NOT fifo;"
	"CREATE INDEX deliveries_bounded ON deliveries(integration, instance,"
	"  flow, seq) WHERE status IN ('queued', 'retrying', 'running') AND"
	"  (max_running > 0 OR fifo);"
	"CREATE INDEX deliveries_by_owner ON deliveries(owner)"
	"  WHERE status = 'running';",
	/* 2: who runs a running run (fr_store_reap) */
	"ALTER TABLE executions ADD COLUMN runner text;",
	/* 3: connections: sealed tokens, pending authorizations (the refresh
	 * lock is an advisory lock) */
	"CREATE TABLE tokens ("
	"  integration text NOT NULL,"
	"  instance text NOT NULL,"
	"  connection text NOT NULL,"
	"  status text NOT NULL,"
	"  expires_at double precision,"
	"  scopes text,"
	"  sealed bytea,"
	"  updated_at double precision NOT NULL,"
	"  PRIMARY KEY (integration, instance, connection));"
	"CREATE TABLE pending_authorizations ("
	"  state text PRIMARY KEY,"
	"  integration text NOT NULL,"
	"  instance text NOT NULL,"
	"  connection text NOT NULL,"
	"  redirect_uri text,"
	"  sealed bytea,"
	"  expires_at double precision NOT NULL);",
};

/* What a delivery row holds, in the order the queries below give it. */
#define DELIVERY_COLUMNS "d.id, d.integration, d.instance, d.flow, " \
	"d.request, d.body, d.trigger, d.dedupe_key, d.max_running, d.fifo, " \
	"d.origin, d.replay_of, d.status, d.attempts, d.next_at, d.seq"

/* A delivery that a claim may take at $1 (now). */
#define READY "((d.status IN ('queued', 'retrying') AND d.next_at <= $1) OR " \
	"(d.status = 'running' AND d.lease_until < $1))"

#define CLAIM_SET "UPDATE deliveries d SET status = 'running', owner = $2, " \
	"lease_until = $1::float8 + $3::float8, attempts = d.attempts + 1 FROM c " \
	"WHERE d.seq = c.seq RETURNING " DELIVERY_COLUMNS

#define OF_FLOW "d.integration = $5 AND d.instance = $6 AND d.flow = $7"

/*
 * Every execution as runs and show see it: the recorded ones, and the
 * deliveries that have no record yet.  at orders them (the start, or
 * the arrival).
 */
#define EXECUTIONS_VIEW "(SELECT e.id, e.integration, e.instance, e.flow, " \
	"e.trigger, e.status, e.origin, e.attempt, e.error, e.started_at, " \
	"e.finished_at, e.duration_ms, e.replay_of, e.replayed_as, " \
	"CASE WHEN e.started_at > 0 THEN e.started_at ELSE " \
	"coalesce(q.received_at, 0) END AS at, coalesce(q.seq, 0) AS seq, " \
	"e.input, e.trace FROM executions e LEFT JOIN deliveries q ON q.id = e.id " \
	"UNION ALL SELECT d.id, d.integration, d.instance, d.flow, " \
	"coalesce(o.trigger, CASE WHEN d.request IS NOT NULL THEN 'webhook' " \
	"ELSE 'schedule' END), d.status, d.origin, greatest(d.attempts, 1), " \
	"NULL, 0, NULL, NULL, d.replay_of, NULL, d.received_at, d.seq, " \
	"NULL, NULL FROM deliveries d LEFT JOIN executions o ON o.id = d.replay_of " \
	"WHERE d.status IN ('queued', 'retrying', 'running') AND NOT EXISTS " \
	"(SELECT 1 FROM executions x WHERE x.id = d.id)) r"

#define EXECUTION_COLUMNS "r.id, r.integration, r.instance, r.flow, " \
	"r.trigger, r.status, r.origin, r.attempt, r.error, r.started_at, " \
	"r.finished_at, r.duration_ms, r.replay_of, r.replayed_as"


static const char *const statements[S_COUNT] = {
	/*
	 * The new delivery's seq, or (a dedupe key seen before) the earlier
	 * one's id; an id stored already is an error.  The earlier one may
	 * be missing from this statement's snapshot when another
	 * transaction committed it meanwhile: S_DUP_OF finds it then.
	 */
	[S_PUSH] = "WITH ins AS (INSERT INTO deliveries (id, integration, "
		"instance, flow, received_at, request, body, trigger, dedupe_key, "
		"status, attempts, next_at, owner, lease_until, max_running, fifo, "
		"origin, replay_of) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, "
		"$10, $11, $12, $13, $14, $15, $16, $17, $18) ON CONFLICT "
		"(integration, instance, flow, dedupe_key) WHERE dedupe_key IS NOT "
		"NULL DO NOTHING RETURNING seq) SELECT (SELECT seq FROM ins), "
		"(SELECT id FROM deliveries WHERE $9::text IS NOT NULL AND "
		"integration = $2 AND instance = $3 AND flow = $4 AND dedupe_key = "
		"$9 AND NOT EXISTS (SELECT 1 FROM ins))",
	[S_DUP_OF] = "SELECT id FROM deliveries WHERE integration = $1 AND "
		"instance = $2 AND flow = $3 AND dedupe_key = $4",
	/* $1 now, $2 owner, $3 lease, $4 how many */
	[S_CLAIM] = "WITH c AS (SELECT d.seq FROM deliveries d WHERE "
		"d.status IN ('queued', 'retrying', 'running') AND d.max_running = 0 "
		"AND NOT d.fifo AND " READY " ORDER BY d.seq LIMIT $4 "
		"FOR UPDATE SKIP LOCKED) " CLAIM_SET,
	[S_LIMITED_FLOWS] = "SELECT d.integration, d.instance, d.flow, "
		"max(d.max_running), bool_or(d.fifo) FROM deliveries d WHERE "
		"d.status IN ('queued', 'retrying', 'running') AND "
		"(d.max_running > 0 OR d.fifo) AND " READY " GROUP BY 1, 2, 3 "
		"ORDER BY min(d.seq) LIMIT 64",
	/* not waiting: a flow locked by another claim is being served */
	[S_LOCK_FLOW] = "SELECT pg_try_advisory_xact_lock(hashtext($1 || '/' || "
		"$2 || '/' || $3))",
	/* $4 how many at most, $5-$7 the flow, $8 its bound */
	[S_CLAIM_BOUNDED] = "WITH c AS (SELECT d.seq FROM deliveries d WHERE "
		"d.status IN ('queued', 'retrying', 'running') AND " OF_FLOW
		" AND " READY " ORDER BY d.seq LIMIT greatest(0, least($4, $8 - "
		"(SELECT count(*) FROM deliveries r WHERE r.integration = $5 AND "
		"r.instance = $6 AND r.flow = $7 AND r.status = 'running' AND "
		"r.lease_until >= $1))) FOR UPDATE SKIP LOCKED) " CLAIM_SET,
	/* the oldest unfinished delivery of the flow, when it may run */
	[S_CLAIM_FIFO] = "WITH h AS (SELECT d.seq, d.status, d.next_at, "
		"d.lease_until FROM deliveries d WHERE d.status IN ('queued', "
		"'retrying', 'running') AND " OF_FLOW " AND $4 > 0 ORDER BY d.seq "
		"LIMIT 1), c AS (SELECT d.seq FROM h d WHERE " READY ") " CLAIM_SET,
	[S_RENEW] = "UPDATE deliveries SET lease_until = $2::float8 + $3::float8 WHERE "
		"owner = $1 AND status = 'running'",
	/* given back unrun (queued): that claim's attempt does not count */
	[S_FINISH] = "UPDATE deliveries SET status = $3, next_at = $4, "
		"owner = NULL, lease_until = 0, attempts = CASE WHEN $3 = 'queued' "
		"AND attempts > 0 THEN attempts - 1 ELSE attempts END "
		"WHERE id = $1 AND ($2::text IS NULL "
		"OR (owner = $2 AND status = 'running'))",
	[S_DELIVERY_GET] = "SELECT " DELIVERY_COLUMNS " FROM deliveries d "
		"WHERE d.id = $1",
	/* $1 new id, $2 now, $3 the execution replayed */
	[S_REPLAY] = "WITH n AS (INSERT INTO deliveries (id, integration, "
		"instance, flow, received_at, request, body, trigger, max_running, "
		"fifo, origin, replay_of) SELECT $1, e.integration, e.instance, "
		"e.flow, $2, d.request, d.body, CASE WHEN d.seq IS NULL THEN "
		"e.input ELSE d.trigger END, coalesce(d.max_running, 0), "
		"coalesce(d.fifo, false), 'replay', e.id FROM executions e LEFT "
		"JOIN deliveries d ON d.id = e.id WHERE e.id = $3 RETURNING "
		"replay_of) UPDATE executions SET replayed_as = $1 FROM n WHERE "
		"executions.id = n.replay_of RETURNING executions.id",
	[S_EXECUTION_PUT] = "INSERT INTO executions (id, integration, instance, "
		"flow, trigger, status, origin, attempt, error, started_at, "
		"finished_at, duration_ms, replay_of, input, trace) VALUES ($1, $2, "
		"$3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) ON "
		"CONFLICT (id) DO UPDATE SET integration = excluded.integration, "
		"instance = excluded.instance, flow = excluded.flow, trigger = "
		"excluded.trigger, status = excluded.status, origin = "
		"excluded.origin, attempt = excluded.attempt, error = "
		"excluded.error, started_at = excluded.started_at, finished_at = "
		"excluded.finished_at, duration_ms = excluded.duration_ms, "
		"replay_of = coalesce(excluded.replay_of, executions.replay_of), "
		"input = coalesce(excluded.input, executions.input), trace = "
		"excluded.trace",
	/*
	 * $1 flow, $2 integration, $3 instance, $4 status, $5 origin,
	 * $6 trigger, $7 id prefix, $8 since, $9 limit, $10 not replayed,
	 * $11 a delivery's execution id, $12 its dedupe key (a delivery is
	 * either)
	 */
	[S_EXECUTION_LIST] = "SELECT " EXECUTION_COLUMNS " FROM "
		EXECUTIONS_VIEW " WHERE ($1::text IS NULL OR r.flow = $1) AND "
		"($2::text IS NULL OR r.integration = $2) AND ($3::text IS NULL OR "
		"r.instance = $3) AND ($4::text IS NULL OR r.status = $4) AND "
		"($5::text IS NULL OR r.origin = $5) AND ($6::text IS NULL OR "
		"r.trigger = $6) AND ($7::text IS NULL OR left(r.id, "
		"length($7)) = $7) AND r.at >= $8 AND (NOT $10::boolean OR "
		"r.replayed_as IS NULL) AND ($11::text IS NULL OR r.id = $11 OR "
		"r.replay_of = $11 OR r.id IN (SELECT id "
		"FROM deliveries WHERE dedupe_key = $12) OR r.replay_of IN (SELECT "
		"id FROM deliveries WHERE dedupe_key = $12)) ORDER BY r.at "
		"DESC, r.seq DESC, r.id DESC LIMIT $9",
	[S_EXECUTION_GET] = "SELECT " EXECUTION_COLUMNS ", r.input, r.trace "
		"FROM " EXECUTIONS_VIEW " WHERE r.id = $1",
	[S_STATE_GET] = "SELECT key, value FROM state WHERE integration = $1 "
		"AND instance = $2 AND value IS NOT NULL ORDER BY key",
	[S_STATE_LIST] = "SELECT integration, instance, key, value, updated_at "
		"FROM state WHERE ($1::text IS NULL OR integration = $1) AND "
		"($2::text IS NULL OR instance = $2) AND ($3::text IS NULL OR key = "
		"$3) AND value IS NOT NULL ORDER BY integration, instance, key",
	[S_STATE_SET] = "INSERT INTO state (integration, instance, key, value, "
		"updated_at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (integration, "
		"instance, key) DO UPDATE SET value = excluded.value, updated_at = "
		"excluded.updated_at",
	[S_STATE_DELETE] = "DELETE FROM state WHERE integration = $1 AND "
		"instance = $2 AND key = $3",
	/* the row, made when missing, locked until the transaction ends */
	[S_STATE_LOCK] = "INSERT INTO state AS s (integration, instance, key, "
		"value, updated_at) VALUES ($1, $2, $3, NULL, $4) ON CONFLICT "
		"(integration, instance, key) DO UPDATE SET value = s.value "
		"RETURNING s.value",
	[S_STATE_WRITE] = "UPDATE state SET value = $4, updated_at = $5 WHERE "
		"integration = $1 AND instance = $2 AND key = $3",
	[S_DEPLOYMENT_ADD] = "INSERT INTO deployments (integration, instance, "
		"file_hash, outcome, started_at, finished_at, summary) VALUES ($1, "
		"$2, $3, $4, $5, $6, $7)",
	[S_DEPLOYMENT_LIST] = "SELECT integration, instance, file_hash, "
		"outcome, started_at, finished_at, summary FROM deployments ORDER "
		"BY id DESC LIMIT 100",
};


/* msg with every secret replaced by *** (caller frees). */
static char *scrub(const struct pg_store *st, const char *msg)
{
	struct fr_buf b;
	const char *p = msg;
	size_t len = strlen(msg);

	while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		len--;
	fr_buf_init(&b);
	while (p < msg + len) {
		size_t hit = 0;
		for (size_t i = 0; i < FR_ARRAY_LEN(st->secrets); i++) {
			size_t n = st->secrets[i] ? strlen(st->secrets[i]) : 0;
			if (n && (size_t)(msg + len - p) >= n &&
			    memcmp(p, st->secrets[i], n) == 0 && n > hit)
				hit = n;
		}
		if (hit) {
			fr_buf_puts(&b, "***");
			p += hit;
		} else {
			fr_buf_putc(&b, *p++);
		}
	}
	return fr_buf_steal(&b);
}

/* Sets *err to "store URL: what: the server's words" and returns -1. */
int pgs_fail_msg(struct pg_store *st, char **err, const char *what,
		 const char *why)
{
	char *clean = scrub(st, why && *why ? why : "unknown error");
	size_t n = strlen(clean);

	/* libpq's messages run over lines ("...\n\tIs the server running"):
	 * one line, as every flowrun message */
	while (n && (clean[n - 1] == '\n' || clean[n - 1] == ' '))
		clean[--n] = '\0';
	for (char *p = clean; *p; p++) {
		if (*p == '\n' || *p == '\t')
			*p = ' ';
	}
	*err = fr_xasprintf("store %s: %s: %s", st->base.url, what, clean);
	free(clean);
	return -1;
}

int pgs_fail(struct pg_store *st, char **err, const char *what)
{
	char *why;
	int rc;

	if (PQstatus(st->conn) == CONNECTION_OK)
		return pgs_fail_msg(st, err, what, PQerrorMessage(st->conn));
	why = fr_xasprintf("the connection to the database was lost (the "
			   "next call connects again): %s",
			   PQerrorMessage(st->conn));
	rc = pgs_fail_msg(st, err, what, why);
	free(why);
	return rc;
}

static char *percent_decoded(const char *s, size_t n)
{
	char *out = fr_xmalloc(n + 1), *o = out;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%' && i + 2 < n && fr_hex_digit(s[i + 1]) >= 0 &&
		    fr_hex_digit(s[i + 2]) >= 0) {
			*o++ = (char)(fr_hex_digit(s[i + 1]) * 16 + fr_hex_digit(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return out;
}

/*
 * Notes the passwords in url (user:PASSWORD@ and ?password=...), as
 * written and decoded, for scrub().
 */
static void find_secrets(struct pg_store *st, const char *url)
{
	const char *rest = strstr(url, "://"), *at, *colon, *q;
	size_t k = 0;

	if (!rest)
		return;
	rest += 3;
	at = strchr(rest, '@');
	colon = at ? memchr(rest, ':', (size_t)(at - rest)) : NULL;
	if (colon && at > colon + 1) {
		st->secrets[k++] = fr_xstrndup(colon + 1, (size_t)(at - colon - 1));
		st->secrets[k++] = percent_decoded(colon + 1,
						   (size_t)(at - colon - 1));
	}
	q = strstr(url, "password=");
	if (q && (q[-1] == '?' || q[-1] == '&')) {
		q += strlen("password=");
		size_t n = strcspn(q, "&");
		if (n) {
			st->secrets[k++] = fr_xstrndup(q, n);
			st->secrets[k++] = percent_decoded(q, n);
		}
	}
}

/* The URL shown: the password of user:password@ and ?password= hidden. */
static char *shown_url(const char *url)
{
	char *shown = fr_store_url_redacted(url), *q = strstr(shown, "password=");

	if (q && q > shown && (q[-1] == '?' || q[-1] == '&')) {
		size_t head = (size_t)(q - shown) + strlen("password=");
		char *out = fr_xasprintf("%.*s***%s", (int)head, shown,
					 shown + head + strcspn(shown + head, "&"));
		free(shown);
		return out;
	}
	return shown;
}

/* Server notices (NOTICE, WARNING) are not flowrun's output. */
static void ignore_notice(void *data, const char *message)
{
	(void)data;
	(void)message;
}

static int connect_db(struct pg_store *st, char **err)
{
	/* the URL's own settings win over these defaults (later keys) */
	const char *const keys[] = { "connect_timeout", "application_name",
				     "dbname", NULL };
	const char *const values[] = { "10", "flowrun", st->url, NULL };

	if (st->conn)
		PQfinish(st->conn);
	st->conn = PQconnectdbParams(keys, values, 1);
	memset(st->prepared, 0, sizeof(st->prepared));
	st->listening = false;
	st->in_tx = false;
	if (!st->conn) {
		*err = fr_xasprintf("store %s: cannot connect: out of memory",
				    st->base.url);
		return -1;
	}
	PQsetNoticeProcessor(st->conn, ignore_notice, NULL);
	if (PQstatus(st->conn) != CONNECTION_OK)
		return pgs_fail_msg(st, err, "cannot connect",
				PQerrorMessage(st->conn));
	return 0;
}

/*
 * Makes sure the connection is up, reconnecting when it was lost.  A
 * transaction that the lost connection took with it is an error until
 * the caller ends it (commit or rollback).
 */
int pgs_ensure_connected(struct pg_store *st, char **err)
{
	if (PQstatus(st->conn) == CONNECTION_OK && !st->broken)
		return 0;
	if (st->in_tx)
		return pgs_fail_msg(st, err, "the transaction was lost",
				"the connection to the database was lost");
	if (st->broken) {
		if (connect_db(st, err) < 0)
			return -1;
		st->broken = false;
		return 0;
	}
	PQreset(st->conn);
	memset(st->prepared, 0, sizeof(st->prepared));
	st->listening = false;
	if (PQstatus(st->conn) != CONNECTION_OK)
		return pgs_fail_msg(st, err, "cannot reach the database",
				PQerrorMessage(st->conn));
	return 0;
}

/* Runs sql (no parameters); returns its result when it succeeded. */
static PGresult *exec_sql(struct pg_store *st, const char *sql,
			  const char *what, char **err)
{
	PGresult *res;
	ExecStatusType rc;

	if (pgs_ensure_connected(st, err) < 0)
		return NULL;
	res = PQexec(st->conn, sql);
	rc = PQresultStatus(res);
	if (rc == PGRES_COMMAND_OK || rc == PGRES_TUPLES_OK)
		return res;
	if (res && PQstatus(st->conn) == CONNECTION_OK)
		pgs_fail_msg(st, err, what, PQresultErrorMessage(res));
	else
		pgs_fail(st, err, what);
	PQclear(res);
	return NULL;
}

static int exec_ok(struct pg_store *st, const char *sql, const char *what,
		   char **err)
{
	PGresult *res = exec_sql(st, sql, what, err);

	PQclear(res);
	return res ? 0 : -1;
}


void pgs_p_text(struct params *p, const char *s)
{
	p->v[p->n] = s;
	p->len[p->n] = 0;
	p->fmt[p->n] = 0;
	p->n++;
}

void pgs_p_bytes(struct params *p, const char *s, size_t len)
{
	p->v[p->n] = s;
	p->len[p->n] = (int)len;
	p->fmt[p->n] = 1;
	p->n++;
}

void pgs_p_double(struct params *p, double d)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%.17g", d);
	pgs_p_text(p, p->num[p->n]);
}

void pgs_p_int(struct params *p, long long i)
{
	snprintf(p->num[p->n], sizeof(p->num[0]), "%lld", i);
	pgs_p_text(p, p->num[p->n]);
}

void pgs_p_bool(struct params *p, bool b)
{
	pgs_p_text(p, b ? "t" : "f");
}

/* Prepares statement k on this connection once; name gets its name. */
int pgs_prepare(struct pg_store *st, enum stmt k, char name[16],
		const char *what, char **err)
{
	PGresult *res;

	snprintf(name, 16, "fr%d", (int)k);
	if (st->prepared[k])
		return 0;
	res = PQprepare(st->conn, name, statements[k], 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		if (res && PQstatus(st->conn) == CONNECTION_OK)
			pgs_fail_msg(st, err, what, PQresultErrorMessage(res));
		else
			pgs_fail(st, err, what);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	st->prepared[k] = true;
	return 0;
}

/* Whether res is a success; else sets *err and clears res. */
bool pgs_result_ok(struct pg_store *st, PGresult *res, const char *what,
		   char **err)
{
	ExecStatusType rc = PQresultStatus(res);

	if (rc == PGRES_COMMAND_OK || rc == PGRES_TUPLES_OK)
		return true;
	if (res && PQstatus(st->conn) == CONNECTION_OK)
		pgs_fail_msg(st, err, what, PQresultErrorMessage(res));
	else
		pgs_fail(st, err, what);
	PQclear(res);
	return false;
}

/* Runs prepared statement k; returns its result when it succeeded. */
PGresult *pgs_run(struct pg_store *st, enum stmt k, const struct params *p,
		     const char *what, char **err)
{
	char name[16];
	PGresult *res;

	if (pgs_ensure_connected(st, err) < 0 || pgs_prepare(st, k, name, what, err) < 0)
		return NULL;
	res = PQexecPrepared(st->conn, name, p ? p->n : 0, p ? p->v : NULL,
			     p ? p->len : NULL, p ? p->fmt : NULL, 0);
	return pgs_result_ok(st, res, what, err) ? res : NULL;
}

int pgs_run_ok(struct pg_store *st, enum stmt k, const struct params *p,
	       const char *what, char **err)
{
	PGresult *res = pgs_run(st, k, p, what, err);

	PQclear(res);
	return res ? 0 : -1;
}

/* Column helpers: NULL stays NULL (or 0). */
char *pgs_col_str(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL
		: fr_xstrdup(PQgetvalue(res, row, col));
}

double pgs_col_double(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0
		: strtod(PQgetvalue(res, row, col), NULL);
}

long long pgs_col_int(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0
		: strtoll(PQgetvalue(res, row, col), NULL, 10);
}

json_t *pgs_col_json(const PGresult *res, int row, int col)
{
	const char *s;
	json_t *j;

	if (PQgetisnull(res, row, col))
		return NULL;
	s = PQgetvalue(res, row, col);
	j = json_loadb(s, (size_t)PQgetlength(res, row, col),
		       JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	return j ? j : json_string(s);
}

char *pgs_json_text(const json_t *j)
{
	return j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

/* Opens a transaction of our own unless the caller holds one. */
int pgs_own_begin(struct pg_store *st, bool *own, char **err)
{
	*own = !st->in_tx;
	return *own ? exec_ok(st, "BEGIN", "cannot begin a transaction", err) : 0;
}

int pgs_own_commit(struct pg_store *st, bool own, char **err)
{
	return own ? exec_ok(st, "COMMIT", "cannot commit", err) : 0;
}

void pgs_own_rollback(struct pg_store *st, bool own)
{
	char *err = NULL;

	if (own && PQstatus(st->conn) == CONNECTION_OK)
		exec_ok(st, "ROLLBACK", "cannot roll back", &err);
	free(err);
}

static void pg_close(struct fr_store *s)
{
	struct pg_store *st = (struct pg_store *)s;

	if (st->conn)
		PQfinish(st->conn);
	for (size_t i = 0; i < FR_ARRAY_LEN(st->secrets); i++)
		free(st->secrets[i]);
	free(st->url);
	free(st->base.url);
	free(st);
}

static int pg_begin(struct fr_store *s, enum fr_durability d, char **err)
{
	struct pg_store *st = (struct pg_store *)s;

	if (st->in_tx) {
		*err = fr_xasprintf("store %s: a transaction is open already",
				    st->base.url);
		return -1;
	}
	if (exec_ok(st, d == FR_LAZY ? "BEGIN; SET LOCAL synchronous_commit = off"
				      : "BEGIN", "cannot begin a transaction",
		    err) < 0)
		return -1;
	st->in_tx = true;
	return 0;
}

static int pg_commit(struct fr_store *s, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	PGresult *res;
	bool rolled_back;

	if (!st->in_tx) {
		*err = fr_xasprintf("store %s: commit without a transaction",
				    st->base.url);
		return -1;
	}
	if (PQstatus(st->conn) != CONNECTION_OK) {
		st->in_tx = false;
		return pgs_fail_msg(st, err, "cannot commit", "the connection to "
				"the database was lost with the transaction");
	}
	st->in_tx = false;
	if (!(res = exec_sql(st, "COMMIT", "cannot commit", err)))
		return -1;
	/* a transaction that failed earlier answers COMMIT with ROLLBACK */
	rolled_back = strcmp(PQcmdStatus(res), "ROLLBACK") == 0;
	PQclear(res);
	if (rolled_back)
		return pgs_fail_msg(st, err, "cannot commit", "an earlier statement "
				"of the transaction failed; it was rolled back");
	return 0;
}

static void pg_rollback(struct fr_store *s)
{
	struct pg_store *st = (struct pg_store *)s;

	if (!st->in_tx)
		return;
	st->in_tx = false;
	pgs_own_rollback(st, true);
}

static int pg_check(struct fr_store *s, char **err)
{
	return exec_ok((struct pg_store *)s, "SELECT 1",
		       "the database does not answer", err);
}

static int pg_serve_lock(struct fr_store *s, char **err)
{
	return 0;
}

static int pg_maintain(struct fr_store *s, bool wait, char **err)
{
	return 0;
}

/* Takes the notifications that came; true when one was ours. */
static bool drain_notifies(struct pg_store *st)
{
	PGnotify *n;
	bool woken = false;

	while ((n = PQnotifies(st->conn))) {
		woken = true;
		PQfreemem(n);
	}
	return woken;
}

static int pg_wait(struct fr_store *s, double timeout_s, bool *woken,
		   char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct pollfd pfd;
	double deadline = fr_store_now() + timeout_s;

	*woken = false;
	if (pgs_ensure_connected(st, err) < 0)
		return -1;
	if (!st->listening) {
		if (exec_ok(st, "LISTEN flowrun_queue", "cannot listen", err) < 0)
			return -1;
		st->listening = true;
	}
	for (;;) {
		double left = deadline - fr_store_now();
		int rc;

		if ((*woken = drain_notifies(st)))
			return 0;
		if (left <= 0)
			return 0;
		pfd.fd = PQsocket(st->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0)
			return pgs_fail(st, err, "cannot wait for notifications");
		rc = poll(&pfd, 1, (int)(left * 1000) + 1);
		if (rc < 0 && errno != EINTR)
			return pgs_fail_msg(st, err, "cannot wait for notifications",
					strerror(errno));
		if (rc > 0 && (!PQconsumeInput(st->conn) ||
			       PQstatus(st->conn) != CONNECTION_OK))
			return pgs_fail(st, err, "cannot wait for notifications");
	}
}

static int pg_notify(struct fr_store *s, char **err)
{
	return exec_ok((struct pg_store *)s, "NOTIFY flowrun_queue",
		       "cannot notify", err);
}

static int pg_execution_put(struct fr_store *s, const struct fr_execution *e,
			    char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };

	pgs_p_text(&p, e->id);
	pgs_p_text(&p, e->integration);
	pgs_p_text(&p, e->instance);
	pgs_p_text(&p, e->flow);
	pgs_p_text(&p, e->trigger ? e->trigger : "manual");
	pgs_p_text(&p, fr_status_name(e->status));
	pgs_p_text(&p, fr_origin_name(e->origin));
	pgs_p_int(&p, e->attempt > 0 ? e->attempt : 1);
	pgs_p_text(&p, e->error);
	pgs_p_double(&p, e->started_at);
	if (e->finished_at > 0)
		pgs_p_double(&p, e->finished_at);
	else
		pgs_p_text(&p, NULL);
	if (e->finished_at > 0)
		pgs_p_double(&p, e->duration_ms);
	else
		pgs_p_text(&p, NULL);
	pgs_p_text(&p, e->replay_of);
	pgs_p_text(&p, e->input);
	pgs_p_text(&p, e->trace);
	return pgs_run_ok(st, S_EXECUTION_PUT, &p, "cannot record an execution", err);
}

/* Row i of an execution query (EXECUTION_COLUMNS first). */
static void execution_row(const PGresult *res, int i, struct fr_execution *e)
{
	char *s;

	memset(e, 0, sizeof(*e));
	e->id = pgs_col_str(res, i, 0);
	e->integration = pgs_col_str(res, i, 1);
	e->instance = pgs_col_str(res, i, 2);
	e->flow = pgs_col_str(res, i, 3);
	e->trigger = pgs_col_str(res, i, 4);
	s = PQgetvalue(res, i, 5);
	if (fr_status_parse(s, &e->status) < 0)
		e->status = FR_STATUS_FAILED;
	s = PQgetvalue(res, i, 6);
	if (fr_origin_parse(s, &e->origin) < 0)
		e->origin = FR_ORIGIN_RUN;
	e->attempt = (int)pgs_col_int(res, i, 7);
	e->error = pgs_col_str(res, i, 8);
	e->started_at = pgs_col_double(res, i, 9);
	e->finished_at = pgs_col_double(res, i, 10);
	e->duration_ms = pgs_col_double(res, i, 11);
	e->replay_of = pgs_col_str(res, i, 12);
	e->replayed_as = pgs_col_str(res, i, 13);
}

static int pg_execution_list(struct fr_store *s,
			     const struct fr_execution_filter *f,
			     struct fr_execution **out, size_t *n, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct fr_execution_filter none = { .limit = 0 };
	struct params p = { .n = 0 };
	const char *slash;
	char *integration = NULL;
	PGresult *res;

	*out = NULL;
	*n = 0;
	if (!f)
		f = &none;
	slash = f->flow ? strchr(f->flow, '/') : NULL;
	if (slash)
		integration = fr_xstrndup(f->flow, (size_t)(slash - f->flow));
	pgs_p_text(&p, f->flow ? (slash ? slash + 1 : f->flow) : NULL);
	pgs_p_text(&p, integration);
	pgs_p_text(&p, f->instance);
	pgs_p_text(&p, f->status ? fr_status_name(*f->status) : NULL);
	pgs_p_text(&p, f->origin ? fr_origin_name(*f->origin) : NULL);
	pgs_p_text(&p, f->trigger);
	pgs_p_text(&p, f->id_prefix);
	pgs_p_double(&p, f->since);
	pgs_p_int(&p, f->limit > 0 ? f->limit : 50);
	pgs_p_bool(&p, f->not_replayed);
	pgs_p_text(&p, f->delivery);
	pgs_p_text(&p, f->dedupe_key);
	res = pgs_run(st, S_EXECUTION_LIST, &p, "cannot list executions", err);
	free(integration);
	if (!res)
		return -1;
	*n = (size_t)PQntuples(res);
	*out = fr_xcalloc(*n ? *n : 1, sizeof(**out));
	for (size_t i = 0; i < *n; i++)
		execution_row(res, (int)i, &(*out)[i]);
	PQclear(res);
	return 0;
}

static int pg_execution_get(struct fr_store *s, const char *id,
			    struct fr_execution *out, bool *found, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res;

	memset(out, 0, sizeof(*out));
	*found = false;
	pgs_p_text(&p, id);
	if (!(res = pgs_run(st, S_EXECUTION_GET, &p, "cannot read an execution", err)))
		return -1;
	if (PQntuples(res) > 0) {
		execution_row(res, 0, out);
		out->input = pgs_col_str(res, 0, 14);
		out->trace = pgs_col_str(res, 0, 15);
		*found = true;
	}
	PQclear(res);
	return 0;
}

static int pg_state_get(struct fr_store *s, const char *integration,
			const char *instance, json_t **out, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res;

	*out = NULL;
	pgs_p_text(&p, integration);
	pgs_p_text(&p, instance);
	if (!(res = pgs_run(st, S_STATE_GET, &p, "cannot read state", err)))
		return -1;
	*out = json_object();
	for (int i = 0; i < PQntuples(res); i++)
		json_object_set_new(*out, PQgetvalue(res, i, 0),
				    pgs_col_json(res, i, 1));
	PQclear(res);
	return 0;
}

static int pg_state_set(struct fr_store *s, const char *integration,
			const char *instance, const char *key,
			const json_t *value, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	char *text = pgs_json_text(value);
	int rc;

	pgs_p_text(&p, integration);
	pgs_p_text(&p, instance);
	pgs_p_text(&p, key);
	if (value) {
		pgs_p_text(&p, text);
		pgs_p_double(&p, fr_store_now());
		rc = pgs_run_ok(st, S_STATE_SET, &p, "cannot write state", err);
	} else {
		rc = pgs_run_ok(st, S_STATE_DELETE, &p, "cannot delete state", err);
	}
	free(text);
	return rc;
}

static int pg_state_list(struct fr_store *s, const char *integration,
			 const char *instance, const char *key,
			 struct fr_state_row **out, size_t *n, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res;

	*out = NULL;
	*n = 0;
	pgs_p_text(&p, integration);
	pgs_p_text(&p, instance);
	pgs_p_text(&p, key);
	if (!(res = pgs_run(st, S_STATE_LIST, &p, "cannot list state", err)))
		return -1;
	*n = (size_t)PQntuples(res);
	*out = fr_xcalloc(*n ? *n : 1, sizeof(**out));
	for (size_t i = 0; i < *n; i++) {
		struct fr_state_row *r = &(*out)[i];
		r->integration = pgs_col_str(res, (int)i, 0);
		r->instance = pgs_col_str(res, (int)i, 1);
		r->key = pgs_col_str(res, (int)i, 2);
		r->value = pgs_col_json(res, (int)i, 3);
		r->updated_at = pgs_col_double(res, (int)i, 4);
	}
	PQclear(res);
	return 0;
}

static int pg_state_update(struct fr_store *s, const char *integration,
			   const char *instance, const char *key,
			   fr_state_fn fn, void *data, json_t **out, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	PGresult *res = NULL;
	json_t *old = NULL, *new = NULL;
	char *text = NULL;
	bool own;
	int rc = -1;

	if (out)
		*out = NULL;
	if (pgs_own_begin(st, &own, err) < 0)
		return -1;
	pgs_p_text(&p, integration);
	pgs_p_text(&p, instance);
	pgs_p_text(&p, key);
	pgs_p_double(&p, fr_store_now());
	if (!(res = pgs_run(st, S_STATE_LOCK, &p, "cannot lock state", err)))
		goto out;
	old = PQntuples(res) > 0 ? pgs_col_json(res, 0, 0) : NULL;
	if (fn(data, old, &new, err) < 0)
		goto out;
	p.n = 3;
	if (new) {
		text = pgs_json_text(new);
		pgs_p_text(&p, text);
		pgs_p_double(&p, fr_store_now());
		if (pgs_run_ok(st, S_STATE_WRITE, &p, "cannot write state", err) < 0)
			goto out;
	} else if (pgs_run_ok(st, S_STATE_DELETE, &p, "cannot delete state", err) < 0) {
		goto out;
	}
	if (pgs_own_commit(st, own, err) < 0) {
		own = false;
		goto out;
	}
	if (out) {
		*out = new;
		new = NULL;
	}
	rc = 0;
out:
	if (rc < 0)
		pgs_own_rollback(st, own);
	PQclear(res);
	json_decref(old);
	json_decref(new);
	free(text);
	return rc;
}

static int pg_deployment_add(struct fr_store *s, const struct fr_deployment *d,
			     char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	struct params p = { .n = 0 };
	char *summary = pgs_json_text(d->summary);
	int rc;

	pgs_p_text(&p, d->integration);
	pgs_p_text(&p, d->instance);
	pgs_p_text(&p, d->file_hash);
	pgs_p_text(&p, d->outcome);
	pgs_p_double(&p, d->started_at);
	pgs_p_double(&p, d->finished_at);
	pgs_p_text(&p, summary);
	rc = pgs_run_ok(st, S_DEPLOYMENT_ADD, &p, "cannot record a deployment", err);
	free(summary);
	return rc;
}

static int pg_deployment_list(struct fr_store *s, struct fr_deployment **out,
			      size_t *n, char **err)
{
	struct pg_store *st = (struct pg_store *)s;
	PGresult *res;

	*out = NULL;
	*n = 0;
	if (!(res = pgs_run(st, S_DEPLOYMENT_LIST, NULL, "cannot list deployments",
			err)))
		return -1;
	*n = (size_t)PQntuples(res);
	*out = fr_xcalloc(*n ? *n : 1, sizeof(**out));
	for (int i = 0; i < (int)*n; i++) {
		struct fr_deployment *d = &(*out)[i];
		d->integration = pgs_col_str(res, i, 0);
		d->instance = pgs_col_str(res, i, 1);
		d->file_hash = pgs_col_str(res, i, 2);
		d->outcome = pgs_col_str(res, i, 3);
		d->started_at = pgs_col_double(res, i, 4);
		d->finished_at = pgs_col_double(res, i, 5);
		d->summary = pgs_col_json(res, i, 6);
	}
	PQclear(res);
	return 0;
}

static const struct fr_store_ops pg_ops = {
	.close = pg_close,
	.begin = pg_begin,
	.commit = pg_commit,
	.rollback = pg_rollback,
	.check = pg_check,
	.serve_lock = pg_serve_lock,
	.maintain = pg_maintain,
	.wait = pg_wait,
	.notify = pg_notify,
	.execution_put = pg_execution_put,
	.execution_list = pg_execution_list,
	.execution_get = pg_execution_get,
	.state_get = pg_state_get,
	.state_set = pg_state_set,
	.state_list = pg_state_list,
	.state_update = pg_state_update,
	.deployment_add = pg_deployment_add,
	.deployment_list = pg_deployment_list,
	.push = pg_push,
	.claim = pg_claim,
	.renew = pg_renew,
	.finish = pg_finish,
	.delivery_get = pg_delivery_get,
	.replay = pg_replay,
	.prune = pg_prune,
	.stats = pg_stats,
	.set_runner = pg_set_runner,
	.reap = pg_reap,
	.token_read = pg_token_read,
	.token_write = pg_token_write,
	.token_rows = pg_token_rows,
	.token_lock = pg_token_lock,
	.token_unlock = pg_token_unlock,
	.pending_write = pg_pending_write,
	.pending_take = pg_pending_take,
};

/* The schema's version (0: none yet). */
static int schema_version(struct pg_store *st, int *out, char **err)
{
	PGresult *res = exec_sql(st, "SELECT coalesce(max(version), 0) FROM "
				 "flowrun_schema", "cannot read the schema version",
				 err);

	if (!res)
		return -1;
	*out = (int)pgs_col_int(res, 0, 0);
	PQclear(res);
	return 0;
}

/*
 * Moves the schema to the newest version, once: every process that
 * starts takes the advisory lock in turn, and the ones after the first
 * find nothing to do.
 */
static int migrate(struct pg_store *st, char **err)
{
	int version = 0, rc = -1;
	char sql[96];

	if (exec_ok(st, "SELECT pg_advisory_lock(" MIGRATE_LOCK ")",
		    "cannot lock the schema", err) < 0)
		return -1;
	if (exec_ok(st, "CREATE TABLE IF NOT "
		    "EXISTS flowrun_schema (version integer NOT NULL)",
		    "cannot create the schema version table", err) < 0 ||
	    schema_version(st, &version, err) < 0)
		goto out;
	if (version > (int)FR_ARRAY_LEN(migrations)) {
		*err = fr_xasprintf("store %s has schema version %d, newer than "
				    "this flowrun knows (%zu); upgrade flowrun",
				    st->base.url, version,
				    FR_ARRAY_LEN(migrations));
		goto out;
	}
	for (int v = version; v < (int)FR_ARRAY_LEN(migrations); v++) {
		if (exec_ok(st, "BEGIN", "cannot migrate the schema", err) < 0)
			goto out;
		snprintf(sql, sizeof(sql), "DELETE FROM flowrun_schema; INSERT "
			 "INTO flowrun_schema VALUES (%d)", v + 1);
		if (exec_ok(st, migrations[v], "cannot migrate the schema", err) < 0 ||
		    exec_ok(st, sql, "cannot migrate the schema", err) < 0 ||
		    exec_ok(st, "COMMIT", "cannot migrate the schema", err) < 0) {
			pgs_own_rollback(st, true);
			goto out;
		}
	}
	rc = 0;
out:
	if (PQstatus(st->conn) == CONNECTION_OK) {
		char *e2 = NULL;
		exec_ok(st, "SELECT pg_advisory_unlock(" MIGRATE_LOCK ")",
			"cannot unlock the schema", &e2);
		free(e2);
	}
	return rc;
}

int fr_store_pg_open(struct fr_store **out, const char *url, char **err)
{
	struct pg_store *st = fr_xcalloc(1, sizeof(*st));

	*out = NULL;
	*err = NULL;
	st->base.ops = &pg_ops;
	st->base.backend = "postgresql";
	find_secrets(st, url);
	{
		/* the password may appear elsewhere in the URL too */
		char *shown = shown_url(url);
		st->base.url = scrub(st, shown);
		free(shown);
	}
	st->url = fr_xstrdup(url);
	if (connect_db(st, err) < 0 || migrate(st, err) < 0) {
		pg_close(&st->base);
		return -1;
	}
	*out = &st->base;
	return 0;
}

const char *fr_store_pg_version(void)
{
	static char version[32];
	int v = PQlibVersion();

	if (!version[0])
		snprintf(version, sizeof(version), "%d.%d", v / 10000, v % 10000);
	return version;
}
