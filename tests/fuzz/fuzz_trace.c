/*
 * fuzz_trace: what flowrun does with stored JSON text once jansson has
 * parsed it (json_loads is jansson's): a trace printed as `flowrun show`
 * prints it at each verbosity, redacted as stored values are, and carried
 * into jq and back as the engine does with stored state and deliveries.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "json.h"
#include "redact.h"
#include "trace.h"

static FILE *sink;
static struct fr_redact *rd;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *j, *copy, *back;
	jv v;

	if (!sink) {
		sink = fopen("/dev/null", "w");
		rd = fr_redact_create();
		fr_redact_add(rd, "s3cret-token");
		fr_redact_add(rd, "42");
	}
	j = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL,
		       NULL);
	if (!j)
		return 0;
	for (int verbosity = 0; verbosity < 3; verbosity++)
		fr_trace_print(sink, j, verbosity == 1, verbosity);
	copy = fr_redact_json(rd, j);
	fr_redact_json_inplace(rd, copy);
	free(fr_json_dump(copy));
	v = fr_json_to_jv(j);
	if (jv_is_valid(v)) {
		free(fr_jv_dump(v));
		back = fr_jv_to_json(v);
		json_decref(back);
	} else {
		jv_free(v);
	}
	{
		struct fr_redact *more = fr_redact_create();
		fr_redact_add_json(more, j);
		fr_redact_destroy(more);
	}
	json_decref(copy);
	json_decref(j);
	return 0;
}
