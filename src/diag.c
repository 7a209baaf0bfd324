#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct fr_diag_entry {
	char *path;		/* NULL: no position */
	unsigned line, col;
	size_t seq;
	char *text;
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

void fr_diag_flush(struct fr_diag *d)
{
	if (d->nheld)
		qsort(d->held, d->nheld, sizeof(*d->held), cmp_entry);
	for (size_t i = 0; i < d->nheld; i++) {
		if (!d->max || i < d->max)
			fputs(d->held[i].text, d->out);
		else if (i == d->max)
			fprintf(d->out, "flowrun: note: %zu more problems not "
					"shown\n", d->nheld - d->max);
		free(d->held[i].text);
		free(d->held[i].path);
	}
	free(d->held);
	d->held = NULL;
	d->nheld = d->held_cap = 0;
	fflush(d->out);
}

static void hold(struct fr_diag *d, const struct fr_loc *loc, char *text)
{
	struct fr_diag_entry *e;

	fr_grow(&d->held, &d->held_cap, d->nheld + 1, sizeof(*d->held));
	e = &d->held[d->nheld];
	e->path = loc && loc->src ? fr_xstrdup(loc->src->path) : NULL;
	e->line = loc ? loc->line : 0;
	e->col = loc ? loc->col : 0;
	e->seq = d->nheld++;
	e->text = text;
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

static void count(struct fr_diag *d, enum fr_severity sev)
{
	if (sev == FR_ERROR)
		d->nerrors++;
	else if (sev == FR_WARNING)
		d->nwarnings++;
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

static void vdiag(struct fr_diag *d, enum fr_severity sev,
		  const struct fr_loc *loc, const char *hint, const char *fmt,
		  va_list ap)
{
	struct fr_buf b;

	count(d, sev);
	fr_buf_init(&b);
	if (loc && loc->src && loc->line)
		fr_buf_printf(&b, "%s:%u:%u: %s: ", loc->src->path, loc->line,
			      loc->col, severity_name(sev));
	else if (loc && loc->src)
		fr_buf_printf(&b, "%s: %s: ", loc->src->path, severity_name(sev));
	else
		fr_buf_printf(&b, "flowrun: %s: ", severity_name(sev));
	fr_buf_vprintf(&b, fmt, ap);
	if (hint)
		fr_buf_printf(&b, "; %s", hint);
	fr_buf_putc(&b, '\n');
	if (loc && loc->src && loc->line)
		print_excerpt(&b, loc);
	hold(d, loc, fr_buf_steal(&b));
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
	struct fr_buf b;
	va_list ap;

	count(d, sev);
	fr_buf_init(&b);
	fr_buf_printf(&b, "flowrun: %s: ", severity_name(sev));
	va_start(ap, fmt);
	fr_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	fr_buf_putc(&b, '\n');
	hold(d, NULL, fr_buf_steal(&b));
}
