/*
 * sink: a trivial libmicrohttpd server for the load benchmark.
 *
 * It answers at once: /accounts with two canned accounts, /api/... with
 * Slack's {"ok": true}, anything else with 202 {} (the ceiling a webhook
 * server can reach on this machine).  Same threading as flowrun serve:
 * internal epoll thread pool.  Prints "port N" and runs until killed.
 *
 * With a database path it is instead the ceiling of any durable webhook
 * server: each POST body is inserted into a SQLite table (WAL, synchronous
 * FULL) by one committer thread, all waiting bodies in one transaction, and
 * answered 202 only after that commit; the connection is suspended
 * meanwhile, as flowrun serve does.  No verification, no parsing.
 *
 * usage: sink [THREADS [DATABASE]]
 */
#include <microhttpd.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct body {
	struct MHD_Connection *c;
	char *data;
	size_t len;
	bool queued;
	struct body *next;
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static struct body *waiting, **waiting_tail = &waiting;
static sqlite3 *db;

static const char accounts[] =
	"{\"accounts\":[{\"id\":\"acc_1\",\"name\":\"Acme\",\"contact\":\"Ann\","
	"\"email\":\"ann@acme.test\"},{\"id\":\"acc_2\",\"name\":\"Bolt\","
	"\"contact\":\"Bob\",\"email\":\"bob@bolt.test\"}]}";

/* POST bodies: kept, handed to the committer, answered once committed. */
static enum MHD_Result durable(struct MHD_Connection *c, const char *data,
			       size_t *size, void **state)
{
	struct body *b = *state;

	if (!b) {
		*state = b = calloc(1, sizeof(*b));
		b->c = c;
		return MHD_YES;
	}
	if (*size) {
		b->data = realloc(b->data, b->len + *size);
		memcpy(b->data + b->len, data, *size);
		b->len += *size;
		*size = 0;
		return MHD_YES;
	}
	if (b->queued) {	/* resumed: committed */
		static const char ok[] = "{}";
		struct MHD_Response *r = MHD_create_response_from_buffer(
			2, (void *)ok, MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret = MHD_queue_response(c, 202, r);
		MHD_destroy_response(r);
		return ret;
	}
	b->queued = true;
	MHD_suspend_connection(c);
	pthread_mutex_lock(&mu);
	*waiting_tail = b;
	waiting_tail = &b->next;
	pthread_cond_signal(&cv);
	pthread_mutex_unlock(&mu);
	return MHD_YES;
}

static void *committer(void *arg)
{
	sqlite3_stmt *ins;

	(void)arg;
	sqlite3_prepare_v2(db, "INSERT INTO deliveries (body) VALUES (?)", -1,
			   &ins, NULL);
	for (;;) {
		struct body *batch;

		pthread_mutex_lock(&mu);
		while (!waiting)
			pthread_cond_wait(&cv, &mu);
		batch = waiting;
		waiting = NULL;
		waiting_tail = &waiting;
		pthread_mutex_unlock(&mu);
		sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		for (struct body *b = batch; b; b = b->next) {
			sqlite3_bind_blob(ins, 1, b->data, (int)b->len, SQLITE_STATIC);
			sqlite3_step(ins);
			sqlite3_reset(ins);
		}
		if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
			abort();
		for (struct body *b = batch, *next; b; b = next) {
			next = b->next;
			MHD_resume_connection(b->c);
		}
	}
	return NULL;
}

static void completed(void *cls, struct MHD_Connection *c, void **state,
		      enum MHD_RequestTerminationCode code)
{
	struct body *b = *state;

	(void)cls; (void)c; (void)code;
	if (db && b) {
		free(b->data);
		free(b);
	}
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *data,
			      size_t *size, void **state)
{
	static int marker;
	struct MHD_Response *r;
	const char *body = "{}";
	unsigned status = 202;
	enum MHD_Result ret;

	(void)cls; (void)method; (void)version;
	if (db)
		return durable(c, data, size, state);
	if (*state == NULL) {
		*state = &marker;
		return MHD_YES;
	}
	if (*size) {
		*size = 0;
		return MHD_YES;
	}
	if (strncmp(url, "/accounts", 9) == 0) {
		body = accounts;
		status = 200;
	} else if (strncmp(url, "/api/", 5) == 0) {
		body = "{\"ok\":true}";
		status = 200;
	}
	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
					    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned threads = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
	struct MHD_Daemon *d;
	sigset_t set;
	pthread_t t;
	int sig;

	if (argc > 2) {
		if (sqlite3_open(argv[2], &db) != SQLITE_OK ||
		    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; "
				 "CREATE TABLE IF NOT EXISTS deliveries (seq INTEGER "
				 "PRIMARY KEY, body BLOB)", NULL, NULL, NULL) != SQLITE_OK)
			return 1;
		pthread_create(&t, NULL, committer, NULL);
	}
	d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO |
		(db ? MHD_ALLOW_SUSPEND_RESUME : 0),
		0, NULL, NULL, answer, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_LIMIT, 1000u,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	if (!d)
		return 1;
	printf("port %u\n", MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
	fflush(stdout);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigwait(&set, &sig);
	if (db)		/* MHD refuses to stop with suspended connections */
		_exit(0);
	MHD_stop_daemon(d);
	return 0;
}
