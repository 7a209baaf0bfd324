#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <sys/random.h>
#include <unistd.h>

void (*fr_oom_hook)(void);

void fr_out_of_memory(size_t n)
{
	if (fr_oom_hook)
		fr_oom_hook();
	if (n)
		fprintf(stderr, "flowrun: error: cannot allocate %zu bytes of "
			"memory\n", n);
	else
		fputs("flowrun: error: out of memory\n", stderr);
	abort();
}

#define oom fr_out_of_memory

void *fr_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *fr_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *fr_xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

char *fr_xstrdup(const char *s)
{
	return fr_xstrndup(s, strlen(s));
}

char *fr_xstrndup(const char *s, size_t n)
{
	char *p = fr_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *fr_xasprintf(const char *fmt, ...)
{
	struct fr_buf b;
	va_list ap;

	fr_buf_init(&b);
	va_start(ap, fmt);
	fr_buf_vprintf(&b, fmt, ap);
	va_end(ap);
	return fr_buf_steal(&b);
}

/*
 * items is the address of a pointer of any object type: it is read and
 * written with memcpy, never through a void ** (which would access a
 * struct x * as another type: undefined behaviour).
 */
void fr_grow(void *items, size_t *cap, size_t need, size_t size)
{
	void *p;
	size_t n = *cap ? *cap : 4;

	if (need <= *cap)
		return;
	while (n < need)
		n *= 2;
	memcpy(&p, items, sizeof(p));
	p = fr_xrealloc(p, n * size);
	memcpy(items, &p, sizeof(p));
	*cap = n;
}

void fr_buf_init(struct fr_buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
}

void fr_buf_finish(struct fr_buf *b)
{
	free(b->data);
	fr_buf_init(b);
}

static void reserve(struct fr_buf *b, size_t extra)
{
	fr_grow(&b->data, &b->cap, b->len + extra + 1, 1);
}

void fr_buf_add(struct fr_buf *b, const void *data, size_t len)
{
	reserve(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void fr_buf_puts(struct fr_buf *b, const char *s)
{
	fr_buf_add(b, s, strlen(s));
}

void fr_buf_putc(struct fr_buf *b, char c)
{
	fr_buf_add(b, &c, 1);
}

void fr_buf_vprintf(struct fr_buf *b, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	reserve(b, (size_t)n);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void fr_buf_printf(struct fr_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fr_buf_vprintf(b, fmt, ap);
	va_end(ap);
}

const char *fr_buf_cstr(struct fr_buf *b)
{
	reserve(b, 0);
	b->data[b->len] = '\0';
	return b->data;
}

char *fr_buf_steal(struct fr_buf *b)
{
	char *s;

	fr_buf_cstr(b);
	s = b->data;
	fr_buf_init(b);
	return s;
}

int fr_read_file(char **out, size_t *len, const char *path, size_t max,
		 char **err)
{
	FILE *f = NULL;
	struct stat st;
	struct fr_buf b;
	char chunk[65536];
	size_t n;

	*out = NULL;
	*len = 0;
	*err = NULL;
	fr_buf_init(&b);
	f = fopen(path, "rb");
	if (!f) {
		*err = fr_xasprintf("cannot open: %s", strerror(errno));
		return -1;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
		*err = fr_xstrdup("is a directory");
		goto fail;
	}
	if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) &&
	    (uintmax_t)st.st_size > max) {
		*err = fr_xasprintf("file too large (%jd bytes; the limit is %zu)",
				    (intmax_t)st.st_size, max);
		goto fail;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (b.len + n > max) {
			*err = fr_xasprintf("file too large (the limit is %zu bytes)",
					    max);
			goto fail;
		}
		fr_buf_add(&b, chunk, n);
	}
	if (ferror(f)) {
		*err = fr_xasprintf("cannot read: %s", strerror(errno));
		goto fail;
	}
	fclose(f);
	*len = b.len;
	*out = fr_buf_steal(&b);
	return 0;
fail:
	fclose(f);
	fr_buf_finish(&b);
	return -1;
}

uint64_t fr_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int64_t fr_parse_size(const char *s)
{
	static const struct { const char *suffix; int64_t mult; } units[] = {
		{ "", 1 }, { "B", 1 }, { "KiB", 1 << 10 }, { "MiB", 1 << 20 },
		{ "GiB", 1 << 30 }, { "KB", 1000 }, { "MB", 1000000 },
		{ "GB", 1000000000 },
	};
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || v > (1ull << 32))
		return -1;
	for (size_t i = 0; i < FR_ARRAY_LEN(units); i++) {
		if (strcmp(end, units[i].suffix) == 0)
			return (int64_t)v * units[i].mult;
	}
	return -1;
}

int64_t fr_parse_duration_ms(const char *s)
{
	char *end;
	long long n;
	int64_t unit;

	if (!s || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || n < 0 || n > 100000000)
		return -1;
	if (strcmp(end, "ms") == 0)
		unit = 1;
	else if (strcmp(end, "s") == 0)
		unit = 1000;
	else if (strcmp(end, "m") == 0)
		unit = 60 * 1000;
	else if (strcmp(end, "h") == 0)
		unit = 3600 * 1000;
	else
		return -1;
	return (int64_t)n * unit;
}

int64_t fr_parse_age_ms(const char *s)
{
	size_t len = s ? strlen(s) : 0;
	char *end;
	long long n;

	if (len < 2 || s[len - 1] != 'd')
		return fr_parse_duration_ms(s);
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || n < 0 || n > 1000000 || end != s + len - 1)
		return -1;
	return (int64_t)n * 86400 * 1000;
}

size_t fr_edit_distance(const char *a, const char *b, size_t max)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[65];

	if (la > 64 || lb > 64)
		return max + 1;
	if ((la > lb ? la - lb : lb - la) > max)
		return max + 1;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		size_t prev = row[0], best;
		row[0] = i;
		best = row[0];
		for (j = 1; j <= lb; j++) {
			size_t cur = row[j];
			size_t sub = prev + (a[i - 1] != b[j - 1]);
			size_t del = row[j] + 1, ins = row[j - 1] + 1;
			row[j] = sub < del ? (sub < ins ? sub : ins)
					   : (del < ins ? del : ins);
			if (row[j] < best)
				best = row[j];
			prev = cur;
		}
		if (best > max)
			return max + 1;
	}
	return row[lb];
}

char *fr_escape_controls(const char *s)
{
	static const char hex[] = "0123456789abcdef";
	struct fr_buf b;
	const char *p;

	for (p = s; *p && (unsigned char)*p >= 0x20 && *p != 0x7f; p++)
		;
	if (!*p)
		return fr_xstrdup(s);	/* the usual case: nothing to escape */
	fr_buf_init(&b);
	fr_buf_add(&b, s, (size_t)(p - s));
	for (; *p; p++) {
		unsigned char c = (unsigned char)*p;
		if (c >= 0x20 && c != 0x7f) {
			fr_buf_putc(&b, (char)c);
		} else if (c == '\n') {
			fr_buf_puts(&b, "\\n");
		} else if (c == '\r') {
			fr_buf_puts(&b, "\\r");
		} else if (c == '\t') {
			fr_buf_puts(&b, "\\t");
		} else {
			char e[] = { '\\', 'x', hex[c >> 4], hex[c & 15], '\0' };
			fr_buf_puts(&b, e);
		}
	}
	return fr_buf_steal(&b);
}

char *fr_new_id(const char *prefix)
{
	struct timespec ts;
	uint64_t v = 0, ms;

	clock_gettime(CLOCK_REALTIME, &ts);
	ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
	if (getrandom(&v, sizeof(v), 0) != (ssize_t)sizeof(v))
		v = fr_now_ns() ^ ((uint64_t)getpid() << 40);	/* no entropy yet */
	return fr_xasprintf("%s%012llx%016llx", prefix,
			    (unsigned long long)(ms & 0xffffffffffffull),
			    (unsigned long long)v);
}

const char *fr_suggest(const char *word, const char *const *candidates,
			      size_t n)
{
	const char *best = NULL;
	size_t best_d = (size_t)-1, max = strlen(word) < 4 ? 1 : 2;

	for (size_t i = 0; i < n; i++) {
		size_t dist = fr_edit_distance(word, candidates[i], max);
		if (dist <= max && dist < best_d) {
			best = candidates[i];
			best_d = dist;
		}
	}
	return best;
}

char *fr_did_you_mean(const char *word, const char *const *candidates,
		      size_t n)
{
	const char *best = fr_suggest(word, candidates, n);

	return best ? fr_xasprintf("did you mean '%s'?", best) : NULL;
}

int fr_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
