/*
 * json: jansson helpers and the one place where values cross between
 * jansson (json_t: exact integers, used for I/O and stored data) and jv
 * (jq's values, used for the execution context).
 *
 * fr_json_to_jv borrows its argument and returns a new jv.
 * fr_jv_to_json consumes its jv (jv convention) and returns a new reference.
 * Integers that fit in a double exactly (|n| <= 2^53) come back as integers.
 */
#ifndef FR_JSON_H
#define FR_JSON_H

#include <jansson.h>
#include <jv.h>

#include "ydoc.h"

jv fr_json_to_jv(const json_t *j);
json_t *fr_jv_to_json(jv v);

/* The JSON value of a YAML node (YAML 1.2 core schema for plain scalars). */
json_t *fr_ynode_to_json(const struct fr_ynode *n);

/* Compact JSON text of j (caller frees); "null" for NULL. */
char *fr_json_dump(const json_t *j);

/* Compact JSON text of a jv (borrowed); caller frees. */
char *fr_jv_dump(jv v);

#endif
