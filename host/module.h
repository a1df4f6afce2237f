/*
 * module.h - the host's own optional parts (modules/http.so, ...), loaded
 * on first use from the modules directory next to the binary.
 */
#ifndef MODULE_H
#define MODULE_H

/* Directory of the running binary ("/usr/local/bin"). */
const char *module_exe_dir(void);

/*
 * dlopens modules/<name>.so (OPSBOT_MODULE_DIR overrides the directory)
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
