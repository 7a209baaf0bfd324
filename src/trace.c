#include "trace.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

struct printer {
	FILE *out;
	bool color;
	int verbosity;
};

static const char *paint(const struct printer *p, const char *status)
{
	if (!p->color)
		return "";
	if (strcmp(status, "ok") == 0)
		return "\033[32m";
	if (strcmp(status, "failed") == 0)
		return "\033[31m";
	return "\033[33m";
}

/* Text from data, on one line: it cannot forge a line of the trace. */
static void put_text(FILE *out, const char *s)
{
	char *e = fr_escape_controls(s ? s : "?");

	fputs(e, out);
	free(e);
}

static void indent(const struct printer *p, int depth)
{
	for (int i = 0; i < depth; i++)
		fputs("  ", p->out);
}

static void print_json_block(const struct printer *p, int depth,
			     const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
	char *line, *save = NULL;

	if (!s)
		return;
	for (line = strtok_r(s, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		indent(p, depth);
		fprintf(p->out, "%s\n", line);
	}
	free(s);
}

static void print_steps(const struct printer *p, const json_t *steps, int depth);

static void print_step(const struct printer *p, const json_t *s, int depth)
{
	const char *status = json_string_value(json_object_get(s, "status"));
	const char *id = json_string_value(json_object_get(s, "id"));
	const char *kind = json_string_value(json_object_get(s, "kind"));
	const char *action = json_string_value(json_object_get(s, "action"));
	const json_t *http = json_object_get(s, "http");
	const json_t *req = json_object_get(s, "request");
	const json_t *v;
	size_t i;

	if (!status)
		status = "?";
	indent(p, depth);
	fprintf(p->out, "%s%-7s%s %s", paint(p, status), status,
		p->color ? "\033[0m" : "", id ? id : "-");
	fprintf(p->out, "  %s", kind ? kind : "?");
	if (action)
		fprintf(p->out, " %s", action);
	if ((v = json_object_get(s, "branch")))
		fprintf(p->out, " -> %s", json_is_string(v) ? json_string_value(v)
							   : "no case");
	if ((v = json_object_get(s, "iterations")))
		fprintf(p->out, " (%zu iteration%s)", json_array_size(v),
			json_array_size(v) == 1 ? "" : "s");
	if ((v = json_object_get(s, "retries")))
		fprintf(p->out, " (retried %lld)", (long long)json_integer_value(v));
	if (json_object_get(s, "mocked"))
		fputs(" (mock)", p->out);
	fprintf(p->out, "  %.1f ms\n",
		json_number_value(json_object_get(s, "duration_ms")));
	json_array_foreach(http, i, v) {
		const json_t *st = json_object_get(v, "status");
		indent(p, depth + 2);
		put_text(p->out, json_string_value(json_object_get(v, "method")));
		fputc(' ', p->out);
		put_text(p->out, json_string_value(json_object_get(v, "url")));
		if (st) {
			fprintf(p->out, " -> %lld", (long long)json_integer_value(st));
		} else {
			fputs(" -> ", p->out);
			put_text(p->out, json_string_value(json_object_get(v, "error")));
		}
		fprintf(p->out, "  %.1f ms\n",
			json_number_value(json_object_get(v, "duration_ms")));
	}
	if (req) {
		const char *key;
		indent(p, depth + 2);
		fputs("would send: ", p->out);
		put_text(p->out, json_string_value(json_object_get(req, "method")));
		fputc(' ', p->out);
		put_text(p->out, json_string_value(json_object_get(req, "url")));
		fputc('\n', p->out);
		json_object_foreach((json_t *)json_object_get(req, "headers"), key, v) {
			indent(p, depth + 3);
			put_text(p->out, key);
			fputs(": ", p->out);
			put_text(p->out, json_string_value(v));
			fputc('\n', p->out);
		}
		if ((v = json_object_get(req, "body")))
			print_json_block(p, depth + 3, v);
	}
	if ((v = json_object_get(s, "error"))) {
		indent(p, depth + 2);
		fputs("error: ", p->out);
		put_text(p->out, json_string_value(v));
		fputc('\n', p->out);
	}
	if (p->verbosity > 0 && (v = json_object_get(s, "output"))) {
		indent(p, depth + 2);
		fputs("output:\n", p->out);
		print_json_block(p, depth + 3, v);
	}
	if ((v = json_object_get(s, "steps")))
		print_steps(p, v, depth + 1);
	json_array_foreach(json_object_get(s, "iterations"), i, v) {
		indent(p, depth + 1);
		fprintf(p->out, "[%zu]\n", i);
		print_steps(p, json_object_get(v, "steps"), depth + 2);
	}
}

static void print_steps(const struct printer *p, const json_t *steps, int depth)
{
	size_t i;
	const json_t *s;

	json_array_foreach(steps, i, s)
		print_step(p, s, depth);
}

void fr_trace_print(FILE *out, const json_t *t, bool color, int verbosity)
{
	struct printer p = { out, color, verbosity };
	const char *status = json_string_value(json_object_get(t, "status"));
	const json_t *err = json_object_get(t, "error");

	fprintf(out, "%s/%s  instance %s  execution %s%s\n",
		json_string_value(json_object_get(t, "integration")),
		json_string_value(json_object_get(t, "flow")),
		json_string_value(json_object_get(t, "instance")),
		json_string_value(json_object_get(t, "execution")),
		json_is_true(json_object_get(t, "dry_run")) ? "  (dry-run)" : "");
	print_steps(&p, json_object_get(t, "steps"), 1);
	fprintf(out, "%s%s%s in %.1f ms (%lld requests, %lld writes sent, "
		"%lld not sent)\n", paint(&p, status ? status : "?"),
		status ? status : "?", color ? "\033[0m" : "",
		json_number_value(json_object_get(t, "duration_ms")),
		(long long)json_integer_value(json_object_get(t, "requests")),
		(long long)json_integer_value(json_object_get(t, "writes_sent")),
		(long long)json_integer_value(json_object_get(t, "writes_skipped")));
	if (json_is_string(err)) {
		fputs("error: ", out);
		put_text(out, json_string_value(err));
		fputc('\n', out);
	}
}
