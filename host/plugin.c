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
#include "config.h"
#include "log.h"
#include "loop.h"

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
static void shutdown_check(void);
static struct plugin_sweeper *sweepers;
static int (*word_taken)(const char *word);

void plugin_add_sweeper(struct plugin_sweeper *s)
{
	struct plugin_sweeper **pp = &sweepers;

	while (*pp && *pp != s)
		pp = &(*pp)->next;
	if (*pp)
		return; /* registered already (a second start-up) */
	s->next = NULL;
	*pp = s;
}

void plugin_set_word_check(int (*taken)(const char *word))
{
	word_taken = taken;
}

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

/* The plugin's extra words (ABI 2.1), or NULL. */
static const char *const *extra_words(const struct opsbot_plugin_descriptor *d)
{
	return OPSBOT_HAS_MEMBER(d, extra_words) ? d->extra_words : NULL;
}

struct opsbot_plugin *plugin_find_by_extra_word(const char *word)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &registry)
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);
		const char *const *w = extra_words(p->desc);

		for (; w && *w; w++)
			if (!strcmp(*w, word))
				return p;
	}
	return NULL;
}

/* Checks the plugin's extra words: valid, not repeated, not taken. */
static int extra_words_ok(const char *name,
			  const struct opsbot_plugin_descriptor *desc,
			  const char *word, char **err)
{
	const char *const *w = extra_words(desc), *const * v;
	int n = 0;

	for (; w && *w; w++, n++) {
		const char *c;
		int bad = !**w || strlen(*w) > 32 || n >= 16;

		for (c = *w; *c && !bad; c++)
			bad = !((*c >= 'a' && *c <= 'z') ||
				(*c >= '0' && *c <= '9') || *c == '-' ||
				*c == '_');
		if (bad) {
			*err = xasprintf("cannot load plugin '%s': extra "
					 "command word %d is not a word of "
					 "at most 32 of [a-z0-9_-] (16 at "
					 "most)",
					 name, n + 1);
			return -1;
		}
		for (v = extra_words(desc); v != w; v++)
			if (!strcmp(*v, *w))
				bad = 1;
		if (bad || !strcmp(*w, word) ||
		    (word_taken && word_taken(*w))) {
			*err = xasprintf("cannot load plugin '%s': its command "
					 "word '%s' is already in use",
					 name, *w);
			return -1;
		}
	}
	return 0;
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
	op->cancel_status = OPSBOT_ECANCELED;
	op->policy = OPSBOT_UNLOAD_CANCEL;
	op->started_ms = time_now_ms();
	list_add_tail(&p->ops, &op->link);
}

void op_cancel(struct op *op, int status)
{
	if (op->cancel_requested)
		return;
	op->cancel_requested = 1;
	op->cancel_status = status;
	op->kind->cancel(op);
}

void op_set_policy(struct op *op, enum opsbot_unload_policy policy)
{
	const struct opsbot_plugin_descriptor *d = op->plugin->desc;

	if (policy == OPSBOT_UNLOAD_DEFAULT && d &&
	    OPSBOT_HAS_MEMBER(d, unload_policy))
		policy = d->unload_policy;
	if (policy < OPSBOT_UNLOAD_CANCEL || policy > OPSBOT_UNLOAD_REFUSE)
		policy = OPSBOT_UNLOAD_CANCEL;
	op->policy = policy;
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

/*
 * Tables of plugin-filled structs are stepped through with this host's
 * sizeof; while no struct has grown within the major, every entry but
 * the terminator must say exactly that size.
 */
static int keys_sizes_valid(const struct opsbot_config_key *k)
{
	for (; k && k->key; k++)
		if (k->size != sizeof(*k))
			return 0;
	return 1;
}

static int schema_sizes_valid(const struct opsbot_plugin_descriptor *desc)
{
	const struct opsbot_config_section *s;

	if (!keys_sizes_valid(desc->config))
		return 0;
	for (s = desc->sections; s && s->kind; s++)
		if (s->size != sizeof(*s) || !keys_sizes_valid(s->keys))
			return 0;
	return 1;
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
	if (desc->size < sizeof(struct opsbot_plugin_descriptor)) {
		*err = xasprintf("cannot load plugin '%s': its descriptor has "
				 "no valid size (set .size = sizeof(struct "
				 "opsbot_plugin_descriptor))",
				 name);
		goto fail;
	}
	if (!schema_sizes_valid(desc)) {
		*err = xasprintf("cannot load plugin '%s': a config key or "
				 "section table has entries without a valid "
				 "size (use OPSBOT_CONFIG_KEY(...))",
				 name);
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

static void cache_free(struct plugin_cache *c)
{
	struct plugin_cache *next;

	for (; c; c = next) {
		next = c->next;
		free(c->key);
		free(c->items);
		free_secret(c->secret);
		free(c);
	}
}

int plugin_reconfigure(struct opsbot_plugin *p, struct config *fresh)
{
	struct config *old = p->config;
	struct plugin_cache *old_cache = p->cache;
	int rc;

	p->config = config_ref(fresh);
	p->cache = NULL;
	plugin_enter(p);
	rc = p->desc->reconfigure(p);
	plugin_leave(p);
	if (rc < 0) {
		cache_free(p->cache);
		config_free(p->config);
		p->config = old;
		p->cache = old_cache;
		return -1;
	}
	/* The old values' strings were valid until reconfigure returned. */
	cache_free(old_cache);
	config_free(old);
	return 0;
}

static void plugin_free(struct opsbot_plugin *p)
{
	cache_free(p->cache);
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
	if (word_taken && word_taken(word)) {
		*err = xasprintf("cannot load plugin '%s': its command word "
				 "'%s' is already in use",
				 name, word);
		dlclose(handle);
		return NULL;
	}
	if (extra_words_ok(name, desc, word, err) < 0) {
		dlclose(handle);
		return NULL;
	}
	/* The section is validated again here: the file may have changed
	 * since --check-config, and init must see valid values only. */
	if (current_config) {
		struct config *check = config_ref(current_config);
		int before = check->error_count;
		size_t mark = check->errors.len;

		config_validate_plugin(check, name, desc);
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
	/* Cancel what may be cancelled; final callbacks come from the loop.
	 * Work that drains (or refused, and the unload was forced) runs on
	 * until it ends by itself. */
	list_for_each_safe(pos, tmp, &p->ops)
	{
		struct op *op = list_entry(pos, struct op, link);

		if (op->policy == OPSBOT_UNLOAD_CANCEL)
			op_cancel(op, OPSBOT_ECANCELED);
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

	{
		struct plugin_sweeper *s;

		for (s = sweepers; s; s = s->next)
			s->sweep(p);
	}
	if (!list_empty(&p->ops) || p->depth > 0)
		return;
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
	shutdown_check();
}

/* ---- policies and shutdown ---- */

static void describe_op(struct buf *b, const struct op *op)
{
	long secs = (long)((time_now_ms() - op->started_ms) / 1000);

	if (b->len)
		buf_adds(b, ", ");
	if (secs >= 3600)
		buf_addf(b, "%s (%ldh%02ldm)",
			 op->name ? op->name : op->kind->name, secs / 3600,
			 secs / 60 % 60);
	else if (secs >= 60)
		buf_addf(b, "%s (%ldm)", op->name ? op->name : op->kind->name,
			 secs / 60);
	else
		buf_addf(b, "%s (%lds)", op->name ? op->name : op->kind->name,
			 secs);
}

char *plugin_describe_work(const struct opsbot_plugin *p)
{
	struct buf b = BUF_INIT;
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, (struct list *)&p->ops)
	{
		struct op *op = list_entry(pos, struct op, link);

		if (op->policy != OPSBOT_UNLOAD_CANCEL && !op->cancel_requested)
			describe_op(&b, op);
	}
	return buf_detach(&b);
}

char *plugin_unload_refusal(const struct opsbot_plugin *p)
{
	struct buf b = BUF_INIT;
	struct list *pos, *tmp;
	int n = 0;
	char *msg;

	list_for_each_safe(pos, tmp, (struct list *)&p->ops)
	{
		struct op *op = list_entry(pos, struct op, link);

		if (op->policy == OPSBOT_UNLOAD_REFUSE &&
		    !op->cancel_requested) {
			describe_op(&b, op);
			n++;
		}
	}
	if (!n) {
		buf_free(&b);
		return NULL;
	}
	msg = xasprintf("plugin %s is running %s; stop %s with the plugin's "
			"own command, or wait until %s finished",
			p->name, b.data, n == 1 ? "it" : "them",
			n == 1 ? "it has" : "they have");
	buf_free(&b);
	return msg;
}

static struct {
	int active;
	uv_timer_t timer;
	unsigned generation; /* of the loop the timer was made on */
	int cancelled;	     /* the grace is over */
	void (*done)(int all_gone);
} unload_all;

static void shutdown_finish(int all_gone)
{
	void (*done)(int) = unload_all.done;

	if (!unload_all.active)
		return;
	unload_all.active = 0;
	uv_timer_stop(&unload_all.timer);
	if (done)
		done(all_gone);
}

static void on_hard_deadline(uv_timer_t *t)
{
	struct list *pos, *tmp;
	struct buf b = BUF_INIT;

	UNUSED(t);
	list_for_each_safe(pos, tmp, &dying)
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);
		struct list *o, *otmp;

		list_for_each_safe(o, otmp, &p->ops)
		{
			describe_op(&b, list_entry(o, struct op, link));
		}
	}
	warning("plugin",
		"shutdown: still running after cancel: %s; exiting anyway",
		b.len ? b.data : "(plugin code)");
	buf_free(&b);
	shutdown_finish(0);
}

static void on_grace_over(uv_timer_t *t)
{
	struct list *pos, *tmp;
	long longest = 1000;

	UNUSED(t);
	unload_all.cancelled = 1;
	list_for_each_safe(pos, tmp, &dying)
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);
		struct list *o, *otmp;

		list_for_each_safe(o, otmp, &p->ops)
		{
			struct op *op = list_entry(o, struct op, link);
			long g = op->kind->cancel_grace_ms
				     ? op->kind->cancel_grace_ms(op)
				     : 0;

			if (g > longest)
				longest = g;
			op_cancel(op, OPSBOT_ECANCELED);
		}
	}
	loop_timer_start(&unload_all.timer, on_hard_deadline, (uint64_t)longest,
			 0);
}

static void shutdown_check(void)
{
	if (unload_all.active && list_empty(&dying) && list_empty(&registry))
		shutdown_finish(1);
}

static void shutdown_check_deferred(void *data)
{
	UNUSED(data);
	shutdown_check();
}

void plugin_unload_all_begin(long grace_ms, void (*done)(int all_gone))
{
	struct list *pos, *tmp;

	/* A reload still waiting for its old instance would load the
	 * plugin again in the middle of the shutdown, never to unload. */
	list_for_each_safe(pos, tmp, &dying)
	{
		struct opsbot_plugin *p =
		    list_entry(pos, struct opsbot_plugin, link);

		if (p->waiter)
			p->waiter->reload = 0;
	}
	if (unload_all.generation != loop_generation()) {
		uv_timer_init(loop_get(), &unload_all.timer);
		unload_all.generation = loop_generation();
	}
	unload_all.active = 1;
	unload_all.cancelled = 0;
	unload_all.done = done;
	list_for_each_safe(pos, tmp, &registry)
	{
		plugin_unload(list_entry(pos, struct opsbot_plugin, link), 0,
			      NULL, NULL);
	}
	loop_timer_start(&unload_all.timer, on_grace_over,
			 (uint64_t)(grace_ms > 0 ? grace_ms : 0), 0);
	loop_defer(shutdown_check_deferred, NULL);
}

static int wait_flag;
static int wait_all_gone;

static void on_wait_done(int all_gone)
{
	wait_flag = 1;
	wait_all_gone = all_gone;
	/* Done from a timer (the deadline), libuv 1.44 would go on into a
	 * poll without a timeout while a stuck job keeps the loop alive:
	 * make this uv_run() return. */
	uv_stop(loop_get());
}

int plugin_unload_all_wait(long grace_ms)
{
	wait_flag = 0;
	wait_all_gone = 0;
	plugin_unload_all_begin(grace_ms, on_wait_done);
	/* Aborts when called from a callback: uv_run is not reentrant. */
	loop_run_until(&wait_flag);
	/* The timer of this shutdown is closed with the loop. */
	return wait_all_gone;
}

void plugin_unload_all(void)
{
	plugin_unload_all_wait(0);
}
