/*
 * module.c - finding and loading the host's optional modules.
 */
#include "module.h"
#include "httpd_backend.h"
#include "tls_backend.h"
#include "util.h"

#include <dlfcn.h>
#include <limits.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *module_exe_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;
	char *slash;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0) {
		strlcpy_safe(dir, ".", sizeof(dir));
		return dir;
	}
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash && slash != dir)
		*slash = '\0';
	return dir;
}

/* Set by the Makefile from PKGLIBDIR (make PREFIX=/usr). */
#ifndef OPSBOT_PKGLIBDIR
#define OPSBOT_PKGLIBDIR "/usr/local/lib/opsbot"
#endif

const char *module_pkglibdir(void)
{
	return OPSBOT_PKGLIBDIR;
}

char *module_find_dir(const char *kind)
{
	const char *exe = module_exe_dir();
	char *tries[3];
	char *found = NULL;
	struct stat st;
	int i;

	tries[0] = xasprintf("%s/%s", exe, kind);
	tries[1] = xasprintf("%s/../lib/opsbot/%s", exe, kind);
	tries[2] = xasprintf("%s/%s", OPSBOT_PKGLIBDIR, kind);
	for (i = 0; i < 3 && !found; i++)
		if (stat(tries[i], &st) == 0 && S_ISDIR(st.st_mode))
			found = tries[i];
	if (!found)
		found = tries[2];
	for (i = 0; i < 3; i++)
		if (tries[i] != found)
			free(tries[i]);
	return found;
}

void *module_load(const char *name, const char *symbol, unsigned version,
		  char **err)
{
	const char *env = getenv("OPSBOT_MODULE_DIR");
	char *tries[2] = {NULL, NULL};
	char *paths[3] = {NULL, NULL, NULL};
	void *handle = NULL, *sym = NULL;
	int i, n = 0;

	if (env && *env)
		tries[n++] = xstrdup(env);
	tries[n++] = module_find_dir("modules");
	for (i = 0; i < n && !handle; i++) {
		paths[i] = xasprintf("%s/%s.so", tries[i], name);
		if (access(paths[i], R_OK) == 0)
			handle = dlopen(paths[i], RTLD_NOW | RTLD_LOCAL);
	}
	if (!handle) {
		const char *why = dlerror();

		*err = xasprintf(
		    "cannot load module '%s' (looked for %s%s%s)%s%s", name,
		    paths[0], paths[1] ? " and " : "", paths[1] ? paths[1] : "",
		    why ? ": " : "", why ? why : "");
		goto out;
	}
	sym = dlsym(handle, symbol);
	if (!sym) {
		*err =
		    xasprintf("module '%s' has no symbol '%s'", name, symbol);
		dlclose(handle);
	} else if (*(const unsigned *)sym != version) {
		/* Every backend table starts with its version. */
		*err = xasprintf("module '%s' has version %u, this opsbot "
				 "needs %u; install the matching modules",
				 name, *(const unsigned *)sym, version);
		sym = NULL;
		dlclose(handle);
	}
	/* Loaded modules stay for the life of the process. */
out:
	for (i = 0; i < 3; i++)
		free(paths[i]);
	for (i = 0; i < 2; i++)
		free(tries[i]);
	return sym;
}

const struct tls_backend *module_tls(char **err)
{
	static const struct tls_backend *tls;

	if (!tls)
		tls = module_load("tls", TLS_BACKEND_SYMBOL,
				  TLS_BACKEND_VERSION, err);
	return tls;
}

const struct httpd_backend *module_httpd(char **err)
{
	static const struct httpd_backend *httpd;

	if (!httpd)
		httpd = module_load("httpd", HTTPD_BACKEND_SYMBOL,
				    HTTPD_BACKEND_VERSION, err);
	return httpd;
}
