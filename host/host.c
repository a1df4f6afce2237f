/*
 * host.c - see host.h.  The order matters: the loop first (every service
 * makes handles on it), the store before plugins (they migrate in init),
 * the sweepers before any plugin loads; at the end, the plugins are gone
 * before the services they used close, and the store closes last but the
 * loop, so no final callback finds it closed.
 */
#include "host.h"
#include "access.h"
#include "api.h"
#include "builtin.h"
#include "command.h"
#include "config.h"
#include "http.h"
#include "job.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "process.h"
#include "progress.h"
#include "store.h"
#include "util.h"
#include "webhook.h"

#include <stdlib.h>

int host_start(const struct config *cfg, enum opsbot_mode mode,
	       const char *store_path, const char *version, char **err)
{
	loop_init();
	api_set_mode(mode);
	if (store_open_flags(store_path,
			     config_get_bool(cfg, "bot", config_bot_keys,
					     "state_permissions_ok")
				 ? STORE_LOOSE_PERMISSIONS_OK
				 : 0,
			     err) < 0) {
		loop_close();
		return -1;
	}
	command_init();
	builtin_init(version);
	webhook_init();
	progress_init();
	host_apply_config(cfg);
	return 0;
}

void host_apply_config(const struct config *cfg)
{
	command_configure(cfg);
	access_configure(cfg);
	plugin_set_config((struct config *)cfg);
	job_configure(
	    (int)config_get_int(cfg, "bot", config_bot_keys, "job_threads"),
	    (int)config_get_int(cfg, "bot", config_bot_keys, "job_limit"));
	progress_configure((long)config_get_duration_ms(
	    cfg, "bot", config_bot_keys, "progress_interval"));
}

long host_shutdown_grace_ms(const struct config *cfg)
{
	return (long)config_get_duration_ms(cfg, "bot", config_bot_keys,
					    "shutdown_grace");
}

void host_stop(void)
{
	process_kill_all();
	job_shutdown();
	http_shutdown();
	webhook_stop();
	command_fini();
	builtin_fini();
	access_clear();
	store_close();
	loop_close();
	plugin_set_config(NULL);
}
