/* strptime, timegm */
#define _GNU_SOURCE
/* runs, show and replay: what the store recorded, and what is queued. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "json.h"
#include "log.h"
#include "record.h"
#include "store.h"
#include "trace.h"
#include "util.h"

/*
 * The store, or NULL with *missing set when there is none yet (reading
 * commands create none: nothing was recorded), or NULL after an error.
 */
static struct fr_store *open_store(const struct fr_common *c, bool *missing)
{
	struct fr_store *s = NULL;

	char *err = NULL;

	*missing = !fr_store_exists(c->store);
	if (!*missing && fr_common_store(&s, c) == 0 &&
	    fr_store_reap(s, NULL, &err) < 0) {
		/* a store we may only read: the rows stay as they are */
		free(err);
	}
	return s;
}

/* An execution that ended but holds no data: retention removed it. */
static bool pruned(const struct fr_execution *e)
{
	return (e->status == FR_STATUS_OK || e->status == FR_STATUS_FAILED) &&
	       e->finished_at > 0 && !e->input && !e->trace;
}

static void print_time(double t)
{
	time_t secs = (time_t)t;
	struct tm tm;
	char buf[32];

	gmtime_r(&secs, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	fputs(buf, stdout);
}

/*
 * --since: a duration back from now (10m, 2h, 7d) or a UTC time
 * (2026-12-01T10:00:00Z, or a date).  -1 when it is neither.
 */
/*
 * The dedupe key of --delivery ID: the key is the canonical JSON of the
 * flow's dedupe value, and the ids senders give are strings, so ID is taken
 * as a string ("gh-1" matches the value "gh-1", and "123" the value "123";
 * a number 123 is matched by its execution, not its key).
 */
static char *delivery_key(const char *id)
{
	json_t *s = json_string(id);
	char *text = s ? json_dumps(s, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
	char *key = text ? fr_dedupe_key(text) : NULL;

	json_decref(s);
	free(text);
	return key;
}

static double parse_since(const char *s)
{
	struct tm tm = { 0 };
	const char *end;
	size_t n = strlen(s);
	int64_t ms;

	if (n > 1 && s[n - 1] == 'd') {
		char *e;
		long days = strtol(s, &e, 10);
		if (e == s + n - 1 && days >= 0)
			return fr_store_now() - (double)days * 86400;
	}
	if ((ms = fr_parse_duration_ms(s)) >= 0)
		return fr_store_now() - (double)ms / 1000.0;
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end) {
		memset(&tm, 0, sizeof(tm));
		end = strptime(s, "%Y-%m-%d", &tm);
	}
	if (!end || (*end && strcmp(end, "Z") != 0))
		return -1;
	return (double)timegm(&tm);
}

static int parse_status(const struct fr_cmd *cmd, const char *arg,
			enum fr_status *out)
{
	if (fr_status_parse(arg, out) == 0)
		return -1;
	return fr_usage_error(cmd, "--status: '%s' is no status (queued, "
			      "running, ok, failed, retrying)", arg);
}

static int parse_origin(const struct fr_cmd *cmd, const char *arg,
			enum fr_origin *out)
{
	if (fr_origin_parse(arg, out) == 0)
		return -1;
	return fr_usage_error(cmd, "--origin: '%s' is no origin (run, deploy, "
			      "serve, replay)", arg);
}

/*
 * The one execution whose id is arg or starts with it (as git takes
 * short hashes): *id (caller frees), or NULL after saying why: unknown,
 * or ambiguous with the candidates listed.  -1 on a store error.
 */
static int resolve_id(struct fr_store *s, const char *arg, char **id, char **err)
{
	struct fr_execution_filter f = { .id_prefix = arg, .limit = 11 };
	struct fr_execution *rows = NULL;
	size_t n = 0;

	*id = NULL;
	if (fr_store_execution_list(s, &f, &rows, &n, err) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(rows[i].id, arg) == 0) {
			*id = fr_xstrdup(arg);
			break;
		}
	}
	if (!*id && n == 1) {
		*id = fr_xstrdup(rows[0].id);
	} else if (!*id && n > 1) {
		struct fr_buf b;
		fr_log_error("execution id '%s' is ambiguous; it begins:", arg);
		fr_buf_init(&b);
		for (size_t i = 0; i < n && i < 10; i++)
			fr_buf_printf(&b, "  %s  %s/%s  %s\n", rows[i].id,
				      rows[i].integration, rows[i].flow,
				      fr_status_name(rows[i].status));
		if (n > 10)
			fr_buf_puts(&b, "  ...\n");
		fr_log_block(FR_LOG_ERROR, NULL, fr_buf_cstr(&b));
		fr_buf_finish(&b);
	} else if (!*id) {
		fr_log_error("no execution '%s'", arg);
	}
	fr_executions_free(rows, n);
	return 0;
}

static void print_row(const struct fr_execution *e)
{
	printf("%s  ", e->id);
	print_time(e->started_at);
	printf("  %-8s %s/%s  %s  ", fr_status_name(e->status), e->integration,
	       e->flow, e->instance);
	if (e->finished_at > 0)
		printf("%.1f ms", e->duration_ms);
	else
		fputs("-", stdout);
	printf("  %s", fr_origin_name(e->origin));
	if (e->attempt > 1)
		printf(" attempt %d", e->attempt);
	if (e->replay_of)
		printf(" replays %s", e->replay_of);
	if (e->error) {
		/* on one line, whatever the error holds */
		char *text = fr_escape_controls(e->error);
		printf("  %s", text);
		free(text);
	}
	putchar('\n');
}

static volatile sig_atomic_t follow_stop;

static void on_stop(int sig)
{
	(void)sig;
	follow_stop = 1;
}

/* Where an execution was when --follow printed it last. */
struct seen {
	char *id;
	enum fr_status status;
};

/*
 * --follow: prints each execution that starts or changes status, from
 * now on (or --since), until SIGINT or SIGTERM; one JSON object a line
 * with --json.  The store is read every 200 ms: it is the only channel
 * every backend and every process share.
 */
static int follow(struct fr_store *store, struct fr_execution_filter f,
		  bool json)
{
	struct seen *seen = NULL;
	size_t nseen = 0, cap = 0;
	int rc = FR_EXIT_OK;

	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	if (f.since <= 0)
		f.since = fr_store_now() - 1;
	f.limit = 10000;
	while (!follow_stop) {
		struct fr_execution *rows = NULL;
		size_t n = 0;
		char *err = NULL;
		if (fr_store_execution_list(store, &f, &rows, &n, &err) < 0) {
			fr_log_error("%s", err);
			free(err);
			rc = FR_EXIT_SYSTEM;
			break;
		}
		for (size_t i = n; i-- > 0;) {	/* oldest first */
			size_t k = 0;
			while (k < nseen && strcmp(seen[k].id, rows[i].id) != 0)
				k++;
			if (k < nseen && seen[k].status == rows[i].status)
				continue;
			if (k == nseen) {
				fr_grow(&seen, &cap, nseen + 1, sizeof(*seen));
				seen[nseen++].id = fr_xstrdup(rows[i].id);
			}
			seen[k].status = rows[i].status;
			if (json) {
				json_t *j = fr_execution_json(&rows[i]);
				char *line = json_dumps(j, JSON_COMPACT);
				puts(line);
				free(line);
				json_decref(j);
			} else {
				print_row(&rows[i]);
			}
		}
		fflush(stdout);
		fr_executions_free(rows, n);
		nanosleep(&(struct timespec){ 0, 200 * 1000 * 1000 }, NULL);
	}
	for (size_t k = 0; k < nseen; k++)
		free(seen[k].id);
	free(seen);
	return rc;
}

int cmd_runs(int argc, char **argv)
{
	enum { OPT_FLOW = FR_OPT_FIRST_LOCAL, OPT_INSTANCE, OPT_STATUS, OPT_LIMIT,
	       OPT_ORIGIN, OPT_SINCE, OPT_TRIGGER, OPT_FOLLOW, OPT_DELIVERY };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "flow", required_argument, NULL, OPT_FLOW },
		{ "instance", required_argument, NULL, OPT_INSTANCE },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "origin", required_argument, NULL, OPT_ORIGIN },
		{ "since", required_argument, NULL, OPT_SINCE },
		{ "trigger", required_argument, NULL, OPT_TRIGGER },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "follow", no_argument, NULL, OPT_FOLLOW },
		{ "delivery", required_argument, NULL, OPT_DELIVERY },
		{ 0 },
	};
	const struct fr_cmd *cmd = fr_cmd_find("runs");
	bool following = false;
	struct fr_execution_filter f = { 0 };
	enum fr_status status;
	enum fr_origin origin;
	bool missing;
	struct fr_common common;
	struct fr_store *store = NULL;
	struct fr_execution *rows = NULL;
	size_t n = 0;
	char *err = NULL, *key = NULL;
	int opt, rc = -1;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		switch (opt) {
		case OPT_FLOW:
			f.flow = optarg;
			break;
		case OPT_INSTANCE:
			f.instance = optarg;
			break;
		case OPT_STATUS:
			rc = parse_status(cmd, optarg, &status);
			f.status = &status;
			break;
		case OPT_ORIGIN:
			rc = parse_origin(cmd, optarg, &origin);
			f.origin = &origin;
			break;
		case OPT_SINCE:
			if ((f.since = parse_since(optarg)) < 0)
				rc = fr_usage_error(cmd, "--since takes a duration "
						    "(10m, 2h, 7d) or a UTC time "
						    "(2026-12-01T10:00:00Z)");
			break;
		case OPT_TRIGGER:
			f.trigger = optarg;
			break;
		case OPT_FOLLOW:
			following = true;
			break;
		case OPT_DELIVERY:
			f.delivery = optarg;
			free(key);
			key = delivery_key(optarg);
			f.dedupe_key = key;
			break;
		case OPT_LIMIT:
			f.limit = atoi(optarg);
			if (f.limit <= 0)
				rc = fr_usage_error(cmd, "--limit takes a positive number");
			break;
		default:
			rc = fr_common_option(&common, cmd, opt, optarg);
		}
	}
	if (rc < 0 && optind < argc)
		rc = fr_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (rc >= 0)
		goto out;
	if (following) {
		/* serve creates the store if it is not there yet */
		rc = fr_common_store(&store, &common) < 0 ? FR_EXIT_SYSTEM
				: follow(store, f, common.json);
		goto out;
	}
	if (!(store = open_store(&common, &missing))) {
		if (!missing) {
			rc = FR_EXIT_SYSTEM;
			goto out;
		}
	} else if (fr_store_execution_list(store, &f, &rows, &n, &err) < 0) {
		fr_log_error("%s", err);
		free(err);
		rc = FR_EXIT_SYSTEM;
		goto out;
	}
	if (common.json) {
		json_t *list = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(list, fr_execution_json(&rows[i]));
		fr_print_json(list);
		json_decref(list);
	} else {
		for (size_t i = 0; i < n; i++)
			print_row(&rows[i]);
	}
	rc = FR_EXIT_OK;
out:
	free(key);
	fr_executions_free(rows, n);
	fr_store_close(store);
	fr_common_finish(&common);
	return rc;
}

/*
 * show --as-test (graph NULL): the execution ex as a test; show --graph
 * FORMAT: the flow's graph coloured by what ex did; against the flows of
 * paths.
 */
static int print_with_flow(const struct fr_common *common, const json_t *ex,
			   const char *graph, char **paths, size_t n)
{
	struct fr_project *p = NULL;
	struct fr_redact *rd = fr_redact_create();
	const struct fr_flow *f = NULL;
	struct fr_diag d;
	char *name, *text;
	int rc = FR_EXIT_INVALID;

	fr_diag_init(&d, stderr);
	fr_common_load(&p, common, paths, n, &d);
	fr_diag_flush(&d);
	if (!p || d.nerrors)
		goto out;
	name = fr_xasprintf("%s/%s",
			    json_string_value(json_object_get(ex, "integration")),
			    json_string_value(json_object_get(ex, "flow")));
	if (!(f = fr_project_flow(p, name)))
		fr_log_say(FR_LOG_ERROR, "show", "the flow '%s' of this execution is "
			"not in the files loaded (give its PATH)", name);
	free(name);
	if (!f)
		goto out;
	if (graph) {
		fr_graph_execution(stdout, f, json_object_get(ex, "trace"), graph);
	} else {
		struct fr_record rec = {
			.flow = f,
			.instance = json_string_value(json_object_get(ex, "instance")),
			.trigger = json_object_get(ex, "input"),
			.trace = json_object_get(ex, "trace"), .redact = rd,
		};
		text = fr_record_yaml(&rec);
		fputs(text, stdout);
		free(text);
	}
	rc = FR_EXIT_OK;
out:
	fr_project_destroy(p);
	fr_redact_destroy(rd);
	return rc;
}

int cmd_show(int argc, char **argv)
{
	enum { OPT_AS_TEST = FR_OPT_FIRST_LOCAL, OPT_GRAPH };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "as-test", no_argument, NULL, OPT_AS_TEST },
		{ "graph", required_argument, NULL, OPT_GRAPH },
		{ 0 },
	};
	const struct fr_cmd *cmd = fr_cmd_find("show");
	struct fr_common common;
	const char *graph = NULL;
	bool missing, found = false, as_test = false;
	struct fr_store *store = NULL;
	struct fr_execution ex = { 0 };
	char *err = NULL, *id = NULL;
	int opt, rc = -1;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		if (opt == OPT_AS_TEST)
			as_test = true;
		else if (opt == OPT_GRAPH && strcmp(optarg, "dot") != 0 &&
			 strcmp(optarg, "mermaid") != 0)
			rc = fr_usage_error(cmd, "--graph must be dot or mermaid");
		else if (opt == OPT_GRAPH)
			graph = optarg;
		else
			rc = fr_common_option(&common, cmd, opt, optarg);
	}
	if (rc < 0 && as_test && graph)
		rc = fr_usage_error(cmd, "--as-test and --graph exclude each other");
	if (rc < 0 && (as_test || graph ? optind >= argc : optind != argc - 1))
		rc = fr_usage_error(cmd, "expected one EXECUTION id");
	if (rc >= 0)
		goto out;
	if (!(store = open_store(&common, &missing))) {
		if (missing)
			fr_log_error("no execution '%s': no store at %s",
				     argv[optind], common.store);
		rc = missing ? FR_EXIT_FAILED : FR_EXIT_SYSTEM;
		goto out;
	}
	if (resolve_id(store, argv[optind], &id, &err) < 0 ||
	    (id && fr_store_execution_get(store, id, &ex, &found, &err) < 0)) {
		fr_log_error("%s", err);
		free(err);
		rc = FR_EXIT_SYSTEM;
		goto out;
	}
	if (!found) {
		rc = FR_EXIT_FAILED;
		goto out;
	}
	if (as_test || graph) {
		json_t *j = fr_execution_json(&ex);
		if (!json_is_object(json_object_get(j, "trace"))) {
			fr_log_say(FR_LOG_ERROR, "show", "execution '%s' %s: no %s can "
				   "be made of it", ex.id, pruned(&ex)
				   ? "has no data any more (removed by retention)"
				   : "has not finished", graph ? "graph" : "test");
			rc = FR_EXIT_FAILED;
		} else {
			rc = print_with_flow(&common, j, graph, argv + optind + 1,
					     (size_t)(argc - optind - 1));
		}
		json_decref(j);
		goto out;
	}
	if (common.json) {
		json_t *j = fr_execution_json(&ex);
		fr_print_json(j);
		json_decref(j);
	} else {
		json_t *trace = ex.trace ? json_loads(ex.trace, 0, NULL) : NULL;
		if (json_is_object(trace))
			fr_trace_print(stdout, trace, common.color == 1,
				       common.verbosity > 0 ? common.verbosity : 1);
		else
			printf("%s  %s/%s  %s  %s attempt %d (no trace: %s)\n",
			       ex.id, ex.integration, ex.flow,
			       fr_status_name(ex.status), fr_origin_name(ex.origin),
			       ex.attempt, pruned(&ex)
			       ? "removed by retention (flowrun prune, serve --retain)"
			       : "the execution did not finish");
		json_decref(trace);
	}
	rc = FR_EXIT_OK;
out:
	fr_execution_finish(&ex);
	free(id);
	fr_store_close(store);
	fr_common_finish(&common);
	return rc;
}

int cmd_replay(int argc, char **argv)
{
	enum { OPT_FAILED = FR_OPT_FIRST_LOCAL, OPT_FLOW, OPT_LIMIT, OPT_ORIGIN };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "failed", no_argument, NULL, OPT_FAILED },
		{ "flow", required_argument, NULL, OPT_FLOW },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ "origin", required_argument, NULL, OPT_ORIGIN },
		{ 0 },
	};
	static const enum fr_status failed_status = FR_STATUS_FAILED;
	const struct fr_cmd *cmd = fr_cmd_find("replay");
	enum fr_origin origin = FR_ORIGIN_SERVE;
	struct fr_execution_filter f = { .status = &failed_status,
					 .origin = &origin,
					 .not_replayed = true, .limit = 1000 };
	struct fr_common common;
	struct fr_store *store = NULL;
	struct fr_execution *rows = NULL;
	size_t nrows = 0;
	json_t *ids = json_array(), *report = json_array(), *row;
	bool failed = false, any_origin = false, missing;
	bool tty = isatty(STDERR_FILENO);
	char *err = NULL;
	size_t i;
	int opt, rc = -1;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		if (opt == OPT_FAILED)
			failed = true;
		else if (opt == OPT_FLOW)
			f.flow = optarg;
		else if (opt == OPT_ORIGIN && strcmp(optarg, "any") == 0)
			any_origin = true;
		else if (opt == OPT_ORIGIN)
			rc = parse_origin(cmd, optarg, &origin);
		else if (opt == OPT_LIMIT && (f.limit = atoi(optarg)) <= 0)
			rc = fr_usage_error(cmd, "--limit takes a positive number");
		else if (opt != OPT_LIMIT)
			rc = fr_common_option(&common, cmd, opt, optarg);
	}
	if (any_origin)
		f.origin = NULL;
	if (rc < 0 && failed == (optind < argc))
		rc = fr_usage_error(cmd, "give EXECUTION ids or --failed");
	if (rc < 0 && f.flow && !failed)
		rc = fr_usage_error(cmd, "--flow goes with --failed");
	if (rc >= 0)
		goto out;
	if (!(store = open_store(&common, &missing))) {
		if (missing)
			fr_log_error("nothing to replay: no store at %s", common.store);
		rc = missing ? FR_EXIT_FAILED : FR_EXIT_SYSTEM;
		goto out;
	}
	rc = FR_EXIT_OK;
	if (failed) {
		if (fr_store_execution_list(store, &f, &rows, &nrows, &err) < 0)
			goto store_error;
		for (size_t k = 0; k < nrows; k++)
			json_array_append_new(ids, json_string(rows[k].id));
	}
	for (int k = optind; k < argc; k++) {
		char *id;
		if (resolve_id(store, argv[k], &id, &err) < 0)
			goto store_error;
		if (id)
			json_array_append_new(ids, json_string(id));
		else
			rc = FR_EXIT_FAILED;
		free(id);
	}
	json_array_foreach(ids, i, row) {
		const char *id = json_string_value(row);
		char *nid = NULL;
		if (tty && !common.json)
			fprintf(stderr, "\r[%zu/%zu] %s\033[K", i + 1,
				json_array_size(ids), id);
		{
			struct fr_execution ex = { 0 };
			bool found = false, gone;
			if (fr_store_execution_get(store, id, &ex, &found, &err) < 0)
				goto store_error;
			gone = found && pruned(&ex);
			fr_execution_finish(&ex);
			if (gone) {
				if (tty)
					fputs("\r\033[K", stderr);
				fr_log_error("execution '%s' cannot be replayed: its "
					     "trigger data was removed by retention", id);
				rc = FR_EXIT_FAILED;
				continue;
			}
		}
		if (fr_store_replay(store, id, &nid, &err) < 0)
			goto store_error;
		if (!nid) {
			if (tty)
				fputs("\r\033[K", stderr);
			fr_log_error("no execution '%s'", id);
			rc = FR_EXIT_FAILED;
			continue;
		}
		json_array_append_new(report, json_pack("{ss ss}", "execution", id,
							"replay", nid));
		if (!common.json)
			printf("%s%s -> %s queued\n", tty ? "\r\033[K" : "", id, nid);
		free(nid);
	}
	if (tty && !common.json)
		fputs("\r\033[K", stderr);
	if (common.json)
		fr_print_json(report);
	else if (json_array_size(ids) == 0 && rc == FR_EXIT_OK)
		puts("nothing to replay");
	goto out;
store_error:
	fr_log_error("%s", err);
	free(err);
	rc = FR_EXIT_SYSTEM;
out:
	json_decref(ids);
	json_decref(report);
	fr_executions_free(rows, nrows);
	fr_store_close(store);
	fr_common_finish(&common);
	return rc;
}
