/*
 * test_http: fr_http against an in-process libmicrohttpd server on
 * 127.0.0.1 (ephemeral port).  Routes:
 *   /echo...      200, body lists method, body and request headers
 *   /status/N     status N
 *   /slow         answers after 1.5 s (timeout test)
 * Every response carries "X-Mixed-Case: Some Value".  New TCP connections
 * are counted to prove keep-alive.  A raw one-shot socket server sends
 * canned bytes that libmicrohttpd would not produce (1xx with headers,
 * folded headers, nothing at all).
 */
#include "http.h"
#include "tap.h"
#include "util.h"

#include <microhttpd.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static atomic_int connections;
static char base[64];

struct upload {
	struct fr_buf body;
};

static void on_connection(void *cls, struct MHD_Connection *conn,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode toe)
{
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		atomic_fetch_add(&connections, 1);
}

static void on_completed(void *cls, struct MHD_Connection *conn,
			 void **con_cls, enum MHD_RequestTerminationCode toe)
{
	struct upload *u = *con_cls;

	if (u) {
		fr_buf_finish(&u->body);
		free(u);
		*con_cls = NULL;
	}
}

static enum MHD_Result add_header_line(void *cls, enum MHD_ValueKind kind,
				       const char *key, const char *value)
{
	fr_buf_printf(cls, "h:%s=%s\n", key, value ? value : "");
	return MHD_YES;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn,
			      const char *url, const char *method,
			      const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct upload *u = *con_cls;
	struct MHD_Response *resp;
	struct fr_buf out;
	unsigned status = 200;
	enum MHD_Result ret;
	size_t len;

	if (!u) {
		u = fr_xcalloc(1, sizeof(*u));
		fr_buf_init(&u->body);
		*con_cls = u;
		return MHD_YES;
	}
	if (*upload_data_size) {
		fr_buf_add(&u->body, upload_data, *upload_data_size);
		*upload_data_size = 0;
		return MHD_YES;
	}
	fr_buf_init(&out);
	if (strcmp(url, "/slow") == 0) {
		struct timespec ts = { 1, 500000000 };

		nanosleep(&ts, NULL);
		fr_buf_puts(&out, "late");
	} else if (strncmp(url, "/status/", 8) == 0) {
		status = (unsigned)atoi(url + 8);
		fr_buf_printf(&out, "status %u", status);
	} else {
		fr_buf_printf(&out, "method=%s\nlen=%zu\n", method,
			      u->body.len);
		if (u->body.len < 4096)
			fr_buf_printf(&out, "body=%s\n", fr_buf_cstr(&u->body));
		MHD_get_connection_values(conn, MHD_HEADER_KIND,
					  add_header_line, &out);
	}
	len = out.len;		/* read before fr_buf_steal empties out */
	resp = MHD_create_response_from_buffer(len, fr_buf_steal(&out),
					       MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "X-Mixed-Case", "Some Value");
	MHD_add_response_header(resp, "Content-Type", "text/plain");
	ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static struct MHD_Daemon *start_server(void)
{
	struct sockaddr_in sa = { 0 };
	struct MHD_Daemon *d;
	const union MHD_DaemonInfo *info;

	sa.sin_family = AF_INET;
	sa.sin_port = 0;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* a thread per connection, so /slow blocks only its own client */
	d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION |
			     MHD_USE_INTERNAL_POLLING_THREAD |
			     MHD_USE_ERROR_LOG,
			     0, NULL, NULL, handle, NULL,
			     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_NOTIFY_CONNECTION, on_connection, NULL,
			     MHD_OPTION_NOTIFY_COMPLETED, on_completed, NULL,
			     MHD_OPTION_END);
	if (!d)
		return NULL;
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	snprintf(base, sizeof(base), "http://127.0.0.1:%u",
		 (unsigned)info->port);
	return d;
}

/* A port on 127.0.0.1 that refuses connections: bound, never listening. */
static int refusing_port(int *fd)
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof(sa);

	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	*fd = socket(AF_INET, SOCK_STREAM, 0);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(*fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	return ntohs(sa.sin_port);
}

struct raw {
	int fd;
	const char *reply;
	pthread_t thread;
};

/* Accepts one connection, reads the request head, sends reply, closes. */
static void *raw_serve(void *arg)
{
	struct raw *r = arg;
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	int c = accept(r->fd, NULL, NULL);

	if (c < 0)
		return NULL;
	while (got < sizeof(buf) - 1 &&
	       (n = read(c, buf + got, sizeof(buf) - 1 - got)) > 0) {
		got += (size_t)n;
		buf[got] = '\0';
		if (strstr(buf, "\r\n\r\n"))
			break;
	}
	if (write(c, r->reply, strlen(r->reply)) < 0)
		perror("raw_serve write");
	close(c);
	return NULL;
}

/* Starts a one-shot server; returns its URL base (caller frees) or NULL. */
static char *raw_start(struct raw *r, const char *reply)
{
	struct sockaddr_in sa = { 0 };
	socklen_t len = sizeof(sa);

	r->reply = reply;
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	r->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (r->fd < 0 || bind(r->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(r->fd, 1) < 0 ||
	    getsockname(r->fd, (struct sockaddr *)&sa, &len) < 0 ||
	    pthread_create(&r->thread, NULL, raw_serve, r) != 0)
		return NULL;
	return fr_xasprintf("http://127.0.0.1:%d/raw?secret=s",
			    ntohs(sa.sin_port));
}

static void raw_stop(struct raw *r)
{
	pthread_join(r->thread, NULL);
	close(r->fd);
}

static int send_req(struct fr_http *h, const char *method, const char *path,
		    const char *body, const struct fr_http_header *hs,
		    size_t nhs, struct fr_http_response *r, char **err)
{
	char *url = fr_xasprintf("%s%s", base, path);
	struct fr_http_request req = {
		.method = method,
		.url = url,
		.headers = hs,
		.nheaders = nhs,
		.body = body,
		.body_len = body ? strlen(body) : 0,
	};
	int rc = fr_http_send(h, &req, r, err);

	free(url);
	return rc;
}

static bool has(const struct fr_http_response *r, const char *s)
{
	return r->body && strstr(r->body, s) != NULL;
}

static bool names_lower(const struct fr_http_response *r)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		for (const char *p = r->headers[i].name; *p; p++) {
			if (isupper((unsigned char)*p))
				return false;
		}
	}
	return r->nheaders > 0;
}

static void test_urlencode(void)
{
	char *s;

	s = fr_http_urlencode("a b&c=d/\xc3\xa9~-._Z9", 16);
	is_str(s, "a%20b%26c%3Dd%2F%C3%A9~-._Z9", "urlencode keeps unreserved");
	free(s);
	s = fr_http_urlencode("x\0y", 3);
	is_str(s, "x%00y", "urlencode encodes NUL");
	free(s);
	s = fr_http_urlencode("", 0);
	is_str(s, "", "urlencode empty");
	free(s);
}

static void origin_is(const char *url, const char *want, const char *what)
{
	char *o = fr_http_url_origin(url);

	if (want)
		is_str(o, want, "origin: %s", what);
	else
		ok(o == NULL, "origin: %s (none)", what);
	free(o);
}

static void resolve_is(const char *base, const char *ref, const char *want,
		       const char *what)
{
	char *r = fr_http_url_resolve(base, ref);

	if (want)
		is_str(r, want, "resolve: %s", what);
	else
		ok(r == NULL, "resolve: %s (none)", what);
	free(r);
}

static void test_urls(void)
{
	origin_is("https://api.github.com/repos/o/r/issues?page=2",
		  "https://api.github.com:443", "https default port");
	origin_is("http://127.0.0.1:8080/x", "http://127.0.0.1:8080",
		  "explicit port");
	origin_is("http://[::1]:81/", "http://[::1]:81", "IPv6 host");
	origin_is("https://api.github.com@evil.test/x",
		  "https://evil.test:443", "user info is not the host");
	origin_is("not a url", NULL, "no scheme");
	resolve_is("https://h.test/a/b?x=1", "https://h.test/c?page=2",
		   "https://h.test/c?page=2", "absolute");
	resolve_is("https://h.test/a/b?x=1", "/c?page=2",
		   "https://h.test/c?page=2", "absolute path");
	resolve_is("https://h.test/a/b?x=1", "?page=3",
		   "https://h.test/a/b?page=3", "query only");
	resolve_is("https://h.test/a/b", "//other.test/p",
		   "https://other.test/p", "network path");
	resolve_is("no url", "/x", NULL, "bad base");
}

static void test_methods(struct fr_http *h)
{
	struct fr_http_response r = { 0 };
	char *err = NULL;
	int rc;
	struct fr_http_header hs[] = {
		{ "Content-Type", "application/json" },
		{ "X-Token", "abc" },
		{ "X-Empty", "" },
	};

	rc = send_req(h, "GET", "/echo?q=1", NULL, NULL, 0, &r, &err);
	is_int(rc, 0, "GET succeeds");
	is_int(r.status, 200, "GET status 200");
	ok(has(&r, "method=GET\nlen=0\n"), "GET seen by the server");
	ok(r.body_len == strlen(r.body), "body_len matches");
	ok(names_lower(&r), "response header names are lower-case");
	is_str(fr_http_response_header(&r, "x-mixed-case"), "Some Value",
	       "response header value trimmed");
	is_str(fr_http_response_header(&r, "content-type"), "text/plain",
	       "content-type header");
	ok(fr_http_response_header(&r, "x-absent") == NULL, "absent header");
	ok(r.elapsed_ns > 0, "elapsed time measured");
	fr_http_response_finish(&r);
	fr_http_response_finish(&r);	/* twice is fine */

	rc = send_req(h, "POST", "/echo", "{\"a\":[1,2]}", hs, 3, &r, &err);
	is_int(rc, 0, "POST succeeds");
	ok(has(&r, "method=POST\nlen=11\nbody={\"a\":[1,2]}\n"),
	   "POST body arrives");
	ok(has(&r, "h:Content-Type=application/json\n"), "content type sent");
	ok(has(&r, "h:X-Token=abc\n"), "custom header sent");
	ok(has(&r, "h:X-Empty=\n"), "empty header value sent");
	ok(!has(&r, "h:Expect="), "no Expect header");
	fr_http_response_finish(&r);

	rc = send_req(h, "GET", "/echo", NULL, NULL, 0, &r, &err);
	ok(rc == 0 && has(&r, "method=GET\nlen=0\n"),
	   "GET after POST is a plain GET");
	ok(!has(&r, "X-Token") && !has(&r, "Content-Type"),
	   "headers do not leak into the next request");
	fr_http_response_finish(&r);

	rc = send_req(h, "PUT", "/echo", "put-body", NULL, 0, &r, &err);
	ok(rc == 0 && has(&r, "method=PUT\nlen=8\nbody=put-body\n"),
	   "PUT with a body");
	ok(!has(&r, "h:Content-Type="), "no guessed content type");
	fr_http_response_finish(&r);

	rc = send_req(h, "DELETE", "/echo", NULL, NULL, 0, &r, &err);
	ok(rc == 0 && has(&r, "method=DELETE\nlen=0\n"), "DELETE");
	fr_http_response_finish(&r);

	rc = send_req(h, "PATCH", "/echo", "p", NULL, 0, &r, &err);
	ok(rc == 0 && has(&r, "method=PATCH\nlen=1\nbody=p\n"), "PATCH");
	fr_http_response_finish(&r);

	rc = send_req(h, "PURGE", "/echo", "any verb", NULL, 0, &r, &err);
	ok(rc == 0 && has(&r, "method=PURGE\nlen=8\nbody=any verb\n"),
	   "custom verb with a body");
	fr_http_response_finish(&r);

	rc = send_req(h, "POST", "/echo", NULL, NULL, 0, &r, &err);
	ok(rc == 0 && has(&r, "method=POST\nlen=0\n") &&
	   has(&r, "h:Content-Length=0\n"), "POST without body: length 0");
	fr_http_response_finish(&r);

	rc = send_req(h, "HEAD", "/echo", NULL, NULL, 0, &r, &err);
	ok(rc == 0 && r.status == 200 && r.body_len == 0, "HEAD");
	ok(fr_http_response_header(&r, "x-mixed-case") != NULL,
	   "HEAD has headers");
	fr_http_response_finish(&r);
	rc = send_req(h, "GET", "/echo", NULL, NULL, 0, &r, &err);
	ok(rc == 0 && has(&r, "method=GET"), "GET after HEAD has a body");
	fr_http_response_finish(&r);
}

static void test_bodies(struct fr_http *h)
{
	struct fr_http_response r = { 0 };
	char *err = NULL, *big, *want;
	size_t n = (size_t)3 << 19;	/* 1.5 MiB: curl would send Expect */
	struct fr_http_header expect[] = { { "Expect", "100-continue" } };
	int rc;

	big = fr_xmalloc(n + 1);
	memset(big, 'b', n);
	big[n] = '\0';
	rc = send_req(h, "POST", "/echo", big, NULL, 0, &r, &err);
	want = fr_xasprintf("len=%zu\n", n);
	ok(rc == 0 && has(&r, want), "large body arrives whole");
	ok(rc == 0 && !has(&r, "h:Expect="), "no Expect for a large body");
	fr_http_response_finish(&r);
	free(want);
	free(big);

	rc = send_req(h, "POST", "/echo", "hi", expect, 1, &r, &err);
	ok(rc == 0 && r.status == 200 && has(&r, "body=hi\n"),
	   "caller's Expect: 100-continue works");
	ok(fr_http_response_header(&r, "x-mixed-case") != NULL,
	   "final headers kept after 100 Continue");
	fr_http_response_finish(&r);
}

static void test_statuses(struct fr_http *h)
{
	struct fr_http_response r = { 0 };
	char *err = NULL;
	int rc;

	rc = send_req(h, "GET", "/status/404", NULL, NULL, 0, &r, &err);
	ok(rc == 0 && r.status == 404 && err == NULL, "404 is a response");
	is_str(r.body, "status 404", "404 body");
	fr_http_response_finish(&r);
	rc = send_req(h, "POST", "/status/503", "x", NULL, 0, &r, &err);
	ok(rc == 0 && r.status == 503, "503 is a response");
	fr_http_response_finish(&r);
	rc = send_req(h, "GET", "/status/302", NULL, NULL, 0, &r, &err);
	ok(rc == 0 && r.status == 302, "3xx is returned, not followed");
	fr_http_response_finish(&r);
}

static void test_raw(struct fr_http *h)
{
	struct fr_http_response r = { 0 };
	struct fr_http_request req = { 0 };
	struct raw raw;
	char *err = NULL, *url;
	int rc;

	url = raw_start(&raw,
		"HTTP/1.1 103 Early Hints\r\n"
		"Link: </style.css>; rel=preload\r\n"
		"\r\n"
		"HTTP/1.1 201 Created\r\n"
		"Content-Length: 2\r\n"
		"X-Padded :   spaced out  \r\n"
		"X-Folded: first\r\n"
		"  second\r\n"
		"Connection: close\r\n"
		"\r\n"
		"ok");
	ok(url != NULL, "raw server started");
	req.url = url;
	rc = fr_http_send(h, &req, &r, &err);
	is_int(rc, 0, "1xx then final response");
	is_int(r.status, 201, "final status kept");
	is_str(r.body, "ok", "final body");
	ok(fr_http_response_header(&r, "link") == NULL,
	   "1xx headers dropped at the new status line");
	is_str(fr_http_response_header(&r, "x-padded"), "spaced out",
	       "name and value trimmed");
	is_str(fr_http_response_header(&r, "x-folded"), "first second",
	       "folded header joined");
	is_int(r.nheaders, 4, "four final headers");
	fr_http_response_finish(&r);
	raw_stop(&raw);
	free(url);

	url = raw_start(&raw, "");
	req.url = url;
	rc = fr_http_send(h, &req, &r, &err);
	is_int(rc, -1, "empty reply fails");
	is_str(err, "the server closed the connection without answering",
	       "empty reply message");
	free(err);
	raw_stop(&raw);
	free(url);
}

static void test_errors(struct fr_http *h)
{
	struct fr_http_response r = { 0 };
	struct fr_http_request req = { 0 };
	struct fr_http_header bad[] = { { "X-Bad", "a\r\nInjected: 1" } };
	char *err = NULL, *url;
	int rc, fd = -1, port;

	url = fr_xasprintf("%s/slow?token=secret", base);
	req = (struct fr_http_request){ .url = url, .timeout_ms = 300 };
	rc = fr_http_send(h, &req, &r, &err);
	is_int(rc, -1, "slow response times out");
	is_str(err, "timed out after 300 ms", "timeout message");
	ok(r.elapsed_ns >= 250000000u, "timeout took about 300 ms");
	fr_http_response_finish(&r);
	free(err);
	free(url);

	url = fr_xasprintf("%s/echo?secret=1", base);
	req = (struct fr_http_request){ .url = url, .max_body = 16 };
	rc = fr_http_send(h, &req, &r, &err);
	is_int(rc, -1, "body over the cap fails");
	is_str(err, "response body larger than 16 bytes", "cap message");
	ok(r.body == NULL && r.nheaders == 0, "nothing owned after an error");
	free(err);
	free(url);

	rc = send_req(h, "GET", "/echo", NULL, NULL, 0, &r, &err);
	ok(rc == 0 && r.status == 200, "handle works after errors");
	fr_http_response_finish(&r);

	port = refusing_port(&fd);
	ok(port > 0, "found a refusing port");
	url = fr_xasprintf("http://127.0.0.1:%d/secret/path?key=k", port);
	req = (struct fr_http_request){ .method = "POST", .url = url,
					.body = "x", .body_len = 1 };
	rc = fr_http_send(h, &req, &r, &err);
	is_int(rc, -1, "refused connection fails");
	is_str(err, "connection refused", "refused message");
	ok(err && !strstr(err, "secret") && !strstr(err, "key"),
	   "message holds no path or query");
	free(err);
	free(url);
	close(fd);

	req = (struct fr_http_request){ .url = "file:///etc/passwd" };
	rc = fr_http_send(h, &req, &r, &err);
	ok(rc == -1 && err && strstr(err, "unsupported URL scheme"),
	   "file:// refused");
	free(err);

	url = fr_xasprintf("%s/echo", base);
	req = (struct fr_http_request){ .method = "GE T", .url = url };
	rc = fr_http_send(h, &req, &r, &err);
	ok(rc == -1 && err && strcmp(err, "invalid HTTP method") == 0,
	   "method with a space refused");
	free(err);
	req = (struct fr_http_request){ .url = url, .headers = bad,
					.nheaders = 1 };
	rc = fr_http_send(h, &req, &r, &err);
	ok(rc == -1 && err && strstr(err, "line break"),
	   "header value with CRLF refused");
	free(err);
	free(url);
}

static void test_keepalive(void)
{
	struct fr_http *h = fr_http_create();
	struct fr_http_response r = { 0 };
	char *err = NULL;
	int before = atomic_load(&connections), okays = 0;

	for (int i = 0; i < 3; i++) {
		const char *method = i == 1 ? "POST" : "GET";

		if (send_req(h, method, "/echo", i == 1 ? "b" : NULL, NULL, 0,
			     &r, &err) == 0 && r.status == 200)
			okays++;
		fr_http_response_finish(&r);
	}
	is_int(okays, 3, "three requests on one handle");
	is_int(atomic_load(&connections) - before, 1,
	       "they share one TCP connection");
	fr_http_destroy(h);
}

int main(void)
{
	struct MHD_Daemon *d;
	struct fr_http *h;
	const char *v;

	/* a proxy from the environment would intercept 127.0.0.1 */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");

	ok(fr_http_global_init() == 0, "global init");
	ok(fr_http_global_init() == 0, "global init twice is fine");
	v = fr_http_curl_version();
	ok(v && isdigit((unsigned char)v[0]), "curl version %s", v);
	test_urlencode();
	test_urls();
	fr_http_destroy(NULL);

	d = start_server();
	if (!ok(d != NULL, "server started"))
		return done_testing();
	h = fr_http_create();
	ok(h != NULL, "handle created");
	test_methods(h);
	test_bodies(h);
	test_statuses(h);
	test_errors(h);
	test_raw(h);
	test_keepalive();
	fr_http_destroy(h);
	MHD_stop_daemon(d);
	fr_http_global_cleanup();
	return done_testing();
}
