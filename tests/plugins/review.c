/*
 * review.c - a test plugin for tests/unit/test_host_review.c: a webhook
 * whose answer is as large as asked (a client that does not read it keeps
 * the write pending), a command that stays pending, and a count of live
 * instances, so a test sees two copies of the plugin running at once; with
 * a token configured, a timer that logs it (the host must redact it).
 */
#include "opsbot.h"

#include <stdlib.h>
#include <string.h>

static const struct opsbot_api *bot;
static struct opsbot_plugin *self;
/* Instances between init and fini; dlopen maps one copy of this file
 * for all of them, so a second live instance shares this count. */
static int instances;
static struct opsbot_request *held;

/* POST /hooks/review/big?<bytes>: that many 'x' as the answer. */
static int on_big(struct opsbot_plugin *p, const struct opsbot_webhook *hook,
		  void *data)
{
	size_t n = strtoul(hook->query, NULL, 10);
	char *body = malloc(n + 1);

	if (!body)
		return 500;
	memset(body, 'x', n);
	bot->webhook_respond(hook, "text/plain", body, n);
	free(body);
	return 200;
}

static int cmd_hold(struct opsbot_plugin *p, struct opsbot_request *req,
		    void *data)
{
	held = req;
	return OPSBOT_PENDING;
}

static int cmd_release(struct opsbot_plugin *p, struct opsbot_request *req,
		       void *data)
{
	if (!held)
		return OPSBOT_ERR;
	bot->reply(held, "released");
	bot->done(held, OPSBOT_OK);
	held = NULL;
	return OPSBOT_OK;
}

/* What a careless plugin does with a token: log it, every 50 ms. */
static long on_token_timer(struct opsbot_plugin *p, int status, void *data)
{
	if (status != OPSBOT_OK)
		return OPSBOT_TIMER_STOP;
	bot->log(self, OPSBOT_LOG_WARN, "review: token %s",
		 bot->config_secret(self, NULL, "token"));
	return 50;
}

/* A plugin bug the host must survive: done() twice, then a reply. */
static int cmd_release_twice(struct opsbot_plugin *p,
			     struct opsbot_request *req, void *data)
{
	struct opsbot_request *r = held;

	if (!r)
		return OPSBOT_ERR;
	held = NULL;
	bot->done(r, OPSBOT_OK);
	bot->done(r, OPSBOT_ERR);
	bot->reply(r, "too late");
	return OPSBOT_OK;
}

/* review seq-cancel: a child that prints 100000 lines, cancelled from
 * the callback of its first line; the reply counts the lines after. */
struct seq {
	struct opsbot_request *req;
	int64_t id;
	long lines, after_cancel;
};

static void on_seq(struct opsbot_plugin *p,
		   const struct opsbot_process_event *ev, void *data)
{
	struct seq *s = data;

	if (ev->kind != OPSBOT_PROCESS_EXIT) {
		if (s->lines++)
			s->after_cancel++;
		else
			bot->cancel(self, s->id);
		return;
	}
	bot->reply(s->req, "lines after cancel: %ld, status %d",
		   s->after_cancel, ev->status);
	bot->done(s->req, OPSBOT_OK);
	free(s);
}

static int cmd_seq_cancel(struct opsbot_plugin *p, struct opsbot_request *req,
			  void *data)
{
	const char *argv[] = {"seq", "1", "100000", NULL};
	struct opsbot_process_options o = {
	    .size = sizeof(struct opsbot_process_options)};
	struct seq *s = calloc(1, sizeof(*s));

	if (!s)
		return OPSBOT_ERR;
	s->req = req;
	o.argv = argv;
	s->id = bot->process_start(self, &o, on_seq, s);
	if (s->id < 0) {
		free(s);
		return OPSBOT_ERR;
	}
	return OPSBOT_PENDING;
}

/* review after <ms>: a timer of that delay; the reply says how long it
 * really took. */
struct after {
	struct opsbot_request *req;
	int64_t started;
};

static long on_after(struct opsbot_plugin *p, int status, void *data)
{
	struct after *a = data;

	bot->reply(a->req, "fired after %lld ms",
		   (long long)(bot->now_ms() - a->started));
	bot->done(a->req, status);
	free(a);
	return OPSBOT_TIMER_STOP;
}

static int cmd_after(struct opsbot_plugin *p, struct opsbot_request *req,
		     void *data)
{
	struct after *a = calloc(1, sizeof(*a));

	if (!a)
		return OPSBOT_ERR;
	a->req = req;
	a->started = bot->now_ms();
	if (bot->timer_start(self, strtol(req->argv[0], NULL, 10), on_after,
			     a) < 0) {
		free(a);
		return OPSBOT_ERR;
	}
	return OPSBOT_PENDING;
}

/* review timeout <ms>: "sleep 5" with that time limit. */
static void on_slow(struct opsbot_plugin *p,
		    const struct opsbot_process_event *ev, void *data)
{
	struct after *a = data;

	if (ev->kind != OPSBOT_PROCESS_EXIT)
		return;
	bot->reply(a->req, "ended after %lld ms, status %d",
		   (long long)(bot->now_ms() - a->started), ev->status);
	bot->done(a->req, OPSBOT_OK);
	free(a);
}

static int cmd_timeout(struct opsbot_plugin *p, struct opsbot_request *req,
		       void *data)
{
	const char *argv[] = {"sleep", "5", NULL};
	struct opsbot_process_options o = {
	    .size = sizeof(struct opsbot_process_options)};
	struct after *a = calloc(1, sizeof(*a));

	if (!a)
		return OPSBOT_ERR;
	a->req = req;
	a->started = bot->now_ms();
	o.argv = argv;
	o.timeout_ms = strtol(req->argv[0], NULL, 10);
	if (bot->process_start(self, &o, on_slow, a) < 0) {
		free(a);
		return OPSBOT_ERR;
	}
	return OPSBOT_PENDING;
}

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	static const struct opsbot_command cmds[] = {
	    OPSBOT_COMMAND("hold", "", "stays pending", NULL, 0, 0, cmd_hold,
			   NULL),
	    OPSBOT_COMMAND("release", "", "ends the held request", NULL, 0, 0,
			   cmd_release, NULL),
	    OPSBOT_COMMAND("release-twice", "", "ends it twice", NULL, 0, 0,
			   cmd_release_twice, NULL),
	    OPSBOT_COMMAND("seq-cancel", "", "cancels a chatty child", NULL, 0,
			   0, cmd_seq_cancel, NULL),
	    OPSBOT_COMMAND("after", "<ms>", "a timer", NULL, 1, 1, cmd_after,
			   NULL),
	    OPSBOT_COMMAND("timeout", "<ms>", "a child with a time limit", NULL,
			   1, 1, cmd_timeout, NULL),
	};
	size_t i;

	bot = api;
	self = p;
	if (instances++)
		bot->log(self, OPSBOT_LOG_ERROR,
			 "review: %d instances live at once", instances);
	for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		if (bot->command_add(self, &cmds[i]) != OPSBOT_OK) {
			bot->log(self, OPSBOT_LOG_ERROR,
				 "review: command_add failed");
			instances--;
			return OPSBOT_ERR;
		}
	struct opsbot_webhook_route route = {.size = sizeof(route),
					     .method = "POST",
					     .path = "/hooks/review/big",
					     .fn = on_big};

	if (bot->webhook_add(self, &route) != OPSBOT_OK) {
		instances--;
		return OPSBOT_ERR;
	}
	if (bot->config_secret(self, NULL, "token"))
		bot->timer_start(self, 0, on_token_timer, NULL);
	bot->log(self, OPSBOT_LOG_INFO, "review: init (key %s)",
		 bot->config_string(self, NULL, "key"));
	return OPSBOT_OK;
}

static void fini(struct opsbot_plugin *p)
{
	instances--;
	held = NULL;
	bot->log(p, OPSBOT_LOG_INFO, "review: fini");
}

static const struct opsbot_config_key keys[] = {
    OPSBOT_CONFIG_KEY("key", OPSBOT_CONFIG_STRING, "none", 0, 0, 0,
		      "a value to change"),
    OPSBOT_CONFIG_KEY("token", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "logged (redacted)"),
    OPSBOT_CONFIG_END,
};

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "review",
    .version = "1",
    .description = "host review tests",
    .config = keys,
    .init = init,
    .fini = fini,
};
