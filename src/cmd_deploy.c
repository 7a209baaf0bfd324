/*
 * deploy and undeploy: for CI.  Validate everything first (any error: exit
 * 3, nothing runs), resolve the configuration of every instance (anything
 * missing: exit 4, before any request), then run each integration's
 * `deploy` (or `remove`) flows per instance, record each execution and the
 * deployment, and print a summary per instance (or one JSON document).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"
#include "oauth.h"
#include "json.h"
#include "config.h"
#include "crypto.h"
#include "exec.h"
#include "http.h"
#include "runner.h"
#include "store.h"
#include "trace.h"
#include "util.h"

struct target {
	const struct fr_integration *in;
	const char *instance;
	json_t *config;
	struct fr_redact *rd;
};

struct deploy_args {
	const char *instance, *public_url;
	bool all, dry_run;
	enum fr_trigger which;		/* deploy or remove */
	struct fr_setting *sets;
	size_t nsets;
};

/* sha256 over the integration's flow file, as deployed. */
static char *file_hash(const struct fr_integration *in)
{
	unsigned char d[FR_SHA256_LEN];
	char hex[2 * FR_SHA256_LEN + 1];

	fr_sha256(in->loc.src->text, in->loc.src->len, d);
	fr_hex(d, sizeof(d), hex);
	return fr_xstrdup(hex);
}

static int add_target(struct target **v, size_t *n, const struct fr_project *p,
		      const struct fr_integration *in, const char *instance,
		      const struct deploy_args *a, struct fr_diag *d)
{
	const struct fr_instance *inst = fr_project_instance(p, in, instance);
	struct target t = { .in = in, .instance = instance };
	bool *used;
	int rc;

	if (!inst && strcmp(instance, "default") != 0) {
		fr_diag(d, FR_ERROR, "no instance '%s' of integration '%s' "
			"(expected %s/instances/%s.yaml)", instance, in->name,
			in->root, instance);
		return -1;
	}
	/* only the variables the flows to run read must have a value */
	used = fr_xcalloc(in->nconfig + 1, sizeof(*used));
	for (size_t i = 0; i < in->nflows; i++) {
		if (in->flows[i].trigger == a->which)
			fr_config_mark_used(in, &in->flows[i], used);
	}
	t.rd = fr_redact_create();
	rc = fr_config_resolve_used(&t.config, in, inst, a->sets, a->nsets, used,
				    t.rd, d);
	free(used);
	if (rc < 0) {
		fr_redact_destroy(t.rd);
		return -1;
	}
	*v = fr_xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = t;
	return 0;
}

/* Every (integration, instance) to deploy; -1 after reporting problems. */
static int collect_targets(struct target **v, size_t *n,
			   const struct fr_project *p,
			   const struct deploy_args *a, struct fr_diag *d)
{
	int rc = 0;

	for (size_t i = 0; i < p->nintegrations; i++) {
		const struct fr_integration *in = p->integrations[i];
		bool any = false;
		if (!a->all) {
			rc |= add_target(v, n, p, in, a->instance ? a->instance
								  : "default", a, d);
			continue;
		}
		for (size_t j = 0; j < p->ninstances; j++) {
			if (p->instances[j]->integration == in) {
				rc |= add_target(v, n, p, in, p->instances[j]->name, a, d);
				any = true;
			}
		}
		if (!any)
			rc |= add_target(v, n, p, in, "default", a, d);
	}
	return rc;
}

/* Runs the `which` flows of one target; appends its deployment to report. */
static int run_target(struct fr_engine *e, struct fr_store *store,
		      const struct target *t, enum fr_trigger which,
		      const struct deploy_args *a, const struct fr_common *c,
		      json_t *report, bool tty, size_t index, size_t total)
{
	json_t *flows = json_array(), *trigger = json_object(), *dep;
	double started = fr_store_now();
	bool ok = true;
	char *hash = file_hash(t->in);
	int rc = 0;

	for (size_t i = 0; i < t->in->nflows; i++) {
		const struct fr_flow *f = &t->in->flows[i];
		struct fr_exec_result res;
		struct fr_job job = {
			.flow = f, .instance = t->instance, .config = t->config,
			.trigger = trigger, .redact = t->rd,
			.record = store != NULL && !a->dry_run,
			.origin = FR_ORIGIN_DEPLOY,
		};
		char *err = NULL;

		if (f->trigger != which)
			continue;
		if (tty)
			fprintf(stderr, "\r[%zu/%zu] %s/%s: %s\033[K", index + 1,
				total, t->in->name, t->instance, f->name);
		if (fr_runner_execute(e, store, &job, &res, &err) < 0) {
			if (tty)
				fputc('\n', stderr);
			fr_log_error("%s", err);
			free(err);
			rc = -1;
		}
		ok &= res.status == FR_EXEC_OK;
		json_array_append_new(flows, json_pack("{ss sO ss so si si si sf}",
			"flow", f->name,
			"execution", json_object_get(res.trace, "execution"),
			"status", res.status == FR_EXEC_OK ? "ok" : "failed",
			"error", res.error ? json_string(res.error) : json_null(),
			"requests", res.requests, "writes_sent", res.writes_sent,
			"writes_skipped", res.writes_skipped,
			"duration_ms", (double)res.duration_ns / 1e6));
		if (!c->json && (a->dry_run || c->verbosity > 0))
			fr_trace_print(stdout, res.trace, c->color == 1, c->verbosity);
		fr_exec_result_finish(&res);
	}
	if (tty)
		fputs("\r\033[K", stderr);
	dep = json_pack("{ss ss ss ss ss sf sf sb so}",
		"action", which == FR_TRIGGER_DEPLOY ? "deploy" : "undeploy",
		"integration", t->in->name, "instance", t->instance,
		"file_hash", hash, "outcome", ok ? "ok" : "failed",
		"started_at", started, "finished_at", fr_store_now(),
		"dry_run", a->dry_run, "flows", flows);
	if (store && !a->dry_run) {
		char *err = NULL;
		struct fr_deployment row = {
			/* borrowed for the call */
			.integration = (char *)t->in->name,
			.instance = (char *)t->instance,
			.file_hash = hash, .outcome = ok ? "ok" : "failed",
			.started_at = started,
			.finished_at = json_number_value(json_object_get(dep,
								 "finished_at")),
			.summary = dep,
		};
		if (fr_store_deployment_add(store, &row, &err) < 0) {
			fr_log_error("%s", err);
			free(err);
			rc = -1;
		}
	}
	json_array_append_new(report, dep);
	free(hash);
	json_decref(trigger);
	return rc;
}

static void print_summary(const json_t *dep)
{
	const json_t *flows = json_object_get(dep, "flows"), *f;
	long long requests = 0, sent = 0, skipped = 0;
	size_t i;

	json_array_foreach(flows, i, f) {
		requests += json_integer_value(json_object_get(f, "requests"));
		sent += json_integer_value(json_object_get(f, "writes_sent"));
		skipped += json_integer_value(json_object_get(f, "writes_skipped"));
	}
	printf("%s/%s: %s (%zu flow%s, %lld request%s, %lld write%s sent",
	       json_string_value(json_object_get(dep, "integration")),
	       json_string_value(json_object_get(dep, "instance")),
	       json_string_value(json_object_get(dep, "outcome")),
	       json_array_size(flows), json_array_size(flows) == 1 ? "" : "s",
	       requests, requests == 1 ? "" : "s", sent, sent == 1 ? "" : "s");
	if (skipped)
		printf(", %lld not sent (dry-run)", skipped);
	puts(")");
	json_array_foreach(flows, i, f) {
		const json_t *err = json_object_get(f, "error");
		if (json_is_string(err))
			printf("  %s: %s\n", json_string_value(json_object_get(f, "flow")),
			       json_string_value(err));
	}
}

static int deploy_main(const char *name, enum fr_trigger which, int argc,
		       char **argv)
{
	enum { OPT_INSTANCE = FR_OPT_FIRST_LOCAL, OPT_ALL, OPT_SET, OPT_DRY_RUN,
	       OPT_PUBLIC_URL };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "instance", required_argument, NULL, OPT_INSTANCE },
		{ "all-instances", no_argument, NULL, OPT_ALL },
		{ "set", required_argument, NULL, OPT_SET },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "public-url", required_argument, NULL, OPT_PUBLIC_URL },
		{ 0 },
	};
	const struct fr_cmd *cmd = fr_cmd_find(name);
	struct deploy_args a = { .which = which };
	struct fr_common common;
	struct fr_project *p = NULL;
	struct fr_store *store = NULL;
	struct fr_engine *e = NULL;
	struct fr_oauth *oauth = NULL;
	struct target *targets = NULL;
	size_t ntargets = 0;
	json_t *report = json_array();
	struct fr_diag d;
	bool tty = isatty(STDERR_FILENO);
	int opt, rc = -1;

	fr_common_init(&common);
	fr_diag_init(&d, stderr);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		switch (opt) {
		case OPT_INSTANCE:
			a.instance = optarg;
			break;
		case OPT_ALL:
			a.all = true;
			break;
		case OPT_DRY_RUN:
			a.dry_run = true;
			break;
		case OPT_PUBLIC_URL:
			a.public_url = optarg;
			break;
		case OPT_SET:
			a.sets = fr_xrealloc(a.sets, (a.nsets + 1) * sizeof(*a.sets));
			if (fr_setting_parse(&a.sets[a.nsets], optarg) < 0)
				rc = fr_usage_error(cmd, "--set takes KEY=VALUE");
			a.nsets++;
			break;
		default:
			rc = fr_common_option(&common, cmd, opt, optarg);
		}
	}
	if (rc >= 0)
		goto out;
	if (a.instance && a.all) {
		rc = fr_usage_error(cmd, "--instance and --all-instances exclude "
				    "each other");
		goto out;
	}
	fr_common_load(&p, &common, argv + optind, (size_t)(argc - optind), &d);
	fr_diag_flush(&d);
	if (d.nerrors) {
		fr_log_say(FR_LOG_ERROR, NULL, "nothing was %sed: the files are invalid",
			name);
		rc = FR_EXIT_INVALID;
		goto out;
	}
	if (fr_config_check_sets((const struct fr_integration *const *)
				 p->integrations, p->nintegrations, a.sets,
				 a.nsets, &d) < 0 ||
	    collect_targets(&targets, &ntargets, p, &a, &d) < 0) {
		fr_diag_flush(&d);
		fr_log_say(FR_LOG_ERROR, NULL, "nothing was %sed: the configuration is "
			"incomplete", name);
		rc = FR_EXIT_CONFIG;
		goto out;
	}
	/* a dry-run reads state where a store exists, and records nothing */
	if (!a.dry_run || fr_store_exists(common.store)) {
		if (fr_common_store(&store, &common) < 0) {
			rc = FR_EXIT_SYSTEM;
			goto out;
		}
	}
	fr_http_global_init();
	{
		struct fr_exec_opts opts = { .dry_run = a.dry_run,
					     .public_url = a.public_url,
					     .oauth = oauth = fr_oauth_create(common.store) };
		struct fr_exec_hooks hooks = fr_runner_hooks(a.dry_run ? NULL : store);
		/* (set steps write no state in a dry-run: no hook) */
		e = fr_engine_create(p, &opts, &hooks);
	}
	rc = FR_EXIT_OK;
	for (size_t i = 0; i < ntargets; i++) {
		if (run_target(e, store, &targets[i], which, &a, &common, report,
			       tty && !common.json && ntargets > 1, i, ntargets) < 0)
			rc = FR_EXIT_SYSTEM;
		if (!common.json)
			print_summary(json_array_get(report, i));
		if (strcmp(json_string_value(json_object_get(
			json_array_get(report, i), "outcome")), "ok") != 0 &&
		    rc == FR_EXIT_OK)
			rc = FR_EXIT_FAILED;
	}
	if (common.json) {
		json_t *doc = json_pack("{sb sb sO}", "ok", rc == FR_EXIT_OK,
					"dry_run", a.dry_run, "deployments", report);
		fr_print_json(doc);
		json_decref(doc);
	}
out:
	fr_engine_destroy(e);
	fr_oauth_destroy(oauth);
	for (size_t i = 0; i < ntargets; i++) {
		json_decref(targets[i].config);
		fr_redact_destroy(targets[i].rd);
	}
	free(targets);
	free(a.sets);
	json_decref(report);
	fr_store_close(store);
	fr_project_destroy(p);
	fr_common_finish(&common);
	return rc;
}

int cmd_deploy(int argc, char **argv)
{
	return deploy_main("deploy", FR_TRIGGER_DEPLOY, argc, argv);
}

int cmd_undeploy(int argc, char **argv)
{
	return deploy_main("undeploy", FR_TRIGGER_REMOVE, argc, argv);
}
