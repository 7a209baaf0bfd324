/* http_show: run -v's picture of each HTTP exchange (see http_show.h). */
#include "http_show.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "redact.h"

/* Whether a header line names a header whose value is always hidden. */
static bool credential_line(const char *line, size_t len)
{
	static const char *const names[] = {
		"authorization", "proxy-authorization", "cookie", "set-cookie",
	};

	for (size_t i = 0; i < FR_ARRAY_LEN(names); i++) {
		size_t n = strlen(names[i]);
		if (len > n && line[n] == ':' && strncasecmp(line, names[i], n) == 0)
			return true;
	}
	return false;
}

/* Each line of text[0..len) (CRLF or LF ends) into b, after prefix. */
static void put_head(struct fr_buf *b, const char *prefix, const char *text,
		     size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = (size_t)((nl ? nl : end) - p);
		if (n && p[n - 1] == '\r')
			n--;
		if (n == 0 && !nl)
			break;
		if (n == 0) {	/* the blank line: the prefix, no space */
			fr_buf_add(b, prefix, strcspn(prefix, " "));
		} else if (credential_line(p, n)) {
			fr_buf_puts(b, prefix);
			size_t name = (size_t)((const char *)memchr(p, ':', n) - p);
			fr_buf_printf(b, "%.*s: ***", (int)name, p);
		} else {
			fr_buf_puts(b, prefix);
			fr_buf_printf(b, "%.*s", (int)n, p);
		}
		fr_buf_putc(b, '\n');
		p = nl ? nl + 1 : end;
	}
}

/* A body, redacted whole, then cut at FR_HTTP_SHOW_BODY between UTF-8
 * characters, each line after prefix. */
static void put_body(struct fr_buf *b, const struct fr_redact *r,
		     const char *prefix, const char *body, size_t len)
{
	char *whole, *s;
	size_t n;

	if (!body || len == 0)
		return;
	/* a NUL ends the text shown: bodies with NULs are not text */
	whole = fr_xstrndup(body, len);
	s = fr_redact_str(r, whole);
	free(whole);
	n = strlen(s);
	if (n > FR_HTTP_SHOW_BODY) {
		n = FR_HTTP_SHOW_BODY;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	put_head(b, prefix, s, n);
	if (n < strlen(s) || strlen(s) < len)
		fr_buf_printf(b, "%s[... %zu bytes in all]\n", prefix, len);
	free(s);
}

static void emit(const struct fr_http_show *s, struct fr_buf *b)
{
	struct fr_log_ctx ctx = { .step = s->step };
	char *text = fr_redact_str(s->redact, fr_buf_cstr(b));

	fr_log_block(FR_LOG_DEBUG, &ctx, text);
	free(text);
}

static void on_tap(void *data, enum fr_http_tap_kind kind, const char *text,
		   size_t len)
{
	struct fr_http_show *s = data;
	struct fr_buf b;

	if (kind == FR_HTTP_RECEIVED_LINE) {
		fr_buf_add(&s->in, text, len);
		return;
	}
	fr_buf_init(&b);
	fr_buf_printf(&b, "* %s %s\n", s->req->method ? s->req->method : "GET",
		      s->req->url);
	put_head(&b, "> ", text, len);
	if (s->level >= 2)
		put_body(&b, s->redact, "> ", s->req->body, s->req->body_len);
	emit(s, &b);
	fr_buf_finish(&b);
}

void fr_http_show_begin(struct fr_http_show *s, const struct fr_redact *redact,
			int level, const char *step, struct fr_http_request *hr)
{
	memset(s, 0, sizeof(*s));
	s->redact = redact;
	s->level = level;
	s->step = step;
	s->req = hr;
	fr_buf_init(&s->in);
	s->tap.fn = on_tap;
	s->tap.data = s;
	s->t0 = fr_now_ns();
	hr->tap = &s->tap;
}

void fr_http_show_end(struct fr_http_show *s, int rc,
		      const struct fr_http_response *resp, const char *err)
{
	double ms = (double)(fr_now_ns() - s->t0) / 1e6;
	struct fr_buf b;

	fr_buf_init(&b);
	put_head(&b, "< ", fr_buf_cstr(&s->in), s->in.len);
	if (rc == 0 && s->level >= 2)
		put_body(&b, s->redact, "< ", resp->body, resp->body_len);
	if (rc == 0)
		fr_buf_printf(&b, "* %ld in %.1f ms\n", resp->status, ms);
	else
		fr_buf_printf(&b, "* %s after %.1f ms\n", err ? err : "failed", ms);
	emit(s, &b);
	fr_buf_finish(&b);
	fr_buf_finish(&s->in);
}
