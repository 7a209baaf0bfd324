/*
 * store: what flowrun keeps between processes: executions with their
 * traces, instance state, deployments (and, for serve, the delivery queue).
 *
 * The store is one interface over a backend chosen by URL:
 *   sqlite:PATH  (or a bare PATH)  SQLite in WAL mode, in one file
 * A backend implements struct fr_store_ops; callers use only the
 * fr_store_* functions, so another backend (PostgreSQL) can be added
 * without touching them.  A handle belongs to one thread; threads open
 * their own handles on the same URL.
 *
 * Every function returns 0, or -1 with *err (caller frees) in plain words.
 * Values passed in are borrowed; values handed out are new references.
 * Traces and inputs are stored as given: callers redact them first.
 */
#ifndef FR_STORE_H
#define FR_STORE_H

#include <jansson.h>
#include <stdbool.h>

#define FR_STORE_DEFAULT "sqlite:.flowrun/flowrun.db"

struct fr_store;

/*
 * A delivery: one queued execution of a webhook (or schedule, or replay).
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
	char *dedupe_key;	/* or NULL */
	int attempts;		/* tries so far */
	double next_at;		/* not before (retries) */
	long long seq;		/* arrival order */
};

void fr_delivery_free(struct fr_delivery *d);

struct fr_execution_filter {
	const char *flow;		/* "FLOW" or "INTEGRATION/FLOW"; NULL: any */
	const char *instance;
	const char *status;		/* running, ok, failed, queued */
	int limit;			/* 0: 50 */
	bool not_replayed;		/* only those not replayed yet */
};

struct fr_store_ops {
	void (*close)(struct fr_store *s);
	int (*execution_begin)(struct fr_store *s, const json_t *exec, char **err);
	int (*execution_finish)(struct fr_store *s, const char *id,
				const json_t *trace, char **err);
	int (*execution_list)(struct fr_store *s,
			      const struct fr_execution_filter *f, json_t **out,
			      char **err);
	int (*execution_get)(struct fr_store *s, const char *id, json_t **out,
			     char **err);
	int (*state_get)(struct fr_store *s, const char *integration,
			 const char *instance, json_t **out, char **err);
	int (*state_set)(struct fr_store *s, const char *integration,
			 const char *instance, const char *key,
			 const json_t *value, char **err);
	int (*deployment_add)(struct fr_store *s, const json_t *deployment,
			      char **err);
	int (*deployment_list)(struct fr_store *s, json_t **out, char **err);
	int (*check)(struct fr_store *s, char **err);
	int (*delivery_add)(struct fr_store *s, struct fr_delivery *const *d,
			    size_t n, char **dup_of, char **err);
	int (*delivery_get)(struct fr_store *s, const char *id,
			    struct fr_delivery **out, char **err);
	int (*delivery_pending)(struct fr_store *s, long long after_seq,
				json_t **out, char **err);
	int (*delivery_update)(struct fr_store *s, const char *id,
			       const char *status, int attempts, double next_at,
			       char **err);
	int (*replay)(struct fr_store *s, const char *id, char **new_id,
		      char **err);
	int (*begin)(struct fr_store *s, char **err);
	int (*commit)(struct fr_store *s, char **err);
	void (*rollback)(struct fr_store *s);
	int (*execution_put)(struct fr_store *s, const json_t *exec,
			     const char *input, const char *trace, char **err);
	int (*set_synchronous)(struct fr_store *s, bool on, char **err);
	int (*set_checkpoints)(struct fr_store *s, bool on, char **err);
	int (*checkpoint)(struct fr_store *s, bool wait, char **err);
};

struct fr_store {
	const struct fr_store_ops *ops;
	char *url;
};

/* Whether the store at url exists already (nothing is created). */
bool fr_store_exists(const char *url);

/*
 * Whether commits of this handle wait for the disk (the default).  A
 * handle that records results may turn it off: its commits reach the disk
 * with the next synced commit of any handle, and survive the process
 * crashing, though not the machine.
 */
int fr_store_set_synchronous(struct fr_store *s, bool on, char **err);

/*
 * Whether this handle's commits also fold the log into the database now
 * and then (SQLite's WAL checkpoints: the default).  The handle that
 * acknowledges deliveries leaves that to the others, so that its commits
 * wait for nothing but their own fsync.
 */
int fr_store_set_checkpoints(struct fr_store *s, bool on, char **err);

/*
 * Folds the log into the database (a WAL checkpoint): without wait, what
 * readers allow now; with wait, everything, and it reaches the disk.
 */
int fr_store_checkpoint(struct fr_store *s, bool wait, char **err);

/* Opens (creating and migrating as needed) the store at url. */
int fr_store_open(struct fr_store **out, const char *url, char **err);
void fr_store_close(struct fr_store *s);		/* NULL ok */

/*
 * Records the start of an execution: exec is an object with id,
 * integration, instance, flow, trigger (kind), input (the trigger value,
 * redacted) and optionally status (default "running").
 */
int fr_store_execution_begin(struct fr_store *s, const json_t *exec, char **err);
/*
 * Records a whole execution at once (as begin + finish would), replacing
 * an earlier record of the same id (a retry): used where many are written
 * in one transaction.  exec has id, integration, instance, flow, trigger,
 * attempt, status, error and duration_ms; input and trace are JSON text,
 * serialized by the caller (off the writer's thread).
 */
int fr_store_execution_put(struct fr_store *s, const json_t *exec,
			   const char *input, const char *trace, char **err);
/*
 * Groups the calls between begin and commit into one transaction (one
 * fsync).  Without them each call commits on its own.
 */
int fr_store_begin(struct fr_store *s, char **err);
int fr_store_commit(struct fr_store *s, char **err);
void fr_store_rollback(struct fr_store *s);

/* Records its end: the trace (exec.h) gives status, error and duration. */
int fr_store_execution_finish(struct fr_store *s, const char *id,
			      const json_t *trace, char **err);
/* Summaries, newest first: [{id, integration, instance, flow, status,
 * error, started_at, duration_ms}]. */
int fr_store_execution_list(struct fr_store *s,
			    const struct fr_execution_filter *f, json_t **out,
			    char **err);
/* One execution with its input and trace; *out NULL when unknown. */
int fr_store_execution_get(struct fr_store *s, const char *id, json_t **out,
			   char **err);

/* The state object of an instance ({} when nothing was set). */
int fr_store_state_get(struct fr_store *s, const char *integration,
		       const char *instance, json_t **out, char **err);
/* Sets one key, durably, before returning. */
int fr_store_state_set(struct fr_store *s, const char *integration,
		       const char *instance, const char *key,
		       const json_t *value, char **err);

/* Records a deployment: {integration, instance, file_hash, outcome,
 * started_at, finished_at, flows: [...]}. */
int fr_store_deployment_add(struct fr_store *s, const json_t *deployment,
			    char **err);
int fr_store_deployment_list(struct fr_store *s, json_t **out, char **err);

/*
 * Stores n deliveries in one transaction (one fsync).  A delivery whose
 * (integration, instance, flow, dedupe_key) was stored before is not
 * stored again: dup_of[i] gets the earlier one's id (caller frees), else
 * NULL.  d[i]->seq is set.
 */
int fr_store_delivery_add(struct fr_store *s, struct fr_delivery *const *d,
			  size_t n, char **dup_of, char **err);
/* One delivery with its request, body and trigger; *out NULL if unknown. */
int fr_store_delivery_get(struct fr_store *s, const char *id,
			  struct fr_delivery **out, char **err);
/* Queued deliveries with seq > after_seq, in arrival order, without
 * bodies: [{id, integration, instance, flow, attempts, next_at, seq}]. */
int fr_store_delivery_pending(struct fr_store *s, long long after_seq,
			      json_t **out, char **err);
/* Sets a delivery's status (queued, done, failed), tries and next time. */
int fr_store_delivery_update(struct fr_store *s, const char *id,
			     const char *status, int attempts, double next_at,
			     char **err);

/*
 * Queues execution id again with the same trigger data (its delivery's
 * request and body, or its recorded input) as a new delivery, and notes on
 * the old one that it was replayed.  *new_id is the new execution's id
 * (caller frees); NULL when id is unknown.
 */
int fr_store_replay(struct fr_store *s, const char *id, char **new_id,
		    char **err);

/* Checks the store's integrity (SQLite: PRAGMA integrity_check). */
int fr_store_check(struct fr_store *s, char **err);

/* Wall-clock time in seconds, as the store records it. */
double fr_store_now(void);

/* SQLite's version, e.g. "3.40.1" */
const char *fr_store_sqlite_version(void);

/* Backends. */
int fr_store_sqlite_open(struct fr_store **out, const char *path, char **err);

#endif
