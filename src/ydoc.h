/*
 * ydoc: reads one YAML document with libyaml into a tree of nodes that keep
 * their source positions.  Only this module includes <yaml.h>.
 *
 * The document owns every node (they live in one arena and are freed by
 * fr_ydoc_destroy); node pointers are borrowed from it.  An alias is the very
 * node it names, so a node can be reached along several paths; the total
 * expanded size is bounded, so "billion laughs" documents are refused.
 *
 * Reading refuses, with a located error: YAML syntax errors, binary files,
 * more than one document, nesting deeper than FR_YAML_MAX_DEPTH (also
 * through aliases, so a walk over the tree recurses that deep), duplicate
 * mapping keys (libyaml accepts them silently), non-scalar mapping keys, and
 * documents expanding through aliases to more than FR_YAML_MAX_NODES nodes
 * or FR_YAML_MAX_BYTES bytes of scalars (keys and values).
 */
#ifndef FR_YDOC_H
#define FR_YDOC_H

#include <stdbool.h>
#include <stddef.h>

#include "diag.h"

#define FR_YAML_MAX_DEPTH 128
#define FR_YAML_MAX_NODES 1000000
/* scalar bytes a document may expand to through aliases: 64 MiB */
#define FR_YAML_MAX_BYTES (64u * 1024 * 1024)

enum fr_ynode_kind { FR_YSCALAR, FR_YSEQ, FR_YMAP };

struct fr_ynode {
	enum fr_ynode_kind kind;
	struct fr_loc loc;
	struct fr_loc end;	/* just past the node (for rewriting files) */
	char *value;		/* scalar text, NUL-terminated */
	size_t len;
	bool plain;		/* unquoted scalar without explicit tag */
	/* seq: items; map: keys at even and values at odd indexes */
	struct fr_ynode **items;
	size_t n, cap;
	size_t size;		/* nodes under this one, aliases expanded */
	size_t bytes;		/* scalar bytes under it, likewise (capped) */
	size_t height;		/* levels from it down, likewise (1: scalar) */
};

struct fr_ydoc {
	struct fr_source *src;	/* one reference, owned */
	struct fr_ynode *root;	/* NULL for an empty document */
	struct fr_ynode **nodes;
	size_t nnodes, cap;
};

/*
 * Parses src (takes a new reference).  On success *out is the document;
 * errors go to d and *out is NULL.  Returns 0 or -1.
 */
int fr_ydoc_parse(struct fr_ydoc **out, struct fr_source *src,
		  struct fr_diag *d);
void fr_ydoc_destroy(struct fr_ydoc *doc);

/* Mapping helpers: number of pairs, i-th key and value, lookup by key. */
static inline size_t fr_ymap_len(const struct fr_ynode *m)
{
	return m->n / 2;
}
static inline const struct fr_ynode *fr_ymap_key(const struct fr_ynode *m,
						 size_t i)
{
	return m->items[2 * i];
}
static inline const struct fr_ynode *fr_ymap_val(const struct fr_ynode *m,
						 size_t i)
{
	return m->items[2 * i + 1];
}
const struct fr_ynode *fr_ymap_get(const struct fr_ynode *m, const char *key);

/* Scalar typing (YAML 1.2 core schema on plain scalars). */
bool fr_ynode_is_null(const struct fr_ynode *n);
bool fr_ynode_bool(const struct fr_ynode *n, bool *out);
bool fr_ynode_int(const struct fr_ynode *n, long long *out);
bool fr_ynode_number(const struct fr_ynode *n, double *out);

/* libyaml's version, e.g. "0.2.5" */
const char *fr_yaml_version(void);

/* Describes the node's type for messages: "a mapping", "a string", ... */
const char *fr_ynode_what(const struct fr_ynode *n);

#endif
