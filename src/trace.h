/*
 * trace: prints an execution trace (the JSON document exec.h produces and
 * the store keeps) as an indented tree for people: each step with its
 * status, kind, action, HTTP requests (method, URL, status, duration) and,
 * in a dry-run, the request that would have been sent.
 */
#ifndef FR_TRACE_H
#define FR_TRACE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>

void fr_trace_print(FILE *out, const json_t *trace, bool color, int verbosity);

#endif
