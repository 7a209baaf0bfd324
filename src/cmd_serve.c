/* serve: the webhook server and scheduler (see serve.h). */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "serve.h"
#include "util.h"

enum { OPT_LISTEN = FR_OPT_FIRST_LOCAL, OPT_WORKERS, OPT_PUBLIC_URL,
       OPT_GRACE, OPT_SET, OPT_INSTANCE, OPT_HTTP_THREADS,
       OPT_SYNC_TIMEOUT, OPT_QUEUE_LIMIT, OPT_LEASE, OPT_WORKER_MEMORY,
       OPT_MAX_CONN, OPT_MAX_PER_CLIENT, OPT_HEADER_TIMEOUT, OPT_RETAIN };
_Static_assert(OPT_RETAIN - FR_OPT_STORE < 32, "struct parse's given[] is too short");

static const struct option options[] = {
	FR_COMMON_OPTIONS,
	{ "listen", required_argument, NULL, OPT_LISTEN },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "public-url", required_argument, NULL, OPT_PUBLIC_URL },
	{ "grace", required_argument, NULL, OPT_GRACE },
	{ "set", required_argument, NULL, OPT_SET },
	{ "instance", required_argument, NULL, OPT_INSTANCE },
	{ "http-threads", required_argument, NULL, OPT_HTTP_THREADS },
	{ "sync-timeout", required_argument, NULL, OPT_SYNC_TIMEOUT },
	{ "queue-limit", required_argument, NULL, OPT_QUEUE_LIMIT },
	{ "lease", required_argument, NULL, OPT_LEASE },
	{ "worker-memory", required_argument, NULL, OPT_WORKER_MEMORY },
	{ "max-connections", required_argument, NULL, OPT_MAX_CONN },
	{ "max-connections-per-client", required_argument, NULL,
	  OPT_MAX_PER_CLIENT },
	{ "header-timeout", required_argument, NULL, OPT_HEADER_TIMEOUT },
	{ "retain", required_argument, NULL, OPT_RETAIN },
	{ 0 },
};

struct parse {
	const struct fr_cmd *cmd;
	struct fr_common *common;
	struct fr_serve_opts *o;
	struct fr_setting *sets;
	const char *env;	/* the variable the value came from, or NULL */
	bool given[32];		/* by option value - FR_OPT_STORE: on the
				   command line */
};

/* A usage error, naming the variable when the value came from one. */
#define USAGE(p, fmt, ...)						\
	fr_usage_error((p)->cmd, "%s%s" fmt, (p)->env ? (p)->env : "",	\
		       (p)->env ? ": " : "", __VA_ARGS__)

/* One option with its value: -1 to go on, or an exit status. */
static int serve_option(struct parse *p, int opt, char *arg)
{
	struct fr_serve_opts *o = p->o;
	int64_t ms;

	switch (opt) {
	case OPT_LISTEN: {
		const char *colon = strrchr(arg, ':');
		char *end;
		long port = colon ? strtol(colon + 1, &end, 10) : -1;
		o->listen = arg;
		if (!colon || colon[1] == '\0' || *end || port < 0 || port > 65535)
			return USAGE(p, "--listen takes ADDR:PORT (127.0.0.1:8080; "
				     "port 0: any), not '%s'", arg);
		return -1;
	}
	case OPT_PUBLIC_URL:
		o->public_url = arg;
		return -1;
	case OPT_INSTANCE:
		o->instance = arg;
		return -1;
	case OPT_WORKERS:
	case OPT_HTTP_THREADS:
	case OPT_QUEUE_LIMIT:
	case OPT_MAX_CONN:
	case OPT_MAX_PER_CLIENT: {
		char *end;
		long n = strtol(arg, &end, 10);
		long max = opt == OPT_QUEUE_LIMIT ? 10000000
			   : opt == OPT_MAX_CONN || opt == OPT_MAX_PER_CLIENT
			   ? 1000000 : 256;
		if (end == arg || *end || n < 1 || n > max)
			return USAGE(p, "invalid number '%s'", arg);
		if (opt == OPT_WORKERS)
			o->workers = (unsigned)n;
		else if (opt == OPT_HTTP_THREADS)
			o->http_threads = (unsigned)n;
		else if (opt == OPT_MAX_CONN)
			o->max_connections = (unsigned)n;
		else if (opt == OPT_MAX_PER_CLIENT)
			o->max_per_client = (unsigned)n;
		else
			o->queue_limit = (unsigned)n;
		return -1;
	}
	case OPT_GRACE:
	case OPT_SYNC_TIMEOUT:
	case OPT_LEASE:
	case OPT_HEADER_TIMEOUT:
		if ((ms = fr_parse_duration_ms(arg)) < 0)
			return USAGE(p, "invalid duration '%s' (250ms, 10s, 5m)", arg);
		if (opt == OPT_GRACE)
			o->grace_s = (double)ms / 1000.0;
		else if (opt == OPT_HEADER_TIMEOUT && (ms < 100 || ms > 3600000))
			return USAGE(p, "--header-timeout takes 100ms to 1h, not '%s'",
				     arg);
		else if (opt == OPT_HEADER_TIMEOUT)
			o->header_timeout_ms = (unsigned)ms;
		else if (opt == OPT_LEASE && ms < 100)
			return USAGE(p, "--lease takes at least 100ms, not '%s'", arg);
		else if (opt == OPT_LEASE)
			o->lease_s = (double)ms / 1000.0;
		else
			o->sync_timeout_s = (double)ms / 1000.0;
		return -1;
	case OPT_WORKER_MEMORY: {
		int64_t n = fr_parse_size(arg);
		if (n < (64 << 20))
			return USAGE(p, "--worker-memory takes a size of at least "
				     "64MiB (512MiB, 2GiB), not '%s'", arg);
		o->worker_memory = (unsigned long long)n;
		return -1;
	}
	case OPT_RETAIN:
		if ((ms = fr_parse_age_ms(arg)) < 60000)
			return USAGE(p, "--retain takes an age of at least 1m (30d, "
				     "12h), not '%s'", arg);
		o->retain_s = (double)ms / 1000.0;
		return -1;
	case OPT_SET:
		p->sets = fr_xrealloc(p->sets, (o->nsets + 1) * sizeof(*p->sets));
		if (fr_setting_parse(&p->sets[o->nsets], arg) < 0)
			return fr_usage_error(p->cmd, "--set takes KEY=VALUE");
		o->nsets++;
		return -1;
	default:
		if (p->env && opt == FR_OPT_LOG_FORMAT && strcmp(arg, "text") &&
		    strcmp(arg, "json"))
			return USAGE(p, "--log-format must be text or json, not "
				     "'%s'", arg);
		if (p->env && opt == FR_OPT_COLOR && strcmp(arg, "auto") &&
		    strcmp(arg, "always") && strcmp(arg, "never"))
			return USAGE(p, "--color must be auto, always or never, "
				     "not '%s'", arg);
		return fr_common_option(p->common, p->cmd, opt, arg);
	}
}

/*
 * Options from the environment where the command line gave none (it
 * wins; a variable it overrides is not read): every option that takes a value, --foo-bar from FLOWRUN_FOO_BAR, but
 * --set (repeatable; config variables have their own env:) and --store
 * and --connectors (FLOWRUN_STORE and FLOWRUN_CONNECTORS, read for every
 * command).  An empty variable counts as unset.
 */
static int env_options(struct parse *p)
{
	for (const struct option *opt = options; opt->name; opt++) {
		char name[64] = "FLOWRUN_";
		size_t n = strlen(name);
		char *v;
		int rc;

		if (opt->has_arg != required_argument || opt->val == OPT_SET ||
		    opt->val == FR_OPT_STORE || opt->val == FR_OPT_CONNECTORS ||
		    p->given[opt->val - FR_OPT_STORE])
			continue;
		for (const char *c = opt->name; *c && n < sizeof(name) - 1; c++)
			name[n++] = *c == '-' ? '_' : (char)toupper((unsigned char)*c);
		name[n] = '\0';
		if (!(v = getenv(name)) || !*v)
			continue;
		p->env = name;
		rc = serve_option(p, opt->val, v);
		p->env = NULL;
		if (rc >= 0)
			return rc;
	}
	return -1;
}

int cmd_serve(int argc, char **argv)
{
	const struct fr_cmd *cmd = fr_cmd_find("serve");
	struct fr_common common;
	struct fr_serve_opts o = {
		.listen = "127.0.0.1:8080", .workers = 4, .http_threads = 2,
		.grace_s = 30, .sync_timeout_s = 30, .queue_limit = 100000,
		.lease_s = 30, .worker_memory = 512ull << 20,
		.max_connections = 1024, .max_per_client = 128,
		.header_timeout_ms = 10000,
	};
	struct parse p = { .cmd = cmd, .common = &common, .o = &o };
	int opt, rc = -1;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		if (opt >= FR_OPT_STORE && opt - FR_OPT_STORE < 32)
			p.given[opt - FR_OPT_STORE] = true;
		rc = serve_option(&p, opt, optarg);
	}
	if (rc < 0)
		rc = env_options(&p);
	if (rc < 0) {
		o.paths = argv + optind;
		o.npaths = (size_t)(argc - optind);
		o.connector_dirs = common.connector_dirs;
		o.nconnector_dirs = common.nconnector_dirs;
		o.store = common.store;
		o.sets = p.sets;
		fr_common_log(&common, true);
		rc = fr_serve(&o);
	}
	free(p.sets);
	fr_common_finish(&common);
	return rc;
}
