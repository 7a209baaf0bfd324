/* diag: the located format, excerpts and carets, ordering, counting */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "diag.h"
#include "tap.h"
#include "util.h"

struct capture {
	char *buf;
	size_t len;
	FILE *f;
	struct fr_diag d;
};

static void start(struct capture *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	fr_diag_init(&c->d, c->f);
}

/* Flushes and returns everything printed (caller frees). */
static char *finish(struct capture *c)
{
	fr_diag_flush(&c->d);
	fclose(c->f);
	return c->buf;
}

static struct fr_source *source(const char *path, const char *text)
{
	return fr_source_create(path, fr_xstrdup(text), strlen(text));
}

int main(void)
{
	struct fr_source *a = source("flows/a.yaml",
				     "integration: x\n"
				     "flows:\n"
				     "  f:\n"
				     "    steps:\n"
				     "      - uses: htp.get\n");
	struct fr_source *b = source("b.yaml", "k:\tv\r\nsecond\n");
	struct fr_source *bin = source("bin.yaml", "ab\001cd\n");
	struct fr_source *nul = fr_source_create("nul.yaml",
						 fr_xstrndup("x\0y\n", 4), 4);
	struct capture c;
	char *out;

	/* the format */
	start(&c);
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ a, 5, 15 },
		   "unknown connection '%s'", "htp");
	out = finish(&c);
	is_str(out,
	       "flows/a.yaml:5:15: error: unknown connection 'htp'\n"
	       "       - uses: htp.get\n"
	       "               ^\n",
	       "file:line:col: error: msg, source line, caret under the column");
	is_int(c.d.nerrors, 1, "error counted");
	is_int(c.d.nwarnings, 0, "no warning counted");
	free(out);

	start(&c);
	fr_diag_at(&c.d, FR_WARNING, &(struct fr_loc){ a, 1, 1 }, "w");
	fr_diag_at(&c.d, FR_NOTE, &(struct fr_loc){ a, 2, 1 }, "n");
	out = finish(&c);
	is_str(out,
	       "flows/a.yaml:1:1: warning: w\n"
	       " integration: x\n"
	       " ^\n"
	       "flows/a.yaml:2:1: note: n\n"
	       " flows:\n"
	       " ^\n",
	       "warning and note, caret in column 1");
	is_int(c.d.nerrors, 0, "warning is no error");
	is_int(c.d.nwarnings, 1, "warning counted; notes are not");
	free(out);

	/* tabs kept in the caret line, CR ends the line */
	start(&c);
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ b, 1, 4 }, "tab");
	out = finish(&c);
	is_str(out, "b.yaml:1:4: error: tab\n k:\tv\n   \t^\n",
	       "tab copied into the caret line; CR not printed");
	free(out);

	/* caret past the end of the line (an error at end of line) */
	start(&c);
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ b, 2, 40 }, "eol");
	out = finish(&c);
	is_str(out, "b.yaml:2:40: error: eol\n second\n       ^\n",
	       "caret just after the last character when col is beyond it");
	free(out);

	/* no excerpt where it would be noise or is missing */
	start(&c);
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ a, 99, 1 }, "past end");
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ bin, 1, 3 }, "control");
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ nul, 1, 2 }, "nul");
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ a, 1, 300 }, "far");
	out = finish(&c);
	is_str(out,
	       "bin.yaml:1:3: error: control\n"
	       "flows/a.yaml:1:300: error: far\n"
	       "flows/a.yaml:99:1: error: past end\n"
	       "nul.yaml:1:2: error: nul\n"
	       " x\n"
	       "  ^\n",
	       "no excerpt past the end, for control characters or far "
	       "columns; a line is cut at a NUL");
	free(out);

	{
		char *longline = fr_xmalloc(302);
		struct fr_source *l;
		memset(longline, 'x', 300);
		longline[300] = '\n';
		longline[301] = '\0';
		l = fr_source_create("long.yaml", longline, 301);
		start(&c);
		fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ l, 1, 2 }, "long");
		out = finish(&c);
		is_str(out, "long.yaml:1:2: error: long\n",
		       "lines over 200 columns are not printed");
		free(out);
		fr_source_unref(l);
	}

	/* excerpts from a long file: the line index finds every line */
	{
		struct fr_buf t;
		struct fr_source *l;
		static const unsigned lines[] = { 1, 63, 64, 65, 66, 128, 129,
						  130, 199, 200 };
		bool all = true;
		fr_buf_init(&t);
		for (unsigned i = 1; i <= 200; i++)
			fr_buf_printf(&t, "line %u\n", i);
		{
			size_t n = t.len;
			l = fr_source_create("long.yaml", fr_buf_steal(&t), n);
		}
		for (size_t i = 0; i < FR_ARRAY_LEN(lines); i++) {
			char *want = fr_xasprintf("long.yaml:%u:6: error: x\n"
						  " line %u\n"
						  "      ^\n", lines[i], lines[i]);
			start(&c);
			fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ l, lines[i], 6 }, "x");
			out = finish(&c);
			if (strcmp(out, want) != 0) {
				all = false;
				printf("# got:\n%s# want:\n%s", out, want);
			}
			free(want);
			free(out);
		}
		ok(all, "excerpts of lines around every index mark");
		start(&c);
		fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ l, 250, 1 }, "x");
		out = finish(&c);
		is_str(out, "long.yaml:250:1: error: x\n",
		       "no excerpt for a line past the end of a long file");
		free(out);
		fr_source_unref(l);
	}

	/* positionless forms */
	start(&c);
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ a, 0, 0 },
		   "file too large");
	fr_diag(&c.d, FR_ERROR, "cannot read '%s'", "x");
	fr_diag_at(&c.d, FR_WARNING, NULL, "no loc");
	out = finish(&c);
	is_str(out,
	       "flowrun: error: cannot read 'x'\n"
	       "flowrun: warning: no loc\n"
	       "flows/a.yaml: error: file too large\n",
	       "line 0: FILE: error:, no file: flowrun: error:; "
	       "positionless first");
	is_int(c.d.nerrors, 2, "both errors counted");
	is_int(c.d.nwarnings, 1, "warning without position counted");
	free(out);

	/* held and sorted by file, line, column, then order of report */
	start(&c);
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ b, 2, 1 }, "b2");
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ a, 5, 9 }, "a5.9");
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ a, 5, 3 }, "a5.3");
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ a, 10, 1 }, "a10");
	fr_diag_at(&c.d, FR_WARNING, &(struct fr_loc){ a, 2, 1 }, "a2 first");
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ a, 2, 1 }, "a2 second");
	fr_diag(&c.d, FR_NOTE, "general");
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ b, 1, 1 }, "b1");
	ok(c.buf == NULL || c.len == 0, "nothing printed before the flush");
	out = finish(&c);
	{
		/* "b.yaml" sorts before "flows/a.yaml" */
		const char *order[] = { "general", "b1", "b2", "a2 first",
					"a2 second", "a5.3", "a5.9", "a10" };
		const char *p = out;
		bool in_order = true;
		for (size_t i = 0; i < FR_ARRAY_LEN(order); i++) {
			const char *q = strstr(p, order[i]);
			if (!q) {
				in_order = false;
				break;
			}
			p = q + strlen(order[i]);
		}
		ok(in_order, "sorted: positionless, then file, line, column, "
			     "report order");
		ok(strncmp(out, "flowrun: note: general\n", 23) == 0,
		   "positionless note first");
	}
	free(out);

	/* a flush prints once, then the diag is empty again */
	start(&c);
	fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ a, 1, 1 }, "once");
	fr_diag_flush(&c.d);
	fr_diag_flush(&c.d);
	out = finish(&c);
	ok(strstr(out, "once") && !strstr(strstr(out, "once") + 4, "once"),
	   "a second flush prints nothing again");
	is_int(c.d.nerrors, 1, "counts survive a flush");
	free(out);

	/* the cap on printed problems */
	start(&c);
	c.d.max = 3;
	for (int i = 1; i <= 5; i++)
		fr_diag_at(&c.d, FR_ERROR, &(struct fr_loc){ a, (unsigned)i, 1 },
			   "e%d", i);
	out = finish(&c);
	is_str(out,
	       "flows/a.yaml:1:1: error: e1\n"
	       " integration: x\n"
	       " ^\n"
	       "flows/a.yaml:2:1: error: e2\n"
	       " flows:\n"
	       " ^\n"
	       "flows/a.yaml:3:1: error: e3\n"
	       "   f:\n"
	       " ^\n"
	       "flowrun: note: 2 more problems not shown\n",
	       "after max problems, one note says how many more");
	is_int(c.d.nerrors, 5, "all counted even when not shown");
	free(out);

	/* sources are refcounted */
	ok(fr_source_ref(a) == a, "ref returns the source");
	is_int(a->refs, 2, "ref counts");
	fr_source_unref(a);
	is_int(a->refs, 1, "unref counts down");
	fr_source_unref(NULL);
	ok(fr_source_ref(NULL) == NULL, "ref and unref accept NULL");

	/* the same diagnostics as GitHub workflow commands and as JSON */
	{
		struct fr_source *odd = source("a,b:c.yaml", "x\n");
		start(&c);
		c.d.format = FR_DIAG_GITHUB;
		fr_diag_hint(&c.d, FR_ERROR, &(struct fr_loc){ a, 5, 15 },
			     "did you mean 'http'?", "unknown connection '%s'", "htp");
		fr_diag_at(&c.d, FR_WARNING, &(struct fr_loc){ odd, 1, 1 },
			   "100%% of\nthis");
		fr_diag(&c.d, FR_NOTE, "no position");
		out = finish(&c);
		is_str(out,
		       "::notice::no position\n"
		       "::warning file=a%2Cb%3Ac.yaml,line=1,col=1::100%25 of%0Athis\n"
		       "::error file=flows/a.yaml,line=5,col=15::unknown "
		       "connection 'htp'; did you mean 'http'?\n",
		       "github: one workflow command each, escaped");
		free(out);

		start(&c);
		c.d.format = FR_DIAG_JSON;
		fr_diag_hint(&c.d, FR_ERROR, &(struct fr_loc){ a, 5, 15 },
			     "did you mean 'http'?", "unknown connection '%s'", "htp");
		fr_diag(&c.d, FR_WARNING, "no position");
		out = finish(&c);
		is_str(out, "", "json: nothing printed");
		free(out);
		{
			json_t *j = fr_diag_take_json(&c.d);
			char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
			is_str(s,
			       "[{\"column\":null,\"file\":null,\"hint\":null,"
			       "\"line\":null,\"message\":\"no position\","
			       "\"severity\":\"warning\"},"
			       "{\"column\":15,\"file\":\"flows/a.yaml\","
			       "\"hint\":\"did you mean 'http'?\",\"line\":5,"
			       "\"message\":\"unknown connection 'htp'\","
			       "\"severity\":\"error\"}]",
			       "json: {file, line, column, severity, message, hint}");
			free(s);
			json_decref(j);
			j = fr_diag_take_json(&c.d);
			ok(json_is_array(j) && json_array_size(j) == 0,
			   "json: taken once, then empty");
			json_decref(j);
		}
		fr_source_unref(odd);
	}

	fr_source_unref(a);
	fr_source_unref(b);
	fr_source_unref(bin);
	fr_source_unref(nul);
	return done_testing();
}
