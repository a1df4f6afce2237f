/*
 * module.c - finding and loading the host's optional modules.
 */
#include "module.h"
#include "httpd_backend.h"
#include "tls_backend.h"
#include "util.h"

#include <dlfcn.h>
#include <limits.h>
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

void *module_load(const char *name, const char *symbol, unsigned version,
		  char **err)
{
	const char *env = getenv("OPSBOT_MODULE_DIR");
	const char *tries[3];
	char *paths[3] = {NULL, NULL, NULL};
	void *handle = NULL, *sym = NULL;
	int i, n = 0;

	if (env && *env)
		tries[n++] = env;
	tries[n++] = module_exe_dir();
	for (i = 0; i < n && !handle; i++) {
		paths[i] = xasprintf("%s/%s%s.so", tries[i],
				     tries[i] == env ? "" : "modules/", name);
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
