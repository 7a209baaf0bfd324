/*
 * fuzz_template: templates and expressions (src/expr.c).  The input is the
 * text of one YAML string: compiled as a template (`${{ }}` splitting,
 * constants) and as a bare expression, then the batch is checked (jq
 * compilation, errors mapped back to the input).  Nothing is evaluated:
 * what libjq does with a program is its own (flowrun-flow(5), "Limits and
 * guards"); the guards are tested by tests/unit/test_jqx.c.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "diag.h"
#include "expr.h"
#include "jqx.h"
#include "util.h"

static FILE *sink;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = fr_xmalloc(size + 1);
	struct fr_source *src;
	struct fr_ynode n;
	struct fr_diag d;
	struct fr_jqx_prog *prog = fr_jqx_prog_create();
	const char *vars[] = { "item", "index" };
	const char *ids[] = { "fetch", "later" };
	const bool hidden[] = { false, true };
	struct fr_scope sc = {
		.prog = prog, .d = &d, .vars = vars, .nvars = 2,
		.check_steps = true, .step_ids = ids, .hidden = hidden,
		.nstep_ids = 2,
	};
	struct fr_tmpl *t;
	struct fr_expr *e;

	if (!sink)
		sink = fopen("/dev/null", "w");
	memcpy(text, data, size);
	text[size] = '\0';
	/* YAML scalars hold no NUL: stop at the first, as libyaml would */
	src = fr_source_create("fuzz.yaml", fr_xstrdup(text), strlen(text));
	memset(&n, 0, sizeof(n));
	n.kind = FR_YSCALAR;
	n.loc = (struct fr_loc){ src, 1, 1 };
	n.value = text;
	n.len = strlen(text);
	n.plain = size > 0 && data[0] & 1;
	n.size = n.height = 1;
	fr_diag_init(&d, sink);
	t = fr_tmpl_compile(&sc, &n);
	e = fr_expr_compile(&sc, &n);
	if (t) {
		size_t nkeys;
		free(fr_tmpl_object_keys(t, &nkeys));
		(void)fr_tmpl_may_be_object(t);
	}
	fr_jqx_prog_check(prog, &d);
	fr_diag_flush(&d);
	fr_tmpl_destroy(t);
	fr_expr_destroy(e);
	fr_jqx_prog_destroy(prog);
	fr_source_unref(src);
	free(text);
	return 0;
}
