/*
 * probe.c - a test plugin for the host's own tests: hostile replies, long
 * replies, operations left in flight, and a record of every final callback
 * (table probe_events) so a test can count them; floods and delayed
 * announcements for the flood-control and fault tests.
 */
#include "opsbot.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const struct opsbot_api *bot;
static struct opsbot_plugin *self;

static const char *const migrations[] = {
    "CREATE TABLE IF NOT EXISTS probe_events (kind TEXT, status INTEGER)",
};

static void record(const char *kind, int status)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(bot->store(self),
			       "INSERT INTO probe_events VALUES (?1, ?2)", -1,
			       &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, status);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

static int cmd_inject(struct opsbot_plugin *p, struct opsbot_request *req,
		      void *data)
{
	/* What a careless plugin might pass on from a web page. */
	bot->reply(req, "a\rJOIN #x");
	bot->reply(req, "b\nPART #c");
	bot->reply(req, "c\r\nQUIT :injected");
	bot->say(self, req->channel ? req->channel : req->nick,
		 "d\rPRIVMSG #c :forged");
	return OPSBOT_OK;
}

static int cmd_long(struct opsbot_plugin *p, struct opsbot_request *req,
		    void *data)
{
	long n = strtol(req->argv[0], NULL, 10), i;
	static const char *const pieces[] = {"word ", "é", "日本", "😀", "x"};
	char *text;
	size_t len = 0;

	if (n < 1 || n > 100000)
		return OPSBOT_EUSAGE;
	text = malloc((size_t)n + 8);
	if (!text)
		return OPSBOT_ERR;
	for (i = 0; len < (size_t)n; i++) {
		const char *piece = pieces[i % 5];
		size_t l = strlen(piece);

		if (len + l > (size_t)n)
			break;
		memcpy(text + len, piece, l);
		len += l;
	}
	text[len] = '\0';
	bot->reply(req, "%s", text);
	free(text);
	return OPSBOT_OK;
}

static int cmd_lines(struct opsbot_plugin *p, struct opsbot_request *req,
		     void *data)
{
	long n = strtol(req->argv[0], NULL, 10), i;

	for (i = 1; i <= n && i <= 1000; i++)
		bot->reply(req, "line %ld", i);
	return OPSBOT_OK;
}

static long on_timer(struct opsbot_plugin *p, int status, void *data)
{
	if (status != OPSBOT_OK)
		record("timer", status);
	else
		record("timer-fired", status);
	return OPSBOT_TIMER_STOP;
}

static void on_http(struct opsbot_plugin *p,
		    const struct opsbot_http_response *res, void *data)
{
	record("http", res->status);
}

static void on_process(struct opsbot_plugin *p,
		       const struct opsbot_process_event *ev, void *data)
{
	char pid[32];

	if (ev->kind != OPSBOT_PROCESS_EXIT) {
		record("process-line", 0);
		return;
	}
	snprintf(pid, sizeof(pid), "pid %ld", ev->pid);
	record("process", ev->status);
	record(pid, ev->exit_code);
}

static void job_work(struct opsbot_job *job, void *data)
{
	long ms = (long)(intptr_t)data;

	while (ms > 0 && !bot->job_is_cancelled(job)) {
		struct timespec ts = {0, 10 * 1000000L};

		nanosleep(&ts, NULL);
		ms -= 10;
	}
}

static void job_done(struct opsbot_plugin *p, int status, void *data)
{
	record("job", status);
}

/* probe inflight [<url>] [<job ms>]: a timer, a child, and optionally an
 * HTTP request and a job, all left running. */
static int cmd_inflight(struct opsbot_plugin *p, struct opsbot_request *req,
			void *data)
{
	const char *argv[] = {"sleep", "60", NULL};
	struct opsbot_process_options o = {
	    .size = sizeof(struct opsbot_process_options)};
	int64_t t, c, h = 0, j = 0;

	t = bot->timer_start(self, 60000, on_timer, NULL);
	o.argv = argv;
	c = bot->process_start(self, &o, on_process, NULL);
	if (req->argc >= 1 && strcmp(req->argv[0], "-")) {
		struct opsbot_http_request r = {
		    .size = sizeof(struct opsbot_http_request)};

		r.url = req->argv[0];
		r.timeout_ms = 60000;
		h = bot->http_start(self, &r, on_http, NULL);
	}
	if (req->argc >= 2) {
		struct opsbot_job_options jo = {
		    .size = sizeof(jo), .work = job_work, .done = job_done};

		j = bot->job_start(
		    self, &jo,
		    (void *)(intptr_t)strtol(req->argv[1], NULL, 10));
	}
	bot->reply(req,
		   "in flight: timer %lld, process %lld, http %lld, "
		   "job %lld",
		   (long long)t, (long long)c, (long long)h, (long long)j);
	return t > 0 && c > 0 && h >= 0 && j >= 0 ? OPSBOT_OK : OPSBOT_ERR;
}

static int cmd_events(struct opsbot_plugin *p, struct opsbot_request *req,
		      void *data)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(bot->store(self),
			       "SELECT kind, status, count(*) FROM "
			       "probe_events GROUP BY kind, status ORDER BY "
			       "kind",
			       -1, &st, NULL) != SQLITE_OK)
		return OPSBOT_ERR;
	while (sqlite3_step(st) == SQLITE_ROW)
		bot->reply(req, "%s %d x%d", sqlite3_column_text(st, 0),
			   sqlite3_column_int(st, 1),
			   sqlite3_column_int(st, 2));
	sqlite3_finalize(st);
	bot->reply(req, "end");
	return OPSBOT_OK;
}

static int cmd_secret(struct opsbot_plugin *p, struct opsbot_request *req,
		      void *data)
{
	/* A plugin bug that would leak a secret: the host must redact. */
	bot->reply(req, "the key is %s", bot->config_secret(self, NULL, "key"));
	return OPSBOT_OK;
}

/* probe flood <n> [<target>]: n numbered announcements at once, to
 * target or where the command came from: the flood-control queue has to
 * pace them. */
static int cmd_flood(struct opsbot_plugin *p, struct opsbot_request *req,
		     void *data)
{
	long n = strtol(req->argv[0], NULL, 10), i;
	const char *target = req->argc >= 2 ? req->argv[1]
			     : req->channel ? req->channel
					    : req->nick;

	if (n < 1 || n > 10000)
		return OPSBOT_EUSAGE;
	for (i = 1; i <= n; i++)
		bot->say(self, target, "flood line %ld of %ld", i, n);
	return OPSBOT_OK;
}

struct later {
	long n;
	char target[200];
};

static long on_later(struct opsbot_plugin *p, int status, void *data)
{
	struct later *l = data;
	long i;

	if (status == OPSBOT_OK)
		for (i = 1; i <= l->n; i++)
			bot->say(self, l->target, "later line %ld of %ld", i,
				 l->n);
	free(l);
	return OPSBOT_TIMER_STOP;
}

/* probe later <ms> <n> <target>: n numbered announcements after a delay,
 * e.g. while the bot is disconnected (they wait in the queue). */
static int cmd_later(struct opsbot_plugin *p, struct opsbot_request *req,
		     void *data)
{
	long ms = strtol(req->argv[0], NULL, 10);
	long n = strtol(req->argv[1], NULL, 10);
	struct later *l;

	if (ms < 0 || ms > 3600000 || n < 1 || n > 10000 ||
	    strlen(req->argv[2]) >= sizeof(l->target))
		return OPSBOT_EUSAGE;
	l = calloc(1, sizeof(*l));
	if (!l)
		return OPSBOT_ERR;
	l->n = n;
	snprintf(l->target, sizeof(l->target), "%s", req->argv[2]);
	if (bot->timer_start(self, ms, on_later, l) <= 0) {
		free(l);
		return OPSBOT_ERR;
	}
	bot->reply(req, "later: %ld lines to %s in %ld ms", n, l->target, ms);
	return OPSBOT_OK;
}

static const struct opsbot_command commands[] = {
    OPSBOT_COMMAND("inject", "", "replies with CR/LF payloads", NULL, 0, 0,
		   cmd_inject, NULL),
    OPSBOT_COMMAND("long", "<bytes>", "one long reply", NULL, 1, 1, cmd_long,
		   NULL),
    OPSBOT_COMMAND("lines", "<n>", "n reply lines", NULL, 1, 1, cmd_lines,
		   NULL),
    OPSBOT_COMMAND("inflight", "[<url>] [<job ms>]",
		   "leaves operations running", NULL, 0, 2, cmd_inflight, NULL),
    OPSBOT_COMMAND("events", "", "lists recorded final callbacks", NULL, 0, 0,
		   cmd_events, NULL),
    OPSBOT_COMMAND("secret", "", "leaks its secret (the host must redact it)",
		   NULL, 0, 0, cmd_secret, NULL),
    OPSBOT_COMMAND("flood", "<n> [<target>]",
		   "n numbered announcements at once", NULL, 1, 2, cmd_flood,
		   NULL),
    OPSBOT_COMMAND("later", "<ms> <n> <target>",
		   "n numbered announcements after ms", NULL, 3, 3, cmd_later,
		   NULL),
};

static int probe_init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	size_t i;

	bot = api;
	self = p;
	if (bot->store_migrate(self, migrations, 1) != OPSBOT_OK)
		return OPSBOT_ERR;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (bot->command_add(self, &commands[i]) != OPSBOT_OK)
			return OPSBOT_ERR;
	return OPSBOT_OK;
}

static const struct opsbot_config_key keys[] = {
    OPSBOT_CONFIG_KEY("key", OPSBOT_CONFIG_SECRET, NULL, 0, 0, 0,
		      "a secret to leak"),
    OPSBOT_CONFIG_END,
};

/* "!lines 2" is "!probe lines 2" (ABI 2.1 extra words). */
static const char *const probe_words[] = {"lines", NULL};

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "probe",
    .version = "1",
    .description = "host test probe",
    .config = keys,
    .init = probe_init,
    .extra_words = probe_words,
};
