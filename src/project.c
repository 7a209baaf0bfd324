#define _XOPEN_SOURCE 700	/* realpath */
#include "project.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "connector.h"
#include "expr.h"
#include "flow.h"
#include "json.h"
#include "schema.h"
#include "util.h"
#include "ydoc.h"

struct names {
	char **v;
	size_t n, cap;
};

static void names_add_unique(struct names *ns, const char *s)
{
	for (size_t i = 0; i < ns->n; i++) {
		if (strcmp(ns->v[i], s) == 0)
			return;
	}
	fr_grow(&ns->v, &ns->cap, ns->n + 1, sizeof(*ns->v));
	ns->v[ns->n++] = fr_xstrdup(s);
}

/* Whether paths a and b name one file or directory (by real path). */
static bool same_path(const char *a, const char *b)
{
	char *ra = realpath(a, NULL), *rb = realpath(b, NULL);
	bool same = ra && rb ? strcmp(ra, rb) == 0 : strcmp(a, b) == 0;

	free(ra);
	free(rb);
	return same;
}

/* Adds a directory unless one of ns is the same directory by another name
 * (./connectors and --connectors connectors). */
static void names_add_dir(struct names *ns, const char *dir)
{
	for (size_t i = 0; i < ns->n; i++) {
		if (same_path(ns->v[i], dir))
			return;
	}
	names_add_unique(ns, dir);
}

static void names_finish(struct names *ns)
{
	for (size_t i = 0; i < ns->n; i++)
		free(ns->v[i]);
	free(ns->v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* *.yaml and *.yml, but not test files (*.test.yaml: flowrun-test(5)). */
static bool is_yaml_name(const char *name)
{
	size_t n = strlen(name);

	if ((n > 10 && strcmp(name + n - 10, ".test.yaml") == 0) ||
	    (n > 9 && strcmp(name + n - 9, ".test.yml") == 0))
		return false;
	return name[0] != '.' &&
	       ((n > 5 && strcmp(name + n - 5, ".yaml") == 0) ||
		(n > 4 && strcmp(name + n - 4, ".yml") == 0));
}

/* Appends dir's *.yaml files, sorted; a missing dir adds nothing. */
static int list_dir(struct names *out, const char *dir, bool must_exist,
		    struct fr_diag *d)
{
	DIR *dh = opendir(dir);
	struct names found = { 0 };
	struct dirent *e;

	if (!dh) {
		if (!must_exist && errno == ENOENT)
			return 0;
		fr_diag(d, FR_ERROR, "cannot read directory '%s': %s", dir,
			strerror(errno));
		return -1;
	}
	while ((e = readdir(dh)) != NULL) {
		if (is_yaml_name(e->d_name)) {
			char *path = fr_xasprintf("%s/%s", dir, e->d_name);
			names_add_unique(&found, path);
			free(path);
		}
	}
	closedir(dh);
	if (found.n)
		qsort(found.v, found.n, sizeof(*found.v), cmp_str);
	for (size_t i = 0; i < found.n; i++)
		names_add_unique(out, found.v[i]);
	names_finish(&found);
	return 0;
}

/* The project root of a flow file: parent of a `flows` dir, else its dir. */
static char *root_of(const char *file)
{
	char *copy = fr_xstrdup(file), *dir = fr_xstrdup(dirname(copy));
	char *copy2 = fr_xstrdup(dir), *base = basename(copy2), *root;

	if (strcmp(base, "flows") == 0) {
		char *copy3 = fr_xstrdup(dir);
		root = fr_xstrdup(dirname(copy3));
		free(copy3);
	} else {
		root = fr_xstrdup(dir);
	}
	free(copy);
	free(copy2);
	free(dir);
	return root;
}

static struct fr_source *read_source(struct fr_project *p, const char *path,
				     struct fr_diag *d)
{
	char *text = NULL, *err = NULL;
	size_t len;
	struct fr_source *src;

	p->nfiles++;
	if (fr_read_file(&text, &len, path, FR_MAX_FILE_SIZE, &err) < 0) {
		struct fr_source tmp = { .path = (char *)path };
		struct fr_loc loc = { &tmp, 0, 0 };
		fr_diag_at(d, FR_ERROR, &loc, "%s", err);
		free(err);
		return NULL;
	}
	src = fr_source_create(path, text, len);
	p->sources = fr_xrealloc(p->sources, (p->nsources + 1) * sizeof(*p->sources));
	p->sources[p->nsources++] = src;
	return src;
}

static struct fr_ydoc *read_doc(struct fr_project *p, const char *path,
				struct fr_diag *d)
{
	struct fr_source *src = read_source(p, path, d);
	struct fr_ydoc *doc = NULL;

	if (src)
		fr_ydoc_parse(&doc, src, d);
	return doc;
}

static void load_connector(struct fr_project *p, const char *path,
			   struct fr_diag *d)
{
	struct fr_ydoc *doc = read_doc(p, path, d);
	struct fr_connector *c = NULL;

	if (!doc)
		return;
	if (fr_connector_load(&c, doc, p->prog, d) == 0 &&
	    strcmp(c->name, "http") == 0) {
		fr_diag_at(d, FR_ERROR, &c->loc, "'http' is the built-in "
			   "connector; give this one another name");
		fr_connector_destroy(c);
		c = NULL;
	}
	if (c) {
		for (size_t i = 0; i < p->nconnectors; i++) {
			if (strcmp(p->connectors[i]->name, c->name) == 0 &&
			    !p->connectors[i]->builtin) {
				fr_diag_at(d, FR_WARNING, &c->loc,
					   "connector '%s' is also defined in %s; "
					   "the first one found is used",
					   c->name, p->connectors[i]->loc.src->path);
				fr_connector_destroy(c);
				c = NULL;
				break;
			}
		}
		if (c) {
			p->connectors = fr_xrealloc(p->connectors,
				(p->nconnectors + 1) * sizeof(*p->connectors));
			p->connectors[p->nconnectors++] = c;
		}
	}
	fr_ydoc_destroy(doc);
}

static void load_instance(struct fr_project *p, const char *path,
			  struct fr_diag *d)
{
	static const char *const keys[] = { "instance", "integration", "config",
					    "description", NULL };
	struct fr_ydoc *doc = read_doc(p, path, d);
	const struct fr_ynode *root, *v;
	struct fr_instance *inst;

	if (!doc)
		return;
	root = doc->root;
	if (!root || root->kind != FR_YMAP) {
		struct fr_loc loc = { doc->src, 1, 1 };
		fr_diag_at(d, FR_ERROR, root ? &root->loc : &loc,
			   "an instance file must be a mapping with 'instance', "
			   "'integration' and 'config'");
		fr_ydoc_destroy(doc);
		return;
	}
	inst = fr_xcalloc(1, sizeof(*inst));
	inst->loc = root->loc;
	fr_schema_keys(d, root, keys, "instance");
	if ((v = fr_schema_require(d, root, "instance", "instance file")) &&
	    fr_schema_name(d, v, "instance name"))
		inst->name = fr_xstrdup(v->value);
	if ((v = fr_schema_require(d, root, "integration", "instance file")) &&
	    fr_schema_string(d, v, "'integration'")) {
		inst->integration_name = fr_xstrdup(v->value);
		inst->loc = v->loc;
	}
	if ((v = fr_ymap_get(root, "config")) && fr_schema_is_map(d, v, "'config'")) {
		inst->config = fr_ynode_to_json(v);
		inst->values = fr_xcalloc(fr_ymap_len(v) + 1, sizeof(*inst->values));
		for (size_t i = 0; i < fr_ymap_len(v); i++) {
			struct fr_instance_value *iv = &inst->values[inst->nvalues++];
			iv->name = fr_xstrdup(fr_ymap_key(v, i)->value);
			iv->key_loc = fr_ymap_key(v, i)->loc;
			iv->value_loc = fr_ymap_val(v, i)->loc;
		}
	}
	if (!inst->config)
		inst->config = json_object();
	if (!inst->name)
		inst->name = fr_xstrdup("?");
	p->instances = fr_xrealloc(p->instances,
				   (p->ninstances + 1) * sizeof(*p->instances));
	p->instances[p->ninstances++] = inst;
	fr_ydoc_destroy(doc);
}

static const struct fr_connector *find_connector(const struct fr_project *p,
						 const char *name)
{
	for (size_t i = 0; i < p->nconnectors; i++) {
		if (strcmp(p->connectors[i]->name, name) == 0)
			return p->connectors[i];
	}
	return NULL;
}

static void report_unknown(struct fr_diag *d, const struct fr_loc *loc,
			   const char *what, const char *name,
			   const char *const *candidates, size_t n)
{
	char *hint = fr_did_you_mean(name, candidates, n);

	fr_diag_hint(d, FR_ERROR, loc, hint, "unknown %s '%s'", what, name);
	free(hint);
}

static void resolve_connection(struct fr_project *p, struct fr_connection *cn,
			       struct fr_diag *d)
{
	const char **names, **keys;
	const struct fr_connector *c;
	size_t nkeys = 0;

	if (!cn->connector_name)
		return;
	c = find_connector(p, cn->connector_name);
	if (!c) {
		names = fr_xcalloc(p->nconnectors + 1, sizeof(*names));
		for (size_t i = 0; i < p->nconnectors; i++)
			names[i] = p->connectors[i]->name;
		report_unknown(d, &cn->connector_loc, "connector",
			       cn->connector_name, names, p->nconnectors);
		free(names);
		return;
	}
	cn->connector = c;
	keys = cn->with ? fr_tmpl_object_keys(cn->with, &nkeys) : NULL;
	if (cn->with && !keys)
		return;	/* one ${{ }}: checked when rendered */
	for (size_t i = 0; i < c->ninputs; i++) {
		bool given = false;
		for (size_t k = 0; k < nkeys; k++)
			given |= strcmp(keys[k], c->inputs[i].name) == 0;
		if (c->inputs[i].required && !given)
			fr_diag_at(d, FR_ERROR, &cn->loc,
				   "connection '%s' lacks input '%s' of "
				   "connector '%s'", cn->name, c->inputs[i].name,
				   c->name);
	}
	names = fr_xcalloc(c->ninputs + 1, sizeof(*names));
	for (size_t i = 0; i < c->ninputs; i++)
		names[i] = c->inputs[i].name;
	for (size_t k = 0; k < nkeys; k++) {
		bool known = false;
		for (size_t i = 0; i < c->ninputs; i++)
			known |= strcmp(keys[k], c->inputs[i].name) == 0;
		if (!known)
			report_unknown(d, fr_tmpl_loc(cn->with), "input",
				       keys[k], names, c->ninputs);
	}
	free(names);
	free(keys);
}

struct step_resolver {
	struct fr_project *p;
	struct fr_integration *in;
	struct fr_diag *d;
};

static void resolve_step(const struct fr_step *cs, void *data)
{
	struct step_resolver *r = data;
	struct fr_step *s = (struct fr_step *)cs;	/* still loading */
	const char *dot;
	char *conn_name;
	const struct fr_connection *cn = NULL;

	if (s->kind != FR_STEP_ACTION || !s->action_name)
		return;
	dot = strchr(s->action_name, '.');
	if (!dot)
		return;
	conn_name = fr_xstrndup(s->action_name, (size_t)(dot - s->action_name));
	for (size_t i = 0; i < r->in->nconnections; i++) {
		if (strcmp(r->in->connections[i].name, conn_name) == 0)
			cn = &r->in->connections[i];
	}
	if (!cn && strcmp(conn_name, "http") == 0)
		cn = NULL;
	if (!cn && strcmp(conn_name, "http") != 0) {
		const char **names = fr_xcalloc(r->in->nconnections + 1, sizeof(*names));
		for (size_t i = 0; i < r->in->nconnections; i++)
			names[i] = r->in->connections[i].name;
		report_unknown(r->d, &s->action_loc, "connection", conn_name, names,
			       r->in->nconnections);
		free(names);
		free(conn_name);
		return;
	}
	free(conn_name);
	{
		const struct fr_connector *c = cn ? cn->connector
						  : find_connector(r->p, "http");
		const char **names;
		if (!c)
			return;	/* unknown connector, reported already */
		s->conn = cn;
		s->action = fr_connector_action(c, dot + 1);
		if (s->action)
			return;
		names = fr_xcalloc(c->nactions + 1, sizeof(*names));
		for (size_t i = 0; i < c->nactions; i++)
			names[i] = c->actions[i].name;
		char *hint = fr_did_you_mean(dot + 1, names, c->nactions);
		fr_diag_hint(r->d, FR_ERROR, &s->action_loc, hint,
			     "unknown action '%s' of connector '%s'", dot + 1,
			     c->name);
		free(hint);
		free(names);
	}
}

static void check_instance(struct fr_project *p, struct fr_instance *inst,
			   struct fr_diag *d)
{
	if (!inst->integration_name)
		return;
	for (size_t i = 0; i < p->nintegrations; i++) {
		if (strcmp(p->integrations[i]->name, inst->integration_name) == 0)
			inst->integration = p->integrations[i];
	}
	if (!inst->integration)
		return;	/* an instance of an integration not loaded now */
	for (size_t k = 0; k < inst->nvalues; k++) {
		const struct fr_instance_value *iv = &inst->values[k];
		const struct fr_integration *in = inst->integration;
		const struct fr_config_var *cv = fr_integration_config(in, iv->name);
		const json_t *val = json_object_get(inst->config, iv->name);
		if (!cv) {
			const char **names = fr_xcalloc(in->nconfig + 1, sizeof(*names));
			for (size_t i = 0; i < in->nconfig; i++)
				names[i] = in->config[i].name;
			report_unknown(d, &iv->key_loc, "config variable", iv->name,
				       names, in->nconfig);
			free(names);
		} else if (val && !json_is_null(val) && !fr_type_ok(cv->type, val)) {
			fr_diag_at(d, FR_ERROR, &iv->value_loc,
				   "config value '%s' must be %s, not %s",
				   iv->name, fr_type_name(cv->type),
				   fr_json_kind(val));
		}
	}
}

static void add_connector_dirs(struct names *dirs, const char *list)
{
	char *copy = fr_xstrdup(list), *save = NULL;

	for (char *t = strtok_r(copy, ":", &save); t; t = strtok_r(NULL, ":", &save))
		names_add_dir(dirs, t);
	free(copy);
}

int fr_project_load(struct fr_project **out, const char *const *paths,
		    size_t n, const struct fr_load_opts *opts,
		    struct fr_diag *d)
{
	static const char *const default_path[] = { "flows" };
	struct fr_project *p = fr_xcalloc(1, sizeof(*p));
	struct names files = { 0 }, roots = { 0 }, cdirs = { 0 }, inst = { 0 };
	const char *env = opts && !opts->no_env ? getenv("FLOWRUN_CONNECTORS") : NULL;
	int rc = 0;

	*out = NULL;
	p->prog = fr_jqx_prog_create();
	if (opts && opts->fixed_clock)
		fr_jqx_prog_fixed_clock(p->prog);
	if (n == 0) {
		paths = default_path;
		n = 1;
	}
	for (size_t i = 0; i < n; i++) {
		struct stat st;
		if (stat(paths[i], &st) < 0) {
			fr_diag(d, FR_ERROR, "cannot read '%s': %s", paths[i],
				strerror(errno));
			rc = -1;
		} else if (S_ISDIR(st.st_mode)) {
			if (list_dir(&files, paths[i], true, d) < 0)
				rc = -1;
		} else {
			names_add_unique(&files, paths[i]);
		}
	}
	if (files.n == 0 && rc == 0) {
		char *sub = n == 1 ? fr_xasprintf("%s/flows", paths[0]) : NULL;
		struct stat st;
		char *hint = sub && stat(sub, &st) == 0 && S_ISDIR(st.st_mode)
				     ? fr_xasprintf("did you mean '%s'?", sub)
				     : NULL;
		fr_diag_hint(d, FR_ERROR, NULL, hint, "no flow files (*.yaml) in %s%s",
			     n == 1 ? paths[0] : "the paths given",
			     n == 1 && paths == default_path ? " (give a PATH)" : "");
		free(hint);
		free(sub);
	}
	for (size_t i = 0; i < files.n; i++) {
		char *root = root_of(files.v[i]);
		names_add_unique(&roots, root);
		free(root);
	}
	for (size_t i = 0; opts && i < opts->nconnector_dirs; i++)
		names_add_dir(&cdirs, opts->connector_dirs[i]);
	if (env && *env)
		add_connector_dirs(&cdirs, env);
	for (size_t i = 0; i < roots.n; i++) {
		char *dir = fr_xasprintf("%s/connectors", roots.v[i]);
		names_add_dir(&cdirs, dir);
		free(dir);
	}
	p->connectors = fr_xcalloc(1, sizeof(*p->connectors));
	p->connectors[p->nconnectors++] = fr_connector_builtin_http();
	{
		struct names cfiles = { 0 };
		for (size_t i = 0; i < cdirs.n; i++)
			list_dir(&cfiles, cdirs.v[i], false, d);
		for (size_t i = 0; i < cfiles.n; i++)
			load_connector(p, cfiles.v[i], d);
		names_finish(&cfiles);
	}
	for (size_t i = 0; i < files.n; i++) {
		struct fr_ydoc *doc = read_doc(p, files.v[i], d);
		struct fr_integration *in = NULL;
		if (!doc)
			continue;
		if (fr_integration_load(&in, doc, p->prog, d) == 0) {
			in->root = root_of(files.v[i]);
			for (size_t j = 0; j < p->nintegrations; j++) {
				if (strcmp(p->integrations[j]->name, in->name) == 0)
					fr_diag_at(d, FR_ERROR, &in->loc,
						   "integration '%s' is also "
						   "defined in %s", in->name,
						   p->integrations[j]->loc.src->path);
			}
			p->integrations = fr_xrealloc(p->integrations,
				(p->nintegrations + 1) * sizeof(*p->integrations));
			p->integrations[p->nintegrations++] = in;
		}
		fr_ydoc_destroy(doc);
	}
	for (size_t i = 0; i < roots.n; i++) {
		char *dir = fr_xasprintf("%s/instances", roots.v[i]);
		list_dir(&inst, dir, false, d);
		free(dir);
	}
	for (size_t i = 0; i < inst.n; i++)
		load_instance(p, inst.v[i], d);
	for (size_t i = 0; i < p->nintegrations; i++) {
		struct fr_integration *in = p->integrations[i];
		struct step_resolver r = { p, in, d };
		for (size_t j = 0; j < in->nconnections; j++)
			resolve_connection(p, &in->connections[j], d);
		for (size_t j = 0; j < in->nflows; j++)
			fr_steps_walk(&in->flows[j].steps, resolve_step, &r);
	}
	for (size_t i = 0; i < p->ninstances; i++)
		check_instance(p, p->instances[i], d);
	fr_jqx_prog_check(p->prog, d);
	names_finish(&files);
	names_finish(&roots);
	names_finish(&cdirs);
	names_finish(&inst);
	*out = p;
	return rc;
}

void fr_project_destroy(struct fr_project *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nintegrations; i++)
		fr_integration_destroy(p->integrations[i]);
	free(p->integrations);
	for (size_t i = 0; i < p->nconnectors; i++)
		fr_connector_destroy(p->connectors[i]);
	free(p->connectors);
	for (size_t i = 0; i < p->ninstances; i++) {
		free(p->instances[i]->name);
		free(p->instances[i]->integration_name);
		json_decref(p->instances[i]->config);
		for (size_t j = 0; j < p->instances[i]->nvalues; j++)
			free(p->instances[i]->values[j].name);
		free(p->instances[i]->values);
		free(p->instances[i]);
	}
	free(p->instances);
	for (size_t i = 0; i < p->nsources; i++)
		fr_source_unref(p->sources[i]);
	free(p->sources);
	fr_jqx_prog_destroy(p->prog);
	free(p);
}

const struct fr_flow *fr_project_flow(const struct fr_project *p,
				      const char *name)
{
	const char *slash = strchr(name, '/');
	const struct fr_flow *found = NULL;

	for (size_t i = 0; i < p->nintegrations; i++) {
		const struct fr_integration *in = p->integrations[i];
		const char *fname = name;
		if (slash) {
			if (strncmp(in->name, name, (size_t)(slash - name)) != 0 ||
			    in->name[slash - name] != '\0')
				continue;
			fname = slash + 1;
		}
		const struct fr_flow *f = fr_integration_flow(in, fname);
		if (f) {
			if (found)
				return NULL;	/* ambiguous */
			found = f;
		}
	}
	return found;
}

const struct fr_instance *fr_project_instance(const struct fr_project *p,
					      const struct fr_integration *in,
					      const char *name)
{
	for (size_t i = 0; i < p->ninstances; i++) {
		if (p->instances[i]->integration == in &&
		    strcmp(p->instances[i]->name, name) == 0)
			return p->instances[i];
	}
	return NULL;
}
