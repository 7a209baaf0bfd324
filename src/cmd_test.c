/*
 * test: runs the flows' test files (*.test.yaml) offline, in parallel, and
 * reports: one line per test, then the failures with their diffs and
 * traces, coverage, JUnit XML, GitHub annotations, --update.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cmd.h"
#include "log.h"
#include "http.h"
#include "json.h"
#include "record.h"
#include "testfile.h"
#include "testrun.h"
#include "trace.h"
#include "util.h"

struct test_args {
	const char *filter, *junit;
	bool coverage, update;
	long jobs;
};

struct names {
	char **v;
	size_t n;
};

static void names_add(struct names *ns, const char *s)
{
	for (size_t i = 0; i < ns->n; i++) {
		if (strcmp(ns->v[i], s) == 0)
			return;
	}
	ns->v = fr_xrealloc(ns->v, (ns->n + 1) * sizeof(*ns->v));
	ns->v[ns->n++] = fr_xstrdup(s);
}

static void names_finish(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), m = strlen(tail);

	return n > m && strcmp(s + n - m, tail) == 0;
}

static bool is_test_name(const char *s)
{
	return ends_with(s, ".test.yaml") || ends_with(s, ".test.yml");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every *.test.yaml under dir, depth first, hidden entries skipped. */
static void find_tests(struct names *out, const char *dir)
{
	DIR *dh = opendir(dir);
	struct names found = { 0 };
	struct dirent *e;

	if (!dh)
		return;
	while ((e = readdir(dh)) != NULL) {
		struct stat st;
		char *path;
		if (e->d_name[0] == '.')
			continue;
		path = fr_xasprintf("%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0 && (S_ISDIR(st.st_mode) ||
					     is_test_name(e->d_name)))
			names_add(&found, path);
		free(path);
	}
	closedir(dh);
	if (found.n)	/* qsort of NULL, even for none, is undefined */
		qsort(found.v, found.n, sizeof(*found.v), cmp_str);
	for (size_t i = 0; i < found.n; i++) {
		struct stat st;
		if (stat(found.v[i], &st) == 0 && S_ISDIR(st.st_mode))
			find_tests(out, found.v[i]);
		else
			names_add(out, found.v[i]);
	}
	names_finish(&found);
}

/* Whether dir holds a flow file (a *.yaml that is not a test file). */
static bool has_flows(const char *dir)
{
	DIR *dh = opendir(dir);
	struct dirent *e;
	bool yes = false;

	if (!dh)
		return false;
	while (!yes && (e = readdir(dh)) != NULL) {
		yes = e->d_name[0] != '.' && !is_test_name(e->d_name) &&
		      (ends_with(e->d_name, ".yaml") || ends_with(e->d_name, ".yml"));
	}
	closedir(dh);
	return yes;
}

/* The flows a test file is tested against: its own directory's, else ./flows. */
static char *flow_dir_of(const char *file)
{
	const char *slash = strrchr(file, '/');
	char *dir = slash ? fr_xstrndup(file, (size_t)(slash - file)) : fr_xstrdup(".");
	struct stat st;

	if (has_flows(dir) || stat("flows", &st) < 0 || !S_ISDIR(st.st_mode))
		return dir;
	free(dir);
	return fr_xstrdup("flows");
}

/* ---- running in parallel ---- */

struct item {
	const struct fr_test *t;
	size_t index;			/* in its file */
	const char *file;
	struct fr_test_result res;
};

struct pool {
	const struct fr_project *p;
	const struct fr_jqx_prog *tprog;
	struct item *items;
	size_t n;
	atomic_size_t next;
};

static void *worker(void *arg)
{
	struct pool *pl = arg;
	struct fr_testrun *tr = fr_testrun_create(pl->p, pl->tprog);

	for (;;) {
		size_t k = atomic_fetch_add(&pl->next, 1);
		if (k >= pl->n)
			break;
		fr_testrun_run(tr, pl->items[k].t, pl->items[k].index,
			       &pl->items[k].res);
	}
	fr_testrun_destroy(tr);
	return NULL;
}

static void run_all(struct pool *pl, long jobs)
{
	long n = jobs > 0 ? jobs : sysconf(_SC_NPROCESSORS_ONLN);
	pthread_t *t;

	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	if ((size_t)n > pl->n)
		n = (long)pl->n;
	if (n <= 1) {
		worker(pl);
		return;
	}
	t = fr_xcalloc((size_t)n, sizeof(*t));
	for (long i = 0; i < n; i++) {
		if (pthread_create(&t[i], NULL, worker, pl) != 0)
			abort();
	}
	for (long i = 0; i < n; i++)
		pthread_join(t[i], NULL);
	free(t);
}

/* ---- reports ---- */

static void print_indented(FILE *out, const char *text, const char *indent)
{
	for (const char *p = text; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		fprintf(out, "%s%.*s\n", indent, (int)len, p);
		p += len + (nl ? 1 : 0);
	}
}

static void print_failure(const struct item *it, bool color, int verbosity)
{
	const struct fr_test_result *r = &it->res;

	printf("\n--- FAIL: %s (%s:%u)\n", it->t->name, it->file, it->t->loc.line);
	for (size_t i = 0; i < r->nfailures; i++) {
		const struct fr_test_failure *f = &r->failures[i];
		if (f->loc.src && strncmp(f->message, f->loc.src->path,
					  strlen(f->loc.src->path)) != 0)
			printf("%s:%u:%u: %s\n", f->loc.src->path, f->loc.line,
			       f->loc.col, f->message);
		else
			printf("%s\n", f->message);
		if (f->diff)
			print_indented(stdout, f->diff, "    ");
	}
	if (r->trace) {
		printf("trace:\n");
		fr_trace_print(stdout, r->trace, color, verbosity);
	}
}

/* GitHub Actions' workflow commands: %, CR and LF escaped. */
static void annotate(const struct item *it)
{
	const struct fr_test_result *r = &it->res;

	for (size_t i = 0; i < r->nfailures; i++) {
		const struct fr_test_failure *f = &r->failures[i];
		unsigned line = f->loc.line ? f->loc.line : it->t->loc.line;
		printf("::error file=%s,line=%u,title=", it->file, line);
		for (const char *p = it->t->name; *p; p++) {
			if (*p == '%' || *p == '\r' || *p == '\n' || *p == ',' || *p == ':')
				printf("%%%02X", (unsigned char)*p);
			else
				putchar(*p);
		}
		printf("::");
		for (const char *p = f->message; *p; p++) {
			if (*p == '%' || *p == '\r' || *p == '\n')
				printf("%%%02X", (unsigned char)*p);
			else
				putchar(*p);
		}
		putchar('\n');
	}
}

static void xml_text(FILE *out, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '<')
			fputs("&lt;", out);
		else if (c == '>')
			fputs("&gt;", out);
		else if (c == '&')
			fputs("&amp;", out);
		else if (c == '"')
			fputs("&quot;", out);
		else if (c < 0x20 && c != '\n' && c != '\t')
			fputc(' ', out);
		else
			fputc(c, out);
	}
}

static int write_junit(const char *path, const struct item *items, size_t n,
		       const struct names *files)
{
	FILE *out = fopen(path, "w");
	size_t failed = 0;
	double total = 0;

	if (!out) {
		fr_log_say(FR_LOG_ERROR, "test", "cannot write '%s': %s", path,
			strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		failed += !items[i].res.passed;
		total += items[i].res.ms;
	}
	fprintf(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
	fprintf(out, "<testsuites name=\"flowrun\" tests=\"%zu\" failures=\"%zu\" "
		"time=\"%.3f\">\n", n, failed, total / 1e3);
	for (size_t f = 0; f < files->n; f++) {
		size_t cnt = 0, bad = 0;
		double ms = 0;
		for (size_t i = 0; i < n; i++) {
			if (strcmp(items[i].file, files->v[f]) != 0)
				continue;
			cnt++;
			bad += !items[i].res.passed;
			ms += items[i].res.ms;
		}
		if (!cnt)
			continue;
		fprintf(out, "  <testsuite name=\"");
		xml_text(out, files->v[f]);
		fprintf(out, "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
			"time=\"%.3f\">\n", cnt, bad, ms / 1e3);
		for (size_t i = 0; i < n; i++) {
			const struct item *it = &items[i];
			if (strcmp(it->file, files->v[f]) != 0)
				continue;
			fprintf(out, "    <testcase name=\"");
			xml_text(out, it->t->name);
			fprintf(out, "\" classname=\"");
			xml_text(out, it->t->flow->integration->name);
			fputc('/', out);
			xml_text(out, it->t->flow->name);
			fprintf(out, "\" file=\"");
			xml_text(out, it->file);
			fprintf(out, "\" line=\"%u\" time=\"%.3f\"", it->t->loc.line,
				it->res.ms / 1e3);
			if (it->res.passed) {
				fprintf(out, "/>\n");
				continue;
			}
			fprintf(out, ">\n      <failure message=\"");
			xml_text(out, it->res.failures[0].message);
			fprintf(out, "\" type=\"expectation\">");
			for (size_t k = 0; k < it->res.nfailures; k++) {
				xml_text(out, it->res.failures[k].message);
				fputc('\n', out);
				if (it->res.failures[k].diff)
					xml_text(out, it->res.failures[k].diff);
			}
			fprintf(out, "</failure>\n    </testcase>\n");
		}
		fprintf(out, "  </testsuite>\n");
	}
	fprintf(out, "</testsuites>\n");
	if (fclose(out) != 0) {
		fr_log_say(FR_LOG_ERROR, "test", "cannot write '%s': %s", path,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* ---- coverage ---- */

static void uncovered(const struct fr_steps *steps, const json_t *ran,
		      json_t *out)
{
	for (size_t i = 0; i < steps->n; i++) {
		const struct fr_step *s = steps->v[i];
		char key[32];
		snprintf(key, sizeof(key), "%u", s->loc.line);
		if (!json_object_get(ran, key)) {
			char *what = s->id ? fr_xasprintf("step '%s'", s->id)
					   : fr_xasprintf("%s step",
							  fr_step_kind_name(s->kind));
			json_array_append_new(out, json_pack("{ss ss ss si}",
				"kind", "step", "what", what,
				"file", s->loc.src->path, "line", (int)s->loc.line));
			free(what);
			continue;	/* and nothing inside it ran */
		}
		for (size_t j = 0; j < s->ncases; j++) {
			char *k = fr_xasprintf("%u:%s", s->loc.line, s->cases[j].name);
			if (!json_object_get(ran, k)) {
				char *what = fr_xasprintf("branch '%s' case '%s'",
							  s->id ? s->id : "?",
							  s->cases[j].name);
				json_array_append_new(out, json_pack("{ss ss ss si}",
					"kind", "case", "what", what,
					"file", s->loc.src->path,
					"line", (int)s->cases[j].loc.line));
				free(what);
			} else {
				uncovered(&s->cases[j].steps, ran, out);
			}
			free(k);
		}
		if (s->has_else) {
			char *k = fr_xasprintf("%u:else", s->loc.line);
			if (!json_object_get(ran, k)) {
				char *what = fr_xasprintf("branch '%s' case 'else'",
							  s->id ? s->id : "?");
				json_array_append_new(out, json_pack("{ss ss ss si}",
					"kind", "case", "what", what,
					"file", s->loc.src->path,
					"line", (int)s->loc.line));
				free(what);
			} else {
				uncovered(&s->else_steps, ran, out);
			}
			free(k);
		}
		uncovered(&s->body, ran, out);
	}
}

/* {"INTEGRATION/FLOW": {tests: N, not_run: [...]}} for every flow */
static json_t *coverage(const struct fr_project *p, const struct item *items,
			size_t n)
{
	json_t *out = json_object();

	for (size_t i = 0; i < p->nintegrations; i++) {
		const struct fr_integration *in = p->integrations[i];
		for (size_t j = 0; j < in->nflows; j++) {
			const struct fr_flow *f = &in->flows[j];
			json_t *ran = json_object(), *missing = json_array();
			size_t tests = 0;
			char *name = fr_xasprintf("%s/%s", in->name, f->name);
			for (size_t k = 0; k < n; k++) {
				if (items[k].t->flow != f)
					continue;
				tests++;
				json_object_update(ran, items[k].res.ran);
			}
			uncovered(&f->steps, ran, missing);
			json_object_set_new(out, name, json_pack("{sI so}", "tests",
				(json_int_t)tests, "not_run", missing));
			json_decref(ran);
			free(name);
		}
	}
	return out;
}

static void print_coverage(const json_t *cov)
{
	const char *name;
	json_t *v;

	json_object_foreach((json_t *)cov, name, v) {
		json_t *miss = json_object_get(v, "not_run");
		size_t i;
		json_t *m;
		if (json_integer_value(json_object_get(v, "tests")) == 0) {
			printf("coverage: %s: no test\n", name);
			continue;
		}
		if (json_array_size(miss) == 0) {
			printf("coverage: %s: every step and branch case ran\n", name);
			continue;
		}
		printf("coverage: %s: %zu not run by any test:\n", name,
		       json_array_size(miss));
		json_array_foreach(miss, i, m)
			printf("  %s:%d: %s\n",
			       json_string_value(json_object_get(m, "file")),
			       (int)json_integer_value(json_object_get(m, "line")),
			       json_string_value(json_object_get(m, "what")));
	}
}

/* ---- --update ---- */

/* The byte offset of loc (line, column in characters) in src. */
static size_t offset_of(const struct fr_source *src, const struct fr_loc *loc)
{
	size_t off = 0;
	unsigned line = 1, col = 1;

	while (off < src->len && line < loc->line) {
		if (src->text[off++] == '\n')
			line++;
	}
	while (off < src->len && col < loc->col && src->text[off] != '\n') {
		off++;
		while (off < src->len && ((unsigned char)src->text[off] & 0xC0) == 0x80)
			off++;
		col++;
	}
	return off;
}

struct edit {
	size_t from, to;
	char *text;
};

static int cmp_edit(const void *a, const void *b)
{
	const struct edit *x = a, *y = b;

	return x->from < y->from ? 1 : x->from > y->from ? -1 : 0;
}

/*
 * The actual value in the shape of the expectation: an object keeps the
 * keys the test listed (each shaped in turn), {exactly: V} stays exact,
 * anything else is the actual value whole.
 */
static json_t *shaped(const json_t *expected, const json_t *actual)
{
	json_t *out, *e;
	const char *key;

	if (!actual)
		return json_null();
	if (json_is_object(expected) && json_object_size(expected) == 1 &&
	    json_object_get(expected, "exactly"))
		return json_pack("{sO}", "exactly", actual);
	if (!json_is_object(expected) || !json_is_object(actual))
		return json_deep_copy(actual);
	out = json_object();
	json_object_foreach((json_t *)expected, key, e)
		json_object_set_new(out, key, shaped(e, json_object_get(actual, key)));
	return out;
}

/* v as YAML text to stand where a value started at column col. */
static char *yaml_value(const json_t *v, unsigned col, bool block)
{
	char *text, *one;
	struct fr_buf b;

	if (block && json_is_object(v) && json_object_size(v))
		return fr_record_block(v, (int)col - 1);
	one = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
	if (strlen(one) + col < 100 || !(json_is_object(v) || json_is_array(v)))
		return one;
	free(one);
	text = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
	/* flow style over several lines, indented under the key */
	fr_buf_init(&b);
	for (const char *p = text; *p; p++) {
		fr_buf_putc(&b, *p);
		if (*p == '\n')
			for (unsigned i = 1; i < col; i++)
				fr_buf_putc(&b, ' ');
	}
	free(text);
	return fr_buf_steal(&b);
}

struct edits {
	struct edit *v;
	size_t n;
};

/* Replaces the text from loc to end (trailing blanks kept) with text. */
static void add_edit(struct edits *ed, const struct fr_source *src,
		     const struct fr_loc *loc, const struct fr_loc *end,
		     char *text)
{
	struct edit *e;

	ed->v = fr_xrealloc(ed->v, (ed->n + 1) * sizeof(*ed->v));
	e = &ed->v[ed->n++];
	e->from = offset_of(src, loc);
	e->to = offset_of(src, end);
	while (e->to > e->from && (src->text[e->to - 1] == ' ' ||
				   src->text[e->to - 1] == '\n' ||
				   src->text[e->to - 1] == '\r'))
		e->to--;
	e->text = text;
}

static const struct fr_test_failure *failure_of(const struct item *it,
						const char *prefix)
{
	for (size_t k = 0; k < it->res.nfailures; k++) {
		if (strncmp(it->res.failures[k].message, prefix, strlen(prefix)) == 0)
			return &it->res.failures[k];
	}
	return NULL;
}

/*
 * The edits that make a failing test's expectations what the run gave:
 * status, error, steps, calls, state, response and output (not assert:
 * a program cannot be derived from a value).  Warns about what it cannot
 * rewrite.  Returns how many it made.
 */
static size_t update_test(struct edits *ed, const struct fr_source *src,
			  const struct item *it)
{
	static const char *const kinds[] = { "steps", "calls", "state",
					     "response", "output" };
	const struct fr_test *t = it->t;
	const struct fr_test_failure *f;
	size_t before = ed->n;

	if ((f = failure_of(it, "expect.status:"))) {
		if (t->status_loc.line)
			add_edit(ed, src, &t->status_loc, &t->status_end,
				 fr_xstrdup(it->res.status));
		else
			fprintf(stderr, "flowrun test: %s:%u: test '%s': expect.status "
				"not updated: it is implied by expect.error; write "
				"'status: %s'\n", src->path, t->loc.line, t->name,
				it->res.status);
	}
	if ((f = failure_of(it, "expect.error:"))) {
		if (it->res.error) {
			json_t *s = json_string(it->res.error);
			add_edit(ed, src, &t->error_loc, &t->error_end,
				 json_dumps(s, JSON_ENCODE_ANY));
			json_decref(s);
		} else {
			fprintf(stderr, "flowrun test: %s:%u: test '%s': expect.error "
				"not updated: the execution has no error; remove it\n",
				src->path, t->error_loc.line, t->name);
		}
	}
	for (size_t i = 0; i < FR_ARRAY_LEN(kinds); i++) {
		const struct fr_test_expect *x = fr_test_expect_get(t, kinds[i]);
		char prefix[64];
		snprintf(prefix, sizeof(prefix), "expect.%s: not as expected", kinds[i]);
		if (!x || !(f = failure_of(it, prefix)))
			continue;
		json_t *v = shaped(x->value, f->actual);
		/* a block mapping stays one; anything else is written in flow style */
		bool block = json_is_object(x->value) &&
			     src->text[offset_of(src, &x->loc)] != '{';
		add_edit(ed, src, &x->loc, &x->end, yaml_value(v, x->loc.col, block));
		json_decref(v);
	}
	return ed->n - before;
}

static int update_file(const char *file, const struct fr_source *src,
		       const struct item *items, size_t n, size_t *count)
{
	struct edits ed = { 0 };
	struct fr_buf b;
	FILE *out;
	int rc = 0;

	for (size_t i = 0; i < n; i++) {
		const struct item *it = &items[i];
		/* a test whose mocks ran short says nothing true of its flow */
		if (strcmp(it->file, file) != 0 || it->res.passed || !it->res.mocks_ok)
			continue;
		if (update_test(&ed, src, it))
			(*count)++;
	}
	if (!ed.n)
		return 0;
	qsort(ed.v, ed.n, sizeof(*ed.v), cmp_edit);
	fr_buf_init(&b);
	fr_buf_add(&b, src->text, src->len);
	for (size_t i = 0; i < ed.n; i++) {
		/* from the end of the file backwards: offsets stay true */
		struct fr_buf nb;
		fr_buf_init(&nb);
		fr_buf_add(&nb, b.data, ed.v[i].from);
		fr_buf_puts(&nb, ed.v[i].text);
		fr_buf_add(&nb, b.data + ed.v[i].to, b.len - ed.v[i].to);
		fr_buf_finish(&b);
		b = nb;
		free(ed.v[i].text);
	}
	free(ed.v);
	if (!(out = fopen(file, "w")) || fwrite(b.data, 1, b.len, out) != b.len) {
		fr_log_say(FR_LOG_ERROR, "test", "cannot write '%s': %s", file,
			strerror(errno));
		rc = -1;
	}
	if (out && fclose(out) != 0)
		rc = -1;
	fr_buf_finish(&b);
	return rc;
}

/* ---- JSON ---- */

static json_t *item_json(const struct item *it)
{
	json_t *fails = json_array();
	json_t *j;

	for (size_t k = 0; k < it->res.nfailures; k++) {
		const struct fr_test_failure *f = &it->res.failures[k];
		json_t *o = json_pack("{ss}", "message", f->message);
		if (f->loc.src) {
			json_object_set_new(o, "file", json_string(f->loc.src->path));
			json_object_set_new(o, "line", json_integer(f->loc.line));
			json_object_set_new(o, "column", json_integer(f->loc.col));
		}
		if (f->expected) {
			json_object_set(o, "expected", f->expected);
			json_object_set(o, "actual", f->actual);
			json_object_set_new(o, "diff", json_string(f->diff));
		}
		json_array_append_new(fails, o);
	}
	j = json_pack("{ss ss si ss ss sf so}", "name", it->t->name,
		      "file", it->file, "line", (int)it->t->loc.line,
		      "flow", it->t->flow->name,
		      "status", it->res.passed ? "passed" : "failed",
		      "duration_ms", it->res.ms, "failures", fails);
	if (!it->res.passed && it->res.trace)
		json_object_set(j, "trace", it->res.trace);
	return j;
}

/* ---- the command ---- */

static int parse_args(struct test_args *a, struct fr_common *common,
		      const struct fr_cmd *cmd, int argc, char **argv)
{
	enum { OPT_FILTER = FR_OPT_FIRST_LOCAL, OPT_JUNIT, OPT_COVERAGE,
	       OPT_UPDATE, OPT_JOBS };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "filter", required_argument, NULL, OPT_FILTER },
		{ "junit", required_argument, NULL, OPT_JUNIT },
		{ "coverage", no_argument, NULL, OPT_COVERAGE },
		{ "update", no_argument, NULL, OPT_UPDATE },
		{ "jobs", required_argument, NULL, OPT_JOBS },
		{ 0 },
	};
	int opt, rc;
	char *end;

	while ((opt = getopt_long(argc, argv, FR_COMMON_SHORT, options, NULL)) != -1) {
		switch (opt) {
		case OPT_FILTER:
			a->filter = optarg;
			break;
		case OPT_JUNIT:
			a->junit = optarg;
			break;
		case OPT_COVERAGE:
			a->coverage = true;
			break;
		case OPT_UPDATE:
			a->update = true;
			break;
		case OPT_JOBS:
			a->jobs = strtol(optarg, &end, 10);
			if (*end || a->jobs < 1 || a->jobs > 64)
				return fr_usage_error(cmd, "--jobs takes 1 to 64");
			break;
		default:
			if ((rc = fr_common_option(common, cmd, opt, optarg)) >= 0)
				return rc;
		}
	}
	return -1;
}

int cmd_test(int argc, char **argv)
{
	const struct fr_cmd *cmd = fr_cmd_find("test");
	struct test_args a = { 0 };
	struct fr_common common;
	struct names files = { 0 }, dirs = { 0 };
	struct fr_project *p = NULL;
	struct fr_jqx_prog *tprog = fr_jqx_prog_create();
	json_t *ids = json_object(), *cov = NULL;
	struct fr_testfile **tfs = NULL;
	struct pool pl = { 0 };
	struct fr_diag d;
	size_t passed = 0, failed = 0;
	bool gha;
	int rc;

	fr_common_init(&common);
	fr_diag_init(&d, stderr);
	if ((rc = parse_args(&a, &common, cmd, argc, argv)) >= 0)
		goto out;
	rc = FR_EXIT_INVALID;
	if (optind == argc) {
		find_tests(&files, "flows");
		find_tests(&files, "tests");
	}
	for (int i = optind; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) < 0) {
			fr_log_say(FR_LOG_ERROR, "test", "cannot read '%s': %s",
				argv[i], strerror(errno));
			goto out;
		}
		if (S_ISDIR(st.st_mode))
			find_tests(&files, argv[i]);
		else
			names_add(&files, argv[i]);
	}
	if (!files.n) {
		fr_log_say(FR_LOG_ERROR, "test", "no test files (*.test.yaml) in %s",
			optind == argc ? "flows or tests" : "the paths given");
		rc = FR_EXIT_USAGE;
		goto out;
	}
	for (size_t i = 0; i < files.n; i++) {
		char *dir = flow_dir_of(files.v[i]);
		names_add(&dirs, dir);
		free(dir);
	}
	{
		struct fr_load_opts lo = {
			.connector_dirs = common.connector_dirs,
			.nconnector_dirs = common.nconnector_dirs,
			.fixed_clock = true,
		};
		fr_project_load(&p, (const char *const *)dirs.v, dirs.n, &lo, &d);
	}
	fr_jqx_prog_fixed_clock(tprog);	/* `now` in assert and when too */
	fr_diag_flush(&d);
	if (!p || d.nerrors)
		goto out;
	tfs = fr_xcalloc(files.n, sizeof(*tfs));
	for (size_t i = 0; i < files.n; i++)
		fr_testfile_load(&tfs[i], files.v[i], p, tprog, ids, &d);
	if (!d.nerrors)
		fr_jqx_prog_check(tprog, &d);
	fr_diag_flush(&d);
	if (d.nerrors)
		goto out;

	for (size_t i = 0; i < files.n; i++) {
		for (size_t j = 0; j < tfs[i]->n; j++) {
			const struct fr_test *t = &tfs[i]->tests[j];
			struct item *it;
			if (a.filter && !strstr(t->name, a.filter))
				continue;
			pl.items = fr_xrealloc(pl.items, (pl.n + 1) * sizeof(*pl.items));
			it = &pl.items[pl.n++];
			memset(it, 0, sizeof(*it));
			it->t = t;
			it->index = j;
			it->file = files.v[i];
		}
	}
	pl.p = p;
	pl.tprog = json_object_size(ids) ? tprog : NULL;
	atomic_init(&pl.next, 0);
	fr_http_global_init();
	run_all(&pl, a.jobs);

	for (size_t i = 0; i < pl.n; i++) {
		if (pl.items[i].res.passed)
			passed++;
		else
			failed++;
	}
	if (a.coverage)
		cov = coverage(p, pl.items, pl.n);
	gha = getenv("GITHUB_ACTIONS") && strcmp(getenv("GITHUB_ACTIONS"), "true") == 0;
	if (common.json) {
		json_t *list = json_array(), *doc;
		for (size_t i = 0; i < pl.n; i++)
			json_array_append_new(list, item_json(&pl.items[i]));
		doc = json_pack("{so sI sI}", "tests", list, "passed",
				(json_int_t)passed, "failed", (json_int_t)failed);
		if (cov)
			json_object_set(doc, "coverage", cov);
		fr_print_json(doc);
		json_decref(doc);
	} else {
		for (size_t i = 0; i < pl.n; i++) {
			const struct item *it = &pl.items[i];
			printf("%s %s (%s:%u, %.1f ms)\n", it->res.passed ? "ok  " : "FAIL",
			       it->t->name, it->file, it->t->loc.line, it->res.ms);
		}
		for (size_t i = 0; i < pl.n; i++) {
			if (!pl.items[i].res.passed)
				print_failure(&pl.items[i], common.color == 1,
					      common.verbosity);
		}
		if (cov) {
			printf("\n");
			print_coverage(cov);
		}
	}
	if (gha) {
		for (size_t i = 0; i < pl.n; i++) {
			if (!pl.items[i].res.passed)
				annotate(&pl.items[i]);
		}
	}
	rc = failed ? FR_EXIT_FAILED : FR_EXIT_OK;
	if (a.junit && write_junit(a.junit, pl.items, pl.n, &files) < 0)
		rc = FR_EXIT_SYSTEM;
	if (a.update) {
		size_t count = 0;
		for (size_t i = 0; i < files.n; i++) {
			if (update_file(files.v[i], tfs[i]->src, pl.items, pl.n,
					&count) < 0)
				rc = FR_EXIT_SYSTEM;
		}
		fr_log_say(FR_LOG_INFO, "test", "updated the expectations of %zu test%s",
			count, count == 1 ? "" : "s");
	}
	fprintf(common.json ? stderr : stdout, "%s%zu passed, %zu failed\n",
		common.json ? "" : "\n", passed, failed);
out:
	for (size_t i = 0; i < pl.n; i++) {
		fr_test_result_finish(&pl.items[i].res);
	}
	free(pl.items);
	json_decref(cov);
	fr_jqx_prog_destroy(tprog);
	for (size_t i = 0; tfs && i < files.n; i++)
		fr_testfile_destroy(tfs[i]);
	free(tfs);
	json_decref(ids);
	fr_project_destroy(p);
	names_finish(&files);
	names_finish(&dirs);
	fr_common_finish(&common);
	return rc;
}
