#include "diag.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct fr_source *fr_source_create(const char *path, char *text, size_t len)
{
	struct fr_source *src = fr_xcalloc(1, sizeof(*src));

	src->path = fr_xstrdup(path);
	src->text = text;
	src->len = len;
	src->refs = 1;
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
	free(src);
}

void fr_diag_init(struct fr_diag *d, FILE *out)
{
	d->out = out;
	d->nerrors = d->nwarnings = 0;
	d->max = 200;
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

static bool count(struct fr_diag *d, enum fr_severity sev)
{
	unsigned shown = d->nerrors + d->nwarnings;

	if (sev == FR_ERROR)
		d->nerrors++;
	else if (sev == FR_WARNING)
		d->nwarnings++;
	if (d->max && shown == d->max && sev != FR_NOTE)
		fprintf(d->out, "flowrun: note: too many problems; "
				"the rest are counted but not shown\n");
	return !d->max || shown < d->max;
}

/*
 * Prints the line `loc` points into, then a caret under its column.  Tabs in
 * the line are kept in the caret line so the caret lines up in a terminal;
 * lines are cut at 200 columns so a minified file does not flood the screen.
 */
static void print_excerpt(FILE *out, const struct fr_loc *loc)
{
	const char *p = loc->src->text, *end = p + loc->src->len, *eol;
	unsigned line = 1, i;

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
	fputc(' ', out);
	fwrite(p, 1, (size_t)(eol - p), out);
	fputs("\n ", out);
	for (i = 1; i < loc->col && p + i - 1 < eol; i++)
		fputc(p[i - 1] == '\t' ? '\t' : ' ', out);
	fputs("^\n", out);
}

void fr_diag_at(struct fr_diag *d, enum fr_severity sev,
		const struct fr_loc *loc, const char *fmt, ...)
{
	va_list ap;

	if (!count(d, sev))
		return;
	if (loc && loc->src && loc->line)
		fprintf(d->out, "%s:%u:%u: %s: ", loc->src->path, loc->line,
			loc->col, severity_name(sev));
	else if (loc && loc->src)
		fprintf(d->out, "%s: %s: ", loc->src->path, severity_name(sev));
	else
		fprintf(d->out, "flowrun: %s: ", severity_name(sev));
	va_start(ap, fmt);
	vfprintf(d->out, fmt, ap);
	va_end(ap);
	fputc('\n', d->out);
	if (loc && loc->src && loc->line)
		print_excerpt(d->out, loc);
}

void fr_diag(struct fr_diag *d, enum fr_severity sev, const char *fmt, ...)
{
	va_list ap;

	if (!count(d, sev))
		return;
	fprintf(d->out, "flowrun: %s: ", severity_name(sev));
	va_start(ap, fmt);
	vfprintf(d->out, fmt, ap);
	va_end(ap);
	fputc('\n', d->out);
}
