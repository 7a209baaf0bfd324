/*
 * fuzz_project: the YAML loader through validate.  The input is written to
 * a file of its own (a project of one flow file) and loaded as
 * `flowrun validate FILE` loads it: YAML, schema, flows, templates, jq
 * compilation, reference checks.  Diagnostics go to /dev/null.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "diag.h"
#include "project.h"

static char dir[] = "/tmp/fuzz-project-XXXXXX";
static char path[sizeof(dir) + 16];
static FILE *sink;

static void cleanup(void)
{
	unlink(path);
	rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *paths[] = { path };
	struct fr_load_opts opts = { .no_env = true };
	struct fr_project *p = NULL;
	struct fr_diag d;
	FILE *f;

	if (!sink) {
		if (!mkdtemp(dir))
			abort();
		snprintf(path, sizeof(path), "%s/flow.yaml", dir);
		atexit(cleanup);
		sink = fopen("/dev/null", "w");
	}
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		abort();
	fr_diag_init(&d, sink);
	fr_project_load(&p, paths, 1, &opts, &d);
	fr_diag_flush(&d);
	fr_project_destroy(p);
	return 0;
}
