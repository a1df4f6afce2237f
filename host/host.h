/*
 * host.h - start-up and tear-down of the host, written once and used by
 * the daemon, `opsbot run`, `--check-config` and the tests: the loop, the
 * store, the services and their configuration, in one order.
 */
#ifndef HOST_H
#define HOST_H

#include "opsbot.h"

struct config;

/*
 * Starts the loop, opens the store at store_path (":memory:" for a config
 * check), registers the built-in commands and every service's sweeper, and
 * applies cfg.  Returns 0, or -1 with *err set (malloc'd).
 */
int host_start(const struct config *cfg, enum opsbot_mode mode,
	       const char *store_path, const char *version, char **err);

/* Applies a (validated) config to every service; also on SIGHUP. */
void host_apply_config(const struct config *cfg);

/* [bot] shutdown_grace of cfg, in ms. */
long host_shutdown_grace_ms(const struct config *cfg);

/*
 * Tears everything down, after the plugins were unloaded (or the shutdown
 * deadline passed): children still alive are killed with their group, job
 * threads stuck in a blocking call are left to the exit, then HTTP, the
 * listener, the commands, the store and the loop close.
 */
void host_stop(void);

#endif /* HOST_H */
