/*
 * state and deployments: what the store keeps per instance (the state the
 * flows' set and update steps wrote; state set/delete change it by hand)
 * and what deploy recorded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"
#include "json.h"
#include "log.h"
#include "store.h"
#include "util.h"

static json_t *time_json(double t)
{
	return t > 0 ? json_real(t) : json_null();
}

/* UTC, as runs prints it */
static json_t *time_text(double t)
{
	time_t secs = (time_t)t;
	struct tm tm;
	char buf[32];

	if (t <= 0)
		return json_null();
	gmtime_r(&secs, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *row_json(const struct fr_state_row *r)
{
	return json_pack("{ss ss ss sO so}", "integration", r->integration,
			 "instance", r->instance, "key", r->key,
			 "value", r->value ? r->value : json_null(),
			 "updated_at", time_json(r->updated_at));
}

/* A value on one line, as JSON. */
static char *compact(const json_t *v)
{
	char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY |
				 JSON_REAL_PRECISION(17)) : NULL;

	return s ? s : fr_xstrdup("null");
}

struct state_args {
	const char *integration, *instance, *key;
	bool all_instances;
};

/* "a, b" of the integrations rows name (caller frees). */
static char *integrations(const struct fr_state_row *r, size_t n)
{
	struct fr_buf b;

	fr_buf_init(&b);
	fr_buf_puts(&b, "");
	for (size_t i = 0; i < n; i++) {
		if (i == 0 || strcmp(r[i].integration, r[i - 1].integration) != 0)
			fr_buf_printf(&b, "%s%s", i ? ", " : "", r[i].integration);
	}
	return fr_buf_steal(&b);
}

/*
 * The integration a key-changing command means: --integration, or the one
 * integration that has state for the instance (key: that has this key).
 * NULL after saying why.
 */
static char *which_integration(const struct fr_cmd *cmd, struct fr_store *s,
			       const struct state_args *a, const char *key,
			       int *rc)
{
	struct fr_state_row *r = NULL;
	size_t n = 0, distinct = 0;
	char *err = NULL, *name = NULL;

	if (a->integration)
		return fr_xstrdup(a->integration);
	if (s && fr_store_state_list(s, NULL, a->instance, key, &r, &n, &err) < 0) {
		fr_log_error("%s", err);
		free(err);
		*rc = FR_EXIT_SYSTEM;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		if (i == 0 || strcmp(r[i].integration, r[i - 1].integration) != 0)
			distinct++;
	if (distinct == 1) {
		name = fr_xstrdup(r[0].integration);
	} else if (distinct == 0 && key) {
		fr_log_say(FR_LOG_ERROR, cmd->name, "no state key '%s' for "
			   "instance '%s'", key, a->instance);
		*rc = FR_EXIT_FAILED;
	} else if (distinct == 0) {
		*rc = fr_usage_error(cmd, "instance '%s' has no state yet: give "
				     "--integration NAME", a->instance);
	} else {
		char *names = integrations(r, n);
		fr_log_say(FR_LOG_ERROR, cmd->name, "several integrations have "
			   "%s%s%s for instance '%s': give --integration NAME "
			   "(%s)", key ? "the key '" : "state", key ? key : "",
			   key ? "'" : "", a->instance, names);
		free(names);
		*rc = FR_EXIT_USAGE;
	}
	fr_state_rows_free(r, n);
	return name;
}

static int state_list(const struct fr_common *c, struct fr_store *s,
		      const struct state_args *a)
{
	struct fr_state_row *r = NULL;
	size_t n = 0;
	char *err = NULL;
	int rc = FR_EXIT_OK;

	if (s && fr_store_state_list(s, a->integration,
				     a->all_instances ? NULL : a->instance,
				     a->key, &r, &n, &err) < 0) {
		fr_log_error("%s", err);
		free(err);
		return FR_EXIT_SYSTEM;
	}
	if (a->key && n == 0) {
		fr_log_say(FR_LOG_ERROR, "state", "no state key '%s' for instance "
			"'%s'", a->key, a->instance);
		rc = FR_EXIT_FAILED;
	} else if (a->key && n > 1) {
		char *names = integrations(r, n);
		fr_log_say(FR_LOG_ERROR, "state", "several integrations have the "
			   "key '%s' for instance '%s': give --integration NAME "
			   "(%s)", a->key, a->instance, names);
		free(names);
		rc = FR_EXIT_USAGE;
	} else if (a->key) {
		json_t *j = c->json ? row_json(&r[0]) : json_incref(r[0].value);
		fr_print_json(j ? j : json_null());
		json_decref(j);
	} else if (c->json) {
		json_t *list = json_array();
		for (size_t i = 0; i < n; i++)
			json_array_append_new(list, row_json(&r[i]));
		fr_print_json(list);
		json_decref(list);
	} else {
		for (size_t i = 0; i < n; i++) {
			char *v = compact(r[i].value);
			printf("%s/%s  %s  %s\n", r[i].integration, r[i].instance,
			       r[i].key, v);
			free(v);
		}
	}
	fr_state_rows_free(r, n);
	return rc;
}

/* state set KEY JSON, state delete KEY */
static int state_change(const struct fr_cmd *cmd, const struct fr_common *c,
			struct fr_store **s, const struct state_args *a,
			const json_t *value)
{
	struct fr_state_row row = { .instance = (char *)a->instance,
				    .key = (char *)a->key,
				    .value = (json_t *)value };
	char *integration, *err = NULL;
	int rc = FR_EXIT_OK;

	if (!(integration = which_integration(cmd, *s, a, value ? NULL : a->key,
					      &rc)))
		return rc;
	if (!value && !a->integration) {
		/* which_integration found the key: it exists */
	} else if (!value) {
		struct fr_state_row *r = NULL;
		size_t n = 0;
		if (*s && fr_store_state_list(*s, integration, a->instance,
					      a->key, &r, &n, &err) < 0)
			goto store_error;
		fr_state_rows_free(r, n);
		if (n == 0) {
			fr_log_say(FR_LOG_ERROR, "state", "no state key '%s' for "
				"%s/%s", a->key, integration, a->instance);
			free(integration);
			return FR_EXIT_FAILED;
		}
	}
	if (!*s && fr_common_store(s, c) < 0) {
		free(integration);
		return FR_EXIT_SYSTEM;
	}
	if (fr_store_state_set(*s, integration, a->instance, a->key, value,
			       &err) < 0)
		goto store_error;
	row.integration = integration;
	row.updated_at = fr_store_now();
	if (c->json) {
		json_t *j = value ? row_json(&row)
			: json_pack("{ss ss ss sb}", "integration", integration,
				    "instance", a->instance, "key", a->key,
				    "deleted", 1);
		fr_print_json(j);
		json_decref(j);
	}
	free(integration);
	return FR_EXIT_OK;
store_error:
	fr_log_error("%s", err);
	free(err);
	free(integration);
	return FR_EXIT_SYSTEM;
}

int cmd_state(int argc, char **argv)
{
	enum { OPT_INTEGRATION = FR_OPT_FIRST_LOCAL, OPT_INSTANCE, OPT_ALL };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "integration", required_argument, NULL, OPT_INTEGRATION },
		{ "instance", required_argument, NULL, OPT_INSTANCE },
		{ "all-instances", no_argument, NULL, OPT_ALL },
		{ 0 },
	};
	const struct fr_cmd *cmd = fr_cmd_find("state");
	struct state_args a = { .instance = "default" };
	struct fr_common common;
	struct fr_store *store = NULL;
	json_t *value = NULL;
	const char *verb = "get";
	char **pos;
	int opt, npos, rc = -1;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		if (opt == OPT_INTEGRATION)
			a.integration = optarg;
		else if (opt == OPT_INSTANCE)
			a.instance = optarg;
		else if (opt == OPT_ALL)
			a.all_instances = true;
		else
			rc = fr_common_option(&common, cmd, opt, optarg);
	}
	if (rc >= 0)
		goto out;
	pos = argv + optind;
	npos = argc - optind;
	if (npos > 0 && (strcmp(pos[0], "get") == 0 || strcmp(pos[0], "set") == 0 ||
			 strcmp(pos[0], "delete") == 0)) {
		verb = pos[0];
		pos++;
		npos--;
		if (npos == 0) {
			rc = fr_usage_error(cmd, "state %s needs a KEY", verb);
			goto out;
		}
	}
	a.key = npos > 0 ? pos[0] : NULL;
	if (npos > (strcmp(verb, "set") == 0 ? 2 : 1)) {
		rc = fr_usage_error(cmd, "unexpected argument '%s'",
				    pos[strcmp(verb, "set") == 0 ? 2 : 1]);
		goto out;
	}
	if (strcmp(verb, "set") == 0 && npos < 2) {
		rc = fr_usage_error(cmd, "state set needs a KEY and a JSON value");
		goto out;
	}
	if (a.all_instances && strcmp(verb, "get") != 0) {
		rc = fr_usage_error(cmd, "--all-instances goes with listing only");
		goto out;
	}
	if (a.key && !*a.key) {
		rc = fr_usage_error(cmd, "the KEY is empty");
		goto out;
	}
	if (strcmp(verb, "set") == 0 && !(value = fr_json_arg("state", "the value",
							      pos[1]))) {
		rc = FR_EXIT_USAGE;
		goto out;
	}
	/* reading creates no store: nothing was recorded */
	if (fr_store_exists(common.store) && fr_common_store(&store, &common) < 0) {
		rc = FR_EXIT_SYSTEM;
		goto out;
	}
	if (strcmp(verb, "get") == 0)
		rc = state_list(&common, store, &a);
	else
		rc = state_change(cmd, &common, &store, &a, value);
out:
	json_decref(value);
	fr_store_close(store);
	fr_common_finish(&common);
	return rc;
}

int cmd_deployments(int argc, char **argv)
{
	enum { OPT_INSTANCE = FR_OPT_FIRST_LOCAL, OPT_INTEGRATION };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "instance", required_argument, NULL, OPT_INSTANCE },
		{ "integration", required_argument, NULL, OPT_INTEGRATION },
		{ 0 },
	};
	const struct fr_cmd *cmd = fr_cmd_find("deployments");
	const char *instance = NULL, *integration = NULL;
	struct fr_common common;
	struct fr_store *store = NULL;
	struct fr_deployment *d = NULL;
	json_t *list = json_array();
	size_t n = 0;
	char *err = NULL;
	int opt, rc = -1;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		if (opt == OPT_INSTANCE)
			instance = optarg;
		else if (opt == OPT_INTEGRATION)
			integration = optarg;
		else
			rc = fr_common_option(&common, cmd, opt, optarg);
	}
	if (rc < 0 && optind < argc)
		rc = fr_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (rc >= 0)
		goto out;
	if (fr_store_exists(common.store)) {
		if (fr_common_store(&store, &common) < 0 ||
		    fr_store_deployment_list(store, &d, &n, &err) < 0) {
			if (err)
				fr_log_error("%s", err);
			free(err);
			rc = FR_EXIT_SYSTEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		json_t *j;
		if ((instance && strcmp(d[i].instance, instance) != 0) ||
		    (integration && strcmp(d[i].integration, integration) != 0))
			continue;
		if (common.json) {
			j = json_pack("{ss ss so ss so so sO}", "integration",
				      d[i].integration, "instance", d[i].instance,
				      "file_hash", d[i].file_hash ? json_string(d[i].file_hash)
							  : json_null(),
				      "outcome", d[i].outcome ? d[i].outcome : "",
				      "started_at", time_json(d[i].started_at),
				      "finished_at", time_json(d[i].finished_at),
				      "summary", d[i].summary ? d[i].summary
							      : json_null());
			json_array_append_new(list, j);
			continue;
		}
		j = time_text(d[i].started_at);
		printf("%s  %-8s %s/%s  %.12s\n", json_string_value(j) ?
		       json_string_value(j) : "-", d[i].outcome ? d[i].outcome : "-",
		       d[i].integration, d[i].instance,
		       d[i].file_hash ? d[i].file_hash : "-");
		json_decref(j);
	}
	if (common.json)
		fr_print_json(list);
	rc = FR_EXIT_OK;
out:
	json_decref(list);
	fr_deployments_free(d, n);
	fr_store_close(store);
	fr_common_finish(&common);
	return rc;
}
