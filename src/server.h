/*
 * server: the HTTP front of `flowrun serve`, over libmicrohttpd (the only
 * includer of <microhttpd.h>).  It parses requests and refuses ambiguous
 * ones (400: duplicate Content-Length, Content-Length with
 * Transfer-Encoding, whitespace before a header's colon, bare-LF line
 * ends, obs-fold, %00 or control characters in the target; 501: a
 * transfer coding other than chunked), enforces the body size before
 * buffering (a chunked body is cut at the limit: 413, connection closed),
 * bounds connections (in all, per client address) and their time (a
 * deadline for the request line and headers), and hands each request to
 * the handlers; it knows nothing about flows or stores.
 *
 * A request can be answered at once, or later from any thread: the handler
 * keeps the struct fr_request (fr_request_ref) and calls fr_request_respond
 * when the answer is known (the connection is suspended meanwhile, so no
 * server thread waits).  fr_request_respond drops the handler's reference.
 */
#ifndef FR_SERVER_H
#define FR_SERVER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct fr_server;
struct fr_request;

struct fr_server_handlers {
	void *data;
	/*
	 * Headers have arrived: returns the largest body this request may
	 * send, or -1 after answering it (fr_request_respond) at once.
	 */
	long (*start)(void *data, struct fr_request *r);
	/* The whole body has arrived: answer now or later. */
	void (*handle)(void *data, struct fr_request *r);
	/* The request is over (answered, or the client went away). */
	void (*done)(void *data, struct fr_request *r);
};

struct fr_server_opts {
	const char *listen;		/* "ADDR:PORT"; port 0 = any */
	unsigned threads;		/* request threads */
	/*
	 * Connections open at once (0: 1024).  A new connection beyond it
	 * closes the one that has waited longest for its request line and
	 * headers, or itself when every open one is in a request.
	 */
	unsigned max_connections;
	unsigned max_per_client;	/* from one client address (0: 128) */
	unsigned connection_timeout_s;	/* idle or slow clients (0: 30) */
	/* From a connection's start or its previous request's end to the
	 * end of the next request's headers (0: 10 s). */
	unsigned header_timeout_ms;
};

/* Starts listening; NULL with *err when it cannot (address in use...). */
struct fr_server *fr_server_start(const struct fr_server_opts *opts,
				  const struct fr_server_handlers *h,
				  char **err);
/* The port it listens on. */
unsigned fr_server_port(const struct fr_server *s);
/* Stops accepting new connections (for drain); open ones go on. */
void fr_server_quiesce(struct fr_server *s);
/* Stops, after the requests being answered have been (5 s at most);
 * every kept request must have been answered. */
void fr_server_stop(struct fr_server *s);

const char *fr_request_method(const struct fr_request *r);
const char *fr_request_path(const struct fr_request *r);
/* A header (case-insensitive name) or NULL. */
const char *fr_request_header(const struct fr_request *r, const char *name);
/* Every header as {lower-case name: value} and the query as {name: value}. */
json_t *fr_request_headers(const struct fr_request *r);
json_t *fr_request_query(const struct fr_request *r);
const char *fr_request_body(const struct fr_request *r, size_t *len);
/* The handler's own pointer for this request. */
void *fr_request_data(const struct fr_request *r);
void fr_request_set_data(struct fr_request *r, void *data);

struct fr_request *fr_request_ref(struct fr_request *r);
/*
 * Answers r (once); body is copied; header_name/value may be NULL.  Drops
 * the caller's reference when the answer is given later (from a thread of
 * the handler's).
 */
void fr_request_respond(struct fr_request *r, int status,
			const char *content_type, const char *body,
			const char *header_name, const char *header_value);
/* The same with any headers: an object of name -> string (borrowed). */
void fr_request_respond_headers(struct fr_request *r, int status,
				const char *body, const json_t *headers);
/* The status r was answered with (0 before). */
int fr_request_status(const struct fr_request *r);
/* An answer {"error": message} with the given status. */
void fr_request_error(struct fr_request *r, int status, const char *message,
		      const char *retry_after);

struct fr_server_stats {
	unsigned connections;		/* open now */
	unsigned long long closed_slow;	/* headers later than the deadline */
	unsigned long long closed_over_limit;	/* by the total cap */
};
void fr_server_stats(struct fr_server *s, struct fr_server_stats *st);

/* libmicrohttpd's version, e.g. "0.9.75" */
const char *fr_server_mhd_version(void);

#endif
