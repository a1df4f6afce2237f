/*
 * init_fail.c - registers a command and starts a timer, then fails: the
 * host must sweep both, the timer getting exactly one cancelled call, and
 * never call fini.
 */
#include "opsbot.h"

#include <sqlite3.h>
#include <stdlib.h>

static const struct opsbot_api *bot;
static struct opsbot_plugin *self;

static const char *const migrations[] = {
    "CREATE TABLE IF NOT EXISTS init_fail_events (kind TEXT, status INT)",
};

static void record(const char *kind, int status)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(bot->store(self),
			       "INSERT INTO init_fail_events VALUES (?1, ?2)",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, status);
	sqlite3_step(st);
	sqlite3_finalize(st);
}

static long on_timer(struct opsbot_plugin *p, int status, void *data)
{
	record("timer", status);
	return OPSBOT_TIMER_STOP;
}

static int cmd_x(struct opsbot_plugin *p, struct opsbot_request *req,
		 void *data)
{
	return OPSBOT_OK;
}

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	static const struct opsbot_command cmd =
	    OPSBOT_COMMAND("x", "", "never usable", NULL, 0, 0, cmd_x, NULL);

	bot = api;
	self = p;
	bot->store_migrate(self, migrations, 1);
	bot->command_add(self, &cmd);
	bot->timer_start(self, 60000, on_timer, NULL);
	bot->log(self, OPSBOT_LOG_ERROR,
		 "init_fail: refusing to start: the "
		 "test wants it so");
	return OPSBOT_ERR;
}

static void fini(struct opsbot_plugin *p)
{
	record("fini", 0);
}

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "init_fail",
    .version = "1",
    .description = "fails in init",
    .init = init,
    .fini = fini,
};
