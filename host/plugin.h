/*
 * plugin.h - loaded plugins: dlopen with the ABI check, the registry, the
 * record of everything each plugin owns, and unload/reload carried out only
 * when no plugin code is on the stack.
 *
 * Everything asynchronous a plugin starts is a `struct op` on its plugin's
 * list.  An op ends exactly once, through op_finish(); a plugin is
 * unloaded only after its list is empty, so every callback has run while
 * the plugin's code was still mapped.
 */
#ifndef PLUGIN_H
#define PLUGIN_H

#include "opsbot.h"
#include "util.h"

struct config;

enum plugin_state {
	PLUGIN_LOADING, /* in init() */
	PLUGIN_ACTIVE,
	PLUGIN_CLOSING, /* unload requested: nothing new may start */
};

struct op;
struct unload_waiter;

/* A config value resolved for the plugin, kept until unload. */
struct plugin_cache {
	char *key;
	char **items; /* LIST: from config_get_list() */
	int count;
	char *secret; /* SECRET */
	struct plugin_cache *next;
};

struct op_kind {
	const char *name;	       /* "timer", "http", ... */
	void (*cancel)(struct op *op); /* must lead to op_finish() soon */
};

/* One asynchronous operation of a plugin. */
struct op {
	int64_t id;
	struct opsbot_plugin *plugin;
	const struct op_kind *kind;
	struct list link; /* in plugin->ops */
	int cancel_requested;
};

struct opsbot_plugin {
	char *name;
	char *path;
	char *command_word; /* "reg" */
	char *log_name;	    /* "plugin reg..." for log lines */
	void *handle;	    /* dlopen handle; NULL for built-in test plugins */
	const struct opsbot_plugin_descriptor *desc;
	enum plugin_state state;
	int depth;	    /* plugin frames on the stack */
	int unload_pending; /* unload requested; see plugin_unload() */
	int skip_fini;	    /* init failed: no fini() */
	struct unload_waiter *waiter; /* who asked for the unload */
	struct list ops;	      /* struct op */
	struct list requests;	      /* pending struct request */
	struct list link;	      /* in the registry */
	/* Resolved config of [plugin.<name>], valid until unload. */
	struct config *config;	    /* a reference (config_ref) */
	struct plugin_cache *cache; /* config lists and secrets handed out */
};

/* The table every plugin gets. */
extern const struct opsbot_api host_api;

/* Loads path (or <dir>/<name>.so); runs init.  Returns the plugin or NULL
 * with *err set (malloc'd). */
struct opsbot_plugin *plugin_load(const char *name, char **err);
/*
 * Reads a plugin file's descriptor without running init (dlopen only),
 * for --check-config.  Returns the handle (dlclose it) and *desc, or NULL
 * with *err set.
 */
void *plugin_peek(const char *name,
		  const struct opsbot_plugin_descriptor **desc, char **err);

/* Drops the handle plugin_peek() returned. */
void plugin_peek_release(void *handle);

/* Where plugins are looked up: set from [bot] plugin_dir or the default. */
void plugin_set_dir(const char *dir);
const char *plugin_get_dir(void);
/* Valid plugin name: [a-z0-9_]{1,32}. */
int plugin_name_valid(const char *name);

struct opsbot_plugin *plugin_find(const char *name);
struct opsbot_plugin *plugin_find_by_word(const char *word);
struct list *plugin_list(void);

/*
 * Requests an unload (reload 0) or reload (1).  Carried out from the loop
 * once no plugin frame is on the stack and every op of the plugin has
 * finished.  done(name, err, data) is called afterwards, err NULL on
 * success; it may be NULL.
 */
typedef void plugin_done_fn(const char *name, const char *err, void *data);
int plugin_unload(struct opsbot_plugin *p, int reload, plugin_done_fn *done,
		  void *data);
/*
 * If name is still being unloaded, turns that into a reload (the new
 * instance loads once the old one is gone) and returns 1; else 0.  A
 * plugin cannot be loaded again before then.
 */
int plugin_reload_when_unloaded(const char *name);
/* Unloads every plugin (shutdown); runs the loop until they are gone. */
void plugin_unload_all(void);

/* Enter and leave plugin code (around every call into a plugin). */
static inline void plugin_enter(struct opsbot_plugin *p)
{
	p->depth++;
}
void plugin_leave(struct opsbot_plugin *p);

/* Ops. */
void op_start(struct op *op, struct opsbot_plugin *p,
	      const struct op_kind *kind);
/* Unlinks op; call right before the op's final callback. */
void op_finish(struct op *op);
struct op *op_find(struct opsbot_plugin *p, int64_t id);
/* May the plugin start something new? */
int plugin_accepts_work(const struct opsbot_plugin *p);

/* The log component name of a plugin: "plugin <name>". */
const char *plugin_log_name(const struct opsbot_plugin *p);

/* Registers for redaction every secret a plugin (loaded or unloading)
 * has read, after the registry was replaced by a config reload. */
void plugin_register_secrets(void);

/* The config used for plugin sections; set by main on (re)load. */
void plugin_set_config(struct config *cfg);
struct config *plugin_get_config(void);

#endif /* PLUGIN_H */
