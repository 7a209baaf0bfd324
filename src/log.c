/* log: the one writer of log lines (see log.h). */
#include "log.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

static struct fr_log_opts opts;

static const char *const level_names[] = { "debug", "info", "warn", "error" };

void fr_log_setup(const struct fr_log_opts *o)
{
	opts = *o;
}

void fr_log_current(struct fr_log_opts *o)
{
	*o = opts;
}

bool fr_log_enabled(enum fr_log_level level)
{
	if (level == FR_LOG_DEBUG && opts.verbosity < 1)
		return false;
	return !(opts.verbosity < 0 && level < FR_LOG_WARN);
}

int fr_log_verbosity(void)
{
	return opts.verbosity;
}

static void timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + strlen(buf), size - strlen(buf), ".%03ldZ",
		 ts.tv_nsec / 1000000);
}

/* s with control characters escaped: one line, always (util.h). */
static void put_escaped(struct fr_buf *b, const char *s)
{
	char *e = fr_escape_controls(s);

	fr_buf_puts(b, e);
	free(e);
}

static void set_opt(json_t *j, const char *key, const char *v)
{
	if (v)
		json_object_set_new(j, key, json_string(v));
}

static void write_line(struct fr_buf *b)
{
	const char *p = fr_buf_cstr(b);
	size_t left = b->len;

	while (left) {
		ssize_t n = write(STDERR_FILENO, p, left);
		if (n <= 0)
			return;
		p += n;
		left -= (size_t)n;
	}
}

/* The line of msg, with fields (JSON only) merged in; written. */
static void log_line(enum fr_log_level level, const struct fr_log_ctx *ctx,
		     const json_t *fields, const char *msg)
{
	static const struct fr_log_ctx none = { 0 };
	char ts[40];
	struct fr_buf b;

	if (!ctx)
		ctx = &none;
	timestamp(ts, sizeof(ts));
	fr_buf_init(&b);
	if (opts.json) {
		json_t *j = json_object();
		char *line;
		json_object_set_new(j, "ts", json_string(ts));
		json_object_set_new(j, "level", json_string(level_names[level]));
		set_opt(j, "instance", ctx->instance);
		set_opt(j, "integration", ctx->integration);
		set_opt(j, "flow", ctx->flow);
		set_opt(j, "execution", ctx->execution);
		set_opt(j, "step", ctx->step);
		/* not valid UTF-8: the message as escaped text */
		if (json_object_set_new(j, "msg", json_string(msg)) < 0) {
			struct fr_buf e;
			fr_buf_init(&e);
			put_escaped(&e, msg);
			json_object_set_new(j, "msg", json_stringn_nocheck(
				fr_buf_cstr(&e), e.len));
			fr_buf_finish(&e);
		}
		if (fields) {
			const char *key;
			json_t *v;
			json_object_foreach((json_t *)fields, key, v) {
				if (!json_object_get(j, key))
					json_object_set(j, key, v);
			}
		}
		line = json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII);
		fr_buf_puts(&b, line ? line : "{}");
		free(line);
		json_decref(j);
	} else {
		if (opts.timestamps)
			fr_buf_printf(&b, "%s ", ts);
		fr_buf_printf(&b, "flowrun: %s: ", level_names[level]);
		if (ctx->integration || ctx->flow) {
			put_escaped(&b, ctx->integration ? ctx->integration : "");
			if (ctx->instance) {
				fr_buf_putc(&b, '/');
				put_escaped(&b, ctx->instance);
			}
			if (ctx->flow) {
				fr_buf_putc(&b, '/');
				put_escaped(&b, ctx->flow);
			}
			fr_buf_putc(&b, ' ');
		}
		if (ctx->execution) {
			put_escaped(&b, ctx->execution);
			fr_buf_putc(&b, ' ');
		}
		if (ctx->step) {
			put_escaped(&b, ctx->step);
			fr_buf_putc(&b, ' ');
		}
		if (ctx->integration || ctx->flow || ctx->execution || ctx->step) {
			b.len--;	/* the last space */
			fr_buf_puts(&b, ": ");
		}
		put_escaped(&b, msg);
	}
	fr_buf_putc(&b, '\n');
	write_line(&b);
	fr_buf_finish(&b);
}

void fr_log(enum fr_log_level level, const struct fr_log_ctx *ctx,
	    const char *fmt, ...)
{
	struct fr_buf m;
	va_list ap;

	if (!fr_log_enabled(level))
		return;
	fr_buf_init(&m);
	va_start(ap, fmt);
	fr_buf_vprintf(&m, fmt, ap);
	va_end(ap);
	log_line(level, ctx, NULL, fr_buf_cstr(&m));
	fr_buf_finish(&m);
}

void fr_log_say(enum fr_log_level level, const char *who, const char *fmt, ...)
{
	struct fr_buf m;
	va_list ap;

	fr_buf_init(&m);
	va_start(ap, fmt);
	fr_buf_vprintf(&m, fmt, ap);
	va_end(ap);
	if (opts.json) {
		json_t *f = who ? json_pack("{ss}", "command", who) : NULL;
		log_line(level, NULL, f, fr_buf_cstr(&m));
		json_decref(f);
	} else {
		struct fr_buf b;
		fr_buf_init(&b);
		fr_buf_printf(&b, "flowrun%s%s: ", who ? " " : "", who ? who : "");
		put_escaped(&b, fr_buf_cstr(&m));
		fr_buf_putc(&b, '\n');
		write_line(&b);
		fr_buf_finish(&b);
	}
	fr_buf_finish(&m);
}

bool fr_log_json(void)
{
	return opts.json;
}

void fr_log_fields(enum fr_log_level level, const struct fr_log_ctx *ctx,
		   const json_t *fields, const char *msg)
{
	if (fr_log_enabled(level))
		log_line(level, ctx, fields, msg);
}

void fr_log_block(enum fr_log_level level, const struct fr_log_ctx *ctx,
		  const char *text)
{
	struct fr_buf b;

	if (!fr_log_enabled(level))
		return;
	if (opts.json) {
		fr_log(level, ctx, "%s", text);
		return;
	}
	fr_buf_init(&b);
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		char *line = fr_xstrndup(p, n);
		put_escaped(&b, line);
		fr_buf_putc(&b, '\n');
		free(line);
		p += n;
		if (*p)
			p++;
	}
	write_line(&b);
	fr_buf_finish(&b);
}
