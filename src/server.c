#include "server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

struct fr_server {
	struct MHD_Daemon *d;
	struct fr_server_handlers h;
	unsigned port;
	atomic_int requests;	/* begun and not yet completed */
};

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

	(void)version;
	if (!r) {
		const char *cl;
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
		if (!r->too_large && r->body.len + *upload_size > (size_t)r->max_body) {
			r->too_large = true;
			fr_buf_finish(&r->body);
		}
		if (!r->too_large)
			fr_buf_add(&r->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
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

	(void)conn;
	(void)code;
	if (!r)
		return;
	if (s->h.done)
		s->h.done(s->h.data, r);
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
	s->d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			MHD_ALLOW_SUSPEND_RESUME | MHD_USE_TURBO |
			(sa.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_THREAD_POOL_SIZE, opts->threads ? opts->threads : 2u,
		MHD_OPTION_CONNECTION_LIMIT,
		opts->max_connections ? opts->max_connections : 1000u,
		MHD_OPTION_CONNECTION_TIMEOUT,
		opts->connection_timeout_s ? opts->connection_timeout_s : 30u,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
		MHD_OPTION_END);
	if (!s->d) {
		*err = fr_xasprintf("cannot listen on %s (in use, or not an "
				    "address of this machine)", opts->listen);
		free(s);
		return NULL;
	}
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
	MHD_stop_daemon(s->d);
	free(s);
}

const char *fr_server_mhd_version(void)
{
	return MHD_get_version();
}
