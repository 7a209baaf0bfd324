/*
 * bench_store: the store's queue on each backend, as serve uses it.
 *
 * N deliveries (a 200-byte webhook body each) are pushed in batches of
 * 16, one durable transaction per batch; then claimed 16 at a time and
 * finished, each batch's finishes in one durable transaction.  Prints
 * deliveries/s of each phase and of the whole on SQLite (a file in a
 * temporary directory) and on PostgreSQL ($FLOWRUN_TEST_PG, a database
 * of its own), and the ratio PostgreSQL/SQLite.  Asserts nothing.
 *
 *   python3 tests/pgserver.py -- build/tests/bench/bench_store [N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "store.h"
#include "util.h"

#define BATCH 16

struct figures {
	double push, drain, total;	/* deliveries/s */
	bool ok;
};

static struct fr_delivery *make(int i)
{
	struct fr_delivery *d = fr_xcalloc(1, sizeof(*d));

	d->id = fr_xasprintf("bench-%08d", i);
	d->integration = fr_xstrdup("bench");
	d->instance = fr_xstrdup("prod");
	d->flow = fr_xstrdup("hook");
	d->request_text = fr_xstrdup("{\"method\":\"POST\",\"path\":\"/hooks/"
				     "bench/hook\",\"query\":{},\"headers\":"
				     "{\"content-type\":\"application/json\"}}");
	d->body_len = 200;
	d->body = fr_xmalloc(d->body_len + 1);
	memset(d->body, 'x', d->body_len);
	d->body[0] = '{';
	d->body[d->body_len] = '\0';
	d->origin = FR_ORIGIN_SERVE;
	return d;
}

static int bench(const char *url, int n, struct figures *f)
{
	struct fr_store *s = NULL;
	char *err = NULL, *dup[BATCH];
	double t0, t1, t2;
	int done = 0;

	memset(f, 0, sizeof(*f));
	if (fr_store_open(&s, url, &err) < 0)
		goto fail;
	t0 = fr_store_now();
	for (int i = 0; i < n; i += BATCH) {
		struct fr_delivery *b[BATCH];
		size_t k = (size_t)(n - i < BATCH ? n - i : BATCH);
		for (size_t j = 0; j < k; j++)
			b[j] = make(i + (int)j);
		int rc = fr_store_push(s, b, k, NULL, dup, &err);
		for (size_t j = 0; j < k; j++) {
			fr_delivery_free(b[j]);
			if (rc == 0)
				free(dup[j]);
		}
		if (rc < 0)
			goto fail;
	}
	t1 = fr_store_now();
	while (done < n) {
		struct fr_claim c = { .owner = "bench", .max = BATCH,
				      .lease_s = 30, .now = fr_store_now() };
		struct fr_delivery **got = NULL;
		size_t k = 0;
		if (fr_store_claim(s, &c, &got, &k, &err) < 0)
			goto fail;
		if (k == 0) {
			err = fr_xasprintf("only %d of %d deliveries claimed", done, n);
			goto fail;
		}
		if (fr_store_begin(s, FR_DURABLE, &err) < 0) {
			fr_deliveries_free(got, k);
			goto fail;
		}
		for (size_t j = 0; j < k; j++) {
			if (fr_store_finish(s, got[j]->id, "bench", FR_STATUS_OK, 0,
					    &err) < 0) {
				fr_store_rollback(s);
				fr_deliveries_free(got, k);
				goto fail;
			}
		}
		fr_deliveries_free(got, k);
		if (fr_store_commit(s, &err) < 0)
			goto fail;
		done += (int)k;
	}
	t2 = fr_store_now();
	f->push = n / (t1 - t0);
	f->drain = n / (t2 - t1);
	f->total = n / (t2 - t0);
	f->ok = true;
	fr_store_close(s);
	return 0;
fail:
	printf("  %s: %s\n", url, err ? err : "failed");
	free(err);
	fr_store_close(s);
	return -1;
}

static void show(const char *name, const struct figures *f)
{
	if (f->ok)
		printf("%-11s push %9.0f/s   claim+finish %9.0f/s   whole %9.0f/s\n",
		       name, f->push, f->drain, f->total);
	else
		printf("%-11s (no figures)\n", name);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 20000;
	char dir[] = "/tmp/fr-bench-store-XXXXXX";
	const char *pg = getenv("FLOWRUN_TEST_PG");
	struct figures lite, post;
	struct utsname u;
	char *url;

	uname(&u);
	printf("bench_store: %d deliveries, batches of %d, durable commits; "
	       "%s, %ld cores\n", n, BATCH, u.machine, sysconf(_SC_NPROCESSORS_ONLN));
	if (!mkdtemp(dir)) {
		perror("mkdtemp");
		return 1;
	}
	url = fr_xasprintf("sqlite:%s/bench.db", dir);
	bench(url, n, &lite);
	show("sqlite", &lite);
	{
		static const char *const suffix[] = { "", "-wal", "-shm" };
		for (size_t i = 0; i < 3; i++) {
			char *p = fr_xasprintf("%s/bench.db%s", dir, suffix[i]);
			remove(p);
			free(p);
		}
		rmdir(dir);
	}
	free(url);
	memset(&post, 0, sizeof(post));
	if (pg && *pg) {
		bench(pg, n, &post);
		show("postgresql", &post);
	} else {
		printf("postgresql  no server: FLOWRUN_TEST_PG is not set (%s)\n",
		       getenv("FLOWRUN_TEST_PG_ERROR") ? getenv("FLOWRUN_TEST_PG_ERROR")
						       : "run through tests/pgserver.py");
	}
	if (lite.ok && post.ok)
		printf("postgresql/sqlite: push %.2fx, claim+finish %.2fx, whole %.2fx\n",
		       post.push / lite.push, post.drain / lite.drain,
		       post.total / lite.total);
	return lite.ok && post.ok ? 0 : 1;
}
