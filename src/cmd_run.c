/* run: one flow, now, in this process; prints the trace. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "oauth.h"
#include "config.h"
#include "exec.h"
#include "http.h"
#include "runner.h"
#include "store.h"
#include "json.h"
#include "record.h"
#include "schema.h"
#include "trace.h"
#include "util.h"

struct run_args {
	const char *flow, *input, *instance, *public_url, *record_test;
	const char *delivery;		/* --delivery: an execution id */
	struct fr_setting *sets;
	size_t nsets;
	struct fr_mock *mocks;
	size_t nmocks;
	json_t *headers, *query;	/* --header, --query */
	char *owned_flow, *owned_instance;
	bool dry_run, offline, record;
};

/*
 * The trigger value: webhook flows take --input as the request body, and
 * --header and --query as its headers (names lower-cased, as serve has
 * them) and query.
 */
static json_t *make_trigger(const struct fr_flow *f, json_t *input,
			    const struct run_args *a)
{
	if (f->trigger == FR_TRIGGER_WEBHOOK) {
		char *raw = fr_json_dump(input);
		json_t *t = json_pack("{sO ss sO sO ss ss}", "body", input,
				      "raw_body", raw, "headers", a->headers,
				      "query", a->query, "method", "POST",
				      "path", "");
		free(raw);
		return t;
	}
	if (f->trigger == FR_TRIGGER_MANUAL)
		return json_incref(input);
	return json_object();
}

/* Whether steps (at any depth) hold an action step with this id. */
static bool action_step(const struct fr_steps *steps, const char *id)
{
	for (size_t i = 0; i < steps->n; i++) {
		const struct fr_step *s = steps->v[i];
		if (s->kind == FR_STEP_ACTION && s->id && strcmp(s->id, id) == 0)
			return true;
		if (action_step(&s->body, id) || action_step(&s->else_steps, id))
			return true;
		for (size_t j = 0; j < s->ncases; j++) {
			if (action_step(&s->cases[j].steps, id))
				return true;
		}
	}
	return false;
}

/* The --set values of variables that are not secret (for --record). */
static json_t *public_sets(const struct fr_integration *in,
			   const json_t *config, const struct fr_setting *sets,
			   size_t n)
{
	json_t *out = json_object();

	for (size_t i = 0; i < n; i++) {
		const struct fr_config_var *cv = fr_integration_config(in, sets[i].key);
		if (cv && !cv->secret && json_object_get(config, sets[i].key))
			json_object_set(out, sets[i].key,
					json_object_get(config, sets[i].key));
	}
	return out;
}

/*
 * --delivery ID: the recorded execution ID (a webhook delivery of serve is
 * one) gives the flow, the instance and the trigger, as stored (redacted).
 * Returns -1 to go on, or an exit status after printing why not.
 */
static int load_delivery(struct run_args *a, const struct fr_common *common,
			 json_t **out)
{
	struct fr_store *st = NULL;
	struct fr_execution ex = { 0 };
	bool found = false;
	char *err = NULL;
	int rc = -1;

	if (fr_common_store(&st, common) < 0)
		return FR_EXIT_SYSTEM;
	if (fr_store_execution_get(st, a->delivery, &ex, &found, &err) < 0) {
		fr_log_error("%s", err);
		free(err);
		rc = FR_EXIT_SYSTEM;
	} else if (found && (*out = fr_execution_json(&ex)) &&
		   !json_is_object(json_object_get(*out, "input")) &&
		   !json_object_get(*out, "input")) {
		fr_log_say(FR_LOG_ERROR, "run", "--delivery: execution '%s' has no "
			"stored trigger", a->delivery);
		rc = FR_EXIT_FAILED;
	} else if (!found) {
		fr_log_say(FR_LOG_ERROR, "run", "--delivery: no execution '%s' in %s",
			a->delivery, common->store);
		rc = FR_EXIT_FAILED;
	} else {
		a->owned_flow = fr_xasprintf("%s/%s",
			json_string_value(json_object_get(*out, "integration")),
			json_string_value(json_object_get(*out, "flow")));
		if (a->flow && strcmp(a->flow, a->owned_flow) != 0 &&
		    strcmp(a->flow, json_string_value(json_object_get(*out, "flow")))) {
			fr_log_say(FR_LOG_ERROR, "run", "--delivery %s is an execution of "
				"%s, not of '%s'", a->delivery, a->owned_flow, a->flow);
			rc = FR_EXIT_USAGE;
		}
		a->flow = a->owned_flow;
		if (!a->instance && json_is_string(json_object_get(*out, "instance"))) {
			a->owned_instance = fr_xstrdup(json_string_value(
				json_object_get(*out, "instance")));
			a->instance = a->owned_instance;
		}
	}
	fr_execution_finish(&ex);
	fr_store_close(st);
	return rc;
}

/* "did you mean" among the flows, named as the user named it (caller frees). */
static char *suggest_flow(const struct fr_project *p, const char *name)
{
	bool full = strchr(name, '/') != NULL;
	char **names = NULL, *hint;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < p->nintegrations; i++) {
		const struct fr_integration *in = p->integrations[i];
		for (size_t j = 0; j < in->nflows; j++) {
			fr_grow(&names, &cap, n + 1, sizeof(*names));
			names[n++] = full ? fr_xasprintf("%s/%s", in->name,
							 in->flows[j].name)
					  : fr_xstrdup(in->flows[j].name);
		}
	}
	hint = fr_did_you_mean(name, (const char *const *)names, n);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return hint;
}

/* "did you mean" among the CONNECTION.ACTION names of in (caller frees). */
static char *suggest_action(const struct fr_integration *in, const char *name)
{
	char **names = NULL, *hint;
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < in->nconnections; i++) {
		const struct fr_connection *cn = &in->connections[i];
		for (size_t j = 0; cn->connector && j < cn->connector->nactions; j++) {
			fr_grow(&names, &cap, n + 1, sizeof(*names));
			names[n++] = fr_xasprintf("%s.%s", cn->name,
						  cn->connector->actions[j].name);
		}
	}
	hint = fr_did_you_mean(name, (const char *const *)names, n);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return hint;
}

/* The flow's configuration: only the variables it reads must have a value. */
static int resolve_config(json_t **out, const struct fr_flow *f,
			  const struct fr_instance *inst,
			  const struct run_args *a, struct fr_redact *rd,
			  struct fr_diag *d)
{
	const struct fr_integration *in = f->integration;
	bool *used = fr_xcalloc(in->nconfig + 1, sizeof(*used));
	int rc;

	fr_config_mark_used(in, f, used);
	rc = fr_config_resolve_used(out, in, inst, a->sets, a->nsets, used, rd, d);
	free(used);
	return rc;
}

static int parse_args(struct run_args *a, struct fr_common *common,
		      const struct fr_cmd *cmd, int argc, char **argv)
{
	enum { OPT_FLOW = FR_OPT_FIRST_LOCAL, OPT_INPUT, OPT_INSTANCE, OPT_SET,
	       OPT_DRY_RUN, OPT_OFFLINE, OPT_MOCK, OPT_PUBLIC_URL, OPT_RECORD,
	       OPT_RECORD_EXECUTION, OPT_HEADER, OPT_QUERY, OPT_DELIVERY };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "flow", required_argument, NULL, OPT_FLOW },
		{ "input", required_argument, NULL, OPT_INPUT },
		{ "instance", required_argument, NULL, OPT_INSTANCE },
		{ "set", required_argument, NULL, OPT_SET },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "offline", no_argument, NULL, OPT_OFFLINE },
		{ "mock", required_argument, NULL, OPT_MOCK },
		{ "public-url", required_argument, NULL, OPT_PUBLIC_URL },
		{ "record", required_argument, NULL, OPT_RECORD },
		{ "record-execution", no_argument, NULL, OPT_RECORD_EXECUTION },
		{ "header", required_argument, NULL, OPT_HEADER },
		{ "query", required_argument, NULL, OPT_QUERY },
		{ "delivery", required_argument, NULL, OPT_DELIVERY },
		{ 0 },
	};
	int opt, rc;

	while ((opt = getopt_long(argc, argv, FR_COMMON_SHORT, options, NULL)) != -1) {
		switch (opt) {
		case OPT_FLOW:
			a->flow = optarg;
			break;
		case OPT_INPUT:
			a->input = optarg;
			break;
		case OPT_INSTANCE:
			a->instance = optarg;
			break;
		case OPT_PUBLIC_URL:
			a->public_url = optarg;
			break;
		case OPT_DRY_RUN:
			a->dry_run = true;
			break;
		case OPT_OFFLINE:
			a->offline = true;
			break;
		case OPT_RECORD:
			a->record_test = optarg;
			break;
		case OPT_DELIVERY:
			a->delivery = optarg;
			break;
		case OPT_RECORD_EXECUTION:
			a->record = true;
			break;
		case OPT_HEADER: {
			char *colon = strchr(optarg, ':');
			const char *v;
			if (!colon || colon == optarg)
				return fr_usage_error(cmd, "--header takes NAME:VALUE");
			*colon = '\0';
			for (char *q = optarg; *q; q++)
				*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
			for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
				;
			json_object_set_new(a->headers, optarg, json_string(v));
			break;
		}
		case OPT_QUERY: {
			char *eq = strchr(optarg, '=');
			if (!eq || eq == optarg)
				return fr_usage_error(cmd, "--query takes KEY=VALUE");
			*eq = '\0';
			json_object_set_new(a->query, optarg, json_string(eq + 1));
			break;
		}
		case OPT_SET:
			a->sets = fr_xrealloc(a->sets, (a->nsets + 1) * sizeof(*a->sets));
			if (fr_setting_parse(&a->sets[a->nsets], optarg) < 0)
				return fr_usage_error(cmd, "--set takes KEY=VALUE");
			a->nsets++;
			break;
		case OPT_MOCK: {
			char *eq = strchr(optarg, '=');
			json_t *j;
			if (!eq || eq == optarg)
				return fr_usage_error(cmd, "--mock takes "
						      "CONNECTION.ACTION=JSON or "
						      "STEP_ID=JSON (or =@FILE)");
			*eq = '\0';
			if (!(j = fr_json_arg("run", "--mock", eq + 1)))
				return FR_EXIT_USAGE;
			a->mocks = fr_xrealloc(a->mocks, (a->nmocks + 1) * sizeof(*a->mocks));
			a->mocks[a->nmocks].action = optarg;
			a->mocks[a->nmocks].output = j;
			a->nmocks++;
			break;
		}
		default:
			if ((rc = fr_common_option(common, cmd, opt, optarg)) >= 0)
				return rc;
		}
	}
	if (a->delivery && (a->input || json_object_size(a->headers) ||
			    json_object_size(a->query)))
		return fr_usage_error(cmd, "--delivery gives the trigger: no "
				      "--input, --header or --query with it");
	if (!a->flow && !a->delivery)
		return fr_usage_error(cmd, "--flow NAME is required");
	return -1;
}

int cmd_run(int argc, char **argv)
{
	const struct fr_cmd *cmd = fr_cmd_find("run");
	struct run_args a = { 0 };
	struct fr_common common;
	struct fr_project *p = NULL;
	struct fr_engine *e = NULL;
	struct fr_oauth *oauth = NULL;
	struct fr_redact *rd = fr_redact_create();
	struct fr_exec_result res = { 0 };
	json_t *input = NULL, *config = NULL, *trigger = NULL;
	const struct fr_flow *f;
	const struct fr_instance *inst = NULL;
	struct fr_store *store = NULL;
	json_t *delivery = NULL;
	struct fr_diag d;
	int rc;

	fr_common_init(&common);
	fr_diag_init(&d, stderr);
	a.headers = json_object();
	a.query = json_object();
	if ((rc = parse_args(&a, &common, cmd, argc, argv)) >= 0)
		goto out;
	if (a.delivery && (rc = load_delivery(&a, &common, &delivery)) >= 0)
		goto out;
	fr_common_load(&p, &common, argv + optind, (size_t)(argc - optind), &d);
	fr_diag_flush(&d);
	if (d.nerrors) {
		rc = FR_EXIT_INVALID;
		goto out;
	}
	if (!(f = fr_project_flow(p, a.flow))) {
		char *hint = suggest_flow(p, a.flow);
		fr_log_say(FR_LOG_ERROR, "run", "no flow '%s' (or more than one: "
				"write INTEGRATION/FLOW); %s%sthe flows are:", a.flow,
			hint ? hint : "", hint ? " " : "");
		free(hint);
		{
			struct fr_buf b;
			fr_buf_init(&b);
			for (size_t i = 0; i < p->nintegrations; i++)
				for (size_t j = 0; j < p->integrations[i]->nflows; j++)
					fr_buf_printf(&b, "  %s/%s\n",
						      p->integrations[i]->name,
						      p->integrations[i]->flows[j].name);
			fr_log_block(FR_LOG_ERROR, NULL, fr_buf_cstr(&b));
			fr_buf_finish(&b);
		}
		rc = FR_EXIT_USAGE;
		goto out;
	}
	for (size_t i = 0; i < a.nmocks; i++) {
		const char *dot = strchr(a.mocks[i].action, '.');
		bool found = false;
		for (size_t j = 0; j < f->integration->nconnections && dot; j++) {
			const struct fr_connection *cn = &f->integration->connections[j];
			if (strlen(cn->name) == (size_t)(dot - a.mocks[i].action) &&
			    strncmp(cn->name, a.mocks[i].action, strlen(cn->name)) == 0 &&
			    cn->connector && fr_connector_action(cn->connector, dot + 1))
				found = true;
		}
		if (!dot && action_step(&f->steps, a.mocks[i].action))
			found = true;
		if (!found && strcmp(a.mocks[i].action, "http.request") != 0) {
			char *hint = dot ? suggest_action(f->integration,
							 a.mocks[i].action) : NULL;
			if (dot)
				fr_log_say(FR_LOG_ERROR, "run", "--mock %s: integration "
					"'%s' has no such action%s%s",
					a.mocks[i].action, f->integration->name,
					hint ? "; " : "", hint ? hint : "");
			else
				fr_log_say(FR_LOG_ERROR, "run", "--mock %s: the flow has "
					"no action step with this id",
					a.mocks[i].action);
			free(hint);
			rc = FR_EXIT_USAGE;
			goto out;
		}
	}
	if ((json_object_size(a.headers) || json_object_size(a.query)) &&
	    f->trigger != FR_TRIGGER_WEBHOOK) {
		fr_log_say(FR_LOG_ERROR, "run", "--header and --query are for webhook "
			"flows; '%s' is triggered by %s", f->name,
			fr_trigger_name(f->trigger));
		rc = FR_EXIT_USAGE;
		goto out;
	}
	if (a.instance && strcmp(a.instance, "default") != 0 &&
	    !(inst = fr_project_instance(p, f->integration, a.instance))) {
		fr_log_error("no instance '%s' of integration "
				"'%s' (expected instances/%s.yaml in %s)",
			a.instance, f->integration->name, a.instance,
			f->integration->root);
		rc = FR_EXIT_CONFIG;
		goto out;
	}
	if (!inst)
		inst = fr_project_instance(p, f->integration, "default");
	if (fr_config_check_sets((const struct fr_integration *const *)
				 &f->integration, 1, a.sets, a.nsets, &d) < 0 ||
	    resolve_config(&config, f, inst, &a, rd, &d) < 0) {
		fr_diag_flush(&d);
		rc = FR_EXIT_CONFIG;
		goto out;
	}
	if (a.input && !(input = fr_json_arg("run", "--input", a.input))) {
		rc = FR_EXIT_USAGE;
		goto out;
	}
	if (!input)
		input = json_object();
	if (delivery)
		trigger = json_incref(json_object_get(delivery, "input"));
	else
		trigger = make_trigger(f, input, &a);
	/* a dry-run reads the state (as the real run would) but writes none */
	if (!(a.dry_run || a.offline) || a.record || fr_store_exists(common.store)) {
		if (fr_common_store(&store, &common) < 0) {
			rc = FR_EXIT_SYSTEM;
			goto out;
		}
	}
	fr_http_global_init();
	{
		struct fr_exec_opts opts = {
			.dry_run = a.dry_run, .offline = a.offline,
			.mocks = a.mocks, .nmocks = a.nmocks,
			.public_url = a.public_url,
			.http_show = common.verbosity > 0 ? common.verbosity : 0,
			.oauth = oauth = fr_oauth_create(common.store),
		};
		struct fr_exec_hooks hooks = fr_runner_hooks(
			a.dry_run || a.offline ? NULL : store);
		struct fr_job job = {
			.flow = f, .instance = inst ? inst->name : "default",
			.config = config, .trigger = trigger, .redact = rd,
			.record = store && (!(a.dry_run || a.offline) || a.record),
			.origin = FR_ORIGIN_RUN,
		};
		char *err = NULL;
			e = fr_engine_create(p, &opts, &hooks);
		if (fr_runner_execute(e, store, &job, &res, &err) < 0) {
			fr_log_error("%s", err);
			free(err);
			rc = FR_EXIT_SYSTEM;
			goto out;
		}
	}
	if (common.json) {
		fr_print_json(res.trace);
	} else if (common.verbosity >= 0 || res.status != FR_EXEC_OK) {
		fr_trace_print(stdout, res.trace, common.color == 1, common.verbosity);
	}
	if (res.status != FR_EXEC_OK)
		fr_log_error("%s", res.error);
	rc = res.status == FR_EXEC_OK ? FR_EXIT_OK : FR_EXIT_FAILED;
	if (a.record_test) {
		json_t *sets = public_sets(f->integration, config, a.sets, a.nsets);
		struct fr_record rec = {
			.flow = f, .instance = inst ? inst->name : "default",
			.trigger = trigger, .trace = res.trace, .config = sets,
			.redact = rd,
		};
		char *err = NULL;
		if (fr_record_write(a.record_test, &rec, &err) < 0) {
			fr_log_say(FR_LOG_ERROR, "run", "--record: %s", err);
			free(err);
			rc = FR_EXIT_SYSTEM;
		} else if (common.verbosity >= 0) {
			fr_log_say(FR_LOG_INFO, NULL, "recorded a test in %s", a.record_test);
		}
		json_decref(sets);
	}
out:
	fr_exec_result_finish(&res);
	fr_engine_destroy(e);
	fr_oauth_destroy(oauth);
	for (size_t i = 0; i < a.nmocks; i++)
		json_decref(a.mocks[i].output);
	free(a.mocks);
	free(a.sets);
	json_decref(a.headers);
	json_decref(a.query);
	json_decref(delivery);
	free(a.owned_flow);
	free(a.owned_instance);
	fr_store_close(store);
	json_decref(input);
	json_decref(config);
	json_decref(trigger);
	fr_redact_destroy(rd);
	fr_project_destroy(p);
	fr_common_finish(&common);
	return rc;
}
