#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

/*
 * One open connection, from libmicrohttpd's connection notifications: the
 * header deadline and the total cap act on these (they shut the socket
 * down; libmicrohttpd then closes it and notifies us).
 */
struct fr_conn {
	struct fr_conn *prev, *next;	/* oldest wait first */
	int fd;
	int64_t since_ms;		/* waiting for headers since */
	bool in_request;		/* headers in, not yet completed */
	bool shut;			/* shut down by us */
	bool bad_target;		/* this request's raw target */
};

struct fr_server {
	struct MHD_Daemon *d;
	struct fr_server_handlers h;
	unsigned port;
	atomic_int requests;	/* begun and not yet completed */
	bool layout_checks;	/* bare LF and obs-fold (see check_layout) */
	/* connections (under cmu) and the header-deadline thread */
	pthread_mutex_t cmu;
	pthread_cond_t ccv;
	struct fr_conn conns;	/* list head */
	unsigned nconns, max_conns;
	int64_t header_timeout_ms;
	bool stopping;
	pthread_t reaper;
	bool reaper_started;
	atomic_ullong shut_slow, shut_over;
};

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void conn_unlink(struct fr_conn *c)
{
	c->prev->next = c->next;
	c->next->prev = c->prev;
}

static void conn_append(struct fr_server *s, struct fr_conn *c)
{
	c->prev = s->conns.prev;
	c->next = &s->conns;
	s->conns.prev->next = c;
	s->conns.prev = c;
}

/* Under cmu: libmicrohttpd closes a shut-down socket and tells us
 * (on_connection) before the descriptor can be reused. */
static void conn_shut(struct fr_conn *c)
{
	if (c->shut)
		return;
	c->shut = true;
	shutdown(c->fd, SHUT_RDWR);
}

static struct fr_conn *conn_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

	return ci ? ci->socket_context : NULL;
}

static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode code)
{
	struct fr_server *s = cls;
	struct fr_conn *c = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		c = fr_xcalloc(1, sizeof(*c));
		c->fd = ci ? ci->connect_fd : -1;
		c->since_ms = now_ms();
		*socket_context = c;
		pthread_mutex_lock(&s->cmu);
		conn_append(s, c);
		if (++s->nconns > s->max_conns) {
			/* over the cap: the longest wait for headers goes */
			struct fr_conn *o = s->conns.next;
			while (o != &s->conns && (o->in_request || o->shut))
				o = o->next;
			conn_shut(o != &s->conns ? o : c);
			atomic_fetch_add(&s->shut_over, 1);
		}
		pthread_mutex_unlock(&s->cmu);
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && c) {
		pthread_mutex_lock(&s->cmu);
		conn_unlink(c);
		s->nconns--;
		pthread_mutex_unlock(&s->cmu);
		free(c);
		*socket_context = NULL;
	}
}

/* Shuts down connections whose request line and headers are late. */
static void *reaper_main(void *arg)
{
	struct fr_server *s = arg;

	pthread_mutex_lock(&s->cmu);
	while (!s->stopping) {
		struct timespec ts;
		int64_t now = now_ms();

		for (struct fr_conn *c = s->conns.next; c != &s->conns; c = c->next) {
			if (!c->in_request && !c->shut &&
			    now - c->since_ms >= s->header_timeout_ms) {
				conn_shut(c);
				atomic_fetch_add(&s->shut_slow, 1);
			}
		}
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->ccv, &s->cmu, &ts);
	}
	pthread_mutex_unlock(&s->cmu);
	return NULL;
}

/*
 * The raw request target, before libmicrohttpd decodes it: %00 would cut
 * the decoded path short (so "/hooks/a%00b" reached "/hooks/a"), and a
 * control character or space has no place in it.
 */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct fr_server *s = cls;
	struct fr_conn *c = conn_of(conn);
	bool bad = false;

	for (const char *p = uri; *p && !bad; p++) {
		bad = (unsigned char)*p <= ' ' || *p == 0x7f ||
		      (p[0] == '%' && p[1] == '0' && p[2] == '0');
	}
	if (c) {
		pthread_mutex_lock(&s->cmu);
		c->bad_target = bad;
		pthread_mutex_unlock(&s->cmu);
	}
	return NULL;
}

struct fr_request {
	atomic_int refs;
	pthread_mutex_t mu;
	struct fr_server *s;
	struct MHD_Connection *conn;
	const char *method;		/* owned by MHD for the request */
	char *path;
	struct fr_buf body;
	long max_body;
	bool too_large, handled, suspended, answered;
	int64_t cut_ms;			/* when a chunked body was cut */
	size_t dropped;			/* bytes read since */
	/* the answer, once known */
	int status;
	char *content_type, *answer, *hname, *hvalue;
	json_t *headers;
	void *data;
};

static void request_unref(struct fr_request *r)
{
	if (atomic_fetch_sub(&r->refs, 1) != 1)
		return;
	pthread_mutex_destroy(&r->mu);
	free(r->path);
	fr_buf_finish(&r->body);
	free(r->content_type);
	free(r->answer);
	free(r->hname);
	free(r->hvalue);
	json_decref(r->headers);
	free(r);
}

struct fr_request *fr_request_ref(struct fr_request *r)
{
	atomic_fetch_add(&r->refs, 1);
	return r;
}

static enum MHD_Result queue_answer(struct fr_request *r)
{
	const char *body = r->answer ? r->answer : "";
	struct MHD_Response *resp = MHD_create_response_from_buffer(
		strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (r->content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					r->content_type);
	if (r->hname && r->hvalue)
		MHD_add_response_header(resp, r->hname, r->hvalue);
	if (r->headers) {
		const char *name;
		json_t *v;
		json_object_foreach(r->headers, name, v) {
			if (json_is_string(v))
				MHD_add_response_header(resp, name, json_string_value(v));
		}
	}
	ret = MHD_queue_response(r->conn, (unsigned)r->status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void respond(struct fr_request *r, int status, const char *content_type,
		    const char *body, const char *header_name,
		    const char *header_value, const json_t *headers)
{
	bool resume;

	pthread_mutex_lock(&r->mu);
	if (r->answered) {
		pthread_mutex_unlock(&r->mu);
		return;
	}
	r->answered = true;
	r->status = status;
	r->content_type = content_type ? fr_xstrdup(content_type) : NULL;
	r->answer = fr_xstrdup(body ? body : "");
	r->hname = header_name ? fr_xstrdup(header_name) : NULL;
	r->hvalue = header_value ? fr_xstrdup(header_value) : NULL;
	r->headers = headers ? json_deep_copy(headers) : NULL;
	resume = r->suspended;
	r->suspended = false;
	if (resume)
		MHD_resume_connection(r->conn);
	pthread_mutex_unlock(&r->mu);
	if (resume)
		request_unref(r);	/* the reference of the handler */
}

void fr_request_respond(struct fr_request *r, int status,
			const char *content_type, const char *body,
			const char *header_name, const char *header_value)
{
	respond(r, status, content_type, body, header_name, header_value, NULL);
}

void fr_request_respond_headers(struct fr_request *r, int status,
				const char *body, const json_t *headers)
{
	respond(r, status, NULL, body, NULL, NULL, headers);
}

int fr_request_status(const struct fr_request *r)
{
	return r->answered ? r->status : 0;
}

void fr_request_error(struct fr_request *r, int status, const char *message,
		      const char *retry_after)
{
	json_t *j = json_pack("{ss}", "error", message);
	char *s = json_dumps(j, JSON_COMPACT);

	fr_request_respond(r, status, "application/json", s,
			   retry_after ? "Retry-After" : NULL, retry_after);
	free(s);
	json_decref(j);
}

const char *fr_request_method(const struct fr_request *r)
{
	return r->method;
}

const char *fr_request_path(const struct fr_request *r)
{
	return r->path;
}

const char *fr_request_header(const struct fr_request *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

static enum MHD_Result add_value(void *cls, enum MHD_ValueKind kind,
				 const char *key, const char *value)
{
	json_t *obj = cls;
	char *lower = fr_xstrdup(key);

	(void)kind;
	if (kind == MHD_HEADER_KIND) {
		for (char *p = lower; *p; p++)
			*p = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	}
	json_t *v = json_string(value ? value : "");
	if (v)
		json_object_set_new(obj, lower, v);
	free(lower);
	return MHD_YES;
}

json_t *fr_request_headers(const struct fr_request *r)
{
	json_t *h = json_object();

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, add_value, h);
	return h;
}

json_t *fr_request_query(const struct fr_request *r)
{
	json_t *q = json_object();

	MHD_get_connection_values(r->conn, MHD_GET_ARGUMENT_KIND, add_value, q);
	return q;
}

const char *fr_request_body(const struct fr_request *r, size_t *len)
{
	*len = r->body.len;
	return r->body.data ? r->body.data : "";
}

void *fr_request_data(const struct fr_request *r)
{
	return r->data;
}

void fr_request_set_data(struct fr_request *r, void *data)
{
	r->data = data;
}

struct hdr_scan {
	unsigned content_length, transfer_encoding, host;
	bool te_chunked, space_in_name, bad_length;
	/* the layout walk (check_layout) */
	uintptr_t at, start, end;
	const char *why;
};

static bool zeros(uintptr_t at, size_t n, const struct hdr_scan *h)
{
	if (at < h->start || at + n > h->end)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (((const char *)at)[i] != '\0')
			return false;
	}
	return true;
}

/*
 * libmicrohttpd 0.9.75 accepts a bare LF as a line end and folds obs-fold
 * continuation lines into the header before it, and has no option to
 * refuse either (later versions have MHD_OPTION_CLIENT_DISCIPLINE_LVL).
 * It parses the header block in place: each CR and LF of a line end
 * becomes a NUL, and every header's name and value point into the block
 * in order.  So with CRLF line ends only, each name starts two bytes
 * after the previous value (or the version) ends, and the block ends four
 * bytes after the last one; a bare LF leaves one byte, a folded line
 * moves the name elsewhere.  This reads the layout of 0.9.75 only (the
 * version is checked at start); nothing else depends on it.
 */
static void layout_step(struct hdr_scan *h, const char *key, const char *value,
			size_t value_size)
{
	uintptr_t k = (uintptr_t)key;

	if (h->why)
		return;
	if (k == h->at + 1 && zeros(h->at, 1, h))
		h->why = "a header line ends in a bare LF";
	else if (k != h->at + 2 || !zeros(h->at, 2, h))
		h->why = "a folded (obs-fold) or malformed header line";
	else
		h->at = (uintptr_t)value + value_size;
}

static enum MHD_Result scan_header(void *cls, enum MHD_ValueKind kind,
				   const char *key, size_t key_size,
				   const char *value, size_t value_size)
{
	struct hdr_scan *h = cls;

	(void)kind;
	if (memchr(key, ' ', key_size) || memchr(key, '\t', key_size))
		h->space_in_name = true;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		h->content_length++;
		h->bad_length |= value_size == 0 ||
				 strspn(value, "0123456789") != value_size;
	}
	if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0)
		h->host++;
	if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		h->transfer_encoding++;
		h->te_chunked = strcasecmp(value, "chunked") == 0;
	}
	if (h->start)
		layout_step(h, key, value, value_size);
	return MHD_YES;
}

/*
 * The checks libmicrohttpd does not make: NULL when the request may go
 * on, else the status (400, or 501 for a transfer coding other than
 * chunked) and the message of the answer.
 */
static const char *check_request(struct fr_server *s, struct MHD_Connection *conn,
				 const char *method, const char *version,
				 int *status)
{
	struct fr_conn *c = conn_of(conn);
	struct hdr_scan h = { 0 };
	bool bad_target = false;

	if (c) {
		pthread_mutex_lock(&s->cmu);
		bad_target = c->bad_target;
		pthread_mutex_unlock(&s->cmu);
	}
	*status = 400;
	if (bad_target)
		return "invalid request target (%00, a space or a control character)";
	if (s->layout_checks && version && *version) {
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
			conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
		if (ci && ci->header_size) {
			h.start = (uintptr_t)method;
			h.end = h.start + ci->header_size;
			h.at = (uintptr_t)version + strlen(version);
		}
	}
	MHD_get_connection_values_n(conn, MHD_HEADER_KIND, scan_header, &h);
	if (h.start && !h.why) {
		if (h.at + 3 == h.end || h.at + 2 == h.end)
			h.why = "a header line ends in a bare LF";
		else if (h.at + 4 != h.end || !zeros(h.at, 4, &h))
			h.why = "malformed header lines";
	}
	if (h.space_in_name)
		return "whitespace in a header name (before its colon)";
	if (h.content_length > 1)
		return "more than one Content-Length";
	if (h.content_length && h.transfer_encoding)
		return "Content-Length with Transfer-Encoding";
	if (h.bad_length)
		return "invalid Content-Length";
	if (h.why)
		return h.why;
	if (h.host > 1 || (!h.host && version && strcmp(version, "HTTP/1.0") != 0))
		return h.host ? "more than one Host" : "no Host header (HTTP/1.1)";
	if (h.transfer_encoding > 1 || (h.transfer_encoding && !h.te_chunked)) {
		*status = 501;
		return "unsupported Transfer-Encoding (only chunked)";
	}
	return NULL;
}

/* Marks the connection in a request (no header deadline) or out of one
 * (waiting for the next request's headers from now). */
static void conn_in_request(struct fr_server *s, struct MHD_Connection *conn,
			    bool in)
{
	struct fr_conn *c = conn_of(conn);

	if (!c)
		return;
	pthread_mutex_lock(&s->cmu);
	c->in_request = in;
	if (!in) {
		c->since_ms = now_ms();
		conn_unlink(c);
		conn_append(s, c);
	}
	pthread_mutex_unlock(&s->cmu);
}

/*
 * A chunked body has passed max_body.  libmicrohttpd 0.9.75 queues no
 * answer while a body is coming ("the response cannot be queued when this
 * callback is called to process the client upload data"), and waiting for
 * the end of an endless chunked body is what must not happen; so the 413
 * (with "Connection: close") is written on the socket here, its sending
 * side shut, and the connection closed a moment later (on_request).
 */
static void cut_body(struct fr_request *r)
{
	const union MHD_ConnectionInfo *ci = MHD_get_connection_info(
		r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	char *msg;
	size_t off = 0, len;

	fr_request_error(r, 413, "request body too large", NULL);
	msg = fr_xasprintf("HTTP/1.1 413 Content Too Large\r\n"
			   "Connection: close\r\n"
			   "Content-Type: application/json\r\n"
			   "Content-Length: %zu\r\n\r\n%s",
			   strlen(r->answer), r->answer);
	len = strlen(msg);
	r->cut_ms = now_ms();
	for (int tries = 0; ci && off < len && tries < 100; tries++) {
		ssize_t n = send(ci->connect_fd, msg + off, len - off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0)
			off += (size_t)n;
		else
			break;
	}
	if (ci)
		shutdown(ci->connect_fd, SHUT_WR);
	free(msg);
}

/*
 * Called for each request several times: first with the headers, then
 * with each piece of the body, then once more with none; and once more
 * after a resume.
 */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn,
				  const char *url, const char *method,
				  const char *version, const char *upload,
				  size_t *upload_size, void **state)
{
	struct fr_server *s = cls;
	struct fr_request *r = *state;

	if (!r) {
		const char *cl, *bad;
		int status;
		r = fr_xcalloc(1, sizeof(*r));
		atomic_init(&r->refs, 1);
		pthread_mutex_init(&r->mu, NULL);
		r->s = s;
		r->conn = conn;
		r->method = method;
		r->path = fr_xstrdup(url);
		fr_buf_init(&r->body);
		*state = r;
		atomic_fetch_add(&s->requests, 1);
		conn_in_request(s, conn, true);
		if ((bad = check_request(s, conn, method, version, &status))) {
			fr_request_error(r, status, bad, NULL);
			return queue_answer(r);
		}
		r->max_body = s->h.start(s->h.data, r);
		if (r->max_body < 0)
			return queue_answer(r);
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						 MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoll(cl, NULL, 10) > r->max_body) {
			fr_request_error(r, 413, "request body too large", NULL);
			return queue_answer(r);
		}
		return MHD_YES;
	}
	if (r->answered && !r->suspended && r->handled)
		return queue_answer(r);	/* resumed, or answered at once */
	if (*upload_size) {
		if (r->cut_ms) {
			/* after the 413: read (and drop) what is in flight for
			 * a moment, so that the client sees the answer */
			r->dropped += *upload_size;
			*upload_size = 0;
			return now_ms() - r->cut_ms > 1000 || r->dropped > (1 << 20)
			       ? MHD_NO : MHD_YES;
		}
		if (!r->too_large && r->body.len + *upload_size > (size_t)r->max_body) {
			r->too_large = true;
			fr_buf_finish(&r->body);
			*upload_size = 0;
			cut_body(r);
			return MHD_YES;
		}
		fr_buf_add(&r->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (r->cut_ms)
		return MHD_NO;	/* answered on the socket already */
	if (r->answered)
		return queue_answer(r);
	if (r->too_large) {
		fr_request_error(r, 413, "request body too large", NULL);
		return queue_answer(r);
	}
	r->handled = true;
	s->h.handle(s->h.data, r);
	pthread_mutex_lock(&r->mu);
	if (r->answered) {
		pthread_mutex_unlock(&r->mu);
		return queue_answer(r);
	}
	/* answered later: hold the connection without holding a thread */
	fr_request_ref(r);
	r->suspended = true;
	MHD_suspend_connection(conn);
	pthread_mutex_unlock(&r->mu);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **state,
			 enum MHD_RequestTerminationCode code)
{
	struct fr_server *s = cls;
	struct fr_request *r = *state;

	(void)code;
	if (!r)
		return;
	if (s->h.done)
		s->h.done(s->h.data, r);
	conn_in_request(s, conn, false);
	atomic_fetch_sub(&s->requests, 1);
	request_unref(r);
	*state = NULL;
}

/*
 * ADDR:PORT into a socket address: ADDR is an IPv4 address, an IPv6 address
 * in brackets ([::1]:8080), a host name (resolved with getaddrinfo; the
 * first IPv4 address when it has one, so localhost stays 127.0.0.1), or
 * empty for every IPv4 address.
 */
static int parse_listen(const char *listen, struct sockaddr_storage *sa,
			char **err)
{
	const char *colon = strrchr(listen, ':');
	struct addrinfo hints, *res = NULL, *pick = NULL;
	char host[256], portstr[8];
	size_t hlen;
	long port;
	char *end;
	int rc;

	memset(sa, 0, sizeof(*sa));
	if (!colon || (size_t)(colon - listen) >= sizeof(host)) {
		*err = fr_xasprintf("--listen takes ADDR:PORT, not '%s'", listen);
		return -1;
	}
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || end == colon + 1) {
		*err = fr_xasprintf("invalid port in '%s'", listen);
		return -1;
	}
	hlen = (size_t)(colon - listen);
	if (hlen >= 2 && listen[0] == '[' && listen[hlen - 1] == ']') {
		memcpy(host, listen + 1, hlen - 2);
		host[hlen - 2] = '\0';
	} else if (memchr(listen, ':', hlen)) {
		*err = fr_xasprintf("--listen: write an IPv6 address in brackets, "
				    "as [%.*s]:%ld", (int)hlen, listen, port);
		return -1;
	} else {
		memcpy(host, listen, hlen);
		host[hlen] = '\0';
	}
	if (!*host)
		strcpy(host, "0.0.0.0");
	snprintf(portstr, sizeof(portstr), "%ld", port);
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE;
	if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
		*err = fr_xasprintf("--listen: cannot resolve '%s': %s", host,
				    gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		if ((ai->ai_family == AF_INET || ai->ai_family == AF_INET6) &&
		    (!pick || (pick->ai_family != AF_INET && ai->ai_family == AF_INET)))
			pick = ai;
	}
	if (!pick || pick->ai_addrlen > sizeof(*sa)) {
		freeaddrinfo(res);
		*err = fr_xasprintf("--listen: '%s' has no IPv4 or IPv6 address", host);
		return -1;
	}
	memcpy(sa, pick->ai_addr, pick->ai_addrlen);
	freeaddrinfo(res);
	return 0;
}

struct fr_server *fr_server_start(const struct fr_server_opts *opts,
				  const struct fr_server_handlers *h,
				  char **err)
{
	struct fr_server *s;
	struct sockaddr_storage sa;
	const union MHD_DaemonInfo *info;

	*err = NULL;
	if (parse_listen(opts->listen, &sa, err) < 0)
		return NULL;
	s = fr_xcalloc(1, sizeof(*s));
	s->h = *h;
	atomic_init(&s->requests, 0);
	atomic_init(&s->shut_slow, 0);
	atomic_init(&s->shut_over, 0);
	pthread_mutex_init(&s->cmu, NULL);
	pthread_cond_init(&s->ccv, NULL);
	s->conns.next = s->conns.prev = &s->conns;
	s->max_conns = opts->max_connections ? opts->max_connections : 1024u;
	s->header_timeout_ms = opts->header_timeout_ms ? opts->header_timeout_ms
						       : 10000;
	s->layout_checks = strcmp(MHD_get_version(), "0.9.75") == 0;
	s->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
			(sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, opts->threads ? opts->threads : 2u,
		/* ours (on_connection) acts first: this one only backs it */
		MHD_OPTION_CONNECTION_LIMIT, s->max_conns + 64u,
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		opts->max_per_client ? opts->max_per_client : 128u,
		MHD_OPTION_CONNECTION_TIMEOUT,
		opts->connection_timeout_s ? opts->connection_timeout_s : 30u,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
		MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, s,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_END);
	if (!s->d) {
		*err = fr_xasprintf("cannot listen on %s (in use, or not an "
				    "address of this machine)", opts->listen);
		pthread_mutex_destroy(&s->cmu);
		pthread_cond_destroy(&s->ccv);
		free(s);
		return NULL;
	}
	s->reaper_started = pthread_create(&s->reaper, NULL, reaper_main, s) == 0;
	info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
	s->port = info ? info->port : 0;
	return s;
}

unsigned fr_server_port(const struct fr_server *s)
{
	return s->port;
}

void fr_server_quiesce(struct fr_server *s)
{
	MHD_socket fd = MHD_quiesce_daemon(s->d);

	if (fd != MHD_INVALID_SOCKET)
		close(fd);
}

void fr_server_stop(struct fr_server *s)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };

	if (!s)
		return;
	/* answers given last (resumed connections) still have to go out */
	for (int i = 0; i < 500 && atomic_load(&s->requests) > 0; i++)
		nanosleep(&ts, NULL);
	pthread_mutex_lock(&s->cmu);
	s->stopping = true;
	pthread_cond_signal(&s->ccv);
	pthread_mutex_unlock(&s->cmu);
	if (s->reaper_started)
		pthread_join(s->reaper, NULL);
	MHD_stop_daemon(s->d);
	pthread_mutex_destroy(&s->cmu);
	pthread_cond_destroy(&s->ccv);
	free(s);
}

const char *fr_server_mhd_version(void)
{
	return MHD_get_version();
}

void fr_server_stats(struct fr_server *s, struct fr_server_stats *st)
{
	pthread_mutex_lock(&s->cmu);
	st->connections = s->nconns;
	pthread_mutex_unlock(&s->cmu);
	st->closed_slow = atomic_load(&s->shut_slow);
	st->closed_over_limit = atomic_load(&s->shut_over);
}
