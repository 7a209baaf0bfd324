/*
 * fuzz_connector: the connector loader (src/connector.c) on a YAML file:
 * read, loaded as a connector, its expressions compiled.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connector.h"
#include "diag.h"
#include "jqx.h"
#include "util.h"
#include "ydoc.h"

static FILE *sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fr_xmalloc(size + 1);
	struct fr_source *src;
	struct fr_ydoc *doc = NULL;
	struct fr_connector *c = NULL;
	struct fr_jqx_prog *prog = fr_jqx_prog_create();
	struct fr_diag d;

	if (!sink)
		sink = fopen("/dev/null", "w");
	memcpy(text, data, size);
	text[size] = '\0';
	src = fr_source_create("connectors/fuzz.yaml", text, size);
	fr_diag_init(&d, sink);
	if (fr_ydoc_parse(&doc, src, &d) == 0 && doc) {
		if (fr_connector_load(&c, doc, prog, &d) == 0 && d.nerrors == 0)
			fr_jqx_prog_check(prog, &d);
	}
	fr_diag_flush(&d);
	fr_connector_destroy(c);
	fr_ydoc_destroy(doc);
	fr_jqx_prog_destroy(prog);
	fr_source_unref(src);
	return 0;
}
