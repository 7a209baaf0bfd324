/*
 * http_show: run -v's picture of each HTTP exchange, on stderr through
 * the logger (log.h, fr_log_block): the request's head as libcurl sent
 * it, then the answer's head as it was received and the time it took;
 * at level 2 (-vv) the bodies too, each cut at FR_HTTP_SHOW_BODY bytes.
 * Everything passes through the execution's redactor whole before it is
 * cut, and the values of Authorization, Proxy-Authorization, Cookie and
 * Set-Cookie headers are *** whatever they hold.
 */
#ifndef FR_HTTP_SHOW_H
#define FR_HTTP_SHOW_H

#include <stddef.h>
#include <stdint.h>

#include "http.h"
#include "util.h"

#define FR_HTTP_SHOW_BODY 4096

struct fr_redact;

struct fr_http_show {
	const struct fr_redact *redact;
	int level;		/* 1: heads and timing, 2: bodies too */
	const char *step;	/* the step's id, for the line's place; or NULL */
	const struct fr_http_request *req;
	struct fr_buf in;	/* the answer's head, as received */
	struct fr_http_tap tap;
	uint64_t t0;
};

/* Taps hr (sets hr->tap): call just before fr_http_send. */
void fr_http_show_begin(struct fr_http_show *s, const struct fr_redact *redact,
			int level, const char *step, struct fr_http_request *hr);
/* After fr_http_send: prints the answer (rc 0) or the error; frees s. */
void fr_http_show_end(struct fr_http_show *s, int rc,
		      const struct fr_http_response *resp, const char *err);

#endif
