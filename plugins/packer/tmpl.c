/*
 * tmpl.c - templates in the configured folder (see tmpl.h).
 */
#include "tmpl.h"
#include "sdk_buf.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define VALUE_MAX 1024

int tmpl_name_valid(const char *name)
{
	size_t i, n = name ? strlen(name) : 0;

	if (n == 0 || n > 64 || strstr(name, ".."))
		return 0;
	for (i = 0; i < n; i++) {
		char c = name[i];
		int alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9');

		if (!alnum && (i == 0 || (c != '_' && c != '.' && c != '-')))
			return 0;
	}
	return 1;
}

/* Is resolved path p inside resolved directory d? */
static int inside(const char *d, const char *p)
{
	size_t n = strlen(d);

	if (n == 1 && d[0] == '/')
		return 1;
	return !strncmp(d, p, n) && p[n] == '/';
}

char *tmpl_inside(const char *folder, const char *rel, char **err)
{
	char *dir = NULL, *path = NULL, *joined;

	dir = realpath(folder, NULL);
	if (!dir) {
		*err = sdk_xasprintf("templates folder %s: %s", folder,
				     strerror(errno));
		return NULL;
	}
	joined =
	    rel[0] == '/' ? sdk_xstrdup(rel) : sdk_xasprintf("%s/%s", dir, rel);
	path = realpath(joined, NULL);
	if (!path)
		*err = sdk_xasprintf("%s: %s", rel, strerror(errno));
	else if (!inside(dir, path)) {
		*err = sdk_xasprintf("%s is outside the templates folder", rel);
		free(path);
		path = NULL;
	}
	free(joined);
	free(dir);
	return path;
}

char *tmpl_find(const char *folder, const char *name, char **err)
{
	char *rel, *path;
	struct stat st;

	if (!tmpl_name_valid(name)) {
		*err = sdk_xstrdup("a template name is letters, digits, '.', "
				   "'_' and '-' (no path)");
		return NULL;
	}
	rel = sdk_xasprintf("%s/%s.json", folder, name);
	if (stat(rel, &st) != 0) {
		free(rel);
		rel = sdk_xasprintf("%s/%s/template.json", folder, name);
		if (stat(rel, &st) != 0) {
			free(rel);
			*err = sdk_xasprintf("no template '%s'", name);
			return NULL;
		}
	}
	path = tmpl_inside(folder, rel, err);
	free(rel);
	if (path && (stat(path, &st) != 0 || !S_ISREG(st.st_mode))) {
		free(path);
		*err = sdk_xasprintf("template '%s' is not a file", name);
		return NULL;
	}
	return path;
}

void tmpl_free(struct tmpl *t)
{
	int i;

	for (i = 0; i < t->nbuilds; i++) {
		free(t->builds[i].name);
		free(t->builds[i].type);
	}
	for (i = 0; i < t->nvars; i++)
		free(t->vars[i].name);
	free(t->builds);
	free(t->vars);
	free(t->path);
	free(t->dir);
	memset(t, 0, sizeof(*t));
}

static int set_sensitive(struct tmpl *t, const char *name)
{
	for (int i = 0; i < t->nvars; i++)
		if (!strcmp(t->vars[i].name, name)) {
			t->vars[i].sensitive = 1;
			return 0;
		}
	return -1;
}

int tmpl_load(const char *path, struct tmpl *t, char **err)
{
	json_error_t je;
	json_t *root, *builders, *vars, *sens, *v;
	const char *key, *slash;
	size_t i;

	memset(t, 0, sizeof(*t));
	root = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (!root) {
		*err = sdk_xasprintf("template syntax error at line %d: %s",
				     je.line, je.text);
		return -1;
	}
	builders = json_object_get(root, "builders");
	if (!json_is_array(builders) || !json_array_size(builders)) {
		*err = sdk_xstrdup("the template has no \"builders\" list");
		json_decref(root);
		return -1;
	}
	t->builds = sdk_xcalloc(json_array_size(builders), sizeof(*t->builds));
	json_array_foreach(builders, i, v)
	{
		const char *type =
		    json_string_value(json_object_get(v, "type"));
		const char *name =
		    json_string_value(json_object_get(v, "name"));

		if (!type || !*type) {
			*err = sdk_xasprintf("builder %zu has no \"type\"", i);
			json_decref(root);
			tmpl_free(t);
			return -1;
		}
		t->builds[t->nbuilds].type = sdk_xstrdup(type);
		t->builds[t->nbuilds].name =
		    sdk_xstrdup(name && *name ? name : type);
		t->nbuilds++;
	}
	vars = json_object_get(root, "variables");
	if (json_is_object(vars)) {
		t->vars = sdk_xcalloc(json_object_size(vars), sizeof(*t->vars));
		json_object_foreach(vars, key, v)
		{
			t->vars[t->nvars++].name = sdk_xstrdup(key);
		}
	}
	sens = json_object_get(root, "sensitive-variables");
	json_array_foreach(sens, i, v)
	{
		if (json_is_string(v))
			set_sensitive(t, json_string_value(v));
	}
	json_decref(root);
	t->path = sdk_xstrdup(path);
	slash = strrchr(path, '/');
	t->dir = slash ? sdk_xstrndup(path, (size_t)(slash - path))
		       : sdk_xstrdup(".");
	if (!*t->dir) {
		free(t->dir);
		t->dir = sdk_xstrdup("/");
	}
	return 0;
}

const struct tmpl_build *tmpl_build_find(const struct tmpl *t, const char *name)
{
	for (int i = 0; i < t->nbuilds; i++)
		if (!strcmp(t->builds[i].name, name))
			return &t->builds[i];
	return NULL;
}

const struct tmpl_var *tmpl_var_find(const struct tmpl *t, const char *name)
{
	for (int i = 0; i < t->nvars; i++)
		if (!strcmp(t->vars[i].name, name))
			return &t->vars[i];
	return NULL;
}

const struct tmpl_var *tmpl_var_check(const struct tmpl *t, const char *arg,
				      char **err)
{
	const char *eq = strchr(arg, '=');
	const struct tmpl_var *v;
	char name[128];
	size_t n;

	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(name)) {
		*err = sdk_xstrdup("variables are given as name=value");
		return NULL;
	}
	n = (size_t)(eq - arg);
	memcpy(name, arg, n);
	name[n] = '\0';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!(c == '_' || c == '-' || (c >= '0' && c <= '9') ||
		      (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
			*err = sdk_xstrdup("a variable name is letters, "
					   "digits, '_' and '-'");
			return NULL;
		}
	}
	v = tmpl_var_find(t, name);
	if (!v) {
		*err = sdk_xasprintf("the template declares no variable '%s'",
				     name);
		return NULL;
	}
	if (strlen(eq + 1) > VALUE_MAX) {
		*err = sdk_xasprintf("the value of '%s' is longer than %d "
				     "bytes",
				     name, VALUE_MAX);
		return NULL;
	}
	for (const char *p = eq + 1; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			*err = sdk_xasprintf("the value of '%s' holds a "
					     "control character",
					     name);
			return NULL;
		}
	return v;
}

/* A var-file in the folder is no template: listed are files with
 * "builders", and files that do not parse (so their error can be seen). */
static int looks_like_template(const char *path)
{
	json_t *root = json_load_file(path, 0, NULL);
	int yes = !root || json_object_get(root, "builders") != NULL;

	json_decref(root);
	return yes;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int tmpl_list(const char *folder, char ***names, int *n, char **err)
{
	DIR *d = opendir(folder);
	struct dirent *e;
	char **out = NULL;
	int count = 0, alloc = 0;

	*names = NULL;
	*n = 0;
	if (!d) {
		*err = sdk_xasprintf("templates folder %s: %s", folder,
				     strerror(errno));
		return -1;
	}
	while ((e = readdir(d))) {
		char name[256], *path, *perr = NULL;
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.')
			continue;
		if (len > 5 && !strcmp(e->d_name + len - 5, ".json"))
			snprintf(name, sizeof(name), "%.*s", (int)(len - 5),
				 e->d_name);
		else
			snprintf(name, sizeof(name), "%s", e->d_name);
		path = tmpl_find(folder, name, &perr);
		free(perr);
		if (!path)
			continue;
		if (!looks_like_template(path)) {
			free(path);
			continue;
		}
		free(path);
		if (count == alloc) {
			alloc = alloc ? alloc * 2 : 16;
			out =
			    sdk_xreallocarray(out, (size_t)alloc, sizeof(*out));
		}
		out[count++] = sdk_xstrdup(name);
	}
	closedir(d);
	qsort(out, (size_t)count, sizeof(*out), cmp_str);
	/* x.json and x/template.json are one name (x.json is used) */
	{
		int k = 0;

		for (int i = 0; i < count; i++) {
			if (k && !strcmp(out[k - 1], out[i])) {
				free(out[i]);
				continue;
			}
			out[k++] = out[i];
		}
		count = k;
	}
	*names = out;
	*n = count;
	return 0;
}
