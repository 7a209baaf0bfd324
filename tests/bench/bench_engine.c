/*
 * bench_engine: the engine's speed, network excluded.
 *
 * 1. flows/s: the example's account flow (2 accounts: 1 GET, a transform,
 *    a loop of 2 POSTs) run many times in one process against an in-process
 *    libmicrohttpd sink on 127.0.0.1 that answers canned JSON at once.
 * 2. overhead per step: the same flow with its actions mocked (no request
 *    built or sent): wall time / steps run; and, against the sink, (wall
 *    time - time inside HTTP transfers) / steps.
 * 3. a transform step against libjq running the same program alone on the
 *    same input.
 *
 * Prints figures; asserts nothing.  Run: meson test -C build --benchmark
 * or build/tests/bench/bench_engine [ITERATIONS].
 *
 * Exact instruction counts, whatever the machine is doing:
 *   valgrind --tool=callgrind build/tests/bench/bench_engine 50 transform
 * dumps one profile per measured loop (after its warm-up), named by label
 * ("tf1", "tf11", "jq"); the "totals:" of each, divided by the runs
 * (ITERATIONS * 10), give a flow of 1 step, of 11 steps, and libjq alone.
 */
#include <jq.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#else
#define CALLGRIND_ZERO_STATS
#define CALLGRIND_DUMP_STATS_AT(label) (void)(label)
#endif

#include "config.h"
#include "exec.h"
#include "jqx.h"
#include "http.h"
#include "json.h"
#include "project.h"
#include "util.h"

static const char accounts[] =
	"{\"accounts\":[{\"id\":\"acc_1\",\"name\":\"Acme\",\"contact\":\"Ann\","
	"\"email\":\"ann@acme.test\"},{\"id\":\"acc_2\",\"name\":\"Bolt\","
	"\"contact\":\"Bob\",\"email\":\"bob@bolt.test\"}]}";
static const char posted[] = "{\"ok\":true,\"ts\":\"1.000001\"}";

static enum MHD_Result sink(void *cls, struct MHD_Connection *c,
			    const char *url, const char *method,
			    const char *version, const char *data,
			    size_t *size, void **state)
{
	static int marker;
	struct MHD_Response *r;
	const char *body = strstr(url, "/accounts") ? accounts : posted;
	enum MHD_Result ret;

	if (*state == NULL) {
		*state = &marker;
		return MHD_YES;
	}
	if (*size) {
		*size = 0;
		return MHD_YES;
	}
	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
					    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, MHD_HTTP_OK, r);
	MHD_destroy_response(r);
	return ret;
}

static double sum_http_ms(const json_t *steps)
{
	double ms = 0;
	size_t i, j;
	json_t *s, *a, *it;

	json_array_foreach(steps, i, s) {
		json_array_foreach(json_object_get(s, "http"), j, a)
			ms += json_number_value(json_object_get(a, "duration_ms"));
		ms += sum_http_ms(json_object_get(s, "steps"));
		json_array_foreach(json_object_get(s, "iterations"), j, it)
			ms += sum_http_ms(json_object_get(it, "steps"));
	}
	return ms;
}

static int count_steps(const json_t *steps)
{
	int n = 0;
	size_t i, j;
	json_t *s, *it;

	json_array_foreach(steps, i, s) {
		n++;
		n += count_steps(json_object_get(s, "steps"));
		json_array_foreach(json_object_get(s, "iterations"), j, it)
			n += count_steps(json_object_get(it, "steps"));
	}
	return n;
}

struct timing {
	double wall_ms, http_ms;
	int steps;
};

static struct timing run_many(const struct fr_project *p, const struct fr_flow *f,
			      const struct fr_exec_opts *opts, json_t *config,
			      json_t *trigger, int n, const char *label)
{
	struct fr_engine *e = fr_engine_create(p, opts, NULL);
	struct timing t = { 0 };
	uint64_t t0 = fr_now_ns();

	/* warm-up runs: until every expression runs on its own jq state */
	for (int i = -FR_JQX_HOT_AFTER - 10; i < n; i++) {
		struct fr_redact *rd = fr_redact_create();
		struct fr_exec_request req = { .flow = f, .config = config,
					       .trigger = trigger, .redact = rd,
					       .execution = "ex_bench" };
		struct fr_exec_result res;
		if (i == 0) {
			CALLGRIND_ZERO_STATS;
			t0 = fr_now_ns();
		}
		fr_engine_run(e, &req, &res);
		if (res.status != FR_EXEC_OK) {
			fprintf(stderr, "bench: run failed: %s\n", res.error);
			exit(1);
		}
		if (i >= 0) {
			t.http_ms += sum_http_ms(json_object_get(res.trace, "steps"));
			t.steps += count_steps(json_object_get(res.trace, "steps"));
		}
		fr_exec_result_finish(&res);
		fr_redact_destroy(rd);
	}
	t.wall_ms = (double)(fr_now_ns() - t0) / 1e6;
	CALLGRIND_DUMP_STATS_AT(label);
	fr_engine_destroy(e);
	return t;
}

/* libjq alone: the transform's program on the transform's input. */
static double jq_alone_us(const char *program, jv input, int n)
{
	jq_state *jq = jq_init();
	uint64_t t0 = fr_now_ns();

	if (!jq_compile(jq, program))
		abort();
	for (int i = -100; i < n; i++) {
		jv r;
		if (i == 0) {
			CALLGRIND_ZERO_STATS;
			t0 = fr_now_ns();
		}
		jq_start(jq, jv_copy(input), 0);
		while (jv_is_valid(r = jq_next(jq)))
			jv_free(r);
		jv_free(r);
	}
	double us = (double)(fr_now_ns() - t0) / 1e3 / n;
	CALLGRIND_DUMP_STATS_AT("jq");
	jq_teardown(&jq);
	jv_free(input);
	return us;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2000;
	/* "transform": only the transform figures (for callgrind, which
	 * counts instructions: tf1/tf11/jq_alone_us give exact per-step costs) */
	bool only_transform = argc > 2 && strcmp(argv[2], "transform") == 0;
	struct MHD_Daemon *d;
	struct fr_project *p = NULL;
	struct fr_diag diag;
	const char *paths[] = { FLOWS };
	const struct fr_flow *account, *tf, *tf11;
	struct fr_redact *rd = fr_redact_create();
	json_t *config, *trigger, *mock_out;
	char url[64], cpu[256] = "?";
	struct utsname u;
	struct timing real = { 0 }, mocked = { 0 }, tr, tr11;
	FILE *ci;

	fr_http_global_init();
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0,
			     NULL, NULL, sink, NULL, MHD_OPTION_CONNECTION_LIMIT,
			     64u, MHD_OPTION_END);
	if (!d)
		return 1;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u",
		 MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
	setenv("PROGIX_API_KEY", "pk_bench", 1);
	setenv("PROGIX_WEBHOOK_SECRET", "whsec_bench", 1);
	setenv("SLACK_TOKEN", "xoxb-bench", 1);
	fr_diag_init(&diag, stderr);
	fr_project_load(&p, paths, 2, NULL, &diag);
	fr_diag_flush(&diag);
	if (diag.nerrors)
		return 1;
	account = fr_project_flow(p, "progix-to-slack/account");
	tf = fr_project_flow(p, "bench/transform1");
	tf11 = fr_project_flow(p, "bench/transform11");
	{
		struct fr_setting sets[] = { { "progix_url", url }, { "slack_url", url } };
		if (fr_config_resolve(&config, account->integration, NULL, sets, 2, rd,
				      &diag) < 0)
			return 1;
	}
	trigger = json_pack("{s{s[{ss}{ss}]}}", "body", "accounts", "id", "acc_1",
			    "id", "acc_2");
	mock_out = json_loads(accounts, 0, NULL);

	struct fr_exec_opts real_opts = { 0 };
	if (!only_transform)
		real = run_many(p, account, &real_opts, config, trigger, n, "account");
	struct fr_mock mocks[] = {
		{ "progix.get_accounts", json_object_get(mock_out, "accounts") },
		{ "slack.post_message", mock_out },
	};
	struct fr_exec_opts mock_opts = { .mocks = mocks, .nmocks = 2 };
	if (!only_transform)
		mocked = run_many(p, account, &mock_opts, config, trigger, n * 5,
				  "mocked");
	{
		json_t *tcfg = json_pack("{ss}", "slack_channel", "#newaccount");
		struct fr_exec_opts o = { 0 };
		json_t *tt = json_pack("{sO}", "collect",
				       json_object_get(mock_out, "accounts"));
		tr = run_many(p, tf, &o, tcfg, tt, n * 10, "tf1");
		tr11 = run_many(p, tf11, &o, tcfg, tt, n * 10, "tf11");
		json_decref(tcfg);
		json_decref(tt);
	}
	/* the transform's input: the context as the engine builds it */
	jv input = jv_parse("{\"steps\":{},\"trigger\":{\"collect\":[{\"id\":\"acc_1\","
		"\"name\":\"Acme\",\"contact\":\"Ann\",\"email\":\"ann@acme.test\"},"
		"{\"id\":\"acc_2\",\"name\":\"Bolt\",\"contact\":\"Bob\",\"email\":"
		"\"bob@bolt.test\"}]},\"config\":{\"slack_channel\":\"#newaccount\"},"
		"\"state\":{},\"webhooks\":{},\"instance\":\"default\",\"integration\":"
		"\"bench\",\"flow\":\"transform\",\"execution\":\"ex_bench\"}");
	double alone = jq_alone_us(
		". as $ctx | [.trigger.collect[] | {channel: $ctx.config.slack_channel, "
		"text: \"New account \\(.name) (\\(.contact) <\\(.email)>)\"}]", input,
		n * 10);

	uname(&u);
	if ((ci = fopen("/proc/cpuinfo", "r"))) {
		char line[256];
		while (fgets(line, sizeof(line), ci)) {
			if (strncmp(line, "model name", 10) == 0) {
				char *c = strchr(line, ':');
				snprintf(cpu, sizeof(cpu), "%s", c ? c + 2 : line);
				cpu[strcspn(cpu, "\n")] = '\0';
				break;
			}
		}
		fclose(ci);
	}
	printf("machine: %s, %ld cores, %s %s\n", cpu, sysconf(_SC_NPROCESSORS_ONLN),
	       u.sysname, u.release);
	if (!only_transform) {
	printf("account flow against a local sink: %d runs, %.0f flows/s "
	       "(%.1f us per flow, %d steps per flow)\n", n,
	       n / (real.wall_ms / 1000.0), real.wall_ms * 1000.0 / n,
	       real.steps / n);
	printf("  engine overhead per step, HTTP transfer time excluded: %.2f us\n",
	       (real.wall_ms - real.http_ms) * 1000.0 / real.steps);
	printf("account flow with actions mocked: %d runs, %.0f flows/s, "
	       "%.2f us per step\n", n * 5, n * 5 / (mocked.wall_ms / 1000.0),
	       mocked.wall_ms * 1000.0 / mocked.steps);
	}
	{
		double flow1 = tr.wall_ms * 1000.0 / (n * 10);
		double step = (tr11.wall_ms - tr.wall_ms) * 1000.0 / (n * 10) / 10;
		printf("transform: a flow of 1 transform step %.2f us; each further "
		       "step %.2f us; libjq alone %.2f us; step/libjq %.2f\n",
		       flow1, step, alone, step / alone);
		printf("  per-execution cost (context, trace, redaction): %.2f us\n",
		       flow1 - step);
	}
	json_decref(config);
	json_decref(trigger);
	json_decref(mock_out);
	fr_redact_destroy(rd);
	fr_project_destroy(p);
	MHD_stop_daemon(d);
	return 0;
}
