/*
 * test_command.c - argument splitting and command dispatch: built-ins,
 * suggestions, usage errors, permissions and reply limits.
 */
#include "access.h"
#include "check_main.h"
#include "command.h"
#include "config.h"
#include "host.h"
#include "log.h"
#include "loop.h"
#include "plugin.h"
#include "store.h"
#include "testutil.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

struct split_case {
	const char *in;
	int argc; /* -1: error */
	const char *argv[6];
	const char *err;
};

static const struct split_case split_cases[] = {
    {"", 0, {NULL}, NULL},
    {"   ", 0, {NULL}, NULL},
    {"ping", 1, {"ping"}, NULL},
    {"  reg   status  bob ", 3, {"reg", "status", "bob"}, NULL},
    {"a \"b c\" d", 3, {"a", "b c", "d"}, NULL},
    {"a 'b \"c\" d'", 2, {"a", "b \"c\" d"}, NULL},
    {"say \"he said \\\"hi\\\"\"", 2, {"say", "he said \"hi\""}, NULL},
    {"x \"\" y", 3, {"x", "", "y"}, NULL},
    {"a\\ b c", 2, {"a b", "c"}, NULL},
    {"pre\"mid dle\"post", 1, {"premid dlepost"}, NULL},
    {"tab\tseparated", 2, {"tab", "separated"}, NULL},
    {"'single \\n stays'", 1, {"single \\n stays"}, NULL},
    {"unterminated \"quote", -1, {NULL}, "unterminated quote"},
    {"it's", -1, {NULL}, "unterminated quote"},
    {"trailing\\", 1, {"trailing\\"}, NULL},
};

START_TEST(split_args_table)
{
	const struct split_case *c = &split_cases[_i];
	char *argv[COMMAND_ARGS_MAX + 1];
	char *copy = xstrdup(c->in);
	char *err = NULL;
	int n, i;

	n = command_split_args(copy, argv, NULL, COMMAND_ARGS_MAX, &err);
	ck_assert_msg(n == c->argc, "'%s': %d args, want %d", c->in, n,
		      c->argc);
	if (n < 0) {
		ck_assert_str_eq(err, c->err);
		free(err);
	} else {
		for (i = 0; i < n; i++)
			ck_assert_str_eq(argv[i], c->argv[i]);
		ck_assert_ptr_null(argv[n]);
	}
	free(copy);
}
END_TEST

START_TEST(split_args_limit_and_offsets)
{
	char *argv[COMMAND_ARGS_MAX + 1];
	size_t starts[COMMAND_ARGS_MAX + 1];
	struct buf b = BUF_INIT;
	char *err = NULL;
	char text[] = "reg  status \"Ann Lee\" x";
	int i, n;

	n = command_split_args(text, argv, starts, COMMAND_ARGS_MAX, &err);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(starts[0], 0);
	ck_assert_int_eq(starts[1], 5);
	ck_assert_int_eq(starts[2], 12);
	ck_assert_int_eq(starts[3], 22);
	for (i = 0; i < COMMAND_ARGS_MAX + 1; i++)
		buf_adds(&b, "w ");
	n = command_split_args(b.data, argv, NULL, COMMAND_ARGS_MAX, &err);
	ck_assert_int_eq(n, -1);
	ck_assert_str_eq(err, "too many arguments");
	free(err);
	buf_free(&b);
}
END_TEST

/* ---- dispatch ---- */

static char *dir;
static struct config *cfg;
static struct test_sink sink;

static void setup(void)
{
	char *db, *plugins, *err = NULL;

	log_set_level(LOG_ERROR);
	dir = test_make_dir("command");
	db = xasprintf("%s/state.db", dir);
	cfg = config_load_string("[bot]\nchannel_reply_lines = 3\n"
				 "[access]\n"
				 "grant = mask admin!*@admin.example admin\n",
				 "t.conf");
	ck_assert_msg(host_start(cfg, OPSBOT_MODE_DAEMON, db, "9.9", &err) == 0,
		      "%s", err);
	free(db);
	plugins = test_build_path("test-plugins");
	plugin_set_dir(plugins);
	free(plugins);
	ck_assert_ptr_nonnull(plugin_load("probe", &err));
	memset(&sink, 0, sizeof(sink));
	test_sink_use(&sink);
}

static void teardown(void)
{
	test_sink_use(NULL);
	buf_free(&sink.out);
	plugin_unload_all();
	host_stop();
	config_free(cfg);
	plugin_set_dir(NULL);
	test_cleanup_dir(dir);
}

/* Runs text as typed in #test by nick@host; returns the transcript. */
static const char *say(const char *nick, const char *host, const char *text)
{
	struct command_source src;

	buf_reset(&sink.out);
	sink.finished = 0;
	test_source(&src, OPSBOT_ORIGIN_CHANNEL, nick, host);
	command_dispatch_text(&src, text);
	return sink.out.data ? sink.out.data : "";
}

START_TEST(builtins_answer)
{
	ck_assert_str_eq(say("ann", "a.example", "ping"), "pong\n");
	ck_assert_int_eq(sink.finished, 1);
	ck_assert_int_eq(sink.status, OPSBOT_OK);
	ck_assert_str_eq(say("ann", "a.example", "PING"), "pong\n");
	ck_assert_str_eq(say("ann", "a.example", "version"),
			 "opsbot 9.9 (plugin ABI 2.1)\n");
	ck_assert_str_eq(say("ann", "a.example", "plugins"),
			 "plugins: probe 1 (!probe)\n");
	ck_assert_msg(strstr(say("ann", "a.example", "help"),
			     "built-in: ping, help, version, plugins, plugin, "
			     "whoami\nplugins: !probe;"),
		      "%s", sink.out.data);
	ck_assert_str_eq(say("ann", "a.example", "help ping"),
			 "!ping: answers pong\n");
	ck_assert_str_eq(say("ann", "a.example", "help probe long"),
			 "!probe long <bytes>: one long reply\n");
	ck_assert_str_eq(say("ann", "a.example", "whoami"),
			 "you are ann!~user@a.example, not identified to "
			 "services; capabilities: none\n");
}
END_TEST

/* Neither the text nor any part of it came back. */
static void assert_not_echoed(const char *out, const char *typed)
{
	char part[9];

	memcpy(part, typed, 8);
	part[8] = '\0';
	ck_assert_msg(!strstr(out, part), "%s", out);
	ck_assert_msg(!strstr(out, "[redacted]"), "%s", out);
}

START_TEST(user_text_with_secrets_is_never_echoed)
{
	const char *pw = "Sesame-0pen-4242";
	const char *long_pw = "a-very-long-server-password-of-forty-five-b";
	char line[128];

	secret_register(pw);
	secret_register(long_pw);
	/* The secret, alone or inside a word: no echo, no "[redacted]". */
	ck_assert_str_eq(say("ann", "a", pw),
			 "[error] unknown command (!help lists commands)\n");
	snprintf(line, sizeof(line), "x%sx", pw);
	assert_not_echoed(say("ann", "a", line), pw);
	/* A long secret is not echoed in part either (nor is any long word). */
	assert_not_echoed(say("ann", "a", long_pw), long_pw);
	assert_not_echoed(
	    say("ann", "a", "abcdefghijklmnopqrstuvwxyz0123456789"),
	    "abcdefghijklmnopqrstuvwxyz0123456789");
	/* Every other place that quotes what was typed. */
	snprintf(line, sizeof(line), "help %s", pw);
	assert_not_echoed(say("ann", "a", line), pw);
	snprintf(line, sizeof(line), "help probe %s", pw);
	assert_not_echoed(say("ann", "a", line), pw);
	snprintf(line, sizeof(line), "probe %s", pw);
	assert_not_echoed(say("ann", "a", line), pw);
	snprintf(line, sizeof(line), "help %s", long_pw);
	assert_not_echoed(say("ann", "a", line), long_pw);
	/* An ordinary short word still is. */
	ck_assert(strstr(say("ann", "a", "xyzzy"), "'xyzzy'"));
	secret_clear_all();
}
END_TEST

START_TEST(unknown_commands_get_suggestions)
{
	ck_assert_str_eq(say("ann", "a", "pnig"),
			 "[error] unknown command 'pnig'; did you mean !ping? "
			 "(!help lists commands)\n");
	ck_assert_int_eq(sink.status, OPSBOT_EUSAGE);
	ck_assert_str_eq(say("ann", "a", "xyzzy"),
			 "[error] unknown command 'xyzzy' (!help lists "
			 "commands)\n");
	ck_assert_str_eq(say("ann", "a", "probe lnog 3"),
			 "[error] unknown probe command 'lnog'; did you mean "
			 "'long'? (!help probe lists them)\n");
	ck_assert_msg(strstr(say("ann", "a", "probe"),
			     "!probe needs a command: inject, long, lines"),
		      "%s", sink.out.data);
	ck_assert_str_eq(say("ann", "a", "help probe nope"),
			 "[error] probe has no command 'nope'\n");
}
END_TEST

/* ABI 2.1: an extra word stands for "!<word> <extra>"; a taken one is
 * refused at load. */
START_TEST(extra_words_run_their_subcommand)
{
	char *err = NULL;
	char *want = xstrdup(say("ann", "a", "probe lines 2"));

	ck_assert_str_eq(say("ann", "a", "lines 2"), want);
	ck_assert_str_eq(say("ann", "a", "LINES 2"), want);
	free(want);
	ck_assert_str_eq(say("ann", "a", "lines"),
			 "[error] usage: !probe lines <n>\n");
	ck_assert_ptr_null(plugin_load("taken_word", &err));
	ck_assert_msg(strstr(err, "its command word 'ping' is already in use"),
		      "%s", err);
	free(err);
}
END_TEST

START_TEST(usage_and_quote_errors)
{
	ck_assert_str_eq(say("ann", "a", "probe long"),
			 "[error] usage: !probe long <bytes>\n");
	ck_assert_int_eq(sink.status, OPSBOT_EUSAGE);
	ck_assert_str_eq(say("ann", "a", "probe long 1 2"),
			 "[error] usage: !probe long <bytes>\n");
	ck_assert_str_eq(say("ann", "a", "probe long \"5"),
			 "[error] error: unterminated quote\n");
	/* The handler itself asked for its usage (out of range). */
	ck_assert_str_eq(say("ann", "a", "probe long 0"),
			 "[error] usage: !probe long <bytes>\n");
}
END_TEST

START_TEST(permissions_fail_closed)
{
	ck_assert_str_eq(say("mallory", "evil.example", "plugin unload probe"),
			 "[error] permission denied: !plugin needs capability "
			 "admin (you are not identified; !whoami shows what "
			 "you have)\n");
	ck_assert_int_eq(sink.status, OPSBOT_EPERM);
	ck_assert_ptr_nonnull(plugin_find("probe"));
	/* The nick alone is not enough: the mask has a host. */
	say("admin", "evil.example", "plugin unload probe");
	ck_assert_int_eq(sink.status, OPSBOT_EPERM);
	say("admin", "admin.example", "plugin load nosuch");
	ck_assert_msg(strstr(sink.out.data, "cannot load plugin 'nosuch'"),
		      "%s", sink.out.data);
	ck_assert_int_eq(sink.status, OPSBOT_ERR);
}
END_TEST

START_TEST(channel_replies_are_capped)
{
	const char *out = say("ann", "a", "probe lines 10");

	ck_assert_str_eq(out, "line 1\nline 2\nline 3\n"
			      "(7 more lines not shown here; ask me in "
			      "private)\n");
	/* In private the cap is higher. */
	{
		struct command_source src;

		buf_reset(&sink.out);
		test_source(&src, OPSBOT_ORIGIN_PRIVATE, "ann", "a");
		command_dispatch_text(&src, "probe lines 10");
		ck_assert_msg(strstr(sink.out.data, "line 10\n") &&
				  !strstr(sink.out.data, "more lines"),
			      "%s", sink.out.data);
	}
}
END_TEST

START_TEST(replies_split_at_line_breaks)
{
	/* Every CR and LF ends a line before any sink sees it. */
	const char *out = say("ann", "a", "probe inject");

	ck_assert_msg(!strstr(out, "\r"), "CR reached the sink");
	ck_assert_str_eq(out, "a\nJOIN #x\nb\n(3 more lines not shown here; "
			      "ask me in private)\n");
}
END_TEST

static Suite *command_suite(void)
{
	Suite *s = suite_create("command");
	TCase *split = tcase_create("split");
	TCase *dispatch = tcase_create("dispatch");

	tcase_add_loop_test(split, split_args_table, 0,
			    (int)ARRAY_SIZE(split_cases));
	tcase_add_test(split, split_args_limit_and_offsets);
	suite_add_tcase(s, split);
	tcase_add_checked_fixture(dispatch, setup, teardown);
	tcase_add_test(dispatch, builtins_answer);
	tcase_add_test(dispatch, unknown_commands_get_suggestions);
	tcase_add_test(dispatch, user_text_with_secrets_is_never_echoed);
	tcase_add_test(dispatch, usage_and_quote_errors);
	tcase_add_test(dispatch, extra_words_run_their_subcommand);
	tcase_add_test(dispatch, permissions_fail_closed);
	tcase_add_test(dispatch, channel_replies_are_capped);
	tcase_add_test(dispatch, replies_split_at_line_breaks);
	suite_add_tcase(s, dispatch);
	return s;
}

CHECK_MAIN(command_suite)
