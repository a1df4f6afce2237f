/*
 * hello.c - the out-of-tree plugin of tests/install/suite: built in a
 * temporary folder against an installed opsbot with nothing but
 * `pkg-config --cflags --libs opsbot-plugin`, then loaded by the installed
 * bot.  It uses the SDK (text cleaning, duration parsing) so the static
 * library must link, and has a config key so --check-config reads its
 * schema.
 */
#include <opsbot.h>
#include <opsbot_sdk.h>

#include <string.h>

static const struct opsbot_api *bot;
static struct opsbot_plugin *self;

/* "hello greet <words...>": the words cleaned by the SDK, and the
 * configured pause parsed by the SDK, in milliseconds. */
static int cmd_greet(struct opsbot_plugin *pl, struct opsbot_request *req,
		     void *data)
{
	struct sdk_buf words = SDK_BUF_INIT, err = SDK_BUF_INIT;
	const char *pause = bot->config_string(self, NULL, "pause");
	long long ms = 0;
	int i;

	for (i = 0; i < req->argc; i++) {
		if (i)
			sdk_buf_adds(&words, " ");
		sdk_text_clean(&words, req->argv[i], strlen(req->argv[i]), 0,
			       64);
	}
	if (sdk_duration_parse(pause, &ms, &err) < 0) {
		bot->reply_error(req, "hello: pause: %s", sdk_buf_str(&err));
		sdk_buf_release(&words);
		sdk_buf_release(&err);
		return OPSBOT_ERR;
	}
	bot->reply(req, "%s, %s (pause %lld ms)",
		   bot->config_string(self, NULL, "greeting"),
		   sdk_buf_str(&words), ms);
	sdk_buf_release(&words);
	sdk_buf_release(&err);
	return OPSBOT_OK;
}

static const struct opsbot_command commands[] = {
    OPSBOT_COMMAND("greet", "<words...>", "greets", NULL, 1, -1, cmd_greet,
		   NULL),
};

static int hello_init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	bot = api;
	self = p;
	return bot->command_add(self, &commands[0]);
}

static const struct opsbot_config_key config_keys[] = {
    OPSBOT_CONFIG_KEY("greeting", OPSBOT_CONFIG_STRING, "hello", 0, 0, 0,
		      "the first word of a greeting"),
    OPSBOT_CONFIG_KEY("pause", OPSBOT_CONFIG_STRING, "1m30s", 0, 0, 0,
		      "a duration the SDK parses"),
    OPSBOT_CONFIG_END,
};

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "hello",
    .version = "0.1",
    .description = "an out-of-tree plugin",
    .config = config_keys,
    .init = hello_init,
};
