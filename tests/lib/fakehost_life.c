/*
 * fakehost_life.c - the fake host's commands (registry, typed lines run
 * through the host's splitting and confirmation rule), progress lines,
 * say_grouped(), and the plugin's life: load, reconfigure, unload with
 * the unload policies.
 */
#include "fakehost_internal.h"
#include "command.h"
#include "confirm.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROGRESS_INTERVAL_MS 30000
/* An unload waits this long (virtual) for work that drains. */
#define DRAIN_MAX_MS (24L * 3600 * 1000)

struct command {
	struct command *next;
	char *name, *usage, *confirm;
	int min_args, max_args;
	unsigned flags;
	opsbot_command_fn *fn;
	void *data;
};

struct fh_request {
	struct fh_request *next;
	struct opsbot_request pub;
	char *line; /* split in place: argv points into it */
	char *args; /* the argument text as typed */
	char *argv[COMMAND_ARGS_MAX + 1];
	int force_private; /* OPSBOT_COMMAND_PRIVATE */
	int pending, finished;
};

struct progress {
	struct progress *next;
	char *target, *key, *held;
	int64_t last_sent, due_event;
	long interval_ms;
};

struct fh_life {
	struct command *commands;
	struct fh_request *requests;
	struct progress *progress;
	enum opsbot_origin origin;
	char *nick, *account, *channel;
	int status; /* of the last command */
};

static struct fh_life *life_of(struct fakehost *h)
{
	struct fh_parts *parts = fh_parts(h);

	if (!parts->life) {
		parts->life = calloc(1, sizeof(*parts->life));
		parts->life->origin = OPSBOT_ORIGIN_CHANNEL;
		parts->life->nick = strdup("tester");
		parts->life->account = strdup("tester");
		parts->life->channel = strdup("#test");
	}
	return parts->life;
}

/* The word users type: the descriptor's command, else the name. */
static const char *command_word(struct fakehost *h)
{
	const struct opsbot_plugin_descriptor *d = fh_parts(h)->desc;

	return d && d->command ? d->command : fh_parts(h)->name;
}

/* ------------------------------------------------------------------------ */
/* Commands                                                                   */

static int subcommand_valid(const char *name)
{
	for (const char *c = name; *c; c++)
		if (!islower((unsigned char)*c) &&
		    !isdigit((unsigned char)*c) && *c != '-' && *c != '_')
			return 0;
	return strlen(name) <= 32;
}

static int fh_command_add(struct opsbot_plugin *self,
			  const struct opsbot_command *cmd)
{
	struct fakehost *h = fh_current();
	enum fh_phase phase = fh_parts(h)->phase;
	struct command *c, **pp;

	if (phase != FH_NONE && phase != FH_LOADING)
		return OPSBOT_EINVAL; /* only in init() */
	if (!cmd || cmd->size < sizeof(*cmd) || !cmd->fn || !cmd->name ||
	    !subcommand_valid(cmd->name) || cmd->min_args < 0 ||
	    (cmd->max_args >= 0 && cmd->max_args < cmd->min_args) ||
	    cmd->min_args > COMMAND_ARGS_MAX)
		return OPSBOT_EINVAL;
	for (pp = &life_of(h)->commands; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, cmd->name))
			return OPSBOT_EEXIST;
	c = calloc(1, sizeof(*c));
	c->name = strdup(cmd->name);
	c->usage = strdup(cmd->usage ? cmd->usage : "");
	c->confirm = cmd->confirm ? strdup(cmd->confirm) : NULL;
	c->min_args = cmd->min_args;
	c->max_args = cmd->max_args;
	c->flags = cmd->flags;
	c->fn = cmd->fn;
	c->data = cmd->data;
	*pp = c;
	return OPSBOT_OK;
}

static struct fh_request *request_of(struct fakehost *h,
				     const struct opsbot_request *pub)
{
	for (struct fh_request *r = life_of(h)->requests; r; r = r->next)
		if (&r->pub == pub)
			return r;
	return NULL;
}

int fh_life_force_private(struct fakehost *h, const struct opsbot_request *pub)
{
	struct fh_request *r = h && pub ? request_of(h, pub) : NULL;

	return r && r->force_private;
}

static void fh_request_finish(struct fakehost *h, struct fh_request *r,
			      int status)
{
	r->finished = 1;
	r->pending = 0;
	life_of(h)->status = status;
}

static void fh_done(struct opsbot_request *pub, int status)
{
	struct fakehost *h = fh_current();
	struct fh_request *r = request_of(h, pub);

	/* done() twice, or on a request that is not pending: ignored. */
	if (r && r->pending && !r->finished)
		fh_request_finish(h, r, status);
}

static size_t example(struct fakehost *h, enum opsbot_origin origin, char *out,
		      size_t size, const char *text)
{
	int n;

	if (origin == OPSBOT_ORIGIN_CLI)
		n = snprintf(out, size, "opsbot run %s%s%s", fh_parts(h)->name,
			     text && *text ? " " : "", text ? text : "");
	else
		n = snprintf(out, size, "!%s%s%s", command_word(h),
			     text && *text ? " " : "", text ? text : "");
	return n < 0 ? 0 : (size_t)n;
}

static size_t fh_command_example(const struct opsbot_request *req, char *out,
				 size_t size, const char *text)
{
	return example(fh_current(), req ? req->origin : OPSBOT_ORIGIN_CHANNEL,
		       out, size, text);
}

/* Takes every "--yes" out of argv and a trailing one out of the text. */
static int take_yes(struct fh_request *r)
{
	int j = 0, n = 0;
	size_t len;

	for (int i = 0; i < r->pub.argc; i++) {
		if (!strcmp(r->argv[i], "--yes"))
			n++;
		else
			r->argv[j++] = r->argv[i];
	}
	r->pub.argc = j;
	r->argv[j] = NULL;
	len = strlen(r->args);
	while (len >= 5 && !strcmp(r->args + len - 5, "--yes") &&
	       (len == 5 || r->args[len - 6] == ' ')) {
		len = len == 5 ? 0 : len - 6;
		while (len && r->args[len - 1] == ' ')
			len--;
		r->args[len] = '\0';
	}
	return n;
}

/* The host's rule (command.c, confirmation_passes), on virtual time. */
static int confirmation_passes(struct fakehost *h, struct fh_request *r,
			       const struct command *c, int yes)
{
	struct fh_life *l = life_of(h);
	char text[512], ex[640], who[256], line[1024];
	long secs = confirm_timeout_ms() / 1000;
	const char *what = c->confirm ? "deletes " : "cannot be undone";
	const char *thing = c->confirm ? c->confirm : "";
	size_t len;
	enum confirm_result cr;

	snprintf(text, sizeof(text), "%s%s%s%s", c->name, *r->args ? " " : "",
		 r->args,
		 yes || r->pub.origin != OPSBOT_ORIGIN_CLI ? "" : " --yes");
	if (r->pub.origin == OPSBOT_ORIGIN_CLI) {
		if (yes)
			return 1;
		example(h, r->pub.origin, ex, sizeof(ex), text);
		fh_emit(h, "error",
			"refusing: this %s%s; run it again with "
			"--yes: %s",
			what, thing, ex);
		fh_request_finish(h, r, OPSBOT_ERR);
		return 0;
	}
	if (l->account)
		snprintf(who, sizeof(who), "account %s", l->account);
	else
		snprintf(who, sizeof(who), "mask %s!tester@test", l->nick);
	len = (size_t)snprintf(line, sizeof(line), "%s %s", command_word(h),
			       c->name);
	for (int i = 0; i < r->pub.argc && len < sizeof(line); i++)
		len += (size_t)snprintf(line + len, sizeof(line) - len,
					"\x1f%s", r->argv[i]);
	if (!yes) {
		confirm_remember(who, line, fakehost_now(h));
		snprintf(text + strlen(text), sizeof(text) - strlen(text),
			 " --yes");
		example(h, r->pub.origin, ex, sizeof(ex), text);
		fh_emit(h, "reply",
			"this %s%s; to confirm, type %s within %ld s", what,
			thing, ex, secs);
		fh_request_finish(h, r, OPSBOT_OK);
		return 0;
	}
	cr = confirm_take(who, line, fakehost_now(h));
	if (cr == CONFIRM_OK)
		return 1;
	example(h, r->pub.origin, ex, sizeof(ex), text);
	if (cr == CONFIRM_EXPIRED)
		fh_emit(h, "error",
			"error: the confirmation came after %ld s; "
			"type %s again, then confirm it with --yes",
			secs, ex);
	else
		fh_emit(h, "error",
			"error: nothing to confirm; type %s first, "
			"then the same with --yes from the same "
			"account",
			ex);
	fh_request_finish(h, r, OPSBOT_EPERM);
	return 0;
}

static void usage_error(struct fakehost *h, struct fh_request *r,
			const struct command *c)
{
	char text[512], ex[640];

	snprintf(text, sizeof(text), "%s%s%s", c->name,
		 *c->name && *c->usage ? " " : "", c->usage);
	example(h, r->pub.origin, ex, sizeof(ex), text);
	fh_emit(h, "error", "usage: %s", ex);
	fh_request_finish(h, r, OPSBOT_EUSAGE);
}

int fakehost_command(struct fakehost *h, const char *line)
{
	struct fh_life *l = life_of(h);
	struct fh_request *r = calloc(1, sizeof(*r));
	struct command *c = NULL;
	size_t starts[COMMAND_ARGS_MAX + 1];
	char *err = NULL;
	int argc, first = 0, yes = 0, rc;

	r->line = strdup(line ? line : "");
	r->next = l->requests;
	l->requests = r;
	r->pub.nick = l->nick;
	r->pub.account = l->account;
	r->pub.channel = l->origin == OPSBOT_ORIGIN_CHANNEL ? l->channel : NULL;
	r->pub.origin = l->origin;
	argc = command_split_args(r->line, r->argv, starts, COMMAND_ARGS_MAX,
				  &err);
	if (argc < 0) {
		fh_emit(h, "error", "error: %s", err);
		free(err);
		fh_request_finish(h, r, OPSBOT_EUSAGE);
		return l->status;
	}
	if (argc > 0)
		for (c = l->commands; c; c = c->next)
			if (*c->name && !strcmp(c->name, r->argv[0]))
				break;
	if (c) {
		first = 1;
	} else {
		for (c = l->commands; c && *c->name; c = c->next)
			;
	}
	if (!c) {
		fh_emit(h, "error", "unknown command '%.40s'",
			argc ? r->argv[0] : "");
		fh_request_finish(h, r, OPSBOT_ENOENT);
		return l->status;
	}
	r->args = strdup(first < argc ? line + starts[first] : "");
	r->args[strcspn(r->args, "\r\n")] = '\0';
	r->pub.command = c->name;
	r->pub.argc = argc - first;
	memmove(r->argv, r->argv + first,
		(size_t)(argc - first + 1) * sizeof(*r->argv));
	r->pub.argv = (const char *const *)r->argv;
	r->pub.args = r->args;
	if (c->flags & OPSBOT_COMMAND_CONFIRM)
		yes = take_yes(r);
	r->force_private = (c->flags & OPSBOT_COMMAND_PRIVATE) != 0;
	if (r->pub.argc < c->min_args ||
	    (c->max_args >= 0 && r->pub.argc > c->max_args)) {
		usage_error(h, r, c);
		return l->status;
	}
	if ((c->flags & OPSBOT_COMMAND_CONFIRM) &&
	    !confirmation_passes(h, r, c, yes))
		return l->status;
	r->pub.confirmed = (c->flags & OPSBOT_COMMAND_CONFIRM) != 0;
	if (fh_refuse_start(h) == OPSBOT_ECLOSING) {
		fh_emit(h, "error", "error: plugin %s is being unloaded",
			fh_parts(h)->name);
		fh_request_finish(h, r, OPSBOT_ECLOSING);
		return l->status;
	}
	rc = c->fn(fakehost_plugin(h), &r->pub, c->data);
	if (rc == OPSBOT_PENDING) {
		r->pending = 1;
		l->status = OPSBOT_PENDING;
		return rc;
	}
	if (rc == OPSBOT_EUSAGE) {
		usage_error(h, r, c);
		return l->status;
	}
	fh_request_finish(h, r, rc);
	return rc;
}

int fakehost_command_status(const struct fakehost *h)
{
	return life_of((struct fakehost *)h)->status;
}

void fakehost_asker(struct fakehost *h, enum opsbot_origin origin,
		    const char *nick, const char *account, const char *channel)
{
	struct fh_life *l = life_of(h);

	free(l->nick);
	free(l->account);
	free(l->channel);
	l->origin = origin;
	l->nick = strdup(nick ? nick : "tester");
	l->account = account ? strdup(account) : NULL;
	l->channel = channel ? strdup(channel) : NULL;
}

/* ------------------------------------------------------------------------ */
/* Announcements                                                              */

/* The host's check (api.c, target_valid). */
static int target_valid(const char *t)
{
	return t && *t && strlen(t) < 200 && !strpbrk(t, " ,\r\n\a\x01:");
}

static void say_text(struct fakehost *h, const char *target, const char *text)
{
	char prefix[256];

	snprintf(prefix, sizeof(prefix), "say %s", target);
	fh_emit(h, prefix, "%s", text);
}

static void fh_say_grouped(struct opsbot_plugin *self, const char *target,
			   const char *group, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void fh_say_grouped(struct opsbot_plugin *self, const char *target,
			   const char *group, const char *fmt, ...)
{
	char text[4096];
	va_list ap;

	if (!target_valid(target))
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	say_text(fh_current(), target, text);
}

static struct progress **progress_find(struct fakehost *h, const char *target,
				       const char *key)
{
	struct progress **pp = &life_of(h)->progress;

	while (*pp &&
	       (strcmp((*pp)->target, target) || strcmp((*pp)->key, key)))
		pp = &(*pp)->next;
	return pp;
}

static void progress_free(struct fakehost *h, struct progress **pp)
{
	struct progress *e = *pp;

	*pp = e->next;
	fh_unschedule(h, e->due_event);
	free(e->target);
	free(e->key);
	free(e->held);
	free(e);
}

static int progress_due(struct fakehost *h, void *arg)
{
	struct progress *e = arg;

	e->due_event = 0;
	if (!e->held)
		return 0;
	say_text(h, e->target, e->held);
	e->last_sent = fakehost_now(h);
	free(e->held);
	e->held = NULL;
	return 1;
}

static void fh_say_progress(struct opsbot_plugin *self, const char *target,
			    const char *key, long min_interval_ms,
			    const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
static void fh_say_progress(struct opsbot_plugin *self, const char *target,
			    const char *key, long min_interval_ms,
			    const char *fmt, ...)
{
	struct fakehost *h = fh_current();
	int64_t now = fakehost_now(h);
	struct progress **pp, *e;
	char text[4096];
	va_list ap;

	if (!target_valid(target) || !key || !*key || strlen(key) > 200) {
		fh_emit(h, "log", "say_progress: invalid target or key");
		return;
	}
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	pp = progress_find(h, target, key);
	if (!*pp) {
		e = calloc(1, sizeof(*e));
		e->target = strdup(target);
		e->key = strdup(key);
		e->last_sent = INT64_MIN / 2;
		*pp = e;
	}
	e = *pp;
	e->interval_ms =
	    min_interval_ms > 0 ? min_interval_ms : PROGRESS_INTERVAL_MS;
	if (now - e->last_sent >= e->interval_ms) {
		free(e->held);
		e->held = NULL;
		fh_unschedule(h, e->due_event);
		e->due_event = 0;
		say_text(h, target, text);
		e->last_sent = now;
		return;
	}
	if (!e->held)
		e->due_event =
		    fh_schedule(h, (long)(e->last_sent + e->interval_ms - now),
				progress_due, e);
	free(e->held);
	e->held = strdup(text);
}

static void fh_progress_end(struct opsbot_plugin *self, const char *target,
			    const char *key)
{
	struct fakehost *h = fh_current();
	struct progress **pp;

	if (!target || !key)
		return;
	pp = progress_find(h, target, key);
	if (*pp)
		progress_free(h, pp);
}

/* ------------------------------------------------------------------------ */
/* The plugin's life                                                          */

static int name_valid(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (!n || n > 32)
		return 0;
	for (const char *c = name; *c; c++)
		if (!islower((unsigned char)*c) &&
		    !isdigit((unsigned char)*c) && *c != '_')
			return 0;
	return 1;
}

/* Registrations that are not operations go (the host's sweepers). */
static void sweep(struct fakehost *h)
{
	struct fh_life *l = life_of(h);
	char prefix[64];

	while (l->commands) {
		struct command *c = l->commands;

		l->commands = c->next;
		free(c->name);
		free(c->usage);
		free(c->confirm);
		free(c);
	}
	snprintf(prefix, sizeof(prefix), "%s ", command_word(h));
	confirm_forget(prefix);
	fh_web_sweep(h);
	/* A held progress line is sent: nothing is lost. */
	while (l->progress) {
		if (l->progress->held)
			say_text(h, l->progress->target, l->progress->held);
		progress_free(h, &l->progress);
	}
}

/*
 * Ends the plugin: policies already applied; drains in virtual time,
 * answers pending commands, sweeps.  OPSBOT_EBUSY if work is left.
 */
static int finish_unload(struct fakehost *h)
{
	fakehost_run(h, DRAIN_MAX_MS);
	if (fh_timers_live(h) || fh_work_live(h)) {
		fh_emit(h, "log",
			"fakehost: work of %s did not end within a "
			"virtual day of the unload",
			fh_parts(h)->name);
		return OPSBOT_EBUSY;
	}
	for (struct fh_request *r = life_of(h)->requests; r; r = r->next) {
		if (!r->pending || r->finished)
			continue;
		fh_emit(h, "error",
			"error: plugin %s was unloaded before the "
			"command finished",
			fh_parts(h)->name);
		fh_request_finish(h, r, OPSBOT_ECANCELED);
	}
	sweep(h);
	return OPSBOT_OK;
}

static void cancel_for_unload(struct fakehost *h)
{
	/* Timers and requests: always cancelled, like fakehost_cancel_all. */
	fh_work_cancel_all(h, 1);
	fh_cancel_timers(h);
}

int fakehost_load(struct fakehost *h,
		  const struct opsbot_plugin_descriptor *desc)
{
	struct fh_parts *parts = fh_parts(h);
	int rc;

	if (!desc || desc->abi_major != OPSBOT_ABI_MAJOR ||
	    desc->abi_minor > OPSBOT_ABI_MINOR || desc->size < sizeof(*desc) ||
	    !name_valid(desc->name) || !desc->init)
		return OPSBOT_EINVAL;
	if (parts->phase == FH_LOADING || parts->phase == FH_ACTIVE ||
	    parts->phase == FH_CLOSING)
		return OPSBOT_EEXIST;
	parts->desc = desc;
	free(parts->name);
	parts->name = strdup(desc->name);
	parts->phase = FH_LOADING;
	fh_config_save(h);
	rc = desc->init(fakehost_plugin(h), fakehost_api(h));
	if (rc == OPSBOT_OK) {
		parts->phase = FH_ACTIVE;
		return OPSBOT_OK;
	}
	/* The host sweeps what init registered; no fini(). */
	parts->phase = FH_CLOSING;
	fh_work_cancel_all(h, 0);
	fh_cancel_timers(h);
	finish_unload(h);
	parts->phase = FH_GONE;
	return rc < 0 ? rc : OPSBOT_ERR;
}

int fakehost_reconfigure(struct fakehost *h)
{
	const struct opsbot_plugin_descriptor *d = fh_parts(h)->desc;
	int rc;

	if (!d || !d->reconfigure || fh_parts(h)->phase != FH_ACTIVE)
		return OPSBOT_ENOENT;
	rc = d->reconfigure(fakehost_plugin(h));
	if (rc == OPSBOT_OK)
		fh_config_save(h);
	else
		fh_config_restore(h); /* the old values stay */
	return rc;
}

int fakehost_unload(struct fakehost *h,
		    const struct opsbot_plugin_descriptor *desc)
{
	struct fh_parts *parts = fh_parts(h);
	char *refusal;
	int rc;

	if (parts->phase == FH_CLOSING || parts->phase == FH_GONE)
		return OPSBOT_ECLOSING;
	if (desc && !parts->desc)
		parts->desc = desc;
	desc = parts->desc;
	refusal = fh_work_refusal(h);
	if (refusal) {
		fh_emit(h, "refused", "%s", refusal);
		free(refusal);
		return OPSBOT_EBUSY;
	}
	parts->phase = FH_CLOSING;
	cancel_for_unload(h);
	rc = finish_unload(h);
	if (rc != OPSBOT_OK)
		return rc;
	if (desc && desc->fini)
		desc->fini(fakehost_plugin(h));
	parts->phase = FH_GONE;
	return OPSBOT_OK;
}

/* ------------------------------------------------------------------------ */

void fh_life_free(struct fakehost *h)
{
	struct fh_life *l = fh_parts(h)->life;

	if (!l)
		return;
	while (l->commands) {
		struct command *c = l->commands;

		l->commands = c->next;
		free(c->name);
		free(c->usage);
		free(c->confirm);
		free(c);
	}
	while (l->progress)
		progress_free(h, &l->progress);
	while (l->requests) {
		struct fh_request *r = l->requests;

		l->requests = r->next;
		free(r->line);
		free(r->args);
		free(r);
	}
	free(l->nick);
	free(l->account);
	free(l->channel);
	free(l);
	fh_parts(h)->life = NULL;
}

void fh_life_install(struct opsbot_api *api)
{
	api->command_add = fh_command_add;
	api->done = fh_done;
	api->command_example = fh_command_example;
	api->say_grouped = fh_say_grouped;
	api->say_progress = fh_say_progress;
	api->progress_end = fh_progress_end;
}
