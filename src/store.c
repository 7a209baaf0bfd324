/* store: the backend-neutral half of the store interface (store.h). */
#include "store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "util.h"

static const char *const status_names[] = {
	[FR_STATUS_QUEUED] = "queued",
	[FR_STATUS_RUNNING] = "running",
	[FR_STATUS_OK] = "ok",
	[FR_STATUS_FAILED] = "failed",
	[FR_STATUS_RETRYING] = "retrying",
	[FR_STATUS_INTERRUPTED] = "interrupted",
};

static const char *const origin_names[] = {
	[FR_ORIGIN_RUN] = "run",
	[FR_ORIGIN_DEPLOY] = "deploy",
	[FR_ORIGIN_SERVE] = "serve",
	[FR_ORIGIN_REPLAY] = "replay",
};

static int name_index(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++) {
		if (strcmp(names[i], name) == 0)
			return (int)i;
	}
	return -1;
}

const char *fr_status_name(enum fr_status s)
{
	return (size_t)s < FR_ARRAY_LEN(status_names) ? status_names[s] : "failed";
}

int fr_status_parse(const char *name, enum fr_status *out)
{
	int i = name_index(status_names, FR_ARRAY_LEN(status_names), name);

	if (i < 0)
		return -1;
	*out = (enum fr_status)i;
	return 0;
}

const char *fr_origin_name(enum fr_origin o)
{
	return (size_t)o < FR_ARRAY_LEN(origin_names) ? origin_names[o] : "run";
}

int fr_origin_parse(const char *name, enum fr_origin *out)
{
	int i = name_index(origin_names, FR_ARRAY_LEN(origin_names), name);

	if (i < 0)
		return -1;
	*out = (enum fr_origin)i;
	return 0;
}

/* The backends, by URL scheme.  A bare path is a SQLite file. */
static const struct backend {
	const char *prefix;
	int (*open)(struct fr_store **out, const char *url, char **err);
	bool file;		/* the rest of the URL is a file name */
} backends[] = {
	{ "sqlite:", fr_store_sqlite_open, true },
	{ "postgresql://", fr_store_pg_open, false },
	{ "postgres://", fr_store_pg_open, false },
};

static const struct backend *backend_of(const char *url, char **err)
{
	for (size_t i = 0; i < FR_ARRAY_LEN(backends); i++) {
		if (strncmp(url, backends[i].prefix, strlen(backends[i].prefix)) == 0)
			return &backends[i];
	}
	if (strstr(url, "://") || strncmp(url, "file:", 5) == 0) {
		char *shown = fr_store_url_redacted(url);
		*err = fr_xasprintf("unsupported store '%s'; use sqlite:PATH or "
				    "postgresql://USER@HOST/DB", shown);
		free(shown);
		return NULL;
	}
	return &backends[0];
}

static const char *default_url(const char *url)
{
	return url && *url ? url : FR_STORE_DEFAULT;
}

/* The file name of a SQLite URL (a bare path, or after "sqlite:"). */
static const char *file_of(const char *url)
{
	return strncmp(url, "sqlite:", 7) == 0 ? url + 7 : url;
}

/*
 * SQLite names that keep nothing on disk: ":memory:", and the URI forms
 * ("file::memory:", "file:x?mode=memory", also with "vfs=memdb") that
 * SQLite honours when it is built to take URIs.
 */
static bool persists_nothing(const char *path)
{
	const char *q;

	if (strcmp(path, ":memory:") == 0)
		return true;
	if (strncmp(path, "file:", 5) != 0)
		return false;
	if (strncmp(path + 5, ":memory:", 8) == 0 || strcmp(path + 5, "") == 0)
		return true;
	for (q = strchr(path, '?'); q; q = strchr(q + 1, '&')) {
		if (strncmp(q + 1, "mode=memory", 11) == 0 ||
		    strncmp(q + 1, "vfs=memdb", 9) == 0)
			return true;
	}
	return false;
}

int fr_store_check_url(const char *url, char **err)
{
	const struct backend *b;

	*err = NULL;
	url = default_url(url);
	if (!(b = backend_of(url, err)))
		return -1;
	if (b->file && !*file_of(url)) {
		*err = fr_xstrdup("the store URL names no file (sqlite:PATH)");
		return -1;
	}
	if (b->file && persists_nothing(file_of(url))) {
		*err = fr_xasprintf("the store '%s' is in memory and would keep "
				    "nothing once the command ends; name a file "
				    "(sqlite:PATH)", url);
		return -1;
	}
	return 0;
}

bool fr_store_exists(const char *url)
{
	char *err = NULL;
	const struct backend *b;

	if (fr_store_check_url(url, &err) < 0) {
		free(err);
		return true;	/* so that opening it says why it cannot be */
	}
	url = default_url(url);
	b = backend_of(url, &err);
	return !b->file || access(file_of(url), F_OK) == 0;
}

char *fr_store_url_redacted(const char *url)
{
	const char *scheme = strstr(url, "://"), *at, *colon;

	/* scheme://user:password@host...: only the password goes */
	if (!scheme)
		return fr_xstrdup(url);
	scheme += 3;
	at = strchr(scheme, '@');
	colon = at ? memchr(scheme, ':', (size_t)(at - scheme)) : NULL;
	if (!colon)
		return fr_xstrdup(url);
	return fr_xasprintf("%.*s:***%s", (int)(colon - url), url, at);
}

#define DEDUPE_HASH_OVER 200

char *fr_dedupe_key(const char *json)
{
	size_t len = strlen(json);
	unsigned char h[FR_SHA256_LEN];
	char hex[2 * FR_SHA256_LEN + 1];

	if (len <= DEDUPE_HASH_OVER)
		return fr_xstrdup(json);
	fr_sha256(json, len, h);
	fr_hex(h, sizeof(h), hex);
	return fr_xasprintf("sha256:%s", hex);
}

int fr_store_open(struct fr_store **out, const char *url, char **err)
{
	const struct backend *b;

	*out = NULL;
	if (fr_store_check_url(url, err) < 0)
		return -1;
	url = default_url(url);
	b = backend_of(url, err);
	return b->open(out, url, err);
}

void fr_store_close(struct fr_store *s)
{
	if (!s)
		return;
	fr_crypto_wipe(s->key, sizeof(s->key));
	s->ops->close(s);
}

void fr_delivery_free(struct fr_delivery *d)
{
	if (!d)
		return;
	free(d->id);
	free(d->integration);
	free(d->instance);
	free(d->flow);
	json_decref(d->request);
	free(d->request_text);
	free(d->body);
	json_decref(d->trigger);
	free(d->dedupe_key);
	free(d->replay_of);
	free(d);
}

void fr_deliveries_free(struct fr_delivery **d, size_t n)
{
	for (size_t i = 0; d && i < n; i++)
		fr_delivery_free(d[i]);
	free(d);
}

void fr_execution_finish(struct fr_execution *e)
{
	if (!e)
		return;
	free(e->id);
	free(e->integration);
	free(e->instance);
	free(e->flow);
	free(e->trigger);
	free(e->error);
	free(e->replay_of);
	free(e->replayed_as);
	free(e->input);
	free(e->trace);
	memset(e, 0, sizeof(*e));
}

void fr_executions_free(struct fr_execution *e, size_t n)
{
	for (size_t i = 0; e && i < n; i++)
		fr_execution_finish(&e[i]);
	free(e);
}

void fr_deployments_free(struct fr_deployment *d, size_t n)
{
	for (size_t i = 0; d && i < n; i++) {
		free(d[i].integration);
		free(d[i].instance);
		free(d[i].file_hash);
		free(d[i].outcome);
		json_decref(d[i].summary);
	}
	free(d);
}

void fr_state_rows_free(struct fr_state_row *r, size_t n)
{
	for (size_t i = 0; r && i < n; i++) {
		free(r[i].integration);
		free(r[i].instance);
		free(r[i].key);
		json_decref(r[i].value);
	}
	free(r);
}

static json_t *string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *time_or_null(double t)
{
	return t > 0 ? json_real(t) : json_null();
}

static json_t *parsed_or_null(const char *text)
{
	json_t *j = text ? json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL,
				      NULL) : NULL;

	return j ? j : text ? json_string(text) : json_null();
}

json_t *fr_execution_json(const struct fr_execution *e)
{
	json_t *j = json_object();

	json_object_set_new(j, "id", string_or_null(e->id));
	json_object_set_new(j, "integration", string_or_null(e->integration));
	json_object_set_new(j, "instance", string_or_null(e->instance));
	json_object_set_new(j, "flow", string_or_null(e->flow));
	json_object_set_new(j, "trigger", string_or_null(e->trigger));
	json_object_set_new(j, "origin", json_string(fr_origin_name(e->origin)));
	json_object_set_new(j, "status", json_string(fr_status_name(e->status)));
	json_object_set_new(j, "attempt", json_integer(e->attempt));
	json_object_set_new(j, "error", string_or_null(e->error));
	json_object_set_new(j, "started_at", time_or_null(e->started_at));
	json_object_set_new(j, "finished_at", time_or_null(e->finished_at));
	json_object_set_new(j, "duration_ms", e->finished_at > 0
				      ? json_real(e->duration_ms) : json_null());
	json_object_set_new(j, "replay_of", string_or_null(e->replay_of));
	json_object_set_new(j, "replayed_as", string_or_null(e->replayed_as));
	if (e->input || e->trace) {
		json_object_set_new(j, "input", parsed_or_null(e->input));
		json_object_set_new(j, "trace", parsed_or_null(e->trace));
	}
	return j;
}

int fr_store_begin(struct fr_store *s, enum fr_durability d, char **err)
{
	return s->ops->begin(s, d, err);
}

int fr_store_commit(struct fr_store *s, char **err)
{
	return s->ops->commit(s, err);
}

void fr_store_rollback(struct fr_store *s)
{
	s->ops->rollback(s);
}

int fr_store_check(struct fr_store *s, char **err)
{
	return s->ops->check(s, err);
}

int fr_store_serve_lock(struct fr_store *s, char **err)
{
	return s->ops->serve_lock(s, err);
}

int fr_store_maintain(struct fr_store *s, bool wait, char **err)
{
	return s->ops->maintain(s, wait, err);
}

int fr_store_wait(struct fr_store *s, double timeout_s, bool *woken, char **err)
{
	return s->ops->wait(s, timeout_s, woken, err);
}

int fr_store_notify(struct fr_store *s, char **err)
{
	return s->ops->notify(s, err);
}

/* "HOST BOOT-ID" of this machine (static; "" parts when unknown). */
static const char *this_machine(void)
{
	static char id[512];
	char host[256] = "", boot[64] = "";
	FILE *f;

	if (*id)
		return id;
	if (gethostname(host, sizeof(host) - 1) != 0 || !*host)
		strcpy(host, "-");
	for (char *p = host; *p; p++) {
		if (*p == ' ')
			*p = '_';
	}
	if ((f = fopen("/proc/sys/kernel/random/boot_id", "r"))) {
		if (!fgets(boot, sizeof(boot), f))
			boot[0] = '\0';
		fclose(f);
	}
	boot[strcspn(boot, "\n ")] = '\0';
	snprintf(id, sizeof(id), "%s %s", host, *boot ? boot : "-");
	return id;
}

/* A process's start time (field 22 of /proc/PID/stat), or 0 if none. */
static unsigned long long start_time(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long long t = 0;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (!(f = fopen(path, "r")))
		return 0;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* after "PID (COMM)": the command may hold spaces and parentheses */
	if (!(p = strrchr(buf, ')')))
		return 0;
	p++;
	for (int field = 3; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		t = strtoull(p + 1, NULL, 10);
	return t;
}

static bool runner_gone(const char *runner)
{
	const char *me = this_machine();
	size_t mlen = strlen(me);
	long pid;
	unsigned long long start;
	const char *host_end = strchr(runner, ' ');

	if (!host_end || strncmp(runner, me, (size_t)(host_end - runner)) != 0 ||
	    me[host_end - runner] != ' ')
		return false;			/* another host: cannot tell */
	if (strncmp(runner, me, mlen) != 0 || runner[mlen] != ' ')
		return true;			/* this host, another boot */
	if (sscanf(runner + mlen, " %ld %llu", &pid, &start) != 2 || pid <= 0)
		return false;
	return start_time(pid) != start;
}

int fr_store_execution_put(struct fr_store *s, const struct fr_execution *e,
			   char **err)
{
	char runner[600];

	if (s->ops->execution_put(s, e, err) < 0)
		return -1;
	if (e->status != FR_STATUS_RUNNING ||
	    (e->origin != FR_ORIGIN_RUN && e->origin != FR_ORIGIN_DEPLOY))
		return 0;
	snprintf(runner, sizeof(runner), "%s %ld %llu", this_machine(),
		 (long)getpid(), start_time((long)getpid()));
	return s->ops->set_runner(s, e->id, runner, err);
}

int fr_store_reap(struct fr_store *s, long long *n, char **err)
{
	long long got = 0;
	int rc = s->ops->reap(s, runner_gone, &got, err);

	if (n)
		*n = got;
	return rc;
}

int fr_store_execution_list(struct fr_store *s,
			    const struct fr_execution_filter *f,
			    struct fr_execution **out, size_t *n, char **err)
{
	return s->ops->execution_list(s, f, out, n, err);
}

int fr_store_execution_get(struct fr_store *s, const char *id,
			   struct fr_execution *out, bool *found, char **err)
{
	return s->ops->execution_get(s, id, out, found, err);
}

int fr_store_state_get(struct fr_store *s, const char *integration,
		       const char *instance, json_t **out, char **err)
{
	return s->ops->state_get(s, integration, instance, out, err);
}

int fr_store_state_set(struct fr_store *s, const char *integration,
		       const char *instance, const char *key,
		       const json_t *value, char **err)
{
	return s->ops->state_set(s, integration, instance, key, value, err);
}

int fr_store_state_list(struct fr_store *s, const char *integration,
			const char *instance, const char *key,
			struct fr_state_row **out, size_t *n, char **err)
{
	return s->ops->state_list(s, integration, instance, key, out, n, err);
}

int fr_store_state_update(struct fr_store *s, const char *integration,
			  const char *instance, const char *key, fr_state_fn fn,
			  void *data, json_t **out, char **err)
{
	return s->ops->state_update(s, integration, instance, key, fn, data,
				    out, err);
}

int fr_store_deployment_add(struct fr_store *s, const struct fr_deployment *d,
			    char **err)
{
	return s->ops->deployment_add(s, d, err);
}

int fr_store_deployment_list(struct fr_store *s, struct fr_deployment **out,
			     size_t *n, char **err)
{
	return s->ops->deployment_list(s, out, n, err);
}

int fr_store_push(struct fr_store *s, struct fr_delivery *const *d, size_t n,
		  const struct fr_claim *claimed, char **dup_of, char **err)
{
	return s->ops->push(s, d, n, claimed, dup_of, err);
}

int fr_store_claim(struct fr_store *s, const struct fr_claim *c,
		   struct fr_delivery ***out, size_t *n, char **err)
{
	return s->ops->claim(s, c, out, n, err);
}

int fr_store_renew(struct fr_store *s, const char *owner, double lease_s,
		   double now, char **err)
{
	return s->ops->renew(s, owner, lease_s, now, err);
}

int fr_store_finish(struct fr_store *s, const char *id, const char *owner,
		    enum fr_status status, double next_at, char **err)
{
	return s->ops->finish(s, id, owner, status, next_at, err);
}

int fr_store_delivery_get(struct fr_store *s, const char *id,
			  struct fr_delivery **out, char **err)
{
	return s->ops->delivery_get(s, id, out, err);
}

int fr_store_replay(struct fr_store *s, const char *id, char **new_id,
		    char **err)
{
	return s->ops->replay(s, id, new_id, err);
}

int fr_store_prune(struct fr_store *s, double before,
		   struct fr_prune_result *out, char **err)
{
	memset(out, 0, sizeof(*out));
	return s->ops->prune(s, before, out, err);
}

int fr_store_stats(struct fr_store *s, struct fr_store_stats *out, char **err)
{
	memset(out, 0, sizeof(*out));
	return s->ops->stats(s, out, err);
}

double fr_store_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
