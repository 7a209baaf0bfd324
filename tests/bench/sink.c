/*
 * sink: a trivial libmicrohttpd server for the load benchmark.
 *
 * It answers at once: /accounts with two canned accounts, /api/... with
 * Slack's {"ok": true}, anything else with 202 {} (the ceiling a webhook
 * server can reach on this machine).  Same threading as flowrun serve:
 * internal epoll thread pool.  Prints "port N" and runs until killed.
 *
 * usage: sink [THREADS]
 */
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char accounts[] =
	"{\"accounts\":[{\"id\":\"acc_1\",\"name\":\"Acme\",\"contact\":\"Ann\","
	"\"email\":\"ann@acme.test\"},{\"id\":\"acc_2\",\"name\":\"Bolt\","
	"\"contact\":\"Bob\",\"email\":\"bob@bolt.test\"}]}";

static enum MHD_Result answer(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *data,
			      size_t *size, void **state)
{
	static int marker;
	struct MHD_Response *r;
	const char *body = "{}";
	unsigned status = 202;
	enum MHD_Result ret;

	(void)cls; (void)method; (void)version; (void)data;
	if (*state == NULL) {
		*state = &marker;
		return MHD_YES;
	}
	if (*size) {
		*size = 0;
		return MHD_YES;
	}
	if (strncmp(url, "/accounts", 9) == 0) {
		body = accounts;
		status = 200;
	} else if (strncmp(url, "/api/", 5) == 0) {
		body = "{\"ok\":true}";
		status = 200;
	}
	r = MHD_create_response_from_buffer(strlen(body), (void *)body,
					    MHD_RESPMEM_PERSISTENT);
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned threads = argc > 1 ? (unsigned)atoi(argv[1]) : 2;
	struct MHD_Daemon *d = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TURBO,
		0, NULL, NULL, answer, NULL, MHD_OPTION_THREAD_POOL_SIZE, threads,
		MHD_OPTION_CONNECTION_LIMIT, 1000u, MHD_OPTION_END);
	sigset_t set;
	int sig;

	if (!d)
		return 1;
	printf("port %u\n", MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port);
	fflush(stdout);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigprocmask(SIG_BLOCK, &set, NULL);
	sigwait(&set, &sig);
	MHD_stop_daemon(d);
	return 0;
}
