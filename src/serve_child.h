/*
 * serve_child: the worker process of serve (serve_child.c says what it
 * does); main() runs it for the hidden command `flowrun __worker`.
 */
#ifndef FR_SERVE_CHILD_H
#define FR_SERVE_CHILD_H

/* Runs the worker process; returns its exit status (workerproc.h). */
int fr_serve_child_main(void);

#endif
