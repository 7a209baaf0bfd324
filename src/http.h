/*
 * http: one HTTP request at a time over libcurl (the only includer of
 * <curl/curl.h>).
 *
 * Threads: call fr_http_global_init once from main before any thread starts.
 * Then each thread creates its own struct fr_http and uses it for all its
 * requests: the handle keeps connections alive between requests (keep-alive)
 * and is never shared between threads.
 *
 * Ownership: the request is borrowed for the duration of fr_http_send.  The
 * response's headers and body are owned by the response and released with
 * fr_http_response_finish (safe on a zeroed or already finished response).
 * fr_http_send always leaves *out in a state that finish accepts.
 *
 * Errors: fr_http_send returns 0 whenever a response arrived, whatever its
 * status (404 and 503 are responses, not errors), and -1 on a transport error
 * with a message in plain words in *err (caller frees).  The message never
 * holds the URL's path or query, which may carry secrets: the caller adds a
 * redacted URL itself.
 */
#ifndef FR_HTTP_H
#define FR_HTTP_H

#include <stddef.h>
#include <stdint.h>

/* Default cap on a response body; bigger bodies are a transport error. */
#define FR_HTTP_MAX_BODY ((size_t)64 << 20)
/* Default whole-request timeout. */
#define FR_HTTP_TIMEOUT_MS 30000L

struct fr_http;

struct fr_http_header {
	char *name;		/* in responses: lower-cased */
	char *value;		/* in responses: trimmed */
};

/*
 * What a request's tap sees, from libcurl's debug callback: the request's
 * head as it was sent (request line and headers, CRLF line ends, the
 * blank line last), and each line of the answer's head as it was
 * received (status line, each header, the blank line).  Bodies are not
 * tapped: they are the request's and the response's own.
 */
enum fr_http_tap_kind { FR_HTTP_SENT_HEAD, FR_HTTP_RECEIVED_LINE };
struct fr_http_tap {
	void (*fn)(void *data, enum fr_http_tap_kind kind, const char *text,
		   size_t len);
	void *data;
};

struct fr_http_request {
	const char *method;	/* "GET", "POST", any verb; NULL = "GET" */
	const char *url;	/* http:// or https:// only */
	const struct fr_http_header *headers;	/* sent as given */
	size_t nheaders;
	const char *body;	/* NULL = no body; may hold NULs */
	size_t body_len;
	long timeout_ms;	/* whole request; <= 0: FR_HTTP_TIMEOUT_MS */
	size_t max_body;	/* response body cap; 0: FR_HTTP_MAX_BODY */
	const struct fr_http_tap *tap;	/* NULL: none */
};

struct fr_http_response {
	long status;
	struct fr_http_header *headers;	/* owned; in arrival order */
	size_t nheaders;
	char *body;		/* owned, NUL-terminated (may hold NULs) */
	size_t body_len;
	uint64_t elapsed_ns;	/* wall time of the transfer */
};

/* curl_global_init, once; call from main before threads.  0 or -1. */
int fr_http_global_init(void);
/* Releases what fr_http_global_init set up; after every handle is gone. */
void fr_http_global_cleanup(void);

/* A handle for one thread; NULL only if libcurl cannot allocate one. */
struct fr_http *fr_http_create(void);
void fr_http_destroy(struct fr_http *h);	/* NULL ok */

/*
 * Sends one request and waits for the whole response.  No redirect is
 * followed (a 3xx is returned as is).  Returns 0 when a response arrived, or
 * -1 with *err set (caller frees) on a transport error: connection refused,
 * DNS failure, timeout, TLS failure, body over the cap, bad method/header.
 */
int fr_http_send(struct fr_http *h, const struct fr_http_request *req,
		 struct fr_http_response *out, char **err);
void fr_http_response_finish(struct fr_http_response *r);

/* The first header named lname (compared without case); borrowed or NULL. */
const char *fr_http_response_header(const struct fr_http_response *r,
				    const char *lname);

/* Percent-encodes s[0..len) keeping RFC 3986 unreserved chars; caller frees. */
char *fr_http_urlencode(const char *s, size_t len);

/*
 * URLs, parsed by libcurl's URL API.  fr_http_url_resolve resolves ref (an
 * absolute URL, or a reference relative to base, RFC 3986 section 5)
 * against base: a new string, or NULL when either does not parse.
 * fr_http_url_origin gives "scheme://host:port" (the scheme's default port
 * when none is written): a new string, or NULL when url does not parse.
 * Two URLs are on the same origin when these compare equal ignoring case.
 */
char *fr_http_url_resolve(const char *base, const char *ref);
char *fr_http_url_origin(const char *url);

/* The libcurl version in use, e.g. "7.88.1"; static storage. */
const char *fr_http_curl_version(void);

#endif
