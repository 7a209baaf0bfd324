/*
 * log: the one writer of log lines, for every command (stderr).
 *
 * A line has a UTC timestamp, a level, where it comes from (instance,
 * integration/flow, execution id, step: whichever are known) and the
 * message.  Text lines read
 *   2026-12-01T10:00:00.123Z warn progix/default/account ex_... step: msg
 * (one-shot commands leave the timestamp out unless asked: a person reads
 * them on a terminal); with --log-format json every line is one JSON
 * object {ts, level, instance, integration, flow, execution, step, msg}.
 * Control characters in messages are escaped, so data cannot forge a
 * line.  Safe to call from any thread: each line is one write(2).
 */
#ifndef FR_LOG_H
#define FR_LOG_H

#include <stdbool.h>

#include "model.h"

/* Where a line comes from; every member may be NULL. */
struct fr_log_ctx {
	const char *instance;
	const char *integration;
	const char *flow;
	const char *execution;
	const char *step;
};

struct fr_log_opts {
	int verbosity;		/* -1 (-q): warnings and errors; 1 (-v): debug */
	bool json;		/* JSON lines */
	bool timestamps;	/* text lines start with the time (serve) */
};

/* Sets how lines are written (before threads start). */
void fr_log_setup(const struct fr_log_opts *o);
void fr_log_current(struct fr_log_opts *o);	/* what fr_log_setup set */
/* Whether a line of this level would be written. */
bool fr_log_enabled(enum fr_log_level level);

void fr_log(enum fr_log_level level, const struct fr_log_ctx *ctx,
	    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * A block of lines (an HTTP exchange under run -v): as text, each line of
 * text as it is (control characters escaped), without the level, in one
 * write; as JSON, one line whose msg is the whole text.
 */
void fr_log_block(enum fr_log_level level, const struct fr_log_ctx *ctx,
		  const char *text);
/*
 * A command's own message, not a log line in text: "flowrun WHO: MSG"
 * ("flowrun: MSG" when who is NULL), printed at any verbosity; with
 * --log-format json, a line of this level whose msg is MSG (and member
 * "command" WHO).
 */
void fr_log_say(enum fr_log_level level, const char *who, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Whether lines are JSON (--log-format json). */
bool fr_log_json(void);
/*
 * A line of msg as it is (no format), with more members for its JSON
 * form (fields: an object; the line's own members win); text lines are
 * as fr_log's.
 */
struct json_t;
void fr_log_fields(enum fr_log_level level, const struct fr_log_ctx *ctx,
		   const struct json_t *fields, const char *msg);
/* -v counted: -1 (-q), 0, 1 (-v), 2 (-vv)... */
int fr_log_verbosity(void);

#define fr_log_error(...) fr_log(FR_LOG_ERROR, NULL, __VA_ARGS__)
#define fr_log_warn(...) fr_log(FR_LOG_WARN, NULL, __VA_ARGS__)
#define fr_log_info(...) fr_log(FR_LOG_INFO, NULL, __VA_ARGS__)

#endif
