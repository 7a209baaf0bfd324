/*
 * flow: the integration-file loader (flow.h): flows and their triggers
 * (webhook options, verification, schedules), config and connections.
 * The steps are flow_steps.c's; flow_load.h is what the two share.
 */
#include "flow_load.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "cron.h"
#include "expr.h"
#include "hashmap.h"
#include "json.h"
#include "schema.h"
#include "util.h"

#define DEFAULT_FLOW_TIMEOUT_MS (15 * 60 * 1000)
#define DEFAULT_MAX_BODY (1024 * 1024)
#define DEFAULT_TOLERANCE_MS (5 * 60 * 1000)

const char *fr_trigger_name(enum fr_trigger t)
{
	static const char *const names[] = { "manual", "deploy", "remove",
					     "webhook", "schedule" };
	return names[t];
}

static char *dup_or_null(const char *s)
{
	return s ? fr_xstrdup(s) : NULL;
}

static void parse_verify(struct loader *l, const struct fr_ynode *n,
			 struct fr_verify *vf)
{
	static const char *const keys[] = { "scheme", "header", "prefix",
					    "encoding", "secret", "tolerance",
					    NULL };
	static const char *const schemes[] = { "hmac-sha256", "github", "stripe",
					       "slack", "standard-webhooks",
					       "token", NULL };
	const struct fr_ynode *v;

	vf->loc = n->loc;
	vf->tolerance_ms = DEFAULT_TOLERANCE_MS;
	if (!fr_schema_is_map(l->d, n, "'verify'"))
		return;
	fr_schema_keys(l->d, n, keys, "verify");
	if ((v = fr_schema_require(l->d, n, "scheme", "verify")) &&
	    fr_schema_string(l->d, v, "'scheme'")) {
		size_t i;
		for (i = 0; schemes[i]; i++) {
			if (strcmp(schemes[i], v->value) == 0)
				break;
		}
		if (!schemes[i]) {
			char *hint = fr_did_you_mean(v->value, schemes, i);
			fr_diag_hint(l->d, FR_ERROR, &v->loc, hint,
				     "unknown verify scheme '%s'", v->value);
			free(hint);
		}
		vf->scheme = fr_xstrdup(v->value);
	}
	if ((v = fr_ymap_get(n, "header")) && fr_schema_string(l->d, v, "'header'"))
		vf->header = fr_xstrdup(v->value);
	if ((v = fr_ymap_get(n, "prefix")) && fr_schema_string(l->d, v, "'prefix'"))
		vf->prefix = fr_xstrdup(v->value);
	if ((v = fr_ymap_get(n, "encoding")) &&
	    fr_schema_string(l->d, v, "'encoding'")) {
		if (strcmp(v->value, "hex") && strcmp(v->value, "base64"))
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "'encoding' must be hex or base64");
		vf->encoding = fr_xstrdup(v->value);
	}
	if ((v = fr_schema_require(l->d, n, "secret", "verify")))
		vf->secret = fr_load_tmpl(l, v);
	if ((v = fr_ymap_get(n, "tolerance")))
		fr_schema_duration(l->d, v, "'tolerance'", &vf->tolerance_ms);
	if (vf->scheme && (!strcmp(vf->scheme, "hmac-sha256") ||
			   !strcmp(vf->scheme, "token")) && !vf->header)
		fr_diag_at(l->d, FR_ERROR, &n->loc,
			   "verify scheme '%s' needs 'header'", vf->scheme);
}

static void parse_webhook(struct loader *l, const struct fr_ynode *n,
			  struct fr_webhook *w)
{
	static const char *const keys[] = { "path", "methods", "verify",
					    "respond", "dedupe", "concurrency",
					    "fifo", "retry", "max_body", NULL };
	const struct fr_ynode *v;
	long long x;

	w->max_body = DEFAULT_MAX_BODY;
	w->retry.attempts = 1;
	if (!n || fr_ynode_is_null(n))
		goto methods;
	if (!fr_schema_is_map(l->d, n, "'webhook'"))
		goto methods;
	fr_schema_keys(l->d, n, keys, "webhook trigger");
	if ((v = fr_ymap_get(n, "path")) && fr_schema_string(l->d, v, "'path'")) {
		if (v->value[0] != '/')
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "'path' must start with '/'");
		w->path = fr_xstrdup(v->value);
	}
	if ((v = fr_ymap_get(n, "methods")) && fr_schema_is_seq(l->d, v, "'methods'")) {
		w->methods = fr_xcalloc(v->n, sizeof(char *));
		for (size_t i = 0; i < v->n; i++) {
			const char *m = fr_schema_string(l->d, v->items[i], "a method");
			if (m)
				w->methods[w->nmethods++] = fr_xstrdup(m);
		}
	}
	if ((v = fr_ymap_get(n, "verify")))
		parse_verify(l, v, &w->verify);
	if ((v = fr_ymap_get(n, "respond")) && fr_schema_string(l->d, v, "'respond'")) {
		if (strcmp(v->value, "sync") == 0)
			w->sync = true;
		else if (strcmp(v->value, "async") != 0)
			fr_diag_at(l->d, FR_ERROR, &v->loc,
				   "'respond' must be async or sync");
	}
	if ((v = fr_ymap_get(n, "dedupe")))
		w->dedupe = fr_load_expr(l, v);
	if ((v = fr_ymap_get(n, "concurrency")) &&
	    fr_schema_int(l->d, v, "'concurrency'", 1, 1024, &x))
		w->concurrency = (int)x;
	if ((v = fr_ymap_get(n, "fifo")))
		fr_schema_bool(l->d, v, "'fifo'", &w->fifo);
	if ((v = fr_ymap_get(n, "retry")))
		fr_load_retry(l, v, &w->retry, "'retry'");
	if ((v = fr_ymap_get(n, "max_body")))
		fr_schema_size(l->d, v, "'max_body'", &w->max_body);
methods:
	if (w->nmethods == 0) {
		w->methods = fr_xrealloc(w->methods, sizeof(char *));
		w->methods[0] = fr_xstrdup("POST");
		w->nmethods = 1;
	}
}

static void parse_trigger(struct loader *l, const struct fr_ynode *n,
			  struct fr_flow *f)
{
	static const char *const names[] = { "manual", "deploy", "remove",
					     "webhook", "schedule", NULL };
	const struct fr_ynode *key, *val;
	const char *name;

	f->trigger_loc = n->loc;
	if (n->kind == FR_YSCALAR) {
		name = n->value;
		key = n;
		val = NULL;
	} else if (n->kind == FR_YMAP && fr_ymap_len(n) == 1) {
		key = fr_ymap_key(n, 0);
		val = fr_ymap_val(n, 0);
		name = key->value;
	} else {
		fr_diag_at(l->d, FR_ERROR, &n->loc,
			   "'trigger' must be manual, deploy, remove, "
			   "{webhook: ...} or {schedule: CRON}");
		return;
	}
	for (int i = 0; names[i]; i++) {
		if (strcmp(name, names[i]) == 0) {
			f->trigger = (enum fr_trigger)i;
			goto found;
		}
	}
	{
		char *hint = fr_did_you_mean(name, names, 5);
		fr_diag_hint(l->d, FR_ERROR, &key->loc, hint,
			     "unknown trigger '%s'", name);
		free(hint);
	}
	return;
found:
	if (f->trigger == FR_TRIGGER_WEBHOOK) {
		parse_webhook(l, val, &f->webhook);
	} else if (f->trigger == FR_TRIGGER_SCHEDULE) {
		char *err = NULL;
		if (!val) {
			fr_diag_at(l->d, FR_ERROR, &key->loc,
				   "a schedule trigger needs a cron expression: "
				   "{schedule: \"*/5 * * * *\"}");
			return;
		}
		if (!fr_schema_string(l->d, val, "'schedule'"))
			return;
		f->schedule = fr_xstrdup(val->value);
		if (fr_cron_parse(&f->cron, val->value, &err) < 0) {
			fr_diag_at(l->d, FR_ERROR, &val->loc, "%s", err);
			free(err);
		}
	} else if (val && !fr_ynode_is_null(val)) {
		fr_diag_at(l->d, FR_ERROR, &val->loc,
			   "trigger '%s' takes no options", name);
	}
}

static void parse_flow(struct loader *l, const struct fr_ynode *key,
		       const struct fr_ynode *n, struct fr_flow *f)
{
	static const char *const keys[] = { "description", "trigger", "steps",
					    "timeout", NULL };
	const struct fr_ynode *v;

	f->name = fr_xstrdup(key->value);
	f->loc = key->loc;
	f->timeout_ms = DEFAULT_FLOW_TIMEOUT_MS;
	fr_schema_name(l->d, key, "flow name");
	if (!fr_schema_is_map(l->d, n, "a flow"))
		return;
	fr_schema_keys(l->d, n, keys, "flow");
	l->nids = 0;
	fr_hashmap_clear(&l->id_index);
	l->sc.flow = f->name;
	l->sc.check_steps = true;
	l->sc.step_ids = l->ids;
	l->sc.nstep_ids = 0;
	if ((v = fr_ymap_get(n, "description")) &&
	    fr_schema_string(l->d, v, "'description'"))
		f->description = fr_xstrdup(v->value);
	if ((v = fr_ymap_get(n, "timeout")))
		fr_schema_duration(l->d, v, "'timeout'", &f->timeout_ms);
	if ((v = fr_ymap_get(n, "trigger")))
		parse_trigger(l, v, f);
	if ((v = fr_schema_require(l->d, n, "steps", "flow")))
		fr_load_steps(l, v, &f->steps, "'steps'");
	l->sc.check_steps = false;
}

/* A `file:` path, relative to the directory of the file that declares it. */
static char *config_file_path(struct fr_diag *d, const struct fr_ynode *v)
{
	const char *path = v->loc.src ? v->loc.src->path : NULL;
	const char *slash = path ? strrchr(path, '/') : NULL;
	struct fr_buf b;

	if (!v->value[0]) {
		fr_diag_at(d, FR_ERROR, &v->loc, "'file' must name a file");
		return NULL;
	}
	if (v->value[0] == '/' || !slash)
		return fr_xstrdup(v->value);
	fr_buf_init(&b);
	fr_buf_printf(&b, "%.*s/%s", (int)(slash - path), path, v->value);
	return fr_buf_steal(&b);
}

static void parse_config(struct loader *l, const struct fr_ynode *n,
			 struct fr_integration *in)
{
	static const char *const keys[] = { "default", "description", "required",
					    "secret", "env", "file", "type",
					    NULL };
	static const char *const types[] = { "any", "string", "number",
					     "boolean", "object", "array", NULL };

	if (!fr_schema_is_map(l->d, n, "'config'"))
		return;
	in->config = fr_xcalloc(fr_ymap_len(n), sizeof(*in->config));
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		const struct fr_ynode *k = fr_ymap_key(n, i), *c = fr_ymap_val(n, i), *v;
		struct fr_config_var *cv = &in->config[in->nconfig++];
		bool required_given = false;

		cv->name = fr_xstrdup(k->value);
		cv->loc = k->loc;
		if (!fr_load_ident_ok(k->value))
			fr_diag_at(l->d, FR_ERROR, &k->loc,
				   "invalid config name '%s'; use letters, "
				   "digits and '_'", k->value);
		if (fr_ynode_is_null(c)) {
			cv->required = true;
			continue;
		}
		if (!fr_schema_is_map(l->d, c, "a config variable"))
			continue;
		fr_schema_keys(l->d, c, keys, "config variable");
		if ((v = fr_ymap_get(c, "default")))
			cv->def = fr_ynode_to_json(v);
		if ((v = fr_ymap_get(c, "description")) &&
		    fr_schema_string(l->d, v, "'description'"))
			cv->description = fr_xstrdup(v->value);
		if ((v = fr_ymap_get(c, "required")))
			required_given = fr_schema_bool(l->d, v, "'required'",
							&cv->required);
		if (!required_given)
			cv->required = cv->def == NULL;
		if ((v = fr_ymap_get(c, "secret")))
			fr_schema_bool(l->d, v, "'secret'", &cv->secret);
		if ((v = fr_ymap_get(c, "env")) && fr_schema_string(l->d, v, "'env'"))
			cv->env = fr_xstrdup(v->value);
		if ((v = fr_ymap_get(c, "file")) && fr_schema_string(l->d, v, "'file'")) {
			cv->file = config_file_path(l->d, v);
			if (cv->def)	/* a file that cannot be read is an error */
				fr_diag_at(l->d, FR_ERROR, &v->loc, "config "
					   "variable '%s' has both 'default' and "
					   "'file'; the default would never be "
					   "used, remove one", cv->name);
		}
		if ((v = fr_ymap_get(c, "type")) && fr_schema_string(l->d, v, "'type'")) {
			size_t t;
			for (t = 0; types[t]; t++) {
				if (strcmp(types[t], v->value) == 0)
					break;
			}
			if (!types[t])
				fr_diag_at(l->d, FR_ERROR, &v->loc,
					   "unknown type '%s'; expected string, "
					   "number, boolean, object or array",
					   v->value);
			else
				cv->type = (enum fr_type)t;
		}
		if (cv->def && !json_is_null(cv->def) &&
		    !fr_type_ok(cv->type, cv->def))
			fr_diag_at(l->d, FR_ERROR, &fr_ymap_get(c, "default")->loc,
				   "the default of config variable '%s' must be "
				   "%s, not %s", cv->name, fr_type_name(cv->type),
				   fr_json_kind(cv->def));
	}
}

static void parse_connections(struct loader *l, const struct fr_ynode *n,
			      struct fr_integration *in)
{
	static const char *const keys[] = { "connector", "with", NULL };

	if (!fr_schema_is_map(l->d, n, "'connections'"))
		return;
	in->connections = fr_xcalloc(fr_ymap_len(n), sizeof(*in->connections));
	for (size_t i = 0; i < fr_ymap_len(n); i++) {
		const struct fr_ynode *k = fr_ymap_key(n, i), *c = fr_ymap_val(n, i), *v;
		struct fr_connection *cn = &in->connections[in->nconnections++];

		cn->name = fr_xstrdup(k->value);
		cn->loc = k->loc;
		fr_schema_name(l->d, k, "connection name");
		if (!fr_schema_is_map(l->d, c, "a connection"))
			continue;
		fr_schema_keys(l->d, c, keys, "connection");
		if ((v = fr_schema_require(l->d, c, "connector", "connection")) &&
		    fr_schema_string(l->d, v, "'connector'")) {
			cn->connector_name = fr_xstrdup(v->value);
			cn->connector_loc = v->loc;
		}
		if ((v = fr_ymap_get(c, "with")) && fr_schema_is_map(l->d, v, "'with'"))
			cn->with = fr_load_tmpl(l, v);
	}
}

int fr_integration_load(struct fr_integration **out, const struct fr_ydoc *doc,
			struct fr_jqx_prog *prog, struct fr_diag *d)
{
	static const char *const keys[] = { "integration", "description",
					    "config", "connections", "flows",
					    NULL };
	const struct fr_ynode *root = doc->root, *v;
	struct fr_integration *in;
	struct loader l = { .d = d };

	*out = NULL;
	if (!root || fr_ynode_is_null(root)) {
		struct fr_loc loc = { doc->src, 1, 1 };
		fr_diag_at(d, FR_ERROR, &loc,
			   "empty file; expected a mapping with 'integration' "
			   "and 'flows'");
		return -1;
	}
	if (root->kind != FR_YMAP) {
		fr_diag_at(d, FR_ERROR, &root->loc,
			   "a flow file must be a mapping with 'integration' "
			   "and 'flows', not %s", fr_ynode_what(root));
		return -1;
	}
	in = fr_xcalloc(1, sizeof(*in));
	in->loc = root->loc;
	l.sc.prog = prog;
	l.sc.d = d;
	l.sc.vars = l.vars;
	l.sc.in = in;
	fr_schema_keys(d, root, keys, "integration");
	if ((v = fr_schema_require(d, root, "integration", "flow file")) &&
	    fr_schema_name(d, v, "integration name"))
		in->name = fr_xstrdup(v->value);
	if (!in->name)
		in->name = fr_xstrdup("?");
	if ((v = fr_ymap_get(root, "description")) &&
	    fr_schema_string(d, v, "'description'"))
		in->description = dup_or_null(v->value);
	if ((v = fr_ymap_get(root, "config")))
		parse_config(&l, v, in);
	if ((v = fr_ymap_get(root, "connections")))
		parse_connections(&l, v, in);
	if ((v = fr_schema_require(d, root, "flows", "flow file")) &&
	    fr_schema_is_map(d, v, "'flows'")) {
		in->flows = fr_xcalloc(fr_ymap_len(v), sizeof(*in->flows));
		for (size_t i = 0; i < fr_ymap_len(v); i++) {
			struct fr_flow *f = &in->flows[in->nflows++];
			f->integration = in;
			parse_flow(&l, fr_ymap_key(v, i), fr_ymap_val(v, i), f);
		}
	}
	free(l.ids);
	free(l.id_steps);
	free(l.hidden);
	fr_hashmap_finish(&l.id_index);
	*out = in;
	return 0;
}

void fr_integration_destroy(struct fr_integration *in)
{
	if (!in)
		return;
	free(in->name);
	free(in->description);
	for (size_t i = 0; i < in->nconfig; i++) {
		struct fr_config_var *c = &in->config[i];
		free(c->name);
		free(c->description);
		json_decref(c->def);
		free(c->env);
		free(c->file);
	}
	free(in->config);
	for (size_t i = 0; i < in->nconnections; i++) {
		free(in->connections[i].name);
		free(in->connections[i].connector_name);
		fr_tmpl_destroy(in->connections[i].with);
	}
	free(in->connections);
	for (size_t i = 0; i < in->nflows; i++) {
		struct fr_flow *f = &in->flows[i];
		free(f->name);
		free(f->description);
		free(f->webhook.path);
		for (size_t m = 0; m < f->webhook.nmethods; m++)
			free(f->webhook.methods[m]);
		free(f->webhook.methods);
		free(f->webhook.verify.scheme);
		free(f->webhook.verify.header);
		free(f->webhook.verify.prefix);
		free(f->webhook.verify.encoding);
		fr_tmpl_destroy(f->webhook.verify.secret);
		fr_expr_destroy(f->webhook.dedupe);
		free(f->schedule);
		fr_steps_finish(&f->steps);
	}
	free(in->flows);
	free(in->root);
	free(in);
}

const struct fr_flow *fr_integration_flow(const struct fr_integration *in,
					  const char *name)
{
	for (size_t i = 0; i < in->nflows; i++) {
		if (strcmp(in->flows[i].name, name) == 0)
			return &in->flows[i];
	}
	return NULL;
}

const struct fr_config_var *fr_integration_config(const struct fr_integration *in,
						  const char *name)
{
	for (size_t i = 0; i < in->nconfig; i++) {
		if (strcmp(in->config[i].name, name) == 0)
			return &in->config[i];
	}
	return NULL;
}
