#include "diag.h"
#include "log.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "util.h"

/*
 * One diagnostic as data.  The text form (with its excerpt) is made when it
 * is printed, from the source held here: of 200,000 problems only the
 * first d->max are printed, and only those cost an excerpt.
 */
struct fr_diag_entry {
	char *path;		/* NULL: no file */
	unsigned line, col;	/* 0: no position */
	size_t seq;
	enum fr_severity sev;
	char *message;
	char *hint;		/* NULL: none */
	struct fr_source *src;	/* a reference, for the excerpt; or NULL */
};

struct fr_source *fr_source_create(const char *path, char *text, size_t len)
{
	struct fr_source *src = fr_xcalloc(1, sizeof(*src));

	src->path = fr_xstrdup(path);
	src->text = text;
	src->len = len;
	src->refs = 1;
	/* a sparse line index, so that an excerpt costs O(64 lines), not
	 * O(file): a file of many problems was quadratic */
	for (size_t off = 0, line = 0, cap = 0; off <= len; line++) {
		const char *nl;
		if (line % FR_SOURCE_MARK_LINES == 0) {
			fr_grow(&src->marks, &cap, src->nmarks + 1,
				sizeof(*src->marks));
			src->marks[src->nmarks++] = off;
		}
		nl = memchr(text + off, '\n', len - off);
		if (!nl)
			break;
		off = (size_t)(nl - text) + 1;
	}
	return src;
}

struct fr_source *fr_source_ref(struct fr_source *src)
{
	if (src)
		src->refs++;
	return src;
}

void fr_source_unref(struct fr_source *src)
{
	if (!src || --src->refs > 0)
		return;
	free(src->path);
	free(src->text);
	free(src->marks);
	free(src);
}

void fr_diag_init(struct fr_diag *d, FILE *out)
{
	d->out = out;
	d->nerrors = d->nwarnings = 0;
	d->max = 200;
	d->held = NULL;
	d->nheld = d->held_cap = 0;
	d->format = FR_DIAG_TEXT;
	d->json = NULL;
}

static int cmp_entry(const void *a, const void *b)
{
	const struct fr_diag_entry *x = a, *y = b;
	int c;

	if (!x->path != !y->path)
		return x->path ? 1 : -1;
	if (x->path && (c = strcmp(x->path, y->path)) != 0)
		return c;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	if (x->col != y->col)
		return x->col < y->col ? -1 : 1;
	return x->seq < y->seq ? -1 : (x->seq > y->seq);
}

static const char *severity_name(enum fr_severity sev)
{
	switch (sev) {
	case FR_ERROR:
		return "error";
	case FR_WARNING:
		return "warning";
	default:
		return "note";
	}
}

/* GitHub workflow command data: %, CR and LF escaped; in properties : and , too */
static void put_github(FILE *out, const char *s, bool property)
{
	for (; *s; s++) {
		if (*s == '%')
			fputs("%25", out);
		else if (*s == '\r')
			fputs("%0D", out);
		else if (*s == '\n')
			fputs("%0A", out);
		else if (property && *s == ':')
			fputs("%3A", out);
		else if (property && *s == ',')
			fputs("%2C", out);
		else
			fputc(*s, out);
	}
}

static void print_github(FILE *out, const struct fr_diag_entry *e)
{
	fprintf(out, "::%s", e->sev == FR_ERROR	     ? "error"
			     : e->sev == FR_WARNING ? "warning"
						     : "notice");
	if (e->path) {
		fputs(" file=", out);
		put_github(out, e->path, true);
		if (e->line)
			fprintf(out, ",line=%u,col=%u", e->line, e->col);
	}
	fputs("::", out);
	put_github(out, e->message, false);
	if (e->hint) {
		fputs("; ", out);
		put_github(out, e->hint, false);
	}
	fputc('\n', out);
}

static json_t *entry_json(const struct fr_diag_entry *e)
{
	json_t *j = json_object();

	json_object_set_new(j, "file", e->path ? json_string(e->path) : json_null());
	json_object_set_new(j, "line", e->line ? json_integer(e->line) : json_null());
	json_object_set_new(j, "column", e->line ? json_integer(e->col) : json_null());
	json_object_set_new(j, "severity", json_string(severity_name(e->sev)));
	json_object_set_new(j, "message", json_string(e->message));
	json_object_set_new(j, "hint", e->hint ? json_string(e->hint) : json_null());
	return j;
}

/*
 * Prints the line `loc` points into, then a caret under its column.  Tabs in
 * the line are kept in the caret line so the caret lines up in a terminal;
 * lines are cut at 200 columns so a minified file does not flood the screen.
 */
static void print_excerpt(struct fr_buf *out, const struct fr_loc *loc)
{
	const char *p = loc->src->text, *end = p + loc->src->len, *eol;
	unsigned line = 1, i;
	size_t m = (loc->line - 1) / FR_SOURCE_MARK_LINES;

	if (loc->src->marks && loc->src->nmarks) {
		if (m >= loc->src->nmarks)
			m = loc->src->nmarks - 1;
		p += loc->src->marks[m];
		line = (unsigned)(m * FR_SOURCE_MARK_LINES + 1);
	}
	while (line < loc->line && p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			return;
		p = nl + 1;
		line++;
	}
	if (line != loc->line)
		return;
	eol = p;
	while (eol < end && *eol != '\n' && *eol != '\r' && *eol != '\0')
		eol++;
	if (eol - p > 200 || loc->col > 200)
		return;
	for (const char *c = p; c < eol; c++) {
		if ((unsigned char)*c < 0x20 && *c != '\t')
			return;	/* binary: the excerpt would be noise */
	}
	fr_buf_putc(out, ' ');
	fr_buf_add(out, p, (size_t)(eol - p));
	fr_buf_puts(out, "\n ");
	for (i = 1; i < loc->col && p + i - 1 < eol; i++)
		fr_buf_putc(out, p[i - 1] == '\t' ? '\t' : ' ');
	fr_buf_puts(out, "^\n");
}

/* The text form: FILE:LINE:COL: SEVERITY: MESSAGE[; HINT], then the excerpt. */
static void print_text(FILE *out, const struct fr_diag_entry *e)
{
	struct fr_buf b;

	fr_buf_init(&b);
	if (e->line)
		fr_buf_printf(&b, "%s:%u:%u: %s: ", e->path, e->line, e->col,
			      severity_name(e->sev));
	else if (e->path)
		fr_buf_printf(&b, "%s: %s: ", e->path, severity_name(e->sev));
	else
		fr_buf_printf(&b, "flowrun: %s: ", severity_name(e->sev));
	fr_buf_puts(&b, e->message);
	if (e->hint)
		fr_buf_printf(&b, "; %s", e->hint);
	fr_buf_putc(&b, '\n');
	if (e->src)
		print_excerpt(&b, &(struct fr_loc){ e->src, e->line, e->col });
	fputs(fr_buf_cstr(&b), out);
	fr_buf_finish(&b);
}

/*
 * Under --log-format json, a diagnostic bound for stderr is a log line:
 * msg its text form's first line, and the members of the JSON form.
 */
static void log_entry(const struct fr_diag_entry *e)
{
	static const enum fr_log_level level[] = {
		[FR_ERROR] = FR_LOG_ERROR, [FR_WARNING] = FR_LOG_WARN,
		[FR_NOTE] = FR_LOG_INFO,
	};
	json_t *j = entry_json(e);
	struct fr_buf b;

	fr_buf_init(&b);
	if (e->line)
		fr_buf_printf(&b, "%s:%u:%u: %s: ", e->path, e->line, e->col,
			      severity_name(e->sev));
	else if (e->path)
		fr_buf_printf(&b, "%s: %s: ", e->path, severity_name(e->sev));
	fr_buf_puts(&b, e->message);
	if (e->hint)
		fr_buf_printf(&b, "; %s", e->hint);
	fr_log_fields(level[e->sev], NULL, j, fr_buf_cstr(&b));
	fr_buf_finish(&b);
	json_decref(j);
}

void fr_diag_flush(struct fr_diag *d)
{
	bool log = d->out == stderr && d->format == FR_DIAG_TEXT && fr_log_json();

	if (d->nheld)
		qsort(d->held, d->nheld, sizeof(*d->held), cmp_entry);
	if (d->format == FR_DIAG_JSON && !d->json)
		d->json = json_array();
	for (size_t i = 0; i < d->nheld; i++) {
		struct fr_diag_entry *e = &d->held[i];
		if (d->format == FR_DIAG_JSON)
			json_array_append_new(d->json, entry_json(e));
		else if (log && (!d->max || i < d->max))
			log_entry(e);
		else if (log && i == d->max)
			fr_log(FR_LOG_INFO, NULL, "%zu more problems not shown",
			       d->nheld - d->max);
		else if (d->max && i >= d->max) {
			if (i == d->max)
				fprintf(d->out, "%sflowrun: note: %zu more "
					"problems not shown\n",
					d->format == FR_DIAG_GITHUB ? "::notice::"
								    : "",
					d->nheld - d->max);
		} else if (d->format == FR_DIAG_GITHUB)
			print_github(d->out, e);
		else
			print_text(d->out, e);
		fr_source_unref(e->src);
		free(e->message);
		free(e->hint);
		free(e->path);
	}
	free(d->held);
	d->held = NULL;
	d->nheld = d->held_cap = 0;
	fflush(d->out);
}

json_t *fr_diag_take_json(struct fr_diag *d)
{
	json_t *j = d->json ? d->json : json_array();

	d->json = NULL;
	return j;
}

static void hold(struct fr_diag *d, enum fr_severity sev,
		 const struct fr_loc *loc, char *message, const char *hint)
{
	struct fr_diag_entry *e;

	fr_grow(&d->held, &d->held_cap, d->nheld + 1, sizeof(*d->held));
	e = &d->held[d->nheld];
	e->path = loc && loc->src ? fr_xstrdup(loc->src->path) : NULL;
	e->line = loc && loc->src ? loc->line : 0;
	e->col = e->line ? loc->col : 0;
	e->seq = d->nheld++;
	e->sev = sev;
	e->message = message;
	e->hint = hint ? fr_xstrdup(hint) : NULL;
	/* sources are shared read-only; the reference keeps it for the excerpt */
	e->src = e->line ? fr_source_ref((struct fr_source *)loc->src) : NULL;
}

static void count(struct fr_diag *d, enum fr_severity sev)
{
	if (sev == FR_ERROR)
		d->nerrors++;
	else if (sev == FR_WARNING)
		d->nwarnings++;
}

static void vdiag(struct fr_diag *d, enum fr_severity sev,
		  const struct fr_loc *loc, const char *hint, const char *fmt,
		  va_list ap)
{
	struct fr_buf b;

	count(d, sev);
	fr_buf_init(&b);
	fr_buf_vprintf(&b, fmt, ap);
	hold(d, sev, loc, fr_buf_steal(&b), hint);
}

void fr_diag_at(struct fr_diag *d, enum fr_severity sev,
		const struct fr_loc *loc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(d, sev, loc, NULL, fmt, ap);
	va_end(ap);
}

void fr_diag_hint(struct fr_diag *d, enum fr_severity sev,
		  const struct fr_loc *loc, const char *hint, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(d, sev, loc, hint, fmt, ap);
	va_end(ap);
}

void fr_diag(struct fr_diag *d, enum fr_severity sev, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdiag(d, sev, NULL, NULL, fmt, ap);
	va_end(ap);
}
