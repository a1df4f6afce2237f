/*
 * test_config_reload.c - SIGHUP with a file that is not a whole config:
 * an empty file, one read while it was being written (no final newline,
 * a trailing section header), one without [irc] server or nick.  Each is
 * refused with one log line saying why, and the bot runs on unchanged.
 */
#include "check_main.h"
#include "procs.h"
#include "testutil.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;
static char *plugins;

/* Nothing listens on port 1: the bot keeps retrying, which is all these
 * tests need of IRC. */
static char *config_text(const char *irc_extra, const char *key)
{
	return xasprintf("[irc]\n%sport = 1\nreconnect_min = 60s\n"
			 "[bot]\nplugins = review\nplugin_dir = %s\n"
			 "state = state.db\n"
			 "[plugin.review]\nkey = %s\n",
			 irc_extra, plugins, key);
}

static void write_config(const char *text)
{
	free(test_write_file(dir, "opsbot.conf", text));
}

/* Writes text, sends SIGHUP and waits for the refusal naming want. */
static void expect_refused(struct bot *b, const char *text, const char *want)
{
	static const char line[] = "still running with the old one: ";

	write_config(text);
	kill(b->pid, SIGHUP);
	ck_assert_msg(bot_wait_log(b, want, 5000),
		      "no refusal with '%s' (see %s)", want, b->log_path);
	/* The file's errors come first, the refusal right after them. */
	ck_assert_msg(bot_wait_log(b, line, 5000), "see %s", b->log_path);
	ck_assert_msg(!bot_log_contains(b, "reloaded") &&
			  !bot_log_contains(b, "review: fini") &&
			  !bot_log_contains(b, "port 6667"),
		      "the file was taken (see %s)", b->log_path);
}

START_TEST(sighup_refuses_an_incomplete_file)
{
	static const char named[] = "server = 127.0.0.1\nnick = edgebot\n";
	struct bot b;
	char *conf, *log, *text, *cut, *rel = test_build_path("test-plugins");
	const char *args[] = {"-c", NULL, NULL};
	size_t len;

	plugins = realpath(rel, NULL);
	ck_assert_ptr_nonnull(plugins);
	dir = test_make_dir("config-reload");
	text = config_text(named, "one");
	write_config(text);
	conf = xasprintf("%s/opsbot.conf", dir);
	log = xasprintf("%s/bot.log", dir);
	args[1] = conf;
	ck_assert_int_eq(bot_start(&b, log, args), 0);
	ck_assert(bot_wait_log(&b, "review: init (key one)", 5000));

	expect_refused(&b, "", "no settings in the file");
	/* Cut in the middle of the last line. */
	len = strlen(text);
	text[len - 3] = '\0';
	expect_refused(&b, text, "does not end with a newline");
	free(text);
	/* Cut right after a section header. */
	cut = config_text(named, "one");
	text = xasprintf("%s[http]\n\n", cut);
	expect_refused(&b, text, "ends with a section header");
	free(text);
	free(cut);
	text = config_text("server = 127.0.0.1\n", "one");
	expect_refused(&b, text, "[irc] nick: not set");
	free(text);
	text = config_text("nick = edgebot\n", "one");
	expect_refused(&b, text, "[irc] server: not set");
	free(text);

	/* A whole file is taken. */
	text = config_text(named, "two");
	write_config(text);
	kill(b.pid, SIGHUP);
	ck_assert(bot_wait_log(&b, "review: init (key two)", 5000));
	ck_assert(bot_wait_log(&b, "reloaded", 5000));
	ck_assert_int_eq(bot_signal_and_wait(&b, SIGTERM, 5000), 0);
	ck_assert_msg(!bot_log_contains(&b, "Sanitizer"), "see %s", log);
	bot_stop(&b);
	free(text);
	free(conf);
	free(log);
	free(rel);
	free(plugins);
	test_cleanup_dir(dir);
	dir = NULL;
}
END_TEST

static Suite *reload_suite(void)
{
	Suite *s = suite_create("config_reload");
	TCase *tc = tcase_create("sighup");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sighup_refuses_an_incomplete_file);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(reload_suite)
