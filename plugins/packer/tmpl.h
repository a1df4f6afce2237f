/*
 * tmpl.h - Packer templates in the configured folder: names (no path
 * components), where a name's file is (never outside the folder, symlinks
 * resolved), what it declares (builds with their builder type, variables,
 * sensitive variables), and chat variables checked against that.  JSON
 * (legacy) templates; no host calls, so the unit tests link it alone.
 */
#ifndef PACKER_TMPL_H
#define PACKER_TMPL_H

#include <stddef.h>

struct tmpl_build {
	char *name; /* the -only name: "name", or the type */
	char *type; /* the builder type: "qemu", "null" */
};

struct tmpl_var {
	char *name;
	int sensitive;
};

struct tmpl {
	char *path; /* resolved file */
	char *dir;  /* its directory (packer's working directory) */
	int nbuilds;
	struct tmpl_build *builds;
	int nvars;
	struct tmpl_var *vars;
};

/* [A-Za-z0-9][A-Za-z0-9_.-]{0,63}, no "..": 1 or 0. */
int tmpl_name_valid(const char *name);

/*
 * The file of template name in folder: folder/name.json, or
 * folder/name/template.json.  Returns it (malloc'd, resolved), or NULL
 * with *err set: a bad name, no such template, or a file outside folder.
 */
char *tmpl_find(const char *folder, const char *name, char **err);

/*
 * A file given relative to folder (a -var-file of the configuration),
 * resolved and checked to be inside it; NULL with *err otherwise.
 */
char *tmpl_inside(const char *folder, const char *rel, char **err);

/* Reads a template file.  0, or -1 with *err (syntax error with line). */
int tmpl_load(const char *path, struct tmpl *t, char **err);
void tmpl_free(struct tmpl *t);

/* The build named name, or NULL. */
const struct tmpl_build *tmpl_build_find(const struct tmpl *t,
					 const char *name);
/* The declared variable name, or NULL. */
const struct tmpl_var *tmpl_var_find(const struct tmpl *t, const char *name);

/*
 * Checks one "name=value" from chat against t: the name declared, the
 * value without control characters and at most 1024 bytes.  Returns the
 * variable, or NULL with *err (which never quotes the value).
 */
const struct tmpl_var *tmpl_var_check(const struct tmpl *t, const char *arg,
				      char **err);

/* The template names in folder, sorted (malloc'd array of malloc'd
 * strings, *n of them).  0, or -1 with *err. */
int tmpl_list(const char *folder, char ***names, int *n, char **err);

#endif /* PACKER_TMPL_H */
