/*
 * json: jansson helpers and the one place where values cross between
 * jansson (json_t: exact integers, used for I/O and stored data) and jv
 * (jq's values, used for the execution context).
 *
 * fr_json_to_jv borrows its argument and returns a new jv.
 * fr_jv_to_json consumes its jv (jv convention) and returns a new reference.
 * Integers that fit in a double exactly (|n| <= 2^53) come back as integers.
 *
 * Nesting is bounded: the conversions recurse at most FR_JSON_MAX_DEPTH
 * levels and refuse deeper values (fr_json_to_jv returns an invalid jv with
 * the message FR_JSON_TOO_DEEP, fr_jv_to_json NULL).  fr_jqx_eval refuses
 * jq results deeper than that, and jansson parses at most 2048 levels, so
 * neither happens to the values flowrun handles; the bound keeps a stack
 * overflow out of reach whatever a caller passes.
 */
#ifndef FR_JSON_H
#define FR_JSON_H

#include <jansson.h>
#include <jv.h>
#include <stdbool.h>

#include "ydoc.h"

#define FR_JSON_MAX_DEPTH 10000
#define FR_JSON_TOO_DEEP "value nested deeper than 10000 levels"

jv fr_json_to_jv(const json_t *j);
json_t *fr_jv_to_json(jv v);

/* Whether v (borrowed) nests deeper than FR_JSON_MAX_DEPTH levels. */
bool fr_jv_too_deep(jv v);

/* jv_free without recursion, for values of any depth (consumes v). */
void fr_jv_free_deep(jv v);

/* The JSON value of a YAML node (YAML 1.2 core schema for plain scalars). */
json_t *fr_ynode_to_json(const struct fr_ynode *n);

/* Compact JSON text of j (caller frees); "null" for NULL. */
char *fr_json_dump(const json_t *j);

/* Compact JSON text of a jv (borrowed); caller frees. */
char *fr_jv_dump(jv v);

#endif
