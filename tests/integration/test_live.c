/*
 * test_live.c - the real opsbot binary against a real ngIRCd on
 * 127.0.0.1, driven by a plain IRC client: joining, commands in channel
 * and private, long replies, reload with work in flight, injection,
 * SIGHUP and SIGTERM.
 */
#include "check_main.h"
#include "ircclient.h"
#include "procs.h"
#include "testutil.h"

#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 5000

static char *dir;
static struct ngircd server;
static struct bot bot;
static struct ircclient client;
static char conf_path[PATH_MAX];

static void link_plugin(const char *from_dir, const char *name)
{
	char *target, *link;
	char abs_build[PATH_MAX];

	if (!realpath(test_build_dir(), abs_build))
		ck_abort_msg("no build directory %s", test_build_dir());
	target = xasprintf("%s/%s/%s.so", abs_build, from_dir, name);
	link = xasprintf("%s/plugins/%s.so", dir, name);
	ck_assert_int_eq(symlink(target, link), 0);
	free(target);
	free(link);
}

static void write_config(const char *extra)
{
	struct buf b = BUF_INIT;
	char *path;

	buf_addf(&b,
		 "[irc]\nserver = 127.0.0.1\nport = %d\nnick = opsbot\n"
		 "channels = #c\nflood_control = false\n"
		 "reconnect_min = 500ms\n"
		 "[bot]\nplugins = probe, example\nplugin_dir = plugins\n"
		 "state = state.db\n"
		 "[access]\ngrant = mask admin!*@127.0.0.1 admin\n"
		 "grant = mask mallory!*@127.0.0.1 example.cancel "
		 "example.signal\n"
		 "[plugin.probe]\nkey = sup3r-s3cret-key\n%s",
		 server.port, extra ? extra : "");
	path = test_write_file(dir, "opsbot.conf", b.data);
	snprintf(conf_path, sizeof(conf_path), "%s", path);
	free(path);
	buf_free(&b);
}

static void setup(void)
{
	char *srv_dir, *plugins, *log;
	const char *args[] = {"-c", conf_path, "-v", NULL};

	dir = test_make_dir("live");
	srv_dir = xasprintf("%s/ircd", dir);
	ck_assert_msg(ngircd_start(&server, srv_dir, NULL) == 0,
		      "cannot start ngircd");
	free(srv_dir);
	plugins = xasprintf("%s/plugins", dir);
	mkdir(plugins, 0700);
	free(plugins);
	link_plugin("test-plugins", "probe");
	link_plugin("plugins", "example");
	write_config(NULL);
	log = xasprintf("%s/bot.log", dir);
	ck_assert_int_eq(bot_start(&bot, log, args), 0);
	free(log);
	ck_assert_int_eq(ircclient_connect(&client, "127.0.0.1", server.port,
					   "admin", WAIT_MS),
			 0);
	ck_assert_int_eq(ircclient_join(&client, "#c", WAIT_MS), 0);
	/* The bot is in #c once NAMES lists it. */
	{
		int64_t deadline = time_now_ms() + WAIT_MS;

		while (ircclient_in_channel(&client, "#c", "opsbot", 1000) !=
			   1 &&
		       time_now_ms() < deadline)
			usleep(50000);
	}
}

static void teardown(void)
{
	ircclient_close(&client);
	bot_stop(&bot);
	ngircd_stop(&server);
	test_cleanup_dir(dir);
}

START_TEST(joins_and_answers_ping)
{
	ck_assert_int_eq(ircclient_in_channel(&client, "#c", "opsbot", WAIT_MS),
			 1);
	ircclient_send(&client, "PRIVMSG #c :!ping");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :pong", WAIT_MS));
	ircclient_send(&client, "PRIVMSG #c :opsbot: version");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, ":opsbot 0.1.0", WAIT_MS));
}
END_TEST

START_TEST(help_and_private_messages)
{
	const char *line;

	ircclient_send(&client, "PRIVMSG #c :!help");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "built-in: ping, help", WAIT_MS));
	line = ircclient_wait(&client, "plugins: ", WAIT_MS);
	ck_assert_msg(line && strstr(line, "!probe") &&
			  strstr(line, "!example"),
		      "%s", line ? line : "(none)");
	ircclient_send(&client, "PRIVMSG #c :!help example wait");
	ck_assert_ptr_nonnull(ircclient_wait(
	    &client, "!example wait <ms>: answers after a delay", WAIT_MS));
	/* A private message is answered in private. */
	ircclient_send(&client, "PRIVMSG opsbot :ping");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG admin :pong", WAIT_MS));
	/* whisper answers the asker privately and says so in channel. */
	ircclient_send(&client, "PRIVMSG #c :!example whisper psst");
	ck_assert_ptr_nonnull(ircclient_wait(
	    &client, "PRIVMSG admin :only you see this: psst", WAIT_MS));
	ircclient_send(&client, "PRIVMSG #c :!nosuchthing");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "unknown command 'nosuchthing'", WAIT_MS));
}
END_TEST

START_TEST(long_reply_is_split_cleanly)
{
	struct buf text = BUF_INIT, want = BUF_INIT;
	const char *line;
	int lines = 0;

	ircclient_send(&client, "PRIVMSG #c :!probe long 3000");
	/* The reply arrives as several PRIVMSGs; collect them. */
	while ((line = ircclient_wait(&client, "PRIVMSG #c :", 1500))) {
		const char *body = strstr(line, "PRIVMSG #c :") + 12;

		/* line is without CRLF: the relayed line plus CRLF fits. */
		ck_assert_int_le(strlen(line) + 2, 512);
		ck_assert_ptr_null(strchr(line, '\r'));
		buf_adds(&text, body);
		lines++;
	}
	ck_assert_int_ge(lines, 7);
	/* Nothing lost or changed: the pieces make up the text. */
	{
		static const char *const pieces[] = {"word ", "é", "日本", "😀",
						     "x"};
		int i;

		for (i = 0; want.len < 3000; i++) {
			const char *p = pieces[i % 5];

			if (want.len + strlen(p) > 3000)
				break;
			buf_adds(&want, p);
		}
	}
	/* Servers drop a space at the end of a message, and the splitter
	 * cuts after a space: so compare without the spaces, and allow one
	 * missing space per cut. */
	{
		struct buf a = BUF_INIT, b = BUF_INIT;
		size_t i;

		for (i = 0; i < text.len; i++)
			if (text.data[i] != ' ')
				buf_addch(&a, text.data[i]);
		for (i = 0; i < want.len; i++)
			if (want.data[i] != ' ')
				buf_addch(&b, want.data[i]);
		ck_assert_msg(!strcmp(a.data, b.data),
			      "reassembled text differs beyond spaces");
		ck_assert_int_le(want.len - text.len, (size_t)lines);
		buf_free(&a);
		buf_free(&b);
	}
	buf_free(&text);
	buf_free(&want);
}
END_TEST

START_TEST(reload_with_work_in_flight)
{
	const char *line;

	ircclient_send(&client, "PRIVMSG #c :!probe inflight");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "in flight: timer", WAIT_MS));
	ircclient_send(&client, "PRIVMSG #c :!plugin reload probe");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :reloaded probe", WAIT_MS));
	/* The new instance answers, and the old one's timer and child
	 * each ended exactly once, cancelled. */
	ircclient_send(&client, "PRIVMSG #c :!probe events");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :process -3 x1", WAIT_MS));
	line = ircclient_wait(&client, "PRIVMSG #c :timer -3 x1", WAIT_MS);
	ck_assert_ptr_nonnull(line);
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :end", WAIT_MS));
	/* A non-admin may not reload. */
	{
		struct ircclient other;

		ck_assert_int_eq(ircclient_connect(&other, "127.0.0.1",
						   server.port, "mallory",
						   WAIT_MS),
				 0);
		ircclient_send(&other, "PRIVMSG opsbot :!plugin unload probe");
		ck_assert_ptr_nonnull(ircclient_wait(
		    &other,
		    "permission denied: !plugin needs capability "
		    "admin",
		    WAIT_MS));
		ircclient_close(&other);
	}
}
END_TEST

START_TEST(injection_is_harmless)
{
	ircclient_send(&client, "PRIVMSG #c :!probe inject");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :a", WAIT_MS));
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :JOIN #x", WAIT_MS));
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :PART #c", WAIT_MS));
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :QUIT :injected", WAIT_MS));
	ircclient_drain(&client, 300);
	/* The text stayed text: not in #x, still in #c, still connected. */
	ck_assert_int_eq(ircclient_in_channel(&client, "#x", "opsbot", WAIT_MS),
			 0);
	ck_assert_int_eq(ircclient_in_channel(&client, "#c", "opsbot", WAIT_MS),
			 1);
	ircclient_send(&client, "PRIVMSG #c :!ping");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :pong", WAIT_MS));
	/* And a secret a plugin leaks is redacted on the wire. */
	ircclient_send(&client, "PRIVMSG #c :!probe secret");
	ck_assert_ptr_nonnull(ircclient_wait(
	    &client, "PRIVMSG #c :the key is [redacted]", WAIT_MS));
	ck_assert_ptr_null(strstr(client.log.data, "sup3r-s3cret-key"));
	ck_assert(!bot_log_contains(&bot, "sup3r-s3cret-key"));
}
END_TEST

/* The id after "text" on a line of the bot's log, or -1. */
static long long log_number_after(const char *text)
{
	FILE *f = fopen(bot.log_path, "r");
	char line[1024];
	long long id = -1;

	while (f && fgets(line, sizeof(line), f)) {
		const char *at = strstr(line, text);

		if (at)
			id = strtoll(at + strlen(text), NULL, 10);
	}
	if (f)
		fclose(f);
	return id;
}

/* The id in "<prefix><id>" of a line from the client, or -1. */
static long long wait_number_after(struct ircclient *c, const char *prefix)
{
	const char *line = ircclient_wait(c, prefix, WAIT_MS);

	return line ? strtoll(strstr(line, prefix) + strlen(prefix), NULL, 10)
		    : -1;
}

/* The example plugin in a channel: capabilities on what uses the
 * machine, cancel only for the asker's own work, never the heartbeat,
 * and a cap on the sleeps running at once. */
START_TEST(example_capabilities_ownership_and_limits)
{
	struct ircclient other;
	long long heartbeat, first, second;

	ck_assert(bot_wait_log(&bot, "heartbeat id ", WAIT_MS));
	heartbeat = log_number_after("heartbeat id ");
	ck_assert_int_gt(heartbeat, 0);
	/* Not even an admin stops the plugin's own timer from chat. */
	ircclient_send(&client, "PRIVMSG #c :!example cancel %lld", heartbeat);
	ck_assert_ptr_nonnull(ircclient_wait(
	    &client, "is the plugin's heartbeat, not yours to stop", WAIT_MS));
	/* Two sleeps may run (the default limit), a third is refused. */
	ircclient_send(&client, "PRIVMSG #c :!example sleep 20000");
	first = wait_number_after(&client, "sleeping 20000 ms (id ");
	ircclient_send(&client, "PRIVMSG #c :!example sleep 20000");
	second = wait_number_after(&client, "sleeping 20000 ms (id ");
	ck_assert_int_gt(first, 0);
	ck_assert_int_gt(second, 0);
	ircclient_send(&client, "PRIVMSG #c :!example sleep 10");
	ck_assert_ptr_nonnull(ircclient_wait(
	    &client, "2 sleeps already running, the limit", WAIT_MS));

	ck_assert_int_eq(ircclient_connect(&other, "127.0.0.1", server.port,
					   "mallory", WAIT_MS),
			 0);
	/* Open to everyone: echo.  Not without a grant: sleep, run. */
	ircclient_send(&other, "PRIVMSG opsbot :!example echo hi");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&other, "PRIVMSG mallory :hi", WAIT_MS));
	ircclient_send(&other, "PRIVMSG opsbot :!example sleep 60000");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&other, "needs capability example.sleep", WAIT_MS));
	ircclient_send(&other, "PRIVMSG opsbot :!example run x");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&other, "needs capability example.run", WAIT_MS));
	/* With example.cancel, still only one's own work. */
	ircclient_send(&other, "PRIVMSG opsbot :!example cancel %lld", first);
	ck_assert_ptr_nonnull(ircclient_wait(
	    &other, "was started by someone else; only they can stop it",
	    WAIT_MS));
	ircclient_send(&other, "PRIVMSG opsbot :!example signal %lld TERM",
		       second);
	ck_assert_ptr_nonnull(
	    ircclient_wait(&other, "was started by someone else", WAIT_MS));
	ircclient_close(&other);

	/* The asker cancels both; then a sleep may start again.  The first
	 * sleep's end may come before or after the second "cancelling":
	 * count the lines, do not expect an order between them. */
	ck_assert_int_eq(ircclient_count(&client, "sleep cancelled"), 0);
	ircclient_send(&client, "PRIVMSG #c :!example cancel %lld", first);
	ck_assert_int_eq(
	    ircclient_wait_count(&client, "cancelling", 1, WAIT_MS), 0);
	ircclient_send(&client, "PRIVMSG #c :!example cancel %lld", second);
	ck_assert_int_eq(
	    ircclient_wait_count(&client, "cancelling", 2, WAIT_MS), 0);
	ck_assert_int_eq(
	    ircclient_wait_count(&client, "sleep cancelled", 2, WAIT_MS), 0);
	ircclient_send(&client, "PRIVMSG #c :!example sleep 10");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "slept 10 ms on a job thread", WAIT_MS));
}
END_TEST

START_TEST(sighup_reloads_or_keeps_config)
{
	/* A broken config is refused; the bot keeps running. */
	write_config("[plugin.example]\nlimit = many\n");
	kill(bot.pid, SIGHUP);
	usleep(300000);
	ck_assert(bot_log_contains(&bot, "[plugin.example] limit: 'many' is "
					 "not a whole number"));
	ck_assert(bot_log_contains(&bot, "still running with the old one"));
	ircclient_send(&client, "PRIVMSG #c :!ping");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :pong", WAIT_MS));
	/* A good one with a new channel is applied. */
	{
		struct buf b = BUF_INIT;
		char *path;

		buf_addf(&b,
			 "[irc]\nserver = 127.0.0.1\nport = %d\nnick = opsbot\n"
			 "channels = #c, #d\nflood_control = false\n"
			 "[bot]\nplugins = probe, example\n"
			 "plugin_dir = plugins\nstate = state.db\n"
			 "[access]\ngrant = mask admin!*@127.0.0.1 admin\n"
			 "[plugin.example]\nlimit = 7\n",
			 server.port);
		path = test_write_file(dir, "opsbot.conf", b.data);
		free(path);
		buf_free(&b);
	}
	kill(bot.pid, SIGHUP);
	ck_assert_int_eq(ircclient_join(&client, "#d", WAIT_MS), 0);
	{
		int64_t deadline = time_now_ms() + WAIT_MS;
		int in = 0;

		while (!in && time_now_ms() < deadline)
			in = ircclient_in_channel(&client, "#d", "opsbot",
						  1000) == 1;
		ck_assert(in);
	}
	ircclient_send(&client, "PRIVMSG #c :!example config");
	ck_assert_ptr_nonnull(ircclient_wait(&client, "limit=7", WAIT_MS));
}
END_TEST

START_TEST(sigterm_quits_cleanly)
{
	ck_assert_int_eq(bot_signal_and_wait(&bot, SIGTERM, 5000), 0);
	ck_assert(WIFEXITED(bot.exit_status));
	ck_assert_int_eq(WEXITSTATUS(bot.exit_status), 0);
	/* ngIRCd relays the reason in quotes. */
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "opsbot shutting down", WAIT_MS));
	ck_assert(bot_log_contains(&bot, "stopping after"));
	ck_assert(bot_log_contains(&bot, "unloaded probe"));
	/* The database was checkpointed and closed: no WAL file left. */
	{
		char *wal = xasprintf("%s/state.db-wal", dir);

		ck_assert_msg(access(wal, F_OK) != 0, "%s still exists", wal);
		free(wal);
	}
}
END_TEST

START_TEST(reconnects_after_server_restart)
{
	char *srv_dir = xasprintf("%s/ircd", dir);
	struct ngircd again;
	int64_t t0;

	ngircd_stop(&server);
	ircclient_close(&client);
	ck_assert_int_eq(ngircd_start(&again, srv_dir, NULL), 0);
	server = again;
	t0 = time_now_ms();
	ck_assert_int_eq(ircclient_connect(&client, "127.0.0.1", server.port,
					   "admin", WAIT_MS),
			 0);
	ck_assert_int_eq(ircclient_join(&client, "#c", WAIT_MS), 0);
	{
		int64_t deadline = time_now_ms() + 15000;
		int in = 0;

		while (!in && time_now_ms() < deadline) {
			in = ircclient_in_channel(&client, "#c", "opsbot",
						  1000) == 1;
			if (!in)
				usleep(100000);
		}
		ck_assert_msg(in, "bot not back in #c after %lld ms",
			      (long long)(time_now_ms() - t0));
	}
	ircclient_send(&client, "PRIVMSG #c :!ping");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :pong", WAIT_MS));
	free(srv_dir);
}
END_TEST

static Suite *live_suite(void)
{
	Suite *s = suite_create("live");
	TCase *tc = tcase_create("ngircd");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_set_tags(tc, "live");
	tcase_add_test(tc, joins_and_answers_ping);
	tcase_add_test(tc, help_and_private_messages);
	tcase_add_test(tc, long_reply_is_split_cleanly);
	tcase_add_test(tc, reload_with_work_in_flight);
	tcase_add_test(tc, injection_is_harmless);
	tcase_add_test(tc, example_capabilities_ownership_and_limits);
	tcase_add_test(tc, sighup_reloads_or_keeps_config);
	tcase_add_test(tc, sigterm_quits_cleanly);
	tcase_add_test(tc, reconnects_after_server_restart);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(live_suite)
