/*
 * example.c - the teaching plugin: every member of the host API in use,
 * each in the smallest command that needs it.  Read it after opsbot.h.
 *
 *   !example echo <text>          reply
 *   !example whisper <text>       reply_private
 *   !example fail                 reply_error
 *   !example wait <ms>            timer + a pending request + done
 *   !example fetch <url>          HTTP (capability example.fetch)
 *   !example run <words...>       a child process, line by line
 *   !example sleep <ms>           blocking work on the thread pool
 *   !example cancel <id>          cancel any of the above
 *   !example count                the store, with a migration
 *   !example config               every kind of config value
 *   !example announce <text>      say() to the configured channel
 *   POST /hooks/example/echo      a webhook that answers with its body
 */
#include "opsbot.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct opsbot_api *bot;
static struct opsbot_plugin *self;
static int64_t heartbeat_id;
static long heartbeats;

/* A pending command and what it waits for. */
struct pending {
	struct opsbot_request *req;
	int64_t started_ms;
	long ms;
	int lines;
};

static struct pending *pending_new(struct opsbot_request *req)
{
	struct pending *p = calloc(1, sizeof(*p));

	if (p) {
		p->req = req;
		p->started_ms = bot->now_ms();
	}
	return p;
}

/* ---- replies ---- */

static int cmd_echo(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	/* User text is an argument, never the format. */
	bot->reply(req, "%s", req->args);
	return OPSBOT_OK;
}

static int cmd_whisper(struct opsbot_plugin *pl, struct opsbot_request *req,
		       void *data)
{
	bot->reply_private(req, "only you see this: %s", req->args);
	if (req->origin == OPSBOT_ORIGIN_CHANNEL)
		bot->reply(req, "%s: sent you a private message", req->nick);
	return OPSBOT_OK;
}

static int cmd_fail(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	bot->reply_error(req, "example: this command always fails; try "
			      "!example echo");
	return OPSBOT_ERR;
}

/* ---- timers and pending requests ---- */

static long on_wait_timer(struct opsbot_plugin *pl, int status, void *data)
{
	struct pending *p = data;

	if (status == OPSBOT_OK) {
		bot->reply(p->req, "waited %lld ms",
			   (long long)(bot->now_ms() - p->started_ms));
		bot->done(p->req, OPSBOT_OK);
	} else {
		bot->reply_error(p->req, "wait cancelled");
		bot->done(p->req, status);
	}
	free(p);
	return OPSBOT_TIMER_STOP;
}

static int parse_ms(const char *s, long *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < 0 || v > 3600000)
		return -1;
	*out = v;
	return 0;
}

static int cmd_wait(struct opsbot_plugin *pl, struct opsbot_request *req,
		    void *data)
{
	struct pending *p;
	int64_t id;
	long ms;

	if (parse_ms(req->argv[0], &ms) < 0)
		return OPSBOT_EUSAGE;
	p = pending_new(req);
	if (!p)
		return OPSBOT_ERR;
	id = bot->timer_start(self, ms, on_wait_timer, p);
	if (id < 0) {
		free(p);
		bot->reply_error(req, "example: cannot start a timer");
		return OPSBOT_ERR;
	}
	bot->reply(req, "waiting %ld ms (id %lld)", ms, (long long)id);
	return OPSBOT_PENDING;
}

/* ---- HTTP ---- */

static void on_fetched(struct opsbot_plugin *pl,
		       const struct opsbot_http_response *res, void *data)
{
	struct pending *p = data;
	const char *type;

	if (res->status != OPSBOT_OK) {
		bot->reply_error(p->req, "fetch failed: %s", res->error);
		bot->done(p->req, res->status);
	} else {
		type = bot->http_header(res, "Content-Type", 0);
		bot->reply(p->req, "%ld, %zu bytes of %s in %ld ms", res->code,
			   res->body_len, type ? type : "unknown type",
			   res->elapsed_ms);
		bot->done(p->req, OPSBOT_OK);
	}
	free(p);
}

static int cmd_fetch(struct opsbot_plugin *pl, struct opsbot_request *req,
		     void *data)
{
	struct opsbot_http_request r = {.size =
					    sizeof(struct opsbot_http_request)};
	struct pending *p = pending_new(req);
	int64_t id;

	if (!p)
		return OPSBOT_ERR;
	r.url = req->argv[0];
	r.timeout_ms = 10000;
	r.max_response_bytes = 1024 * 1024;
	id = bot->http_start(self, &r, on_fetched, p);
	if (id < 0) {
		free(p);
		bot->reply_error(req, "example: cannot fetch that URL (http "
				      "and https only)");
		return OPSBOT_ERR;
	}
	return OPSBOT_PENDING;
}

/* ---- processes ---- */

static void on_process(struct opsbot_plugin *pl,
		       const struct opsbot_process_event *ev, void *data)
{
	struct pending *p = data;

	switch (ev->kind) {
	case OPSBOT_PROCESS_STDOUT:
	case OPSBOT_PROCESS_STDERR:
		if (p->lines++ < 5)
			bot->reply(p->req, "%s%s",
				   ev->kind == OPSBOT_PROCESS_STDERR ? "! "
								     : "",
				   ev->line);
		return;
	case OPSBOT_PROCESS_EXIT:
		if (ev->status == OPSBOT_OK)
			bot->reply(p->req, "exit %d", ev->exit_code);
		else
			bot->reply_error(p->req, "process ended: %s",
					 ev->status == OPSBOT_ETIMEDOUT
					     ? "timed out"
					 : ev->status == OPSBOT_ECANCELED
					     ? "cancelled"
					     : "killed by a signal");
		bot->done(p->req, ev->status == OPSBOT_OK && !ev->exit_code
				      ? OPSBOT_OK
				      : OPSBOT_ERR);
		free(p);
		return;
	}
}

static int cmd_run(struct opsbot_plugin *pl, struct opsbot_request *req,
		   void *data)
{
	/* Arguments go to echo as argv: no shell ever sees them. */
	const char *argv[18] = {"echo"};
	const char *env[] = {"EXAMPLE=1", NULL};
	struct opsbot_process_options o = {
	    .size = sizeof(struct opsbot_process_options)};
	struct pending *p;
	int64_t id;
	int i;

	for (i = 0; i < req->argc && i < 16; i++)
		argv[i + 1] = req->argv[i];
	argv[i + 1] = NULL;
	o.argv = argv;
	o.env = env;
	o.timeout_ms = 10000;
	p = pending_new(req);
	if (!p)
		return OPSBOT_ERR;
	id = bot->process_start(self, &o, on_process, p);
	if (id < 0) {
		free(p);
		bot->reply_error(req, "example: cannot start echo");
		return OPSBOT_ERR;
	}
	return OPSBOT_PENDING;
}

/* ---- jobs ---- */

static void sleep_work(struct opsbot_job *job, void *data)
{
	struct pending *p = data;
	long left = p->ms;

	/* Blocking is fine here: this is a pool thread.  Check for
	 * cancellation between slices. */
	while (left > 0 && !bot->job_is_cancelled(job)) {
		long slice = left < 50 ? left : 50;
		struct timespec ts = {0, slice * 1000000L};

		nanosleep(&ts, NULL);
		left -= slice;
	}
	bot->log(self, OPSBOT_LOG_DEBUG, "slept %ld ms", p->ms - left);
}

static void sleep_done(struct opsbot_plugin *pl, int status, void *data)
{
	struct pending *p = data;

	if (status == OPSBOT_OK)
		bot->reply(p->req, "slept %ld ms on a pool thread", p->ms);
	else
		bot->reply_error(p->req, "sleep cancelled");
	bot->done(p->req, status);
	free(p);
}

static int cmd_sleep(struct opsbot_plugin *pl, struct opsbot_request *req,
		     void *data)
{
	struct pending *p;
	int64_t id;
	long ms;

	if (parse_ms(req->argv[0], &ms) < 0)
		return OPSBOT_EUSAGE;
	p = pending_new(req);
	if (!p)
		return OPSBOT_ERR;
	p->ms = ms;
	{
		struct opsbot_job_options jo = {
		    .size = sizeof(jo),
		    .work = sleep_work,
		    .done = sleep_done,
		    .name = "sleep",
		};

		id = bot->job_start(self, &jo, p);
	}
	if (id < 0) {
		free(p);
		return OPSBOT_ERR;
	}
	bot->reply(req, "sleeping %ld ms (id %lld)", ms, (long long)id);
	return OPSBOT_PENDING;
}

static int cmd_cancel(struct opsbot_plugin *pl, struct opsbot_request *req,
		      void *data)
{
	long long id = strtoll(req->argv[0], NULL, 10);

	if (bot->cancel(self, id) != OPSBOT_OK) {
		bot->reply_error(req, "nothing running with id %lld", id);
		return OPSBOT_ERR;
	}
	bot->reply(req, "cancelling %lld", id);
	return OPSBOT_OK;
}

/* ---- the store ---- */

static const char *const migrations[] = {
    "CREATE TABLE example_counter (name TEXT PRIMARY KEY, n INTEGER)",
    "ALTER TABLE example_counter ADD COLUMN updated INTEGER",
};

static int cmd_count(struct opsbot_plugin *pl, struct opsbot_request *req,
		     void *data)
{
	sqlite3 *db = bot->store(self);
	sqlite3_stmt *st = NULL;
	long long n = 0;

	if (sqlite3_prepare_v2(db,
			       "INSERT INTO example_counter (name, n, updated) "
			       "VALUES ('count', 1, unixepoch()) "
			       "ON CONFLICT(name) DO UPDATE SET n = n + 1, "
			       "updated = unixepoch() RETURNING n",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW) {
		bot->reply_error(req, "example: store error: %s",
				 sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return OPSBOT_ERR;
	}
	n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	bot->reply(req, "count is %lld", n);
	return OPSBOT_OK;
}

/* ---- configuration ---- */

static int cmd_config(struct opsbot_plugin *pl, struct opsbot_request *req,
		      void *data)
{
	const char *secret = bot->config_secret(self, NULL, "token");
	int i, n = bot->config_list_count(self, NULL, "words");

	bot->reply(req,
		   "greeting=%s limit=%lld loud=%s heartbeat=%lld ms "
		   "words=%d token=%s",
		   bot->config_string(self, NULL, "greeting"),
		   bot->config_int(self, NULL, "limit"),
		   bot->config_bool(self, NULL, "loud") ? "yes" : "no",
		   bot->config_duration_ms(self, NULL, "heartbeat"), n,
		   /* Never the secret itself. */
		   secret ? "set" : "unset");
	for (i = 0; i < n && i < 5; i++)
		bot->reply(req, "word %d: %s", i + 1,
			   bot->config_list_item(self, NULL, "words", i));
	if (secret && bot->has_capability(req, "example.secret"))
		bot->reply_private(req, "the token has %zu characters",
				   strlen(secret));
	return OPSBOT_OK;
}

static int cmd_announce(struct opsbot_plugin *pl, struct opsbot_request *req,
			void *data)
{
	const char *channel = bot->config_string(self, NULL, "channel");

	if (!channel || !*channel) {
		bot->reply_error(req, "example: set [plugin.example] channel "
				      "first");
		return OPSBOT_ERR;
	}
	bot->say(self, channel, "%s says: %s", req->nick, req->args);
	return OPSBOT_OK;
}

/* ---- a webhook ---- */

static int on_echo_hook(struct opsbot_plugin *pl,
			const struct opsbot_webhook *hook, void *data)
{
	const char *token = bot->config_secret(self, NULL, "token");
	const char *given = bot->webhook_header(hook, "X-Example-Token");
	char encoded[256];

	if (token && (!given || strcmp(given, token)))
		return 403;
	bot->url_encode(encoded, sizeof(encoded), hook->query);
	bot->log(self, OPSBOT_LOG_INFO, "webhook from %s, query %s",
		 hook->remote_addr, encoded);
	bot->webhook_respond(hook, "text/plain", hook->body, hook->body_len);
	return 200;
}

/* ---- a background timer ---- */

static long on_heartbeat(struct opsbot_plugin *pl, int status, void *data)
{
	if (status != OPSBOT_OK)
		return OPSBOT_TIMER_STOP;
	heartbeats++;
	bot->log(self, OPSBOT_LOG_DEBUG, "heartbeat %ld", heartbeats);
	return (long)bot->config_duration_ms(self, NULL, "heartbeat");
}

static const struct opsbot_command commands[] = {
    OPSBOT_COMMAND("echo", "<text>", "repeats the text", NULL, 1, -1, cmd_echo,
		   NULL),
    OPSBOT_COMMAND("whisper", "<text>", "repeats the text in private", NULL, 1,
		   -1, cmd_whisper, NULL),
    OPSBOT_COMMAND("fail", "", "fails on purpose", NULL, 0, 0, cmd_fail, NULL),
    OPSBOT_COMMAND("wait", "<ms>", "answers after a delay", NULL, 1, 1,
		   cmd_wait, NULL),
    OPSBOT_COMMAND("fetch", "<url>", "fetches a URL and reports its size",
		   "example.fetch", 1, 1, cmd_fetch, NULL),
    OPSBOT_COMMAND("run", "<words...>", "runs echo with the words", NULL, 0, 16,
		   cmd_run, NULL),
    OPSBOT_COMMAND("sleep", "<ms>", "blocks a pool thread that long", NULL, 1,
		   1, cmd_sleep, NULL),
    OPSBOT_COMMAND("cancel", "<id>", "cancels a wait, fetch, run or sleep",
		   NULL, 1, 1, cmd_cancel, NULL),
    OPSBOT_COMMAND("count", "", "counts calls in the store", NULL, 0, 0,
		   cmd_count, NULL),
    OPSBOT_COMMAND("config", "", "shows this plugin's configuration", NULL, 0,
		   0, cmd_config, NULL),
    OPSBOT_COMMAND("announce", "<text>", "announces in the configured channel",
		   "example.announce", 1, -1, cmd_announce, NULL),
};

static int example_init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	size_t i;

	bot = api;
	self = p;
	heartbeats = 0;
	if (bot->store_migrate(self, migrations, 2) != OPSBOT_OK)
		return OPSBOT_ERR;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (bot->command_add(self, &commands[i]) != OPSBOT_OK)
			return OPSBOT_ERR;
	{
		struct opsbot_webhook_route route = {
		    .size = sizeof(route),
		    .method = "POST",
		    .path = "/hooks/example/echo",
		    .fn = on_echo_hook,
		};

		if (bot->webhook_add(self, &route) != OPSBOT_OK)
			return OPSBOT_ERR;
	}
	/* Background work belongs to the daemon, not to `opsbot run`. */
	if (bot->mode() == OPSBOT_MODE_DAEMON)
		heartbeat_id = bot->timer_start(
		    self,
		    (long)bot->config_duration_ms(self, NULL, "heartbeat"),
		    on_heartbeat, NULL);
	bot->log(self, OPSBOT_LOG_INFO, "ready (%s)",
		 bot->config_string(self, NULL, "greeting"));
	return OPSBOT_OK;
}

static void example_fini(struct opsbot_plugin *p)
{
	bot->log(p, OPSBOT_LOG_INFO, "stopping after %ld heartbeats",
		 heartbeats);
}

static const struct opsbot_config_key config_keys[] = {
    OPSBOT_CONFIG_KEY("greeting", OPSBOT_CONFIG_STRING, "hello", 0, 0, 0,
		      "text logged at start"),
    OPSBOT_CONFIG_KEY("limit", OPSBOT_CONFIG_INT, "10", 0, 1, 1000, "a number"),
    OPSBOT_CONFIG_KEY("loud", OPSBOT_CONFIG_BOOL, "false", 0, 0, 0, "a switch"),
    OPSBOT_CONFIG_KEY("heartbeat", OPSBOT_CONFIG_DURATION, "60s", 0, 100,
		      86400000, "how often the background timer runs"),
    OPSBOT_CONFIG_KEY("words", OPSBOT_CONFIG_LIST, NULL, 0, 0, 0, "a list"),
    OPSBOT_CONFIG_KEY("token", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "checked on the webhook (X-Example-Token)"),
    OPSBOT_CONFIG_KEY("channel", OPSBOT_CONFIG_STRING, NULL, 0, 0, 0,
		      "where !example announce speaks"),
    OPSBOT_CONFIG_END,
};

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "example",
    .version = "1.0.0",
    .description = "shows every part of the plugin API",
    .command = NULL,
    .config = config_keys,
    .init = example_init,
    .fini = example_fini,
};
