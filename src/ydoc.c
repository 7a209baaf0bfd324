#include "ydoc.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "hashmap.h"
#include "util.h"

struct reader {
	struct fr_ydoc *doc;
	struct fr_diag *d;
	struct fr_ynode *stack[FR_YAML_MAX_DEPTH + 1];
	size_t depth;
	/* anchor name -> index in anchor_nodes: a linear search made a file
	 * of many anchors and aliases quadratic, minutes for a few megabytes */
	struct fr_hashmap anchors;
	struct fr_ynode **anchor_nodes;
	size_t nanchors, anchors_cap;
	int ndocs;
	bool aliased;		/* an alias was seen */
};

static struct fr_loc loc_of(const struct fr_source *src, yaml_mark_t m)
{
	/* libyaml marks are 0-based */
	return (struct fr_loc){ src, (unsigned)m.line + 1,
				(unsigned)m.column + 1 };
}

static struct fr_ynode *new_node(struct fr_ydoc *doc, enum fr_ynode_kind kind,
				 yaml_mark_t mark)
{
	struct fr_ynode *n = fr_xcalloc(1, sizeof(*n));

	n->kind = kind;
	n->loc = loc_of(doc->src, mark);
	n->size = 1;
	n->height = 1;
	fr_grow(&doc->nodes, &doc->cap, doc->nnodes + 1, sizeof(*doc->nodes));
	doc->nodes[doc->nnodes++] = n;
	return n;
}

static void add_child(struct fr_ynode *parent, struct fr_ynode *child)
{
	fr_grow(&parent->items, &parent->cap, parent->n + 1,
		sizeof(*parent->items));
	parent->items[parent->n++] = child;
	parent->size += child->size;
	if (parent->size > FR_YAML_MAX_NODES)
		parent->size = FR_YAML_MAX_NODES + 1;
	if (child->height + 1 > parent->height)
		parent->height = child->height + 1;
	parent->bytes += child->bytes;
	if (parent->bytes > FR_YAML_MAX_BYTES)
		parent->bytes = (size_t)FR_YAML_MAX_BYTES + 1;
}

static int cmp_key(const void *a, const void *b)
{
	const struct fr_ynode *x = *(struct fr_ynode *const *)a;
	const struct fr_ynode *y = *(struct fr_ynode *const *)b;
	int c;

	if (x->len != y->len)
		return x->len < y->len ? -1 : 1;
	c = memcmp(x->value, y->value, x->len);
	if (c)
		return c;
	/* equal keys: keep file order so the later one is reported */
	if (x->loc.line != y->loc.line)
		return x->loc.line < y->loc.line ? -1 : 1;
	return x->loc.col < y->loc.col ? -1 : (x->loc.col > y->loc.col);
}

/* Sorting the keys keeps this O(n log n) for hostile, huge mappings. */
static int check_duplicates(struct reader *r, const struct fr_ynode *map)
{
	size_t n = fr_ymap_len(map), i, first;
	const struct fr_ynode **keys;
	int bad = 0;

	if (n < 2)
		return 0;
	keys = fr_xmalloc(n * sizeof(*keys));
	for (i = 0; i < n; i++)
		keys[i] = fr_ymap_key(map, i);
	qsort(keys, n, sizeof(*keys), cmp_key);
	for (i = 1, first = 0; i < n; i++) {
		if (keys[i]->len == keys[first]->len &&
		    memcmp(keys[i]->value, keys[first]->value, keys[i]->len) == 0) {
			fr_diag_at(r->d, FR_ERROR, &keys[i]->loc,
				   "duplicate key '%s' (first at line %u)",
				   keys[i]->value, keys[first]->loc.line);
			bad = -1;
		} else {
			first = i;
		}
	}
	free(keys);
	return bad;
}

static void remember_anchor(struct reader *r, const yaml_char_t *name,
			    struct fr_ynode *node)
{
	size_t i;

	if (!name)
		return;
	/* a later anchor of the same name wins */
	if (!fr_hashmap_get(&r->anchors, (const char *)name, &i)) {
		fr_grow(&r->anchor_nodes, &r->anchors_cap, r->nanchors + 1,
			sizeof(*r->anchor_nodes));
		i = r->nanchors++;
		fr_hashmap_put(&r->anchors, (const char *)name, i);
	}
	r->anchor_nodes[i] = node;
}

static struct fr_ynode *find_anchor(struct reader *r, const char *name)
{
	size_t i;

	return fr_hashmap_get(&r->anchors, name, &i) ? r->anchor_nodes[i] : NULL;
}

/* Attaches a finished node to its parent, or makes it the root. */
static int attach(struct reader *r, struct fr_ynode *node,
		  const struct fr_loc *loc)
{
	struct fr_ynode *parent;

	if (r->depth == 0) {
		r->doc->root = node;
		return 0;
	}
	parent = r->stack[r->depth - 1];
	if (parent->kind == FR_YMAP && parent->n % 2 == 0 &&
	    node->kind != FR_YSCALAR) {
		fr_diag_at(r->d, FR_ERROR, loc,
			   "mapping keys must be plain strings");
		return -1;
	}
	add_child(parent, node);
	if (parent->size > FR_YAML_MAX_NODES) {
		if (r->aliased)
			fr_diag_at(r->d, FR_ERROR, loc,
				   "document expands to more than %d nodes "
				   "through aliases", FR_YAML_MAX_NODES);
		else
			fr_diag_at(r->d, FR_ERROR, loc,
				   "document has more than %d nodes",
				   FR_YAML_MAX_NODES);
		return -1;
	}
	/* without aliases, the nesting check bounds the height */
	if (parent->height > FR_YAML_MAX_DEPTH + 1) {
		fr_diag_at(r->d, FR_ERROR, loc,
			   "nesting deeper than %d levels through aliases",
			   FR_YAML_MAX_DEPTH);
		return -1;
	}
	/* without aliases the file size bounds it */
	if (parent->bytes > FR_YAML_MAX_BYTES) {
		fr_diag_at(r->d, FR_ERROR, loc,
			   "document expands to more than %u MiB of text "
			   "through aliases", FR_YAML_MAX_BYTES >> 20);
		return -1;
	}
	return 0;
}

/*
 * Whether the line holding offset off has a ${{ outside quotes: in a flow
 * mapping ({ text: ${{ .x }} }) libyaml stops at its braces, with a message
 * that does not say why.
 */
static bool line_has_template(const struct fr_source *src, size_t off)
{
	const char *t = src->text, *p, *end = src->text + src->len;
	char quote = 0;

	if (off > src->len)
		off = src->len;
	p = t + off;
	while (p > t && p[-1] != '\n')
		p--;
	for (; p < end && *p != '\n'; p++) {
		if (quote) {
			if (*p == quote)
				quote = 0;
		} else if (*p == '"' || *p == '\'') {
			quote = *p;
		} else if (end - p >= 3 && memcmp(p, "${{", 3) == 0) {
			return true;
		}
	}
	return false;
}

static void report_parser_error(struct reader *r, yaml_parser_t *p)
{
	struct fr_loc loc = loc_of(r->doc->src, p->problem_mark);
	const char *problem = p->problem ? p->problem : "invalid YAML";
	size_t off = p->problem_mark.index;
	const char *hint = "";

	if (p->error == YAML_MEMORY_ERROR) {
		fr_diag_at(r->d, FR_ERROR, &loc, "out of memory reading YAML");
		return;
	}
	if (p->error == YAML_READER_ERROR) {
		/* the reader gives a byte offset, not a mark */
		const char *t = r->doc->src->text;
		loc.line = loc.col = 1;
		for (size_t i = 0; i < p->problem_offset && i < r->doc->src->len;
		     i++) {
			if (t[i] == '\n') {
				loc.line++;
				loc.col = 1;
			} else if (((unsigned char)t[i] & 0xC0) != 0x80) {
				loc.col++;	/* columns count characters */
			}
		}
		off = p->problem_offset;
	}
	if (off < r->doc->src->len && r->doc->src->text[off] == '\t')
		hint = " (tabs are not allowed for indentation; use spaces)";
	fr_diag_hint(r->d, FR_ERROR, &loc,
		     line_has_template(r->doc->src, off)
			     ? "a value holding ${{ }} must be quoted: "
			       "key: \"${{ ... }}\""
			     : NULL,
		     "%s%s%s%s", problem, p->context ? " " : "",
		     p->context ? p->context : "", hint);
}

/* Handles one event; returns 1 to go on, 0 at the end, -1 on error. */
static int on_event(struct reader *r, yaml_event_t *ev)
{
	struct fr_ynode *node;
	struct fr_loc loc = loc_of(r->doc->src, ev->start_mark);

	switch (ev->type) {
	case YAML_STREAM_END_EVENT:
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++r->ndocs > 1) {
			fr_diag_at(r->d, FR_ERROR, &loc,
				   "a file holds one YAML document; found a "
				   "second one");
			return -1;
		}
		return 1;
	case YAML_SCALAR_EVENT:
		node = new_node(r->doc, FR_YSCALAR, ev->start_mark);
		node->value = fr_xstrndup((const char *)ev->data.scalar.value,
					  ev->data.scalar.length);
		node->len = ev->data.scalar.length;
		node->end = loc_of(r->doc->src, ev->end_mark);
		node->bytes = node->len;
		node->plain = ev->data.scalar.plain_implicit &&
			      ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		remember_anchor(r, ev->data.scalar.anchor, node);
		return attach(r, node, &loc) < 0 ? -1 : 1;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT:
		if (r->depth >= FR_YAML_MAX_DEPTH) {
			fr_diag_at(r->d, FR_ERROR, &loc,
				   "nesting deeper than %d levels",
				   FR_YAML_MAX_DEPTH);
			return -1;
		}
		node = new_node(r->doc, ev->type == YAML_SEQUENCE_START_EVENT
						? FR_YSEQ : FR_YMAP,
				ev->start_mark);
		remember_anchor(r, ev->type == YAML_SEQUENCE_START_EVENT
					   ? ev->data.sequence_start.anchor
					   : ev->data.mapping_start.anchor,
				node);
		r->stack[r->depth++] = node;
		return 1;
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		node = r->stack[--r->depth];
		node->end = loc_of(r->doc->src, ev->end_mark);
		if (node->kind == FR_YMAP && check_duplicates(r, node) < 0)
			return -1;
		/* a misplaced collection is reported where it starts */
		return attach(r, node, &node->loc) < 0 ? -1 : 1;
	case YAML_ALIAS_EVENT:
		r->aliased = true;
		node = find_anchor(r, (const char *)ev->data.alias.anchor);
		if (!node) {
			fr_diag_at(r->d, FR_ERROR, &loc, "unknown alias '*%s'",
				   (const char *)ev->data.alias.anchor);
			return -1;
		}
		for (size_t i = 0; i < r->depth; i++) {
			if (r->stack[i] == node) {
				fr_diag_at(r->d, FR_ERROR, &loc,
					   "alias '*%s' refers to a node that "
					   "contains it",
					   (const char *)ev->data.alias.anchor);
				return -1;
			}
		}
		return attach(r, node, &loc) < 0 ? -1 : 1;
	default:
		return 1;
	}
}

int fr_ydoc_parse(struct fr_ydoc **out, struct fr_source *src,
		  struct fr_diag *d)
{
	struct fr_ydoc *doc = fr_xcalloc(1, sizeof(*doc));
	struct reader r = { .doc = doc, .d = d };
	yaml_parser_t parser;
	yaml_event_t ev;
	const char *nul;
	int rc = 0;

	*out = NULL;
	doc->src = fr_source_ref(src);
	nul = memchr(src->text, '\0', src->len);
	if (nul) {
		struct fr_loc loc = { src, 1, 1 };
		for (const char *p = src->text; p < nul; p++) {
			if (*p == '\n') {
				loc.line++;
				loc.col = 1;
			} else {
				loc.col++;
			}
		}
		fr_diag_at(d, FR_ERROR, &loc,
			   "binary file (NUL byte); expected YAML text");
		fr_ydoc_destroy(doc);
		return -1;
	}
	if (!yaml_parser_initialize(&parser)) {
		fr_diag(d, FR_ERROR, "cannot initialise the YAML parser");
		fr_ydoc_destroy(doc);
		return -1;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)src->text,
				     src->len);
	for (;;) {
		if (!yaml_parser_parse(&parser, &ev)) {
			report_parser_error(&r, &parser);
			rc = -1;
			break;
		}
		rc = on_event(&r, &ev);
		yaml_event_delete(&ev);
		if (rc <= 0)
			break;
	}
	yaml_parser_delete(&parser);
	fr_hashmap_finish(&r.anchors);
	free(r.anchor_nodes);
	if (rc < 0) {
		fr_ydoc_destroy(doc);
		return -1;
	}
	*out = doc;
	return 0;
}

void fr_ydoc_destroy(struct fr_ydoc *doc)
{
	if (!doc)
		return;
	for (size_t i = 0; i < doc->nnodes; i++) {
		free(doc->nodes[i]->value);
		free(doc->nodes[i]->items);
		free(doc->nodes[i]);
	}
	free(doc->nodes);
	fr_source_unref(doc->src);
	free(doc);
}

const struct fr_ynode *fr_ymap_get(const struct fr_ynode *m, const char *key)
{
	if (!m || m->kind != FR_YMAP)
		return NULL;
	for (size_t i = 0; i < fr_ymap_len(m); i++) {
		if (strcmp(fr_ymap_key(m, i)->value, key) == 0)
			return fr_ymap_val(m, i);
	}
	return NULL;
}

bool fr_ynode_is_null(const struct fr_ynode *n)
{
	return n->kind == FR_YSCALAR && n->plain &&
	       (n->len == 0 || strcmp(n->value, "~") == 0 ||
		strcmp(n->value, "null") == 0 || strcmp(n->value, "Null") == 0 ||
		strcmp(n->value, "NULL") == 0);
}

bool fr_ynode_bool(const struct fr_ynode *n, bool *out)
{
	static const char *const yes[] = { "true", "True", "TRUE" };
	static const char *const no[] = { "false", "False", "FALSE" };

	if (n->kind != FR_YSCALAR || !n->plain)
		return false;
	for (size_t i = 0; i < FR_ARRAY_LEN(yes); i++) {
		if (strcmp(n->value, yes[i]) == 0) {
			*out = true;
			return true;
		}
		if (strcmp(n->value, no[i]) == 0) {
			*out = false;
			return true;
		}
	}
	return false;
}

/* YAML 1.2 core schema integers: decimal, 0o octal, 0x hexadecimal. */
bool fr_ynode_int(const struct fr_ynode *n, long long *out)
{
	char *end;
	const char *s = n->value;
	int base = 10;

	if (n->kind != FR_YSCALAR || !n->plain || !*s)
		return false;
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'o') && s[2]) {
		base = s[1] == 'x' ? 16 : 8;
		s += 2;
		if (!isxdigit((unsigned char)*s))
			return false;
	} else {
		if (*s == '-' || *s == '+')
			s++;
		if (*s < '0' || *s > '9')
			return false;
		s = n->value;
	}
	errno = 0;
	*out = strtoll(s, &end, base);
	return errno == 0 && *end == '\0';
}

bool fr_ynode_number(const struct fr_ynode *n, double *out)
{
	char *end;
	const char *s = n->value;

	if (n->kind != FR_YSCALAR || !n->plain || !*s)
		return false;
	if (*s == '-' || *s == '+')
		s++;
	if ((*s < '0' || *s > '9') && *s != '.')
		return false;
	/* decimal only: strtod would also read hex and "infinity" */
	if (strspn(s, "0123456789.eE+-") != strlen(s))
		return false;
	errno = 0;
	*out = strtod(n->value, &end);
	return errno == 0 && *end == '\0' && isfinite(*out);
}

const char *fr_ynode_what(const struct fr_ynode *n)
{
	bool b;
	double x;

	switch (n->kind) {
	case FR_YSEQ:
		return "a list";
	case FR_YMAP:
		return "a mapping";
	default:
		if (fr_ynode_is_null(n))
			return "null";
		if (fr_ynode_bool(n, &b))
			return "a boolean";
		if (fr_ynode_number(n, &x))
			return "a number";
		return "a string";
	}
}

const char *fr_yaml_version(void)
{
	return yaml_get_version_string();
}
