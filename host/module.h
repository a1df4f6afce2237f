/*
 * module.h - the host's own optional parts (modules/http.so, ...), loaded
 * on first use, and where the host looks for them and for plugins: the
 * build tree (modules/ and plugins/ next to the binary), an installed tree
 * (../lib/opsbot/ from the binary, wherever it was copied), then the
 * directory compiled in from the Makefile's PKGLIBDIR.
 */
#ifndef MODULE_H
#define MODULE_H

/* Directory of the running binary ("/usr/local/bin"). */
const char *module_exe_dir(void);

/*
 * The directory holding <kind>/ ("modules" or "plugins"): the first of
 * <exe dir>, <exe dir>/../lib/opsbot and the compiled-in PKGLIBDIR
 * ("/usr/local/lib/opsbot") where <kind>/ exists; the last when none does.
 * Returns a malloc'd "<dir>/<kind>".
 */
char *module_find_dir(const char *kind);

/* The compiled-in PKGLIBDIR. */
const char *module_pkglibdir(void);

/*
 * dlopens <name>.so from module_find_dir("modules") (OPSBOT_MODULE_DIR
 * overrides the directory)
 * and returns its symbol, a backend table whose first member is its
 * unsigned version, which must equal version; or NULL with *err set
 * (malloc'd).
 */
void *module_load(const char *name, const char *symbol, unsigned version,
		  char **err);

struct tls_backend;

/*
 * modules/tls.so's table, loaded on first use and checked for its
 * version; NULL with *err set (malloc'd).  A failed load is tried again
 * on the next call.
 */
const struct tls_backend *module_tls(char **err);

struct httpd_backend;

/* modules/httpd.so's table (the webhook listener's HTTP server), loaded
 * on the first listen, like module_tls(). */
const struct httpd_backend *module_httpd(char **err);

#endif /* MODULE_H */
