#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "util.h"

int cmd_validate(int argc, char **argv)
{
	enum { OPT_WERROR = FR_OPT_FIRST_LOCAL, OPT_FORMAT };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "Werror", no_argument, NULL, OPT_WERROR },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ 0 },
	};
	static const char *const formats[] = { "text", "json", "github" };
	const struct fr_cmd *cmd = fr_cmd_find("validate");
	struct fr_common common;
	struct fr_project *p = NULL;
	struct fr_diag d;
	bool werror = false;
	int opt, rc = -1, format = -1;
	uint64_t start = fr_now_ns();

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		if (opt == OPT_WERROR) {
			werror = true;
		} else if (opt == OPT_FORMAT) {
			for (format = 0; format < 3; format++) {
				if (strcmp(optarg, formats[format]) == 0)
					break;
			}
			if (format == 3) {
				char *hint = fr_did_you_mean(optarg, formats, 3);
				fr_log_say(FR_LOG_ERROR, "validate", "--format must be "
					"text, json or github, not '%s'%s%s",
					optarg, hint ? "; " : "", hint ? hint : "");
				free(hint);
				rc = FR_EXIT_USAGE;
			}
		} else {
			rc = fr_common_option(&common, cmd, opt, optarg);
		}
	}
	if (rc >= 0)
		goto out;
	if (format < 0)
		format = common.json ? 1 : 0;
	fr_diag_init(&d, format == 2 ? stdout : stderr);
	d.format = format == 1 ? FR_DIAG_JSON : format == 2 ? FR_DIAG_GITHUB
							     : FR_DIAG_TEXT;
	if (fr_common_load(&p, &common, argv + optind, (size_t)(argc - optind),
			   &d) < 0 && !p) {
		rc = FR_EXIT_INVALID;
		goto out;
	}
	fr_diag_flush(&d);
	if (d.format == FR_DIAG_JSON) {
		json_t *list = fr_diag_take_json(&d);
		fr_print_json(list);
		json_decref(list);
	}
	if (d.nerrors || (werror && d.nwarnings)) {
		fr_log_say(d.nerrors ? FR_LOG_ERROR : FR_LOG_WARN, NULL,
			   "%u error%s, %u warning%s in %u file%s",
			d.nerrors, d.nerrors == 1 ? "" : "s", d.nwarnings,
			d.nwarnings == 1 ? "" : "s", p->nfiles,
			p->nfiles == 1 ? "" : "s");
		rc = FR_EXIT_INVALID;
	} else {
		if (common.verbosity >= 0 && d.format != FR_DIAG_JSON)
			printf("%u file%s valid (%zu integration%s, %u warning%s)\n",
			       p->nfiles, p->nfiles == 1 ? "" : "s",
			       p->nintegrations, p->nintegrations == 1 ? "" : "s",
			       d.nwarnings, d.nwarnings == 1 ? "" : "s");
		if (common.verbosity > 0 && d.format != FR_DIAG_JSON)
			printf("validated in %.1f ms\n",
			       (double)(fr_now_ns() - start) / 1e6);
		rc = FR_EXIT_OK;
	}
out:
	fr_project_destroy(p);
	fr_common_finish(&common);
	return rc;
}
