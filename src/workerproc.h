/*
 * workerproc: serve's worker processes, the parts both ends share.
 *
 * serve runs every execution in a worker process of its own making
 * (`flowrun __worker`, exec'd from /proc/self/exe), so that what no
 * in-process guard can stop (a crash or an endless loop inside libjq, an
 * allocation that exhausts memory) ends that process only.  Each worker
 * thread of serve (serve_worker.c) supervises one such process.
 *
 * The two talk over a stream socket in frames: a 4-byte big-endian length,
 * then that many bytes of compact JSON.  serve sends one `hello` frame
 * (what to load), then one job per execution; the worker answers `ready`
 * once, then one result per job.
 *
 * Besides the socket, the two share one page (a memfd): the worker writes
 * there the step it is running and when that step's timeout passes, and
 * why it is about to die when it knows (memory).  serve reads it when the
 * worker ends without answering, or to see that a timeout has passed by
 * more than the grace.
 *
 * In the worker process the socket is descriptor 3 and the page 4.
 */
#ifndef FR_WORKERPROC_H
#define FR_WORKERPROC_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define FR_WORKER_SOCKET_FD 3
#define FR_WORKER_PAGE_FD 4

/* Exit statuses of a worker process that ends on its own. */
enum {
	FR_WORKER_EXIT_OK = 0,		/* serve closed the socket */
	FR_WORKER_EXIT_SETUP = 70,	/* could not load what serve loaded */
	FR_WORKER_EXIT_MEMORY = 71,	/* an allocation failed */
};

/* The shared page. */
struct fr_progress {
	atomic_uint seq;		/* odd while step[] is written */
	char step[120];			/* "step 'id'" or "step at line N" */
	atomic_uint_fast64_t deadline_ns; /* CLOCK_MONOTONIC; 0: none */
	atomic_uint_fast64_t jobs;	/* jobs begun */
};

/* serve's handle on one worker process. */
struct fr_workerproc {
	pid_t pid;			/* 0: none */
	int fd;				/* serve's end of the socket */
	struct fr_progress *page;
};

/*
 * Starts a worker process running exe (`exe __worker`) with hello as its
 * first frame (not consumed).  0, or -1 with *err.
 */
int fr_workerproc_start(struct fr_workerproc *wp, const char *exe,
			const json_t *hello, char **err);

/*
 * Ends wp's process: closes the socket, SIGKILLs it when kill is true
 * (else waits up to wait_ms for it to exit, then kills it), and reaps it.
 * Returns why it ended, for a message ("signal 11 (Segmentation fault)",
 * "exit status 71"; caller frees), or NULL when it exited with status 0.
 * *exit_status gets its exit status, or -1 when a signal ended it.
 */
char *fr_workerproc_end(struct fr_workerproc *wp, bool kill, int wait_ms,
			int *exit_status);

/* The step wp's process is in, and its deadline (0: none). */
void fr_workerproc_progress(const struct fr_workerproc *wp, char *step,
			    size_t size, uint64_t *deadline_ns);

/* Frames.  send: 0 or -1 (peer gone).  recv: 0 with *out, 1 when
 * timeout_ms passed with nothing to read (-1 waits for ever), -1 when the
 * peer is gone or sent something that is not a frame. */
int fr_frame_send(int fd, const json_t *msg);
int fr_frame_recv(int fd, int timeout_ms, json_t **out);

/* In the worker process: the shared page (mapped on first use). */
struct fr_progress *fr_workerproc_page(void);
void fr_progress_set(struct fr_progress *pg, const char *step,
		     uint64_t deadline_ns);

#endif
