/*
 * proctest.c - a test plugin for tests/unit/test_process.c: starts
 * children through api->process_start with the options a test names, and
 * writes every event it sees to a transcript file ($PROCTEST_TRANSCRIPT),
 * one line each, so the test can read what happened and in which order
 * even after the plugin was unloaded:
 *
 *   start <tag> <id>                     process_start returned the id
 *   failed <tag> <status>                process_start refused
 *   out <tag> <line> / err <tag> <line>  a line of stdout / stderr
 *   exit <tag> status=.. code=.. sig=.. pid=.. id=ok|wrong
 *   cancel <tag> <rc> / signal <tag> <rc>
 *   fini
 */
#include "opsbot.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_CHILDREN 16

static const struct opsbot_api *bot;
static struct opsbot_plugin *self;

struct child {
	char tag[32];
	int64_t id;
	char cancel_on[64]; /* cancel() from the callback of this line */
	int used;
};

static struct child children[MAX_CHILDREN];

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void note(const char *fmt, ...)
{
	const char *path = getenv("PROCTEST_TRANSCRIPT");
	va_list ap;
	FILE *f;

	if (!path || !(f = fopen(path, "a")))
		return;
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
	fclose(f);
}

static struct child *child_find(const char *tag)
{
	int i;

	for (i = 0; i < MAX_CHILDREN; i++)
		if (children[i].used && !strcmp(children[i].tag, tag))
			return &children[i];
	return NULL;
}

static void on_event(struct opsbot_plugin *p,
		     const struct opsbot_process_event *ev, void *data)
{
	struct child *c = data;

	switch (ev->kind) {
	case OPSBOT_PROCESS_STDOUT:
	case OPSBOT_PROCESS_STDERR:
		note("%s %s %s",
		     ev->kind == OPSBOT_PROCESS_STDOUT ? "out" : "err", c->tag,
		     ev->line);
		if (c->cancel_on[0] && !strcmp(ev->line, c->cancel_on))
			note("cancel %s %d", c->tag, bot->cancel(self, c->id));
		return;
	case OPSBOT_PROCESS_EXIT:
		note("exit %s status=%d code=%d sig=%d pid=%ld id=%s", c->tag,
		     ev->status, ev->exit_code, ev->term_signal, ev->pid,
		     ev->id == c->id ? "ok" : "wrong");
		return;
	}
}

static enum opsbot_unload_policy policy_of(const char *s)
{
	if (!strcmp(s, "cancel"))
		return OPSBOT_UNLOAD_CANCEL;
	if (!strcmp(s, "drain"))
		return OPSBOT_UNLOAD_DRAIN;
	if (!strcmp(s, "refuse"))
		return OPSBOT_UNLOAD_REFUSE;
	return OPSBOT_UNLOAD_DEFAULT;
}

/*
 * proctest start <tag> <options> <script>: /bin/sh -c script.  options
 * is "-" or comma-separated key=value: signal, grace, timeout (ms), log
 * (path), logmax (bytes), policy (cancel/drain/refuse), name, cancel-on
 * (a line), prog (the program instead of /bin/sh).
 */
static int cmd_start(struct opsbot_plugin *p, struct opsbot_request *req,
		     void *data)
{
	const char *argv[] = {"/bin/sh", "-c", req->argv[2], NULL};
	struct opsbot_process_options o = {
	    .size = sizeof(struct opsbot_process_options)};
	char opts[512], *tok, *save = NULL;
	struct child *c = NULL;
	int i;

	for (i = 0; i < MAX_CHILDREN && !c; i++)
		if (!children[i].used)
			c = &children[i];
	if (!c || child_find(req->argv[0]))
		return OPSBOT_ERR;
	memset(c, 0, sizeof(*c));
	snprintf(c->tag, sizeof(c->tag), "%s", req->argv[0]);
	snprintf(opts, sizeof(opts), "%s", req->argv[1]);
	o.argv = argv;
	for (tok = strtok_r(opts, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *v = strchr(tok, '=');

		if (!v)
			continue;
		*v++ = '\0';
		if (!strcmp(tok, "signal"))
			o.cancel_signal = (int)strtol(v, NULL, 10);
		else if (!strcmp(tok, "grace"))
			o.kill_grace_ms = strtol(v, NULL, 10);
		else if (!strcmp(tok, "timeout"))
			o.timeout_ms = strtol(v, NULL, 10);
		else if (!strcmp(tok, "log"))
			o.log_path = v;
		else if (!strcmp(tok, "logmax"))
			o.log_max_bytes = strtoul(v, NULL, 10);
		else if (!strcmp(tok, "policy"))
			o.unload_policy = policy_of(v);
		else if (!strcmp(tok, "name"))
			o.name = v;
		else if (!strcmp(tok, "prog"))
			argv[0] = v;
		else if (!strcmp(tok, "cancel-on"))
			snprintf(c->cancel_on, sizeof(c->cancel_on), "%s", v);
	}
	c->id = bot->process_start(self, &o, on_event, c);
	if (c->id < 0) {
		note("failed %s %d", c->tag, (int)c->id);
		bot->reply(req, "failed %d", (int)c->id);
		return OPSBOT_OK;
	}
	c->used = 1;
	note("start %s %lld", c->tag, (long long)c->id);
	bot->reply(req, "started %lld", (long long)c->id);
	return OPSBOT_OK;
}

/* proctest cancel <tag> */
static int cmd_cancel(struct opsbot_plugin *p, struct opsbot_request *req,
		      void *data)
{
	struct child *c = child_find(req->argv[0]);

	if (!c)
		return OPSBOT_ERR;
	note("cancel %s %d", c->tag, bot->cancel(self, c->id));
	return OPSBOT_OK;
}

/* proctest signal <tag or numeric id> <signal> */
static int cmd_signal(struct opsbot_plugin *p, struct opsbot_request *req,
		      void *data)
{
	struct child *c = child_find(req->argv[0]);
	int64_t id = c ? c->id : strtoll(req->argv[0], NULL, 10);

	note(
	    "signal %s %d", req->argv[0],
	    bot->process_signal(self, id, (int)strtol(req->argv[1], NULL, 10)));
	return OPSBOT_OK;
}

static const struct opsbot_command commands[] = {
    OPSBOT_COMMAND("start", "<tag> <options> <script>", "starts a child", NULL,
		   3, 3, cmd_start, NULL),
    OPSBOT_COMMAND("cancel", "<tag>", "cancels a child", NULL, 1, 1, cmd_cancel,
		   NULL),
    OPSBOT_COMMAND("signal", "<tag> <signal>", "signals a child", NULL, 2, 2,
		   cmd_signal, NULL),
};

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	size_t i;

	bot = api;
	self = p;
	memset(children, 0, sizeof(children));
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (bot->command_add(self, &commands[i]) != OPSBOT_OK)
			return OPSBOT_ERR;
	return OPSBOT_OK;
}

static void fini(struct opsbot_plugin *p)
{
	note("fini");
}

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "proctest",
    .version = "1",
    .description = "host test of child processes",
    .init = init,
    .fini = fini,
};
