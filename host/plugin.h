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
	/* How long a cancelled op may take to end (a child's grace before
	 * SIGKILL), for the shutdown's hard deadline; NULL: at once. */
	long (*cancel_grace_ms)(const struct op *op);
};

/* One asynchronous operation of a plugin. */
struct op {
	int64_t id;
	struct opsbot_plugin *plugin;
	const struct op_kind *kind;
	struct list link; /* in plugin->ops */
	int cancel_requested;
	int cancel_status; /* OPSBOT_ECANCELED or OPSBOT_ETIMEDOUT */
	enum opsbot_unload_policy policy; /* resolved: never DEFAULT */
	const char *name;		  /* for refusals; owned by the op */
	int64_t started_ms;
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
	int jobs_active;	      /* queued or running on the job pool */
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
/* The plugin that has word among its extra words (ABI 2.1), or NULL. */
struct opsbot_plugin *plugin_find_by_extra_word(const char *word);
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
/*
 * Why p may not be unloaded now: a malloc'd message naming its running
 * work whose policy is OPSBOT_UNLOAD_REFUSE and how to end it, or NULL.
 * Callers that act for a user (!plugin unload, a config reload) ask
 * first; plugin_unload() itself never refuses.
 */
char *plugin_unload_refusal(const struct opsbot_plugin *p);
/* What p still runs, for messages: "build qemu (3m), clone x-01 (10s)";
 * only ops whose policy is not CANCEL.  malloc'd, "" if none. */
char *plugin_describe_work(const struct opsbot_plugin *p);

/*
 * Shutdown, driven by the loop (never call uv_run from a callback): every
 * plugin is unloaded; ops whose policy is CANCEL are cancelled now, the
 * others may finish for grace_ms, then they are cancelled too.  done(1)
 * runs once every plugin is gone; done(0) at the hard deadline, grace_ms
 * plus the longest grace a cancelled child has (at least 1 s), if work
 * (a job stuck in a blocking call) is still there.
 */
void plugin_unload_all_begin(long grace_ms, void (*done)(int all_gone));
/*
 * For callers outside the loop (the CLI after its command, --check-config,
 * tests): plugin_unload_all_begin(grace_ms) and the loop run until done.
 * Returns 1 if every plugin is gone.
 */
int plugin_unload_all_wait(long grace_ms);
/* plugin_unload_all_wait(0): cancel everything now. */
void plugin_unload_all(void);

/*
 * Gives p the new config through its reconfigure() (the caller checked
 * that it has one).  Returns 0, or -1 if the plugin refused: it keeps the
 * old config.
 */
int plugin_reconfigure(struct opsbot_plugin *p, struct config *fresh);

/* Enter and leave plugin code (around every call into a plugin). */
static inline void plugin_enter(struct opsbot_plugin *p)
{
	p->depth++;
}
void plugin_leave(struct opsbot_plugin *p);

/*
 * Registrations that are not ops (commands, pending requests, webhook
 * routes, progress lines) live in the services that own them.  Each
 * service registers a sweeper at start-up; unload calls every sweeper, in
 * the order registered, once the plugin's ops are over and before fini().
 * So the core never calls into a service by name, and no host file
 * includes the other in a cycle.
 */
struct plugin_sweeper {
	const char *name;
	void (*sweep)(struct opsbot_plugin *p);
	struct plugin_sweeper *next; /* the core's */
};
void plugin_add_sweeper(struct plugin_sweeper *s);
/* The command registry's "is this command word in use?", for load. */
void plugin_set_word_check(int (*taken)(const char *word));

/* Ops. */
void op_start(struct op *op, struct opsbot_plugin *p,
	      const struct op_kind *kind);
/*
 * Asks op to end with status (OPSBOT_ECANCELED, OPSBOT_ETIMEDOUT): marks it
 * and calls its kind's cancel, once.  The final callback comes later.
 */
void op_cancel(struct op *op, int status);
/* Sets the op's unload policy from the caller's choice and p's default. */
void op_set_policy(struct op *op, enum opsbot_unload_policy policy);
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
