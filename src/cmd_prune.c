/* prune: retention on demand (fr_store_prune), see flowrun(1). */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cmd.h"
#include "log.h"
#include "store.h"

int cmd_prune(int argc, char **argv)
{
	enum { OPT_OLDER_THAN = FR_OPT_FIRST_LOCAL };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "older-than", required_argument, NULL, OPT_OLDER_THAN },
		{ 0 },
	};
	const struct fr_cmd *cmd = fr_cmd_find("prune");
	struct fr_common common;
	struct fr_store *store = NULL;
	struct fr_prune_result pr;
	int64_t age_ms = -1;
	int opt, rc = -1;
	char *err = NULL;
	double before;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		if (opt == OPT_OLDER_THAN) {
			if ((age_ms = fr_parse_age_ms(optarg)) < 60000)
				rc = fr_usage_error(cmd, "--older-than takes an age "
						    "of at least 1m (30d, 12h), "
						    "not '%s'", optarg);
		} else {
			rc = fr_common_option(&common, cmd, opt, optarg);
		}
	}
	if (rc < 0 && optind < argc)
		rc = fr_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
	if (rc < 0 && age_ms < 0)
		rc = fr_usage_error(cmd, "give --older-than AGE (30d, 12h)");
	if (rc >= 0)
		goto out;
	before = fr_store_now() - (double)age_ms / 1000.0;
	if (!fr_store_exists(common.store)) {
		pr = (struct fr_prune_result){ 0 };
	} else if (fr_common_store(&store, &common) < 0) {
		rc = FR_EXIT_SYSTEM;
		goto out;
	} else if (fr_store_prune(store, before, &pr, &err) < 0) {
		fr_log_error("%s", err);
		free(err);
		rc = FR_EXIT_SYSTEM;
		goto out;
	}
	if (common.json) {
		json_t *j = json_pack("{sI sI sf}", "executions",
				      (json_int_t)pr.executions, "deliveries",
				      (json_int_t)pr.deliveries, "before", before);
		fr_print_json(j);
		json_decref(j);
	} else if (common.verbosity >= 0) {
		time_t t = (time_t)before;
		struct tm tm;
		char when[32];
		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		printf("removed the data of %lld execution(s) and %lld "
		       "delivery(ies) that ended before %s\n", pr.executions,
		       pr.deliveries, when);
	}
	rc = FR_EXIT_OK;
out:
	fr_store_close(store);
	fr_common_finish(&common);
	return rc;
}
