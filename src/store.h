/*
 * store: what flowrun keeps between processes: executions with their
 * traces, instance state, deployments, and serve's delivery queue.
 *
 * One interface, two backends chosen by URL scheme (a table in store.c):
 *   sqlite:PATH (or a bare PATH)   SQLite in WAL mode, one file, one serve
 *   postgresql://... (postgres://) PostgreSQL, shared by many processes
 * Neither the engine nor serve knows which is underneath.  A handle
 * belongs to one thread; threads open their own handles on the same URL.
 *
 * Every function that can fail returns 0, or -1 with *err (caller frees)
 * in plain words; a backend never puts a password in *err.  Values passed
 * in are borrowed; rows handed out are owned by the caller and released
 * with their _free function.  Traces and inputs are stored as given:
 * callers redact them first.
 */
#ifndef FR_STORE_H
#define FR_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define FR_STORE_DEFAULT "sqlite:.flowrun/flowrun.db"

struct fr_store;

/* Where an execution is in its life; the words are the stored ones. */
enum fr_status {
	FR_STATUS_QUEUED,	/* waiting in the queue */
	FR_STATUS_RUNNING,	/* claimed by a process, or running in one */
	FR_STATUS_OK,
	FR_STATUS_FAILED,
	FR_STATUS_RETRYING,	/* failed, queued again for a later attempt */
	FR_STATUS_INTERRUPTED,	/* its process (run, deploy) died running it */
};
const char *fr_status_name(enum fr_status s);
/* 0 with *out, or -1 for a word that is no status */
int fr_status_parse(const char *name, enum fr_status *out);

/* Which command started an execution. */
enum fr_origin {
	FR_ORIGIN_RUN,
	FR_ORIGIN_DEPLOY,
	FR_ORIGIN_SERVE,
	FR_ORIGIN_REPLAY,
};
const char *fr_origin_name(enum fr_origin o);
int fr_origin_parse(const char *name, enum fr_origin *out);

/*
 * How a transaction reaches the disk.  DURABLE: the commit returns once
 * it is on disk (SQLite synchronous=FULL; PostgreSQL as the server has
 * synchronous_commit).  LAZY: it survives the process crashing and
 * reaches the disk with the next durable commit, but may be lost with the
 * machine (SQLite synchronous=NORMAL; PostgreSQL synchronous_commit off).
 */
enum fr_durability { FR_DURABLE, FR_LAZY };

/*
 * A delivery: one queued execution of a flow (webhook, schedule, replay).
 * Its id is the id of the execution it becomes.
 */
struct fr_delivery {
	char *id;
	char *integration, *instance, *flow;
	json_t *request;	/* webhook: {method, path, query, headers}; or NULL */
	char *request_text;	/* request as JSON text, when the caller made it */
	char *body;		/* webhook: the raw body, exactly as received */
	size_t body_len;
	json_t *trigger;	/* others: the trigger value; or NULL */
	char *dedupe_key;	/* or NULL: unique per (integration, instance, flow) */
	int max_running;	/* the flow's concurrency across processes; 0: any */
	bool fifo;		/* one at a time, in arrival order */
	enum fr_origin origin;	/* serve or replay */
	char *replay_of;	/* the execution this one replays, or NULL */
	/* set by the store */
	enum fr_status status;
	int attempts;		/* claims so far, counted before each run */
	double next_at;		/* not before (retries) */
	long long seq;		/* arrival order */
};
void fr_delivery_free(struct fr_delivery *d);		/* NULL ok */
void fr_deliveries_free(struct fr_delivery **d, size_t n);

/* One execution as `runs` and `show` see it. */
struct fr_execution {
	char *id;
	char *integration, *instance, *flow;
	char *trigger;		/* the trigger's kind: webhook, manual, ... */
	enum fr_status status;
	enum fr_origin origin;
	int attempt;		/* 1 for the first */
	char *error;		/* or NULL */
	double started_at;	/* seconds since the epoch; 0: not started */
	double finished_at;	/* 0: not finished */
	double duration_ms;
	char *replay_of;	/* or NULL */
	char *replayed_as;	/* or NULL */
	/* put: JSON text made by the caller; get: filled in, list: NULL */
	char *input, *trace;
};
void fr_execution_finish(struct fr_execution *e);	/* frees the members */
void fr_executions_free(struct fr_execution *e, size_t n);
/* The row as JSON for --json output: new reference; input and trace parsed. */
json_t *fr_execution_json(const struct fr_execution *e);

struct fr_execution_filter {
	const char *flow;		/* "FLOW" or "INTEGRATION/FLOW"; NULL: any */
	const char *instance;		/* NULL: any */
	const enum fr_status *status;	/* NULL: any */
	const enum fr_origin *origin;	/* NULL: any */
	const char *trigger;		/* trigger kind; NULL: any */
	const char *id_prefix;		/* NULL: any */
	const char *delivery;		/* the delivery of this execution id,
					   and its replays; NULL: any */
	const char *dedupe_key;		/* with delivery: or the delivery of
					   this key (fr_dedupe_key) */
	double since;			/* started (or queued) at or after; 0: any */
	int limit;			/* 0: 50 */
	bool not_replayed;		/* only those not replayed yet */
};

/* One key of an instance's state, as `flowrun state` lists it. */
struct fr_state_row {
	char *integration, *instance, *key;
	json_t *value;
	double updated_at;	/* seconds since the epoch */
};
void fr_state_rows_free(struct fr_state_row *r, size_t n);

/* What deploy recorded: summary is the document deploy made. */
struct fr_deployment {
	char *integration, *instance;
	char *file_hash;
	char *outcome;
	double started_at, finished_at;
	json_t *summary;
};
void fr_deployments_free(struct fr_deployment *d, size_t n);

/* What a claim may take. */
struct fr_claim {
	const char *owner;	/* this process: a unique name */
	size_t max;		/* at most this many */
	double lease_s;		/* held this long unless renewed */
	double now;		/* the clock, seconds since the epoch */
};

/*
 * The program of an `update` step: gets the key's current value (NULL
 * when unset) and gives the new one (*out, new reference; NULL: delete).
 * Returns 0, or -1 with *err: nothing is written.
 */
typedef int (*fr_state_fn)(void *data, const json_t *old, json_t **out,
			   char **err);

/* What fr_store_prune removed. */
struct fr_prune_result {
	long long executions;	/* executions whose input and trace went */
	long long deliveries;	/* deliveries whose request, body, trigger went */
};

struct fr_store_stats {
	long long bytes;	/* SQLite: the database's pages; PostgreSQL:
				   flowrun's tables with their indexes */
	double oldest;		/* when the oldest execution or delivery that
				   still holds data started or arrived; 0: none */
};

/*
 * Connections (flowrun-connector(5), "AUTHENTICATION"): the OAuth 2.0
 * tokens of each integration, instance and connection.  The access and
 * refresh tokens are sealed with AES-256-GCM (crypto.h) under the store's
 * secret key before a backend sees them, bound to their integration,
 * instance and connection (a sealed value copied to another row does not
 * open); expiry, scopes and status are kept plain, for listing.
 *
 * The key: FLOWRUN_SECRET_KEY (64 hex digits, or the base64 of 32 bytes),
 * or, when it is unset and the store is SQLite, the key file PATH.key
 * beside the store (64 hex digits and a newline), made with mode 0600 the
 * first time a token is stored.  A PostgreSQL store needs the variable.
 * Tokens that cannot be opened with the key at hand (another key, the key
 * file gone) read as needing authorization, never as garbage.
 */
enum fr_conn_status { FR_CONN_CONNECTED, FR_CONN_NEEDS_AUTH };
/* "connected", "needs authorization" */
const char *fr_conn_status_name(enum fr_conn_status s);

struct fr_token {
	char *integration, *instance, *connection;
	enum fr_conn_status status;
	char *access_token;	/* NULL: none; always NULL from token_list */
	char *refresh_token;	/* NULL: none; always NULL from token_list */
	double expires_at;	/* the access token's; 0: not said */
	char *scopes;		/* as granted, space-separated; or NULL */
	double updated_at;	/* set by the store */
	bool unreadable;	/* tokens are kept, but not under this key */
};
/* Wipes the tokens and frees the members (NULL ok). */
void fr_token_finish(struct fr_token *t);
void fr_tokens_free(struct fr_token *t, size_t n);

/* An authorization waiting for its redirect, found by its state. */
struct fr_pending {
	char *state;
	char *integration, *instance, *connection;
	char *verifier;		/* the PKCE code verifier, or NULL (sealed) */
	char *redirect_uri;	/* sent with the authorization; or NULL */
	double expires_at;	/* taken no later than this */
};
void fr_pending_finish(struct fr_pending *p);	/* NULL ok */

/* What a backend keeps (store_conn.c seals and opens; private to them). */
struct fr_token_row;
struct fr_pending_row;

struct fr_store_ops {
	void (*close)(struct fr_store *s);
	int (*begin)(struct fr_store *s, enum fr_durability d, char **err);
	int (*commit)(struct fr_store *s, char **err);
	void (*rollback)(struct fr_store *s);
	int (*check)(struct fr_store *s, char **err);
	int (*serve_lock)(struct fr_store *s, char **err);
	int (*maintain)(struct fr_store *s, bool wait, char **err);
	int (*wait)(struct fr_store *s, double timeout_s, bool *woken,
		    char **err);
	int (*notify)(struct fr_store *s, char **err);

	int (*execution_put)(struct fr_store *s, const struct fr_execution *e,
			     char **err);
	int (*execution_list)(struct fr_store *s,
			      const struct fr_execution_filter *f,
			      struct fr_execution **out, size_t *n, char **err);
	int (*execution_get)(struct fr_store *s, const char *id,
			     struct fr_execution *out, bool *found, char **err);

	int (*state_get)(struct fr_store *s, const char *integration,
			 const char *instance, json_t **out, char **err);
	int (*state_set)(struct fr_store *s, const char *integration,
			 const char *instance, const char *key,
			 const json_t *value, char **err);
	int (*state_list)(struct fr_store *s, const char *integration,
			  const char *instance, const char *key,
			  struct fr_state_row **out, size_t *n, char **err);
	int (*state_update)(struct fr_store *s, const char *integration,
			    const char *instance, const char *key,
			    fr_state_fn fn, void *data, json_t **out,
			    char **err);

	int (*deployment_add)(struct fr_store *s, const struct fr_deployment *d,
			      char **err);
	int (*deployment_list)(struct fr_store *s, struct fr_deployment **out,
			       size_t *n, char **err);

	int (*push)(struct fr_store *s, struct fr_delivery *const *d, size_t n,
		    const struct fr_claim *claimed, char **dup_of, char **err);
	int (*claim)(struct fr_store *s, const struct fr_claim *c,
		     struct fr_delivery ***out, size_t *n, char **err);
	int (*renew)(struct fr_store *s, const char *owner, double lease_s,
		     double now, char **err);
	int (*finish)(struct fr_store *s, const char *id, const char *owner,
		      enum fr_status status, double next_at, char **err);
	int (*delivery_get)(struct fr_store *s, const char *id,
			    struct fr_delivery **out, char **err);
	int (*replay)(struct fr_store *s, const char *id, char **new_id,
		      char **err);
	int (*prune)(struct fr_store *s, double before,
		     struct fr_prune_result *out, char **err);
	int (*stats)(struct fr_store *s, struct fr_store_stats *out,
		     char **err);
	int (*set_runner)(struct fr_store *s, const char *id,
			  const char *runner, char **err);
	int (*reap)(struct fr_store *s, bool (*gone)(const char *runner),
		    long long *n, char **err);

	int (*token_read)(struct fr_store *s, const char *integration,
			  const char *instance, const char *connection,
			  struct fr_token_row *out, bool *found, char **err);
	int (*token_write)(struct fr_store *s, const struct fr_token_row *r,
			   char **err);
	int (*token_rows)(struct fr_store *s, const char *integration,
			  const char *instance, struct fr_token_row **out,
			  size_t *n, char **err);
	int (*token_lock)(struct fr_store *s, const char *integration,
			  const char *instance, const char *connection,
			  double wait_s, double lease_s, char **err);
	int (*token_unlock)(struct fr_store *s, char **err);
	int (*pending_write)(struct fr_store *s, const struct fr_pending_row *r,
			     char **err);
	int (*pending_take)(struct fr_store *s, const char *state, double now,
			    struct fr_pending_row *out, bool *found, char **err);
};

struct fr_store {
	const struct fr_store_ops *ops;
	char *url;		/* as given, password replaced by *** */
	const char *backend;	/* "sqlite", "postgresql" */
	/* the secret key, read on first use by store_conn.c (wiped at close) */
	unsigned char key[32];
	int key_state;		/* 0: not read yet; 1: key holds it */
};

/*
 * Whether url names a store this flowrun can open: 0, or -1 with *err
 * (an unknown scheme, no file name).  Nothing is opened.
 */
int fr_store_check_url(const char *url, char **err);
/* Whether the store at url exists already (nothing is created); a
 * database server's store always exists, and so does one whose url
 * fr_store_check_url refuses (opening it reports why). */
bool fr_store_exists(const char *url);
/* url with any password replaced by *** (caller frees) */
char *fr_store_url_redacted(const char *url);

/*
 * The dedupe key stored for a delivery whose dedupe value has the canonical
 * JSON text json (keys sorted, compact): that text, or "sha256:" and the hex
 * of its SHA-256 when it is longer than 200 bytes (a key of any length costs
 * the index the same).  Caller frees.
 */
char *fr_dedupe_key(const char *json);

/* Opens (creating and migrating as needed) the store at url. */
int fr_store_open(struct fr_store **out, const char *url, char **err);
void fr_store_close(struct fr_store *s);		/* NULL ok */

/*
 * Groups the calls up to commit into one transaction, which reaches the
 * disk as d says.  Without begin, each call is a durable transaction of
 * its own.
 */
int fr_store_begin(struct fr_store *s, enum fr_durability d, char **err);
int fr_store_commit(struct fr_store *s, char **err);
void fr_store_rollback(struct fr_store *s);

/* Checks the store's integrity (SQLite: PRAGMA integrity_check). */
int fr_store_check(struct fr_store *s, char **err);

/*
 * Claims the store for one serve process where the backend allows only
 * one (SQLite: a lock on the file, held while s is open); the message
 * says who holds it.  PostgreSQL: always 0.
 */
int fr_store_serve_lock(struct fr_store *s, char **err);

/*
 * Housekeeping that commits should not wait for (SQLite: a WAL
 * checkpoint; with wait, all of it and to the disk).  PostgreSQL: nothing.
 */
int fr_store_maintain(struct fr_store *s, bool wait, char **err);

/*
 * Waits up to timeout_s for another handle's fr_store_notify (PostgreSQL:
 * LISTEN/NOTIFY; SQLite: only sleeps, since its one serve process wakes
 * itself).  *woken says whether a notification came.
 */
int fr_store_wait(struct fr_store *s, double timeout_s, bool *woken,
		  char **err);
/* Tells waiting handles that deliveries were queued (at commit). */
int fr_store_notify(struct fr_store *s, char **err);

/*
 * Records an execution (replacing an earlier record of the same id: its
 * next attempt, or its end).  e->input and e->trace are JSON text or NULL
 * (an existing record keeps its input).
 */
int fr_store_execution_put(struct fr_store *s, const struct fr_execution *e,
			   char **err);
/*
 * Executions matching f, newest first, without input and trace: the
 * recorded ones and the deliveries that have no record yet (queued,
 * running).  *out (caller frees with fr_executions_free) has *n rows.
 */
int fr_store_execution_list(struct fr_store *s,
			    const struct fr_execution_filter *f,
			    struct fr_execution **out, size_t *n, char **err);
/* One execution with its input and trace; *found false when unknown. */
int fr_store_execution_get(struct fr_store *s, const char *id,
			   struct fr_execution *out, bool *found, char **err);

/* The state object of an instance ({} when nothing was set). */
int fr_store_state_get(struct fr_store *s, const char *integration,
		       const char *instance, json_t **out, char **err);
/* Sets one key (value NULL: deletes it), durably unless in a transaction. */
int fr_store_state_set(struct fr_store *s, const char *integration,
		       const char *instance, const char *key,
		       const json_t *value, char **err);
/*
 * The state keys of every integration and instance, ordered by
 * integration, instance and key; integration, instance and key (each
 * NULL: any) narrow it.  *out (fr_state_rows_free) has *n rows.
 */
int fr_store_state_list(struct fr_store *s, const char *integration,
			const char *instance, const char *key,
			struct fr_state_row **out, size_t *n, char **err);
/*
 * Atomic read-modify-write of one key: fn gets the current value with
 * the row locked against every other handle and process, and its result
 * is written in the same transaction.  *out (may be NULL) gets the new
 * value.  Many concurrent updates of a counter all count.
 */
int fr_store_state_update(struct fr_store *s, const char *integration,
			  const char *instance, const char *key, fr_state_fn fn,
			  void *data, json_t **out, char **err);

int fr_store_deployment_add(struct fr_store *s, const struct fr_deployment *d,
			    char **err);
/* The last 100, newest first. */
int fr_store_deployment_list(struct fr_store *s, struct fr_deployment **out,
			     size_t *n, char **err);

/*
 * Queues n deliveries in one transaction (or the caller's).  A delivery
 * whose (integration, instance, flow, dedupe_key) is queued or done
 * already is not queued again: dup_of[i] gets the earlier one's id
 * (caller frees), else NULL.  d[i]->seq and status are set.
 * claimed, when not NULL, takes the new deliveries for claimed->owner at
 * once (running, attempts 1, leased), for the process that runs them
 * itself; only deliveries without max_running and fifo may be taken so.
 */
int fr_store_push(struct fr_store *s, struct fr_delivery *const *d, size_t n,
		  const struct fr_claim *claimed, char **dup_of, char **err);
/*
 * Takes up to c->max deliveries that may run now, oldest first: queued or
 * retrying ones whose next_at has come, and running ones whose lease ran
 * out (their process died).  A flow's max_running counts the deliveries
 * running under an unexpired lease in every process; a fifo flow runs
 * its oldest unfinished delivery only, after the one before has ended.
 * Each taken delivery is running, owned by c->owner until now + lease_s,
 * and its attempts count one more, durably, before it is handed out.
 * Several processes claim at once without taking one delivery twice.
 * *out (fr_deliveries_free) holds *n deliveries with request and body.
 */
int fr_store_claim(struct fr_store *s, const struct fr_claim *c,
		   struct fr_delivery ***out, size_t *n, char **err);
/* Extends the leases of every delivery owner runs to now + lease_s. */
int fr_store_renew(struct fr_store *s, const char *owner, double lease_s,
		   double now, char **err);
/*
 * Ends owner's claim on delivery id: status OK or FAILED (done), or
 * RETRYING with the time of the next attempt.  A delivery that another
 * process took over (the lease ran out) is left to it: that is not an
 * error.  owner NULL: whoever holds it.
 */
int fr_store_finish(struct fr_store *s, const char *id, const char *owner,
		    enum fr_status status, double next_at, char **err);
/* One delivery with its request, body and trigger; *out NULL if unknown. */
int fr_store_delivery_get(struct fr_store *s, const char *id,
			  struct fr_delivery **out, char **err);

/*
 * Queues execution id again with the same trigger data (its delivery's
 * request and body, or its recorded input) as a new delivery of origin
 * replay, and notes on the old one that it was replayed.  *new_id is the
 * new execution's id (caller frees); NULL when id is unknown.
 */
int fr_store_replay(struct fr_store *s, const char *id, char **new_id,
		    char **err);

/* Wall-clock time in seconds, as the store records it. */
/*
 * Retention: removes the input and trace of every execution that ended
 * (ok or failed) before `before` (seconds since the epoch), and the
 * request, body and trigger of its delivery, in one transaction.  The
 * rows stay, with their status, error, attempts and times (runs lists
 * and counts them; show says the trace was removed), and so do dedupe
 * keys.  Queued, running and retrying ones are never touched.
 */
int fr_store_prune(struct fr_store *s, double before,
		   struct fr_prune_result *out, char **err);
/* The store's size and the age of what it holds (for /metrics). */
int fr_store_stats(struct fr_store *s, struct fr_store_stats *out, char **err);

/*
 * Interrupted runs.  An execution that `run` or `deploy` records as
 * running carries its runner: "HOST BOOT-ID PID START" (the boot's id from
 * /proc/sys/kernel/random/boot_id, the process's start time in clock ticks
 * from /proc/PID/stat, so a reused pid is no match); fr_store_execution_put
 * sets it.  fr_store_reap marks interrupted every running execution whose
 * runner is gone: same host, and another boot or no such process; one of
 * another host is left alone (it cannot be told from here).  *n (may be
 * NULL) gets how many.  `runs` and `show` reap before they read.
 */
int fr_store_reap(struct fr_store *s, long long *n, char **err);

/*
 * The tokens of one connection.  *found false: none were ever stored.
 * Found but sealed under another key (or with the key file gone):
 * status needs authorization, unreadable set, no tokens.  An invalid
 * FLOWRUN_SECRET_KEY, or a PostgreSQL store without it, is an error.
 */
int fr_store_token_get(struct fr_store *s, const char *integration,
		       const char *instance, const char *connection,
		       struct fr_token *out, bool *found, char **err);
/*
 * Stores (replacing) the tokens of t's connection, durably unless in a
 * transaction; t's status and expiry as given, the tokens sealed.  No
 * tokens and status needs authorization: the connection is marked so.
 */
int fr_store_token_put(struct fr_store *s, const struct fr_token *t,
		       char **err);
/*
 * Whether tokens can be stored: the key at hand (the key file made if need
 * be): 0, or -1 with *err saying why not.  Before asking a token endpoint
 * for tokens that could not be kept (a rotated refresh token would be lost).
 */
int fr_store_token_writable(struct fr_store *s, char **err);
/*
 * Every connection with stored tokens, ordered by integration, instance
 * and connection (each filter NULL: any), without the tokens: status and
 * unreadable say whether they open under this key.
 */
int fr_store_token_list(struct fr_store *s, const char *integration,
			const char *instance, struct fr_token **out, size_t *n,
			char **err);
/*
 * The refresh lock of one connection, for one handle and process at a
 * time: waits up to wait_s for it (an error then).  Held until
 * fr_store_token_unlock, and at most lease_s when its holder dies
 * (PostgreSQL: until the holder's connection ends).  Not inside a
 * transaction; one lock at a time per handle.  PostgreSQL: the lock is a
 * transaction (pg_advisory_xact_lock): token_put under it is committed
 * by unlock.  SQLite: a lock row with a lease, so that the store's other
 * writers do not wait while a token endpoint answers.
 */
int fr_store_token_lock(struct fr_store *s, const char *integration,
			const char *instance, const char *connection,
			double wait_s, double lease_s, char **err);
int fr_store_token_unlock(struct fr_store *s, char **err);

/* Stores an authorization awaiting its redirect (the verifier sealed);
 * expired ones go. */
int fr_store_pending_put(struct fr_store *s, const struct fr_pending *p,
			 char **err);
/*
 * Takes the authorization of state once: *found true with *out, and it is
 * gone; false when none is pending (unknown, taken already, or expired).
 */
int fr_store_pending_take(struct fr_store *s, const char *state,
			  struct fr_pending *out, bool *found, char **err);

double fr_store_now(void);

/* The libraries' versions, for `flowrun version`. */
const char *fr_store_sqlite_version(void);
const char *fr_store_pg_version(void);

/* Backends: url is the whole URL as given. */
int fr_store_sqlite_open(struct fr_store **out, const char *url, char **err);
int fr_store_pg_open(struct fr_store **out, const char *url, char **err);

#endif
