/*
 * workerproc: starting, watching and ending serve's worker processes, and
 * the frames and the shared page they use (workerproc.h).
 */
#define _GNU_SOURCE		/* memfd_create */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "util.h"
#include "workerproc.h"

extern char **environ;

/* A frame this long is a broken peer, not a result. */
#define FRAME_MAX (1u << 30)

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int read_all(int fd, char *p, size_t n)
{
	while (n > 0) {
		ssize_t r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

int fr_frame_send(int fd, const json_t *msg)
{
	char *text = json_dumps(msg, JSON_COMPACT | JSON_ENCODE_ANY);
	size_t n = text ? strlen(text) : 0;
	unsigned char len[4] = { (unsigned char)(n >> 24), (unsigned char)(n >> 16),
				 (unsigned char)(n >> 8), (unsigned char)n };
	int rc = text && n < FRAME_MAX &&
		 write_all(fd, (const char *)len, 4) == 0 &&
		 write_all(fd, text, n) == 0 ? 0 : -1;

	free(text);
	return rc;
}

int fr_frame_recv(int fd, int timeout_ms, json_t **out)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	unsigned char len[4];
	size_t n;
	char *text;
	int rc;

	*out = NULL;
	do
		rc = poll(&p, 1, timeout_ms);
	while (rc < 0 && errno == EINTR);
	if (rc == 0)
		return 1;
	if (rc < 0 || read_all(fd, (char *)len, 4) < 0)
		return -1;
	n = (size_t)len[0] << 24 | (size_t)len[1] << 16 | (size_t)len[2] << 8 | len[3];
	if (n >= FRAME_MAX)
		return -1;
	text = fr_xmalloc(n + 1);
	if (read_all(fd, text, n) < 0) {
		free(text);
		return -1;
	}
	*out = json_loadb(text, n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	free(text);
	return *out ? 0 : -1;
}

int fr_workerproc_start(struct fr_workerproc *wp, const char *exe,
			const json_t *hello, char **err)
{
	char *argv[] = { "flowrun", "__worker", NULL };
	posix_spawn_file_actions_t fa;
	int sv[2], page = -1, rc;
	void *map;

	*wp = (struct fr_workerproc){ .fd = -1 };
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		*err = fr_xasprintf("cannot make a worker's socket: %s", strerror(errno));
		return -1;
	}
	page = memfd_create("flowrun-worker", MFD_CLOEXEC);
	if (page < 0 || ftruncate(page, sizeof(struct fr_progress)) < 0 ||
	    (map = mmap(NULL, sizeof(struct fr_progress), PROT_READ | PROT_WRITE,
			MAP_SHARED, page, 0)) == MAP_FAILED) {
		*err = fr_xasprintf("cannot make a worker's page: %s", strerror(errno));
		goto fail;
	}
	wp->page = map;
	posix_spawn_file_actions_init(&fa);
	/* dup2 onto the numbers the worker expects clears close-on-exec */
	posix_spawn_file_actions_adddup2(&fa, sv[1], FR_WORKER_SOCKET_FD);
	posix_spawn_file_actions_adddup2(&fa, page, FR_WORKER_PAGE_FD);
	rc = posix_spawn(&wp->pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		*err = fr_xasprintf("cannot start a worker process (%s): %s", exe,
				    strerror(rc));
		wp->pid = 0;
		munmap(wp->page, sizeof(struct fr_progress));
		wp->page = NULL;
		goto fail;
	}
	close(sv[1]);
	close(page);
	wp->fd = sv[0];
	if (fr_frame_send(wp->fd, hello) < 0) {
		char *how = fr_workerproc_end(wp, false, 1000, &rc);
		*err = fr_xasprintf("a worker process ended at once (%s)",
				    how ? how : "exit status 0");
		free(how);
		return -1;
	}
	return 0;
fail:
	if (page >= 0)
		close(page);
	close(sv[0]);
	close(sv[1]);
	return -1;
}

/* Waits up to ms for pid to end; 0 with *status, or -1 if it still runs. */
static int reap(pid_t pid, int ms, int *status)
{
	for (int waited = 0;; waited += 5) {
		pid_t r = waitpid(pid, status, WNOHANG);
		if (r == pid || (r < 0 && errno != EINTR))
			return 0;
		if (waited >= ms)
			return -1;
		struct timespec ts = { 0, 5000000 };
		nanosleep(&ts, NULL);
	}
}

char *fr_workerproc_end(struct fr_workerproc *wp, bool kill_it, int wait_ms,
			int *exit_status)
{
	int status = 0;
	char *why = NULL;

	*exit_status = 0;
	if (wp->fd >= 0)
		close(wp->fd);
	wp->fd = -1;
	if (wp->pid > 0) {
		if (kill_it || reap(wp->pid, wait_ms, &status) < 0) {
			kill(wp->pid, SIGKILL);
			while (waitpid(wp->pid, &status, 0) < 0 && errno == EINTR)
				;
		}
		if (WIFSIGNALED(status)) {
			*exit_status = -1;
			why = fr_xasprintf("signal %d (%s)", WTERMSIG(status),
					   strsignal(WTERMSIG(status)));
		} else if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
			*exit_status = WEXITSTATUS(status);
			why = fr_xasprintf("exit status %d", WEXITSTATUS(status));
		}
	}
	wp->pid = 0;
	if (wp->page)
		munmap(wp->page, sizeof(struct fr_progress));
	wp->page = NULL;
	return why;
}

void fr_workerproc_progress(const struct fr_workerproc *wp, char *step,
			    size_t size, uint64_t *deadline_ns)
{
	struct fr_progress *pg = wp->page;

	*step = '\0';
	*deadline_ns = 0;
	if (!pg || size == 0)
		return;
	/* a seqlock: copy until no write overlapped the copy */
	for (int tries = 0; tries < 100; tries++) {
		unsigned s0 = atomic_load(&pg->seq);
		if (s0 & 1)
			continue;
		size_t n = size < sizeof(pg->step) ? size : sizeof(pg->step);
		memcpy(step, pg->step, n);
		step[n - 1] = '\0';
		*deadline_ns = atomic_load(&pg->deadline_ns);
		if (atomic_load(&pg->seq) == s0)
			return;
	}
	*step = '\0';
}

struct fr_progress *fr_workerproc_page(void)
{
	static struct fr_progress *pg;

	if (!pg) {
		void *map = mmap(NULL, sizeof(*pg), PROT_READ | PROT_WRITE,
				 MAP_SHARED, FR_WORKER_PAGE_FD, 0);
		pg = map == MAP_FAILED ? NULL : map;
	}
	return pg;
}

void fr_progress_set(struct fr_progress *pg, const char *step,
		     uint64_t deadline_ns)
{
	if (!pg)
		return;
	atomic_fetch_add(&pg->seq, 1);
	snprintf(pg->step, sizeof(pg->step), "%s", step);
	atomic_store(&pg->deadline_ns, deadline_ns);
	atomic_fetch_add(&pg->seq, 1);
}
