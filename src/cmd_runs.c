/* runs and show: what the store recorded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"
#include "json.h"
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

	*missing = !fr_store_exists(c->store);
	if (!*missing)
		fr_common_store(&s, c);
	return s;
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

int cmd_runs(int argc, char **argv)
{
	enum { OPT_FLOW = FR_OPT_FIRST_LOCAL, OPT_INSTANCE, OPT_STATUS, OPT_LIMIT };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "flow", required_argument, NULL, OPT_FLOW },
		{ "instance", required_argument, NULL, OPT_INSTANCE },
		{ "status", required_argument, NULL, OPT_STATUS },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ 0 },
	};
	const struct fr_cmd *cmd = fr_cmd_find("runs");
	struct fr_execution_filter f = { 0 };
	bool missing;
	struct fr_common common;
	struct fr_store *store = NULL;
	json_t *list = NULL, *row;
	char *err = NULL;
	size_t i;
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
			f.status = optarg;
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
	if (!(store = open_store(&common, &missing))) {
		if (!missing) {
			rc = FR_EXIT_SYSTEM;
			goto out;
		}
		list = json_array();	/* nothing recorded yet */
	} else if (fr_store_execution_list(store, &f, &list, &err) < 0) {
		fprintf(stderr, "flowrun: error: %s\n", err);
		free(err);
		rc = FR_EXIT_SYSTEM;
		goto out;
	}
	if (common.json) {
		fr_print_json(list);
	} else {
		json_array_foreach(list, i, row) {
			const json_t *e = json_object_get(row, "error");
			/* on one line, whatever an old row's error holds */
			char *text = fr_escape_controls(json_is_string(e)
							? json_string_value(e) : "");
			printf("%s  ", json_string_value(json_object_get(row, "id")));
			print_time(json_number_value(json_object_get(row, "started_at")));
			printf("  %-7s %s/%s  %s  %.1f ms%s%s\n",
			       json_string_value(json_object_get(row, "status")),
			       json_string_value(json_object_get(row, "integration")),
			       json_string_value(json_object_get(row, "flow")),
			       json_string_value(json_object_get(row, "instance")),
			       json_number_value(json_object_get(row, "duration_ms")),
			       json_is_string(e) ? "  " : "", text);
			free(text);
		}
	}
	rc = FR_EXIT_OK;
out:
	json_decref(list);
	fr_store_close(store);
	fr_common_finish(&common);
	return rc;
}

int cmd_show(int argc, char **argv)
{
	static const struct option options[] = { FR_COMMON_OPTIONS, { 0 } };
	const struct fr_cmd *cmd = fr_cmd_find("show");
	struct fr_common common;
	bool missing;
	struct fr_store *store = NULL;
	json_t *ex = NULL;
	char *err = NULL;
	int opt, rc = -1;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1)
		rc = fr_common_option(&common, cmd, opt, optarg);
	if (rc < 0 && optind != argc - 1)
		rc = fr_usage_error(cmd, "expected one EXECUTION id");
	if (rc >= 0)
		goto out;
	if (!(store = open_store(&common, &missing)) && !missing) {
		rc = FR_EXIT_SYSTEM;
		goto out;
	}
	if (store && fr_store_execution_get(store, argv[optind], &ex, &err) < 0) {
		fprintf(stderr, "flowrun: error: %s\n", err);
		free(err);
		rc = FR_EXIT_SYSTEM;
		goto out;
	}
	if (!ex) {
		fprintf(stderr, "flowrun: error: no execution '%s' in %s\n",
			argv[optind], common.store);
		rc = FR_EXIT_FAILED;
		goto out;
	}
	if (common.json) {
		fr_print_json(ex);
	} else if (json_is_object(json_object_get(ex, "trace"))) {
		fr_trace_print(stdout, json_object_get(ex, "trace"), common.color == 1,
			       common.verbosity > 0 ? common.verbosity : 1);
	} else {
		printf("%s  %s/%s  %s  (no trace: the execution did not finish)\n",
		       argv[optind],
		       json_string_value(json_object_get(ex, "integration")),
		       json_string_value(json_object_get(ex, "flow")),
		       json_string_value(json_object_get(ex, "status")));
	}
	rc = FR_EXIT_OK;
out:
	json_decref(ex);
	fr_store_close(store);
	fr_common_finish(&common);
	return rc;
}

int cmd_replay(int argc, char **argv)
{
	enum { OPT_FAILED = FR_OPT_FIRST_LOCAL, OPT_FLOW, OPT_LIMIT };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "failed", no_argument, NULL, OPT_FAILED },
		{ "flow", required_argument, NULL, OPT_FLOW },
		{ "limit", required_argument, NULL, OPT_LIMIT },
		{ 0 },
	};
	const struct fr_cmd *cmd = fr_cmd_find("replay");
	struct fr_execution_filter f = { .status = "failed", .not_replayed = true,
					 .limit = 1000 };
	struct fr_common common;
	struct fr_store *store = NULL;
	json_t *ids = json_array(), *report = json_array(), *list = NULL, *row;
	bool failed = false, missing, tty = isatty(STDERR_FILENO);
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
		else if (opt == OPT_LIMIT && (f.limit = atoi(optarg)) <= 0)
			rc = fr_usage_error(cmd, "--limit takes a positive number");
		else if (opt != OPT_LIMIT)
			rc = fr_common_option(&common, cmd, opt, optarg);
	}
	if (rc < 0 && failed == (optind < argc))
		rc = fr_usage_error(cmd, "give EXECUTION ids or --failed");
	if (rc < 0 && f.flow && !failed)
		rc = fr_usage_error(cmd, "--flow goes with --failed");
	if (rc >= 0)
		goto out;
	if (!(store = open_store(&common, &missing))) {
		if (missing)
			fprintf(stderr, "flowrun: error: nothing to replay: no store "
				"at %s\n", common.store);
		rc = missing ? FR_EXIT_FAILED : FR_EXIT_SYSTEM;
		goto out;
	}
	if (failed) {
		if (fr_store_execution_list(store, &f, &list, &err) < 0)
			goto store_error;
		json_array_foreach(list, i, row)
			json_array_append(ids, json_object_get(row, "id"));
	}
	for (int k = optind; k < argc; k++)
		json_array_append_new(ids, json_string(argv[k]));
	rc = FR_EXIT_OK;
	json_array_foreach(ids, i, row) {
		const char *id = json_string_value(row);
		char *nid = NULL;
		if (tty && !common.json)
			fprintf(stderr, "\r[%zu/%zu] %s\033[K", i + 1,
				json_array_size(ids), id);
		if (fr_store_replay(store, id, &nid, &err) < 0)
			goto store_error;
		if (!nid) {
			fprintf(stderr, "%sflowrun: error: no execution '%s'\n",
				tty ? "\r\033[K" : "", id);
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
	if (common.json) {
		fr_print_json(report);
	} else if (json_array_size(ids) == 0) {
		puts("nothing to replay");
	}
	goto out;
store_error:
	fprintf(stderr, "flowrun: error: %s\n", err);
	free(err);
	rc = FR_EXIT_SYSTEM;
out:
	json_decref(ids);
	json_decref(report);
	json_decref(list);
	fr_store_close(store);
	fr_common_finish(&common);
	return rc;
}
