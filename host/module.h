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
 * and returns its symbol, or NULL with *err set (malloc'd).
 */
void *module_load(const char *name, const char *symbol, char **err);

#endif /* MODULE_H */
