/* serve: the webhook server and scheduler (see serve.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "serve.h"
#include "util.h"

int cmd_serve(int argc, char **argv)
{
	enum { OPT_LISTEN = FR_OPT_FIRST_LOCAL, OPT_WORKERS, OPT_PUBLIC_URL,
	       OPT_GRACE, OPT_SET, OPT_INSTANCE, OPT_HTTP_THREADS,
	       OPT_SYNC_TIMEOUT, OPT_QUEUE_LIMIT, OPT_LEASE,
	       OPT_WORKER_MEMORY, OPT_MAX_CONN,
	       OPT_MAX_PER_CLIENT, OPT_HEADER_TIMEOUT, OPT_RETAIN };
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
	const struct fr_cmd *cmd = fr_cmd_find("serve");
	struct fr_common common;
	struct fr_setting *sets = NULL;
	struct fr_serve_opts o = {
		.listen = "127.0.0.1:8080", .workers = 4, .http_threads = 2,
		.grace_s = 30, .sync_timeout_s = 30, .queue_limit = 100000,
		.lease_s = 30, .worker_memory = 512ull << 20,
		.max_connections = 1024, .max_per_client = 128,
		.header_timeout_ms = 10000,
	};
	int opt, rc = -1;
	int64_t ms;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		switch (opt) {
		case OPT_LISTEN: {
			const char *colon = strrchr(optarg, ':');
			char *end;
			long port = colon ? strtol(colon + 1, &end, 10) : -1;
			if (!colon || colon[1] == '\0' || *end || port < 0 || port > 65535)
				rc = fr_usage_error(cmd, "--listen takes ADDR:PORT "
						    "(127.0.0.1:8080; port 0: any)");
			o.listen = optarg;
			break;
		}
		case OPT_PUBLIC_URL:
			o.public_url = optarg;
			break;
		case OPT_INSTANCE:
			o.instance = optarg;
			break;
		case OPT_WORKERS:
		case OPT_HTTP_THREADS:
		case OPT_QUEUE_LIMIT:
		case OPT_MAX_CONN:
		case OPT_MAX_PER_CLIENT: {
			char *end;
			long n = strtol(optarg, &end, 10);
			long max = opt == OPT_QUEUE_LIMIT ? 10000000
				   : opt == OPT_MAX_CONN || opt == OPT_MAX_PER_CLIENT
				   ? 1000000 : 256;
			if (*end || n < 1 || n > max) {
				rc = fr_usage_error(cmd, "invalid number '%s'", optarg);
				break;
			}
			if (opt == OPT_WORKERS)
				o.workers = (unsigned)n;
			else if (opt == OPT_HTTP_THREADS)
				o.http_threads = (unsigned)n;
			else if (opt == OPT_MAX_CONN)
				o.max_connections = (unsigned)n;
			else if (opt == OPT_MAX_PER_CLIENT)
				o.max_per_client = (unsigned)n;
			else
				o.queue_limit = (unsigned)n;
			break;
		}
		case OPT_GRACE:
		case OPT_SYNC_TIMEOUT:
		case OPT_LEASE:
		case OPT_HEADER_TIMEOUT:
			if ((ms = fr_parse_duration_ms(optarg)) < 0) {
				rc = fr_usage_error(cmd, "invalid duration '%s' (250ms, "
						    "10s, 5m)", optarg);
				break;
			}
			if (opt == OPT_GRACE)
				o.grace_s = (double)ms / 1000.0;
			else if (opt == OPT_HEADER_TIMEOUT && (ms < 100 || ms > 3600000))
				rc = fr_usage_error(cmd, "--header-timeout takes "
						    "100ms to 1h");
			else if (opt == OPT_HEADER_TIMEOUT)
				o.header_timeout_ms = (unsigned)ms;
			else if (opt == OPT_LEASE && ms < 100)
				rc = fr_usage_error(cmd, "--lease takes at least 100ms");
			else if (opt == OPT_LEASE)
				o.lease_s = (double)ms / 1000.0;
			else
				o.sync_timeout_s = (double)ms / 1000.0;
			break;
		case OPT_WORKER_MEMORY: {
			int64_t n = fr_parse_size(optarg);
			if (n < (64 << 20)) {
				rc = fr_usage_error(cmd, "--worker-memory takes a size "
						    "of at least 64MiB (512MiB, 2GiB)");
				break;
			}
			o.worker_memory = (unsigned long long)n;
			break;
		}
		case OPT_RETAIN:
			if ((ms = fr_parse_age_ms(optarg)) < 60000) {
				rc = fr_usage_error(cmd, "--retain takes an age of at "
						    "least 1m (30d, 12h)");
				break;
			}
			o.retain_s = (double)ms / 1000.0;
			break;
		case OPT_SET:
			sets = fr_xrealloc(sets, (o.nsets + 1) * sizeof(*sets));
			if (fr_setting_parse(&sets[o.nsets], optarg) < 0)
				rc = fr_usage_error(cmd, "--set takes KEY=VALUE");
			o.nsets++;
			break;
		default:
			rc = fr_common_option(&common, cmd, opt, optarg);
		}
	}
	if (rc < 0) {
		o.paths = argv + optind;
		o.npaths = (size_t)(argc - optind);
		o.connector_dirs = common.connector_dirs;
		o.nconnector_dirs = common.nconnector_dirs;
		o.store = common.store;
		o.sets = sets;
		fr_common_log(&common, true);
		rc = fr_serve(&o);
	}
	free(sets);
	fr_common_finish(&common);
	return rc;
}
