/*
 * fuzz_http: the HTTP front of `flowrun serve` (src/server.c over
 * libmicrohttpd) on raw request bytes.  src/server.c has no request
 * parsing that runs without a connection, so the input goes through a
 * loopback socket to a server started once, whose handlers read what
 * serve's read (method, path, headers, query, body) and answer.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

static struct fr_server *server;
static unsigned port;

static long on_start(void *data, struct fr_request *r)
{
	(void)data;
	if (strcmp(fr_request_path(r), "/refuse") == 0) {
		fr_request_error(r, 404, "no such path", NULL);
		return -1;
	}
	return 4096;
}

static void on_handle(void *data, struct fr_request *r)
{
	json_t *h = fr_request_headers(r), *q = fr_request_query(r), *out;
	size_t len;
	const char *body = fr_request_body(r, &len);
	char *text;

	(void)data;
	out = json_pack("{ss ss so so si}", "method", fr_request_method(r),
			"path", fr_request_path(r), "headers", h ? h : json_null(),
			"query", q ? q : json_null(), "length", (int)len);
	(void)body;
	(void)fr_request_header(r, "Content-Type");
	text = out ? json_dumps(out, JSON_COMPACT) : NULL;
	fr_request_respond(r, 200, "application/json", text ? text : "{}",
			   NULL, NULL);
	free(text);
	json_decref(out);
}

static void start(void)
{
	static const struct fr_server_handlers handlers = {
		.start = on_start, .handle = on_handle,
	};
	struct fr_server_opts opts = {
		.listen = "127.0.0.1:0", .threads = 2,
		.max_connections = 64, .connection_timeout_s = 2,
	};
	char *err = NULL;

	server = fr_server_start(&opts, &handlers, &err);
	if (!server) {
		fprintf(stderr, "fuzz_http: %s\n", err ? err : "no server");
		abort();
	}
	port = fr_server_port(server);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in sa;
	/* a request libmicrohttpd holds (an unknown Transfer-Encoding waits
	 * for the connection timeout) is given up after 250 ms */
	struct timeval tv = { 0, 250000 };
	struct linger reset = { 1, 0 };
	struct timespec pause = { 0, 10000000 };
	char buf[4096];
	size_t sent = 0;
	ssize_t k;
	int fd;

	if (!server)
		start();
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* the server's connection limit, or no local port left: wait */
	for (int tries = 0;; tries++) {
		fd = socket(AF_INET, SOCK_STREAM, 0);
		if (fd < 0)
			abort();
		/* closed with a reset: no TIME_WAIT to run out of ports */
		setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		close(fd);
		if (tries == 500) {
			fprintf(stderr, "fuzz_http: cannot connect\n");
			abort();
		}
		nanosleep(&pause, NULL);
	}
	while (sent < size && (k = send(fd, data + sent, size - sent,
					MSG_NOSIGNAL)) > 0)
		sent += (size_t)k;
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
	return 0;
}
