/*
 * plugin.c - loading, the ABI check, unloading and the sweep.
 *
 * Unload order (the WeeChat/libpurple rule, with Redis's refusal to unload
 * under a running call): mark the plugin closing so nothing new starts;
 * once no plugin frame is on the stack, cancel every op, whose final
 * callbacks run from the loop while the code is still mapped; when the op
 * list is empty, end pending requests, drop commands and webhooks, call
 * fini(), and dlclose().  A reload loads the file again only after that.
 */
#include "plugin.h"
#include "command.h"
#include "config.h"
#include "log.h"
#include "loop.h"
#include "webhook.h"

#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct list registry = LIST_INIT(registry);
static struct list dying = LIST_INIT(dying); /* closing, not yet freed */
static char *plugin_dir;
static struct config *current_config;
static int64_t next_op_id = 1;

struct unload_waiter {
	plugin_done_fn *done;
	void *data;
	int reload;
};

static void try_finish_unload(void *data);

void plugin_set_dir(const char *dir)
{
	free(plugin_dir);
	plugin_dir = dir ? xstrdup(dir) : NULL;
}

const char *plugin_get_dir(void)
{
	return plugin_dir ? plugin_dir : ".";
}

void plugin_set_config(struct config *cfg)
{
	current_config = cfg;
}

struct config *plugin_get_config(void)
{
	return current_config;
}

int plugin_name_valid(const char *name)
{
	size_t i, len = strlen(name);

	if (len == 0 || len > 32)
		return 0;
	for (i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '_'))
			return 0;
	}
	return 1;
}

struct list *plugin_list(void)
{
	return &registry;
}

struct opsbot_plugin *plugin_find(const char *name)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &registry)
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);

		if (!strcmp(p->name, name))
			return p;
	}
	return NULL;
}

/* A plugin whose unload was requested and whose old instance still lives
 * (ops finishing, fini not yet called), or NULL. */
static struct opsbot_plugin *find_dying(const char *name)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &dying)
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);

		if (!strcmp(p->name, name))
			return p;
	}
	return NULL;
}

int plugin_reload_when_unloaded(const char *name)
{
	struct opsbot_plugin *p = find_dying(name);

	if (!p || !p->waiter)
		return 0;
	p->waiter->reload = 1;
	return 1;
}

struct opsbot_plugin *plugin_find_by_word(const char *word)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &registry)
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);

		if (!strcmp(p->command_word, word))
			return p;
	}
	return NULL;
}

const char *plugin_log_name(const struct opsbot_plugin *p)
{
	return p->log_name;
}

int plugin_accepts_work(const struct opsbot_plugin *p)
{
	return p->state != PLUGIN_CLOSING;
}

void plugin_leave(struct opsbot_plugin *p)
{
	if (--p->depth == 0 && p->unload_pending)
		loop_defer(try_finish_unload, p);
}

void op_start(struct op *op, struct opsbot_plugin *p,
	      const struct op_kind *kind)
{
	op->id = next_op_id++;
	op->plugin = p;
	op->kind = kind;
	op->cancel_requested = 0;
	list_add_tail(&p->ops, &op->link);
}

void op_finish(struct op *op)
{
	struct opsbot_plugin *p = op->plugin;

	list_del(&op->link);
	if (p->unload_pending && list_empty(&p->ops))
		loop_defer(try_finish_unload, p);
}

struct op *op_find(struct opsbot_plugin *p, int64_t id)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &p->ops)
	{
		struct op *op = list_entry(pos, struct op, link);

		if (op->id == id)
			return op;
	}
	return NULL;
}

static void register_cached(struct list *plugins)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, plugins)
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);
		struct plugin_cache *c;

		for (c = p->cache; c; c = c->next)
			if (c->secret)
				secret_register(c->secret);
	}
}

void plugin_register_secrets(void)
{
	register_cached(&registry);
	register_cached(&dying);
}

/* ---- loading ---- */

static char *plugin_path(const char *name)
{
	return xasprintf("%s/%s.so", plugin_get_dir(), name);
}

void *plugin_peek(const char *name, const struct opsbot_plugin_descriptor **out,
		  char **err)
{
	const struct opsbot_plugin_descriptor *desc;
	char *path;
	void *handle;

	*err = NULL;
	if (!plugin_name_valid(name)) {
		*err = xasprintf("cannot load plugin '%s': invalid name (use "
				 "a-z, 0-9 and _)",
				 name);
		return NULL;
	}
	path = plugin_path(name);
	if (access(path, R_OK)) {
		*err = xasprintf("cannot load plugin '%s': %s not found "
				 "(check [bot] plugin_dir)",
				 name, path);
		free(path);
		return NULL;
	}
	handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		*err =
		    xasprintf("cannot load plugin '%s': %s", name, dlerror());
		free(path);
		return NULL;
	}
	desc = dlsym(handle, OPSBOT_DESCRIPTOR_SYMBOL);
	if (!desc) {
		*err = xasprintf("cannot load plugin '%s': %s has no '%s' "
				 "descriptor (not an opsbot plugin?)",
				 name, path, OPSBOT_DESCRIPTOR_SYMBOL);
		goto fail;
	}
	if (desc->abi_major != OPSBOT_ABI_MAJOR) {
		*err = xasprintf("cannot load plugin '%s': built for ABI "
				 "%u.%u, this host has %u.%u; rebuild the "
				 "plugin",
				 name, desc->abi_major, desc->abi_minor,
				 OPSBOT_ABI_MAJOR, OPSBOT_ABI_MINOR);
		goto fail;
	}
	if (desc->abi_minor > OPSBOT_ABI_MINOR) {
		*err = xasprintf("cannot load plugin '%s': built for ABI "
				 "%u.%u, newer than this host's %u.%u; "
				 "upgrade opsbot",
				 name, desc->abi_major, desc->abi_minor,
				 OPSBOT_ABI_MAJOR, OPSBOT_ABI_MINOR);
		goto fail;
	}
	if (!desc->name || strcmp(desc->name, name)) {
		*err = xasprintf("cannot load plugin '%s': its descriptor "
				 "names it '%s'",
				 name, desc->name ? desc->name : "(null)");
		goto fail;
	}
	if (!desc->init) {
		*err = xasprintf("cannot load plugin '%s': no init function",
				 name);
		goto fail;
	}
	if (desc->command && !plugin_name_valid(desc->command)) {
		*err = xasprintf("cannot load plugin '%s': invalid command "
				 "word '%s'",
				 name, desc->command);
		goto fail;
	}
	free(path);
	*out = desc;
	return handle;
fail:
	free(path);
	dlclose(handle);
	return NULL;
}

void plugin_peek_release(void *handle)
{
	if (handle)
		dlclose(handle);
}

static void plugin_free(struct opsbot_plugin *p)
{
	struct plugin_cache *c, *next;

	for (c = p->cache; c; c = next) {
		next = c->next;
		free(c->key);
		free(c->items);
		free_secret(c->secret);
		free(c);
	}
	config_free(p->config);
	free(p->name);
	free(p->path);
	free(p->command_word);
	free(p->log_name);
	free(p);
}

struct opsbot_plugin *plugin_load(const char *name, char **err)
{
	const struct opsbot_plugin_descriptor *desc;
	struct opsbot_plugin *p;
	struct buf section = BUF_INIT;
	const char *word;
	void *handle;
	int rc;

	if (plugin_find(name)) {
		*err = xasprintf("plugin '%s' is already loaded", name);
		return NULL;
	}
	/* dlopen would hand back the old instance's mapping: a second init
	 * would share its globals, and run before its fini. */
	if (find_dying(name)) {
		*err = xasprintf("plugin '%s' is still being unloaded; load it "
				 "again once that is done",
				 name);
		return NULL;
	}
	handle = plugin_peek(name, &desc, err);
	if (!handle)
		return NULL;
	word = desc->command ? desc->command : desc->name;
	if (command_word_taken(word)) {
		*err = xasprintf("cannot load plugin '%s': its command word "
				 "'%s' is already in use",
				 name, word);
		dlclose(handle);
		return NULL;
	}
	/* The section is validated again here: the file may have changed
	 * since --check-config, and init must see valid values only. */
	if (current_config) {
		struct config *check = config_ref(current_config);
		int before = check->error_count;
		size_t mark = check->errors.len;

		buf_addf(&section, "plugin.%s", name);
		config_validate_section(check, section.data, desc->config);
		if (check->error_count > before) {
			*err = xasprintf("cannot load plugin '%s': bad "
					 "config:\n%s",
					 name, check->errors.data + mark);
			/* Leave the shared config as it was. */
			check->error_count = before;
			check->errors.len = mark;
			check->errors.data[mark] = '\0';
			config_free(check);
			buf_free(&section);
			dlclose(handle);
			return NULL;
		}
		config_free(check);
		buf_free(&section);
	}

	p = xcalloc(1, sizeof(*p));
	p->name = xstrdup(name);
	p->path = plugin_path(name);
	p->command_word = xstrdup(word);
	p->log_name = xasprintf("plugin %s", name);
	p->handle = handle;
	p->desc = desc;
	p->state = PLUGIN_LOADING;
	p->config = config_ref(current_config);
	list_init(&p->ops);
	list_init(&p->requests);
	list_add_tail(&registry, &p->link);

	plugin_enter(p);
	rc = desc->init(p, &host_api);
	p->state = PLUGIN_ACTIVE;
	if (rc < 0) {
		*err = xasprintf("plugin '%s' failed to start (init returned "
				 "%d); see the log above",
				 name, rc);
		/* Sweep what init registered; the loop frees the rest. */
		p->skip_fini = 1;
		plugin_unload(p, 0, NULL, NULL);
		plugin_leave(p);
		return NULL;
	}
	plugin_leave(p);
	info("plugin", "loaded %s %s from %s", name,
	     desc->version ? desc->version : "", p->path);
	return p;
}

/* ---- unloading ---- */

int plugin_unload(struct opsbot_plugin *p, int reload, plugin_done_fn *done,
		  void *data)
{
	struct unload_waiter *w;
	struct list *pos, *tmp;

	if (p->state == PLUGIN_CLOSING)
		return OPSBOT_ECLOSING;
	w = xcalloc(1, sizeof(*w));
	w->done = done;
	w->data = data;
	w->reload = reload;
	p->state = PLUGIN_CLOSING;
	p->unload_pending = 1;
	/* Out of the registry at once: no new commands reach it, and a
	 * reload can register the new instance under the same name. */
	list_del(&p->link);
	list_add_tail(&dying, &p->link);
	p->waiter = w;
	/* Cancel everything now; final callbacks come from the loop. */
	list_for_each_safe(pos, tmp, &p->ops)
	{
		struct op *op = list_entry(pos, struct op, link);

		if (!op->cancel_requested) {
			op->cancel_requested = 1;
			op->kind->cancel(op);
		}
	}
	loop_defer(try_finish_unload, p);
	return OPSBOT_OK;
}

static void try_finish_unload(void *data)
{
	struct opsbot_plugin *p = data;
	struct unload_waiter *w;
	struct list *pos, *tmp;
	char *name, *err = NULL;

	/* Still referenced from the dying list? (deferred twice) */
	list_for_each_safe(pos, tmp, &dying)
	{
		if (list_entry(pos, struct opsbot_plugin, link) == p)
			goto found;
	}
	return;
found:
	if (p->depth > 0 || !list_empty(&p->ops))
		return; /* plugin_leave / op_finish will call us again */

	command_abort_requests(p);
	if (!list_empty(&p->ops) || p->depth > 0)
		return;
	command_remove_plugin(p);
	webhook_remove_plugin(p);
	if (!p->skip_fini && p->desc->fini) {
		plugin_enter(p);
		p->desc->fini(p);
		p->depth--;
	}
	/* Ops started by fini itself are refused (state CLOSING). */
	list_del(&p->link);
	w = p->waiter;
	if (p->handle && !getenv("OPSBOT_NO_DLCLOSE"))
		dlclose(p->handle);
	name = xstrdup(p->name);
	info("plugin", "unloaded %s", name);
	plugin_free(p);
	if (w && w->reload) {
		if (!plugin_load(name, &err) && !err)
			err = xstrdup("reload failed");
	}
	if (w && w->done)
		w->done(name, err, w->data);
	free(err);
	free(w);
	free(name);
}

void plugin_unload_all(void)
{
	struct list *pos, *tmp;
	int64_t deadline;

	/* A reload still waiting for its old instance would load the
	 * plugin again in the middle of the shutdown, never to unload. */
	list_for_each_safe(pos, tmp, &dying)
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);

		if (p->waiter)
			p->waiter->reload = 0;
	}
	list_for_each_safe(pos, tmp, &registry)
	{
		plugin_unload(list_entry(pos, struct opsbot_plugin, link), 0,
			      NULL, NULL);
	}
	/* A job stuck in a blocking call can hold us; give up after 10 s. */
	deadline = time_now_ms() + 10000;
	while (!list_empty(&dying) && time_now_ms() < deadline)
		uv_run(loop_get(), UV_RUN_ONCE);
	if (!list_empty(&dying))
		warning("plugin", "some plugins did not finish within 10 s "
				  "(a job still running); exiting anyway");
}
