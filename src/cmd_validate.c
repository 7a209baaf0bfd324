#include <stdio.h>
#include <string.h>

#include "cmd.h"
#include "util.h"

int cmd_validate(int argc, char **argv)
{
	enum { OPT_WERROR = FR_OPT_FIRST_LOCAL };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "Werror", no_argument, NULL, OPT_WERROR },
		{ 0 },
	};
	const struct fr_cmd *cmd = fr_cmd_find("validate");
	struct fr_common common;
	struct fr_project *p = NULL;
	struct fr_diag d;
	bool werror = false;
	int opt, rc = -1;
	uint64_t start = fr_now_ns();

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		if (opt == OPT_WERROR)
			werror = true;
		else
			rc = fr_common_option(&common, cmd, opt, optarg);
	}
	if (rc >= 0)
		goto out;
	fr_diag_init(&d, stderr);
	if (fr_common_load(&p, &common, argv + optind, (size_t)(argc - optind),
			   &d) < 0 && !p) {
		rc = FR_EXIT_INVALID;
		goto out;
	}
	fr_diag_flush(&d);
	if (d.nerrors || (werror && d.nwarnings)) {
		fprintf(stderr, "flowrun: %u error%s, %u warning%s in %u file%s\n",
			d.nerrors, d.nerrors == 1 ? "" : "s", d.nwarnings,
			d.nwarnings == 1 ? "" : "s", p->nfiles,
			p->nfiles == 1 ? "" : "s");
		rc = FR_EXIT_INVALID;
	} else {
		if (common.verbosity >= 0)
			printf("%u file%s valid (%zu integration%s, %u warning%s)\n",
			       p->nfiles, p->nfiles == 1 ? "" : "s",
			       p->nintegrations, p->nintegrations == 1 ? "" : "s",
			       d.nwarnings, d.nwarnings == 1 ? "" : "s");
		if (common.verbosity > 0)
			printf("validated in %.1f ms\n",
			       (double)(fr_now_ns() - start) / 1e6);
		rc = FR_EXIT_OK;
	}
out:
	fr_project_destroy(p);
	fr_common_finish(&common);
	return rc;
}
