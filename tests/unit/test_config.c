/* config: precedence, types, missing values, secrets, --set parsing */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "diag.h"
#include "json.h"
#include "project.h"
#include "redact.h"
#include "tap.h"
#include "util.h"

static const char demo_yaml[] =
	"integration: demo\n"						/* 1 */
	"config:\n"							/* 2 */
	"  str: {type: string, default: from-default}\n"		/* 3 */
	"  num: {type: number, default: 1, env: FRT_NUM}\n"		/* 4 */
	"  flag: {type: boolean, default: false, env: FRT_FLAG}\n"	/* 5 */
	"  obj: {type: object, default: {a: 1}, env: FRT_OBJ}\n"	/* 6 */
	"  arr: {type: array, default: [1], env: FRT_ARR}\n"		/* 7 */
	"  any: {default: x, env: FRT_ANY}\n"				/* 8 */
	"  sstr: {type: string, default: x, env: FRT_SSTR}\n"		/* 9 */
	"  token: {secret: true, env: FRT_TOKEN}\n"			/* 10 */
	"  must:\n"							/* 11 */
	"  big: {default: 9007199254740993}\n"				/* 12 */
	"  opt: {required: false, type: number}\n"			/* 13 */
	"  creds: {secret: true, type: object,\n"			/* 14 */
	"          default: {user: u-secret-user, pw: p-secret-pw, n: 918273}}\n"
	"flows:\n"
	"  main:\n"
	"    steps:\n"
	"      - log: hi\n";

static const char other_yaml[] =
	"integration: other\n"
	"config:\n"
	"  wrongdef: {type: array, default: 5}\n"			/* 3:3 */
	"flows:\n"
	"  main:\n"
	"    steps:\n"
	"      - log: hi\n";

static const char prod_yaml[] =
	"instance: prod\n"
	"integration: demo\n"
	"config:\n"
	"  num: 2\n"
	"  str: from-instance\n"
	"  must: here\n"
	"  token: instance-token-value\n";

static const char bad_yaml[] =
	"instance: bad\n"
	"integration: demo\n"
	"config:\n"
	"  num: two\n"
	"  flag: \"true\"\n"
	"  must: m\n"
	"  token: bad-token-value\n";

static const char partial_yaml[] =
	"instance: partial\n"
	"integration: demo\n"
	"config:\n"
	"  must: null\n";

static char dir[] = "/tmp/fr-config-test-XXXXXX";

/* Diagnostics captured in memory. */
struct cap {
	char *buf;
	size_t len;
	FILE *f;
	struct fr_diag d;
};

static struct fr_diag *cap_open(struct cap *c)
{
	c->buf = NULL;
	c->len = 0;
	c->f = open_memstream(&c->buf, &c->len);
	fr_diag_init(&c->d, c->f);
	return &c->d;
}

/* Flushes and closes; returns the text (caller frees). */
static char *cap_close(struct cap *c)
{
	fr_diag_flush(&c->d);
	fclose(c->f);
	return c->buf;
}

static int write_file(const char *rel, const char *text)
{
	char *path = fr_xasprintf("%s/%s", dir, rel);
	FILE *f = fopen(path, "w");
	int rc = -1;

	if (f) {
		rc = fputs(text, f) < 0 ? -1 : 0;
		if (fclose(f) != 0)
			rc = -1;
	}
	free(path);
	return rc;
}

static void remove_tree(void)
{
	static const char *const files[] = {
		"flows/demo.yaml", "flows/other.yaml", "instances/prod.yaml",
		"instances/bad.yaml", "instances/partial.yaml", "v.txt", "flows",
		"instances",
	};

	for (size_t i = 0; i < FR_ARRAY_LEN(files); i++) {
		char *path = fr_xasprintf("%s/%s", dir, files[i]);
		remove(path);
		free(path);
	}
	rmdir(dir);
}

static void unset_all(void)
{
	static const char *const vars[] = { "FRT_NUM", "FRT_FLAG", "FRT_OBJ",
		"FRT_ARR", "FRT_ANY", "FRT_SSTR", "FRT_TOKEN" };

	for (size_t i = 0; i < FR_ARRAY_LEN(vars); i++)
		unsetenv(vars[i]);
}

static const struct fr_integration *integration(const struct fr_project *p,
						const char *name)
{
	for (size_t i = 0; i < p->nintegrations; i++) {
		if (strcmp(p->integrations[i]->name, name) == 0)
			return p->integrations[i];
	}
	printf("# no integration %s\n", name);
	return NULL;
}

/*
 * Resolves; returns the config (caller decrefs) or NULL, with the
 * diagnostics in *msgs (caller frees) and their error count in *nerr.
 * r NULL: a redactor of its own.
 */
static json_t *resolve(const struct fr_integration *in,
		       const struct fr_instance *inst,
		       const struct fr_setting *sets, size_t nsets,
		       struct fr_redact *r, char **msgs, unsigned *nerr,
		       int *rc)
{
	struct fr_redact *own = r ? NULL : fr_redact_create();
	struct cap c;
	json_t *out = (json_t *)1;

	cap_open(&c);
	*rc = fr_config_resolve(&out, in, inst, sets, nsets, r ? r : own, &c.d);
	*nerr = c.d.nerrors;
	*msgs = cap_close(&c);
	fr_redact_destroy(own);
	return out;
}

/* Resolves, expecting success; returns the compact config text. */
static char *resolve_ok(const struct fr_integration *in,
			const struct fr_instance *inst,
			const struct fr_setting *sets, size_t nsets,
			const char *name)
{
	struct fr_redact *r = fr_redact_create();
	char *msgs, *s;
	unsigned nerr;
	int rc;
	json_t *out = resolve(in, inst, sets, nsets, r, &msgs, &nerr, &rc);

	if (!ok(rc == 0 && out && nerr == 0, "%s: resolves", name))
		printf("# %s", msgs);
	s = out ? fr_json_dump(out) : fr_xstrdup("(NULL)");
	json_decref(out);
	free(msgs);
	fr_redact_destroy(r);
	return s;
}

/* Value of one key in the resolved config, as compact JSON text. */
static char *value_of(const struct fr_integration *in,
		      const struct fr_instance *inst,
		      const struct fr_setting *sets, size_t nsets,
		      const char *key, const char *name)
{
	struct fr_redact *r = fr_redact_create();
	char *msgs, *s;
	unsigned nerr;
	int rc;
	json_t *out = resolve(in, inst, sets, nsets, r, &msgs, &nerr, &rc);

	if (rc != 0)
		printf("# %s: %s", name, msgs);
	s = out ? fr_json_dump(json_object_get(out, key)) : fr_xstrdup("(failed)");
	json_decref(out);
	free(msgs);
	fr_redact_destroy(r);
	return s;
}

#define VALUE_IS(inst, sets, nsets, key, want, ...)                          \
	do {                                                                 \
		char *v_ = value_of(demo, inst, sets, nsets, key, #key);     \
		is_str(v_, want, __VA_ARGS__);                               \
		free(v_);                                                    \
	} while (0)

/* Resolving fails with exactly one error, containing want. */
static void fails_with(const struct fr_integration *in,
		       const struct fr_instance *inst,
		       const struct fr_setting *sets, size_t nsets,
		       const char *want, const char *name)
{
	char *msgs;
	unsigned nerr;
	int rc;
	json_t *out = resolve(in, inst, sets, nsets, NULL, &msgs, &nerr, &rc);

	ok(rc == -1 && out == NULL, "%s: fails", name);
	if (!ok(nerr == 1 && strstr(msgs, want) != NULL, "%s: message", name))
		printf("#   got:  %s#   want: %s\n", msgs, want);
	free(msgs);
	json_decref(out);
}

static void test_setting_parse(void)
{
	struct fr_setting s = { 0 };
	char a[] = "key=value", b[] = "key=", c[] = "k=a=b", d[] = "=x",
	     e[] = "noeq", f[] = "k= spaced value ";

	ok(fr_setting_parse(&s, a) == 0, "KEY=VALUE parses");
	is_str(s.key, "key", "key");
	is_str(s.value, "value", "value");
	ok(s.key == a && s.value == a + 4, "both point into the argument");
	ok(fr_setting_parse(&s, b) == 0, "KEY= parses");
	is_str(s.value, "", "empty value");
	ok(fr_setting_parse(&s, c) == 0, "KEY=A=B parses");
	is_str(s.key, "k", "split at the first '='");
	is_str(s.value, "a=b", "the rest is the value");
	ok(fr_setting_parse(&s, f) == 0, "spaces kept");
	is_str(s.value, " spaced value ", "value with spaces");
	ok(fr_setting_parse(&s, d) == -1, "=VALUE (no key) is refused");
	ok(fr_setting_parse(&s, e) == -1, "no '=' is refused");
	is_str(e, "noeq", "a refused argument is left alone");
}

int main(void)
{
	struct fr_project *p = NULL;
	const struct fr_integration *demo, *other;
	const struct fr_instance *prod, *bad, *partial;
	struct fr_load_opts opts = { .no_env = true };
	char *flows, *msgs;
	struct cap c;
	int rc;

	test_setting_parse();

	unset_all();
	if (!mkdtemp(dir)) {
		ok(0, "mkdtemp: %s", strerror(errno));
		return done_testing();
	}
	flows = fr_xasprintf("%s/flows", dir);
	{
		char *inst = fr_xasprintf("%s/instances", dir);
		ok(mkdir(flows, 0700) == 0 && mkdir(inst, 0700) == 0, "directories made");
		free(inst);
	}
	ok(write_file("flows/demo.yaml", demo_yaml) == 0 &&
	   write_file("flows/other.yaml", other_yaml) == 0 &&
	   write_file("instances/prod.yaml", prod_yaml) == 0 &&
	   write_file("instances/bad.yaml", bad_yaml) == 0 &&
	   write_file("instances/partial.yaml", partial_yaml) == 0, "files written");

	cap_open(&c);
	{
		const char *paths[] = { flows };
		rc = fr_project_load(&p, paths, 1, &opts, &c.d);
	}
	{
		unsigned nerr = c.d.nerrors;
		msgs = cap_close(&c);
		/* the values of the wrong type are reported when the files load
		 * too, where they are written; resolve is tested on them below */
		if (!ok(rc == 0 && p && nerr == 3, "project loads, with three errors"))
			printf("# %s", msgs);
		ok(strstr(msgs, "other.yaml:3:36: error: the default of config "
			  "variable 'wrongdef' must be array, not a number\n") &&
		   strstr(msgs, "bad.yaml:4:8: error: config value 'num' must be "
			  "number, not a string\n") &&
		   strstr(msgs, "bad.yaml:5:9: error: config value 'flag' must be "
			  "boolean, not a string\n"),
		   "a default and instance values of the wrong type, located");
		free(msgs);
	}
	if (!p || !(demo = integration(p, "demo")) ||
	    !(other = integration(p, "other")) ||
	    !(prod = fr_project_instance(p, demo, "prod")) ||
	    !(bad = fr_project_instance(p, demo, "bad")) ||
	    !(partial = fr_project_instance(p, demo, "partial"))) {
		ok(0, "integrations and instances found");
		goto out;
	}

	/* ---- precedence: default < instance file < env < --set ---- */
	{
		struct fr_setting token = { "token", "set-token-value" };
		struct fr_setting must = { "must", "m" };
		struct fr_setting both[] = { token, must };
		struct fr_setting num4[] = { token, must, { "num", "4" } };
		struct fr_setting num45[] = { token, must, { "num", "4" }, { "num", "5" } };
		struct fr_setting unknown[] = { token, must, { "nope", "1" } };
		char *s;

		s = resolve_ok(demo, NULL, both, 2, "defaults");
		is_str(s, "{\"str\":\"from-default\",\"num\":1,\"flag\":false,"
			  "\"obj\":{\"a\":1},\"arr\":[1],\"any\":\"x\",\"sstr\":\"x\","
			  "\"token\":\"set-token-value\",\"must\":\"m\","
			  "\"big\":9007199254740993,\"creds\":{\"user\":\"u-secret-user\","
			  "\"pw\":\"p-secret-pw\",\"n\":918273}}",
		       "defaults, in declaration order; optional 'opt' absent");
		free(s);
		s = resolve_ok(demo, prod, NULL, 0, "instance prod");
		ok(strstr(s, "\"str\":\"from-instance\"") && strstr(s, "\"num\":2") &&
		   strstr(s, "\"flag\":false") && strstr(s, "\"must\":\"here\""),
		   "the instance file beats defaults; defaults fill the rest: %s", s);
		free(s);
		VALUE_IS(prod, NULL, 0, "num", "2", "instance value");
		setenv("FRT_NUM", "3", 1);
		VALUE_IS(prod, NULL, 0, "num", "3", "env beats the instance file");
		VALUE_IS(NULL, both, 2, "num", "3", "env beats the default");
		VALUE_IS(prod, num4, 3, "num", "4", "--set beats env");
		VALUE_IS(prod, num45, 4, "num", "5", "the last --set wins");
		unsetenv("FRT_NUM");
		VALUE_IS(prod, num4, 3, "num", "4", "--set beats the instance file");
		VALUE_IS(prod, unknown, 3, "num", "2", "a --set naming no variable is ignored");
		VALUE_IS(prod, NULL, 0, "big", "9007199254740993", "big default kept exact");

		/* text from env and --set: JSON unless type string */
		setenv("FRT_NUM", "2.5", 1);
		VALUE_IS(prod, NULL, 0, "num", "2.5", "env number parsed as JSON");
		unsetenv("FRT_NUM");
		setenv("FRT_FLAG", "true", 1);
		VALUE_IS(prod, NULL, 0, "flag", "true", "env boolean parsed as JSON");
		unsetenv("FRT_FLAG");
		setenv("FRT_OBJ", "{\"b\": [2, \"x\"]}", 1);
		VALUE_IS(prod, NULL, 0, "obj", "{\"b\":[2,\"x\"]}", "env object parsed as JSON");
		unsetenv("FRT_OBJ");
		setenv("FRT_ARR", "[1, 9007199254740993]", 1);
		VALUE_IS(prod, NULL, 0, "arr", "[1,9007199254740993]",
			 "env array parsed as JSON, integers exact");
		unsetenv("FRT_ARR");
		setenv("FRT_SSTR", "123", 1);
		VALUE_IS(prod, NULL, 0, "sstr", "\"123\"", "type string: env text stays a string");
		unsetenv("FRT_SSTR");
		{
			struct fr_setting sets[] = { { "sstr", "{\"a\": 1}" },
						     { "str", "true" } };
			VALUE_IS(prod, sets, 2, "sstr", "\"{\\\"a\\\": 1}\"",
				 "type string: --set JSON text stays a string");
			VALUE_IS(prod, sets, 2, "str", "\"true\"",
				 "type string: --set true stays a string");
		}
		{
			struct fr_setting sets[] = { { "any", "42" } };
			VALUE_IS(prod, sets, 1, "any", "42", "untyped: JSON number parsed");
		}
		{
			struct fr_setting sets[] = { { "any", "hello world" } };
			VALUE_IS(prod, sets, 1, "any", "\"hello world\"",
				 "untyped: text that is not JSON is a string");
		}
		{
			struct fr_setting sets[] = { { "any", "{\"k\": null}" } };
			VALUE_IS(prod, sets, 1, "any", "{\"k\":null}", "untyped: JSON object parsed");
		}
		{
			struct fr_setting sets[] = { { "str", "" } };
			VALUE_IS(prod, sets, 1, "str", "\"\"", "type string: empty --set");
		}
		{
			struct fr_setting sets[] = { { "opt", "7" } };
			VALUE_IS(prod, sets, 1, "opt", "7", "optional value given by --set");
		}
	}

	/* ---- types, with the source named ---- */
	{
		struct fr_setting flag1[] = { { "flag", "1" } };
		struct fr_setting objarr[] = { { "obj", "[1]" } };
		struct fr_setting arrobj[] = { { "arr", "{}" } };
		struct fr_setting numempty[] = { { "num", "" } };
		struct fr_setting numnull[] = { { "num", "null" } };

		setenv("FRT_NUM", "abc", 1);
		fails_with(demo, prod, NULL, 0,
			   "demo.yaml:4:3: error: config value 'num' from the "
			   "environment must be number, not a string\n",
			   "env of the wrong type");
		unsetenv("FRT_NUM");
		fails_with(demo, prod, flag1, 1,
			   "demo.yaml:5:3: error: config value 'flag' from --set "
			   "must be boolean, not a number\n", "--set of the wrong type");
		fails_with(demo, prod, objarr, 1,
			   "config value 'obj' from --set must be object, not an array\n",
			   "array for an object");
		fails_with(demo, prod, arrobj, 1,
			   "config value 'arr' from --set must be array, not an object\n",
			   "object for an array");
		fails_with(demo, prod, numempty, 1,
			   "config value 'num' from --set must be number, not a string\n",
			   "empty text for a number");
		fails_with(demo, prod, numnull, 1,
			   "config value 'num' from --set must be number, not null\n",
			   "null for a number");
		{
			char *m;
			unsigned nerr;
			json_t *out = resolve(demo, bad, NULL, 0, NULL, &m, &nerr, &rc);
			ok(rc == -1 && out == NULL && nerr == 2, "instance 'bad': two errors");
			ok(strstr(m, "demo.yaml:4:3: error: config value 'num' from the "
				  "instance file must be number, not a string\n") != NULL,
			   "instance file value of the wrong type");
			if (!ok(strstr(m, "demo.yaml:5:3: error: config value 'flag' from the "
				       "instance file must be boolean, not a string\n") != NULL,
				"a quoted \"true\" is a string, not a boolean"))
				printf("# %s", m);
			free(m);
			json_decref(out);
		}
		fails_with(other, NULL, NULL, 0,
			   "other.yaml:3:3: error: config value 'wrongdef' from its "
			   "default must be array, not a number\n", "default of the wrong type");
	}

	/* ---- missing required values ---- */
	{
		char *m;
		unsigned nerr;
		json_t *out = resolve(demo, NULL, NULL, 0, NULL, &m, &nerr, &rc);
		const char *tok = "demo.yaml:10:3: error: missing secret config value "
			"'token' for integration 'demo', instance 'default'; set the "
			"environment variable FRT_TOKEN (or FRT_TOKEN_FILE), pass --set "
			"token=VALUE, or add "
			"it under 'config:' in instances/default.yaml\n";
		const char *must = "demo.yaml:11:3: error: missing config value 'must' "
			"for integration 'demo', instance 'default'; pass --set "
			"must=VALUE, or add it under 'config:' in instances/default.yaml\n";

		ok(rc == -1 && out == NULL, "missing values: fails");
		is_int(nerr, 2, "one diagnostic per missing variable");
		if (!ok(strstr(m, tok) != NULL, "secret with env: names env, --set and the file"))
			printf("# %s", m);
		ok(strstr(m, must) != NULL, "plain variable: names --set and the file");
		ok(strstr(m, tok) < strstr(m, must), "in file order");
		free(m);
		json_decref(out);

		out = resolve(demo, partial, NULL, 0, NULL, &m, &nerr, &rc);
		ok(rc == -1 && nerr == 2, "instance 'partial': two missing");
		ok(strstr(m, "missing config value 'must' for integration 'demo', "
			  "instance 'partial'; pass --set must=VALUE, or add it under "
			  "'config:' in instances/partial.yaml\n") != NULL,
		   "null in the instance file is missing; message names instances/partial.yaml");
		ok(strstr(m, "instance 'partial'; set the environment variable FRT_TOKEN")
		   != NULL, "token missing for partial");
		free(m);
		json_decref(out);

		/* env alone supplies a required value; --set null does not */
		setenv("FRT_TOKEN", "env-token-value", 1);
		{
			struct fr_setting sets[] = { { "must", "given" } };
			VALUE_IS(partial, sets, 1, "token", "\"env-token-value\"",
				 "required value from env");
			VALUE_IS(partial, sets, 1, "must", "\"given\"",
				 "required value from --set beats a null in the file");
		}
		unsetenv("FRT_TOKEN");
		{
			struct fr_setting sets[] = { { "must", "null" }, { "token", "t0k3n-x" } };
			fails_with(demo, NULL, sets, 2,
				   "missing config value 'must' for integration 'demo', "
				   "instance 'default'", "--set must=null is missing");
		}
	}

	/* text that is not UTF-8 cannot be a JSON string: it must not vanish */
	{
		char *m;
		unsigned nerr;
		json_t *out;

		setenv("FRT_SSTR", "caf\xe9", 1);
		out = resolve(demo, prod, NULL, 0, NULL, &m, &nerr, &rc);
		unsetenv("FRT_SSTR");
		ok(rc == -1 || json_object_get(out, "sstr") != NULL,
		   "non-UTF-8 env text is reported or kept, not silently dropped");
		free(m);
		json_decref(out);
	}

	/* ---- secrets are registered ---- */
	{
		struct fr_redact *r = fr_redact_create();
		char *m, *red;
		unsigned nerr;
		json_t *out = resolve(demo, prod, NULL, 0, r, &m, &nerr, &rc);

		ok(rc == 0 && out, "prod resolves with a redactor");
		red = fr_redact_str(r, "t=instance-token-value u=u-secret-user "
				    "p=p-secret-pw n=918273 s=from-instance h=here");
		is_str(red, "t=*** u=*** p=*** n=*** s=from-instance h=here",
		       "secret values (strings and numbers inside objects) registered; "
		       "others not");
		free(red);
		free(m);
		json_decref(out);

		setenv("FRT_TOKEN", "env-secret-token", 1);
		out = resolve(demo, prod, NULL, 0, r, &m, &nerr, &rc);
		unsetenv("FRT_TOKEN");
		red = fr_redact_str(r, "Bearer env-secret-token");
		is_str(red, "Bearer ***", "a secret from env is registered");
		free(red);
		free(m);
		json_decref(out);
		fr_redact_destroy(r);
	}

	/* ---- values from files: --set KEY=@PATH, NAME_FILE ---- */
	{
		char *path = fr_xasprintf("%s/v.txt", dir);
		char *at = fr_xasprintf("@%s", path);
		char *missing = fr_xasprintf("@%s/missing", dir);
		struct fr_setting num_at[] = { { "num", at } };
		struct fr_setting str_atat[] = { { "str", "@@x" } };
		struct fr_setting str_missing[] = { { "str", missing } };
		struct fr_redact *r = fr_redact_create();
		char *m, *red, *want;
		unsigned nerr;
		json_t *out;

		ok(write_file("v.txt", "41\n") == 0, "value file written");
		VALUE_IS(prod, num_at, 1, "num", "41", "--set num=@PATH: the file's text, as JSON");
		VALUE_IS(prod, str_atat, 1, "str", "\"@x\"", "--set str=@@x is the text @x");
		want = fr_xasprintf("config value 'str': cannot read '%s/missing' "
				    "(--set): cannot open", dir);
		fails_with(demo, prod, str_missing, 1, want, "--set @ a missing file");
		free(want);

		ok(write_file("v.txt", "t0k-from-file\r\n") == 0, "token file written");
		setenv("FRT_TOKEN_FILE", path, 1);
		VALUE_IS(prod, NULL, 0, "token", "\"t0k-from-file\"",
			 "FRT_TOKEN_FILE names the token's file; CRLF stripped");
		out = resolve(demo, prod, NULL, 0, r, &m, &nerr, &rc);
		red = fr_redact_str(r, "Bearer t0k-from-file");
		is_str(red, "Bearer ***", "a secret from a NAME_FILE is registered");
		free(red);
		free(m);
		json_decref(out);
		setenv("FRT_TOKEN", "env-token", 1);
		fails_with(demo, prod, NULL, 0, "config value 'token': both FRT_TOKEN "
			   "and FRT_TOKEN_FILE are set; set only one", "NAME and NAME_FILE");
		unsetenv("FRT_TOKEN");
		unsetenv("FRT_TOKEN_FILE");
		fr_redact_destroy(r);
		free(missing);
		free(at);
		free(path);
	}

out:
	fr_project_destroy(p);
	free(flows);
	remove_tree();
	return done_testing();
}
