/*
 * graph: the step graph of flows, for Graphviz (dot) or Mermaid.
 *
 * Each flow is a cluster that starts at its trigger.  A step is a node; a
 * branch is a diamond whose edges to each case are labelled "NAME: WHEN";
 * the cases join again at the next step.  A loop is a cluster "loop body"
 * holding its own node and its body, entered from and returning to that
 * node; edges between clusters are written in the enclosing one.
 *
 * show --graph draws one flow so, with each step coloured by what it did
 * in one execution (from the execution's trace): ok, failed (with its
 * error), skipped, or not reached.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"
#include "log.h"
#include "model.h"
#include "util.h"

enum format { DOT, MERMAID };

/* What a step did in the execution drawn (show --graph). */
enum did { DID_NOTHING, DID_SKIP, DID_OK, DID_FAIL };

struct mark {
	int line;		/* the step's line: the trace names steps so */
	enum did did;
	const char *error;	/* borrowed from the trace */
};

struct marks {
	struct mark *v;
	size_t n, cap;
	bool end_reached;	/* the execution ended ok */
};

/* The longest error drawn on a node, in bytes. */
#define ERROR_SHOWN 300

struct tails {
	char **ids;
	char **labels;		/* label of the edge leaving each tail */
	size_t n;
};

struct graph {
	FILE *out;
	enum format fmt;
	size_t flow, next;
	int depth;
	const struct marks *marks;	/* NULL: a plain graph */
};

static void tails_add(struct tails *t, const char *id, const char *label)
{
	t->ids = fr_xrealloc(t->ids, (t->n + 1) * sizeof(*t->ids));
	t->labels = fr_xrealloc(t->labels, (t->n + 1) * sizeof(*t->labels));
	t->ids[t->n] = fr_xstrdup(id);
	t->labels[t->n] = label ? fr_xstrdup(label) : NULL;
	t->n++;
}

static void tails_clear(struct tails *t)
{
	for (size_t i = 0; i < t->n; i++) {
		free(t->ids[i]);
		free(t->labels[i]);
	}
	free(t->ids);
	free(t->labels);
	memset(t, 0, sizeof(*t));
}

static void tails_move(struct tails *dst, struct tails *src)
{
	for (size_t i = 0; i < src->n; i++)
		tails_add(dst, src->ids[i], src->labels[i]);
	tails_clear(src);
}

/*
 * Text escaped for a quoted dot string or a Mermaid label: quotes and
 * backslashes (dot), quotes, <, >, & and # as entities (Mermaid), line
 * feeds as line breaks, other control characters as spaces.
 */
static void put_text(struct graph *g, const char *s)
{
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '\n') {
			fputs(g->fmt == DOT ? "\\n" : "<br/>", g->out);
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			fputc(' ', g->out);
			continue;
		}
		if (g->fmt == DOT) {
			if (c == '"' || c == '\\')
				fputc('\\', g->out);
			fputc(c, g->out);
			continue;
		}
		switch (c) {
		case '"': fputs("#quot;", g->out); break;
		case '<': fputs("#lt;", g->out); break;
		case '>': fputs("#gt;", g->out); break;
		case '&': fputs("#amp;", g->out); break;
		case '#': fputs("#35;", g->out); break;
		default: fputc(c, g->out);
		}
	}
}

static void indent(struct graph *g)
{
	for (int i = 0; i < g->depth; i++)
		fputs("  ", g->out);
}

static const char *const did_class[] = {
	[DID_NOTHING] = "notreached", [DID_SKIP] = "skipped",
	[DID_OK] = "ok", [DID_FAIL] = "failed",
};

static const char *const dot_style[] = {
	[DID_NOTHING] = ", style=dotted, color=gray60, fontcolor=gray50",
	[DID_SKIP] = ", style=\"filled,dashed\", fillcolor=\"#eeeeee\", "
		     "color=gray50",
	[DID_OK] = ", style=filled, fillcolor=\"#c8e6c9\", color=\"#2e7d32\"",
	[DID_FAIL] = ", style=filled, fillcolor=\"#ffcdd2\", color=\"#c62828\", "
		     "penwidth=2",
};

/* A node; did says what it did, when g->marks is set. */
static void node(struct graph *g, const char *id, const char *shape,
		 const char *text, enum did did)
{
	indent(g);
	if (g->fmt == DOT) {
		fprintf(g->out, "%s [shape=%s, label=\"", id, shape);
		put_text(g, text);
		fprintf(g->out, "\"%s];\n", g->marks ? dot_style[did] : "");
		return;
	}
	fputs(id, g->out);
	if (strcmp(shape, "diamond") == 0)
		fputs("{\"", g->out);
	else if (strcmp(shape, "circle") == 0)
		fputs("((\"", g->out);
	else
		fputs("[\"", g->out);
	put_text(g, text);
	if (strcmp(shape, "diamond") == 0)
		fputs("\"}", g->out);
	else if (strcmp(shape, "circle") == 0)
		fputs("\"))", g->out);
	else
		fputs("\"]", g->out);
	if (g->marks)
		fprintf(g->out, ":::%s", did_class[did]);
	fputc('\n', g->out);
}

/* What step s did, and its error (NULL when none). */
static enum did step_did(const struct graph *g, const struct fr_step *s,
			 const char **error)
{
	*error = NULL;
	for (size_t i = 0; g->marks && i < g->marks->n; i++) {
		if (g->marks->v[i].line == (int)s->loc.line) {
			*error = g->marks->v[i].error;
			return g->marks->v[i].did;
		}
	}
	return DID_NOTHING;
}

static void edge(struct graph *g, const char *from, const char *to,
		 const char *label, bool back)
{
	indent(g);
	if (g->fmt == DOT) {
		fprintf(g->out, "%s -> %s", from, to);
		if (label || back) {
			fputs(" [", g->out);
			if (label) {
				fputs("label=\"", g->out);
				put_text(g, label);
				fputs(back ? "\", " : "\"", g->out);
			}
			if (back)
				fputs("style=dashed", g->out);
			fputs("]", g->out);
		}
		fputs(";\n", g->out);
		return;
	}
	fprintf(g->out, "%s %s", from, back ? "-.->" : "-->");
	if (label) {
		fputs("|\"", g->out);
		put_text(g, label);
		fputs("\"|", g->out);
	}
	fprintf(g->out, " %s\n", to);
}

static void cluster_open(struct graph *g, const char *id, const char *label)
{
	indent(g);
	if (g->fmt == DOT) {
		fprintf(g->out, "subgraph cluster_%s {\n", id);
		g->depth++;
		indent(g);
		fputs("label=\"", g->out);
		put_text(g, label);
		fputs("\";\n", g->out);
	} else {
		fprintf(g->out, "subgraph %s_c[\"", id);
		put_text(g, label);
		fputs("\"]\n", g->out);
		g->depth++;
	}
}

static void cluster_close(struct graph *g)
{
	g->depth--;
	indent(g);
	fputs(g->fmt == DOT ? "}\n" : "end\n", g->out);
}

static void connect(struct graph *g, struct tails *from, const char *to)
{
	for (size_t i = 0; i < from->n; i++)
		edge(g, from->ids[i], to, from->labels[i], false);
	tails_clear(from);
}

static void steps(struct graph *g, const struct fr_steps *ss, struct tails *t);

static char *step_text(const struct fr_step *s)
{
	struct fr_buf b;

	fr_buf_init(&b);
	if (s->id)
		fr_buf_printf(&b, "%s\n", s->id);
	switch (s->kind) {
	case FR_STEP_ACTION:
		fr_buf_printf(&b, "action %s", s->action_name ? s->action_name : "?");
		break;
	case FR_STEP_LOOP:
		fr_buf_printf(&b, "loop over %s as $%s",
			      s->over ? s->over->text : "?", s->as ? s->as : "item");
		break;
	default:
		fr_buf_puts(&b, fr_step_kind_name(s->kind));
		break;
	}
	if (s->cond)
		fr_buf_printf(&b, "\nif %s", s->cond->text);
	return fr_buf_steal(&b);
}

static void step(struct graph *g, const struct fr_step *s, struct tails *t)
{
	char id[64], *text = step_text(s);
	const char *error;
	enum did did = step_did(g, s, &error);

	if (did == DID_FAIL && error) {
		/* cut between UTF-8 characters */
		size_t n = strlen(error);
		char *with;
		if (n > ERROR_SHOWN) {
			n = ERROR_SHOWN;
			while (n > 0 && ((unsigned char)error[n] & 0xc0) == 0x80)
				n--;
		}
		with = fr_xasprintf("%s\nerror: %.*s%s", text, (int)n, error,
				    n < strlen(error) ? "..." : "");
		free(text);
		text = with;
	}

	snprintf(id, sizeof(id), "f%zu_s%zu", g->flow, g->next++);
	if (s->kind == FR_STEP_LOOP) {
		struct tails body = { 0 };
		/* the node carries the loop's text, the cluster only says what
		 * it holds; the edge in is written outside the cluster, where an
		 * edge statement would pull the step before it into the loop */
		cluster_open(g, id, "loop body");
		node(g, id, "box", text, did);
		tails_add(&body, id, "each");
		steps(g, &s->body, &body);
		for (size_t i = 0; i < body.n; i++)
			edge(g, body.ids[i], id, "next", true);
		tails_clear(&body);
		cluster_close(g);
		connect(g, t, id);
		tails_add(t, id, "done");
	} else if (s->kind == FR_STEP_BRANCH) {
		struct tails out = { 0 };
		node(g, id, "diamond", text, did);
		connect(g, t, id);
		for (size_t i = 0; i < s->ncases; i++) {
			struct tails c = { 0 };
			char *label = fr_xasprintf("%s: %s",
				s->cases[i].name ? s->cases[i].name : "?",
				s->cases[i].when ? s->cases[i].when->text : "?");
			tails_add(&c, id, label);
			free(label);
			steps(g, &s->cases[i].steps, &c);
			tails_move(&out, &c);
		}
		if (s->has_else) {
			struct tails c = { 0 };
			tails_add(&c, id, "else");
			steps(g, &s->else_steps, &c);
			tails_move(&out, &c);
		} else {
			tails_add(&out, id, "no match");
		}
		tails_move(t, &out);
	} else {
		node(g, id, s->kind == FR_STEP_FAIL || s->kind == FR_STEP_STOP
				    ? "octagon" : "box", text, did);
		connect(g, t, id);
		if (s->kind != FR_STEP_FAIL && s->kind != FR_STEP_STOP)
			tails_add(t, id, NULL);
	}
	free(text);
}

static void steps(struct graph *g, const struct fr_steps *ss, struct tails *t)
{
	for (size_t i = 0; i < ss->n; i++)
		step(g, ss->v[i], t);
}

static void flow(struct graph *g, const struct fr_flow *f)
{
	struct tails t = { 0 };
	char id[64], *label;

	snprintf(id, sizeof(id), "f%zu", g->flow);
	label = fr_xasprintf("%s/%s", f->integration->name, f->name);
	cluster_open(g, id, label);
	free(label);
	snprintf(id, sizeof(id), "f%zu_start", g->flow);
	label = f->trigger == FR_TRIGGER_SCHEDULE
			? fr_xasprintf("schedule %s", f->schedule)
			: fr_xstrdup(fr_trigger_name(f->trigger));
	node(g, id, "circle", label, DID_OK);
	free(label);
	tails_add(&t, id, NULL);
	steps(g, &f->steps, &t);
	snprintf(id, sizeof(id), "f%zu_end", g->flow);
	node(g, id, "circle", "end", g->marks && g->marks->end_reached
				       ? DID_OK : DID_NOTHING);
	connect(g, &t, id);
	cluster_close(g);
	g->flow++;
	g->next = 0;
}

#define DOT_HEAD "digraph flowrun {\n  node [fontname=\"Helvetica\"];\n" \
	"  edge [fontname=\"Helvetica\", fontsize=10];\n"

static void add_mark(struct marks *m, int line, enum did did, const char *error)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].line != line)
			continue;
		/* a step that ran in several iterations: the worst */
		if (did > m->v[i].did) {
			m->v[i].did = did;
			m->v[i].error = error;
		}
		return;
	}
	fr_grow(&m->v, &m->cap, m->n + 1, sizeof(*m->v));
	m->v[m->n++] = (struct mark){ line, did, error };
}

/* Every step record of a trace's steps, through branches and loops. */
static void collect(struct marks *m, const json_t *steps)
{
	size_t i, k;
	json_t *r, *it;

	json_array_foreach(steps, i, r) {
		const char *status = json_string_value(json_object_get(r, "status"));
		json_t *line = json_object_get(r, "line");
		enum did did = !status ? DID_NOTHING
			: strcmp(status, "failed") == 0 ? DID_FAIL
			: strcmp(status, "skipped") == 0 ? DID_SKIP : DID_OK;
		if (json_is_integer(line))
			add_mark(m, (int)json_integer_value(line), did,
				 json_string_value(json_object_get(r, "error")));
		collect(m, json_object_get(r, "steps"));
		json_array_foreach(json_object_get(r, "iterations"), k, it)
			collect(m, json_object_get(it, "steps"));
	}
}

int fr_graph_execution(FILE *out, const struct fr_flow *f, const json_t *trace,
		       const char *format)
{
	struct marks m = { 0 };
	struct graph g = { .out = out, .fmt = DOT, .depth = 1, .marks = &m };
	const char *status = json_string_value(json_object_get(trace, "status"));

	if (strcmp(format, "mermaid") == 0)
		g.fmt = MERMAID;
	else if (strcmp(format, "dot") != 0)
		return -1;
	collect(&m, json_object_get(trace, "steps"));
	m.end_reached = status && strcmp(status, "ok") == 0;
	if (g.fmt == DOT) {
		fputs(DOT_HEAD, out);
	} else {
		fputs("flowchart TD\n"
		      "  classDef ok fill:#c8e6c9,stroke:#2e7d32\n"
		      "  classDef failed fill:#ffcdd2,stroke:#c62828,stroke-width:2px\n"
		      "  classDef skipped fill:#eeeeee,stroke:#9e9e9e,"
		      "stroke-dasharray:4 2\n"
		      "  classDef notreached fill:#ffffff,stroke:#bdbdbd,"
		      "color:#9e9e9e,stroke-dasharray:2 2\n", out);
	}
	flow(&g, f);
	if (g.fmt == DOT)
		fputs("}\n", out);
	free(m.v);
	return 0;
}

int cmd_graph(int argc, char **argv)
{
	enum { OPT_FLOW = FR_OPT_FIRST_LOCAL, OPT_FORMAT };
	static const struct option options[] = {
		FR_COMMON_OPTIONS,
		{ "flow", required_argument, NULL, OPT_FLOW },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ 0 },
	};
	const struct fr_cmd *cmd = fr_cmd_find("graph");
	struct fr_common common;
	struct fr_project *p = NULL;
	struct fr_diag d;
	struct graph g = { .out = stdout, .fmt = DOT, .depth = 1 };
	const char *only = NULL;
	const struct fr_flow *one = NULL;
	int opt, rc = -1;

	fr_common_init(&common);
	while (rc < 0 && (opt = getopt_long(argc, argv, FR_COMMON_SHORT, options,
					    NULL)) != -1) {
		if (opt == OPT_FLOW)
			only = optarg;
		else if (opt == OPT_FORMAT && strcmp(optarg, "dot") == 0)
			g.fmt = DOT;
		else if (opt == OPT_FORMAT && strcmp(optarg, "mermaid") == 0)
			g.fmt = MERMAID;
		else if (opt == OPT_FORMAT)
			rc = fr_usage_error(cmd, "--format must be dot or mermaid");
		else
			rc = fr_common_option(&common, cmd, opt, optarg);
	}
	if (rc >= 0)
		goto out;
	fr_diag_init(&d, stderr);
	fr_common_load(&p, &common, argv + optind, (size_t)(argc - optind), &d);
	fr_diag_flush(&d);
	if (d.nerrors) {
		rc = FR_EXIT_INVALID;
		goto out;
	}
	if (only && !(one = fr_project_flow(p, only))) {
		fr_log_say(FR_LOG_ERROR, "graph", "no flow '%s' (or more than one; "
				"write INTEGRATION/FLOW)", only);
		rc = FR_EXIT_USAGE;
		goto out;
	}
	fputs(g.fmt == DOT ? DOT_HEAD : "flowchart TD\n", stdout);
	for (size_t i = 0; i < p->nintegrations; i++) {
		for (size_t j = 0; j < p->integrations[i]->nflows; j++) {
			const struct fr_flow *f = &p->integrations[i]->flows[j];
			if (!one || one == f)
				flow(&g, f);
		}
	}
	if (g.fmt == DOT)
		fputs("}\n", stdout);
	rc = FR_EXIT_OK;
out:
	fr_project_destroy(p);
	fr_common_finish(&common);
	return rc;
}
