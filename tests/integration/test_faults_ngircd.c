/*
 * test_faults_ngircd.c - the real opsbot binary against a real ngIRCd
 * that fails: killed with SIGKILL and restarted on the same port, frozen
 * with SIGSTOP (a blackhole: the TCP connection stays open and silent),
 * an IRC operator's KILL, and announcements that wait in the queue
 * through an outage (delivered in order after the rejoin, or dropped once
 * older than queue_ttl).  A plain client ("watcher") sits in #c and sees
 * what users would.  Figures go to stderr, prefixed "faults:".
 */
#include "check_main.h"
#include "faults.h"
#include "ircclient.h"
#include "testutil.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 8000

static char *dir, *srv_dir;
static struct ngircd server;
static struct bot bot;
static struct ircclient client = {.fd = -1};
static int server_frozen; /* SIGSTOPped by the test */

/* Stops what the test started.  (A failed check skips this; Check then
 * kills the test's process group, servers and bot included.) */
static void stop_all(void)
{
	if (server_frozen && server.pid > 0)
		kill(server.pid, SIGCONT);
	server_frozen = 0;
	if (client.fd >= 0)
		ircclient_close(&client);
	bot_stop(&bot);
	if (server.dir)
		ngircd_stop(&server);
	free(srv_dir);
	srv_dir = NULL;
	test_cleanup_dir(dir);
	dir = NULL;
}

static void setup(void)
{
	memset(&bot, 0, sizeof(bot));
	memset(&server, 0, sizeof(server));
	client.fd = -1;
	dir = faults_dir("ngircd");
	srv_dir = xasprintf("%s/ircd", dir);
	ck_assert_msg(ngircd_start(&server, srv_dir, NULL) == 0,
		      "cannot start ngircd");
}

static void teardown(void)
{
	stop_all();
}

/* The nick the bot has now, from its log. */
static void bot_nick(char *out, size_t size)
{
	static const char *const keys[] = {"registered as ", "now known as "};
	size_t len, i;
	char *log = faults_read_file(bot.log_path, &len);
	const char *best = NULL;

	for (i = 0; i < 2; i++) {
		const char *p = log, *hit = NULL;

		while ((p = strstr(p, keys[i]))) {
			hit = p + strlen(keys[i]);
			p = hit;
		}
		if (hit && (!best || hit > best))
			best = hit;
	}
	snprintf(out, size, "%.*s", best ? (int)strcspn(best, " \n") : 0,
		 best ? best : "");
	free(log);
}

/* Polls NAMES until the bot (by its current nick) is in #c; returns the
 * time it was seen, or -1. */
static int64_t wait_bot_in_channel(long timeout_ms)
{
	int64_t deadline = time_now_ms() + timeout_ms;
	char nick[64];

	while (time_now_ms() < deadline) {
		bot_nick(nick, sizeof(nick));
		if (*nick &&
		    ircclient_in_channel(&client, "#c", nick, 1000) == 1)
			return time_now_ms();
		usleep(50000);
	}
	return -1;
}

static void connect_watcher(void)
{
	ck_assert_int_eq(ircclient_connect(&client, "127.0.0.1", server.port,
					   "watcher", WAIT_MS),
			 0);
	ck_assert_int_eq(ircclient_join(&client, "#c", WAIT_MS), 0);
}

static void start_bot(const char *irc)
{
	char *conf = faults_write_config(dir, server.port, irc);

	ck_assert_int_eq(faults_bot_start(&bot, dir, conf), 0);
	free(conf);
	connect_watcher();
	ck_assert_msg(wait_bot_in_channel(WAIT_MS) > 0, "the bot never joined");
}

/* SIGKILL: no QUIT, no ERROR, the port refuses connections. */
static void kill_server(void)
{
	ck_assert_int_eq(kill(server.pid, SIGKILL), 0);
	waitpid(server.pid, NULL, 0);
	if (client.fd >= 0)
		ircclient_close(&client);
}

/* ngircd-start on the same directory: the same port again. */
static int64_t restart_server(void)
{
	int port = server.port;

	free(server.dir);
	server.dir = NULL;
	ck_assert_msg(ngircd_start(&server, srv_dir, NULL) == 0,
		      "cannot restart ngircd");
	ck_assert_int_eq(server.port, port);
	return time_now_ms();
}

START_TEST(server_killed_and_restarted)
{
	int64_t back, in;

	start_bot("reconnect_min = 1s\nreconnect_max = 4s\n"
		  "flood_interval = 100ms\n");
	kill_server();
	usleep(2000000);
	back = restart_server();
	connect_watcher();
	in = wait_bot_in_channel(20000);
	ck_assert_msg(in > 0, "the bot did not come back into #c");
	/* G7: registered and rejoined within 15 s of the server's return. */
	ck_assert_msg(in - back <= 15000, "back in #c %lld ms after the server",
		      (long long)(in - back));
	ck_assert_int_eq(faults_log_count(&bot, "] registered as "), 2);
	ircclient_send(&client, "PRIVMSG #c :!ping");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :pong", WAIT_MS));
	fprintf(stderr,
		"faults: ngircd kill -9 + restart after a 2 s outage: the bot "
		"was back in #c %lld ms after the server (reconnect_min 1 s, "
		"reconnect_max 4 s)\n",
		(long long)(in - back));
}
END_TEST

START_TEST(blackhole_is_detected)
{
	/* SIGSTOP: the kernel keeps the connection open and even accepts
	 * new ones, but nothing answers. */
	const long ping_timeout = 6000;
	int64_t stopped, detected, resumed, in;
	char nick[64];

	start_bot("ping_timeout = 6s\nreconnect_min = 500ms\n"
		  "reconnect_max = 2s\nreconnect_reset = 1s\n");
	stopped = time_now_ms();
	ck_assert_int_eq(kill(server.pid, SIGSTOP), 0);
	server_frozen = 1;
	detected = faults_wait_log(&bot,
				   "closing the connection: no data "
				   "from the server for ",
				   1, ping_timeout + 6000);
	ck_assert_msg(detected > 0, "the silent server was not detected");
	/* Within ping_timeout of the stop, plus one watchdog tick
	 * (ping_timeout / 8) and some scheduling slack. */
	ck_assert_msg(
	    detected - stopped <= ping_timeout + ping_timeout / 8 + 600,
	    "detected %lld ms after the stop", (long long)(detected - stopped));
	/* It asked before giving up: a PING at half the timeout. */
	ck_assert(faults_log_count(&bot, ">> PING opsbot") >= 1);
	resumed = time_now_ms();
	ck_assert_int_eq(kill(server.pid, SIGCONT), 0);
	server_frozen = 0;
	/* A NAMES right after SIGCONT may still list the old session:
	 * wait for the new registration first. */
	ck_assert_msg(faults_wait_log(&bot, "] registered as ", 2, 15000) > 0,
		      "the bot did not register again after SIGCONT");
	in = wait_bot_in_channel(15000);
	ck_assert_msg(in > 0, "the bot did not come back after SIGCONT");
	bot_nick(nick, sizeof(nick));
	fprintf(stderr,
		"faults: ngircd SIGSTOP: detected after %lld ms (ping_timeout "
		"6 s); after SIGCONT the bot was back in #c (as %s) in %lld "
		"ms\n",
		(long long)(detected - stopped), nick,
		(long long)(in - resumed));
}
END_TEST

START_TEST(oper_kill_reconnects)
{
	char *path = xasprintf("%s/ngircd.env", srv_dir);
	char *env = faults_read_file(path, NULL);
	const char *name = strstr(env, "OPER_NAME="),
		   *pass = strstr(env, "OPER_PASSWORD=");
	int64_t killed, in;

	ck_assert(name && pass);
	start_bot("reconnect_min = 1s\nreconnect_max = 8s\n"
		  "reconnect_reset = 1s\n");
	usleep(1200000); /* a session longer than reconnect_reset */
	ircclient_send(&client, "OPER %.*s %.*s", (int)strcspn(name + 10, "\n"),
		       name + 10, (int)strcspn(pass + 14, "\n"), pass + 14);
	ck_assert_ptr_nonnull(ircclient_wait(&client, " 381 ", WAIT_MS));
	killed = time_now_ms();
	ircclient_send(&client, "KILL opsbot :fault test");
	in = wait_bot_in_channel(15000);
	ck_assert_msg(in > 0, "the bot did not come back after the KILL");
	ck_assert_int_eq(faults_log_count(&bot, "] registered as "), 2);
	/* A first retry (the session outlived reconnect_reset): after
	 * reconnect_min / 2 .. reconnect_min, then registration (five lines,
	 * the whole burst) and the JOIN, which waits one flood interval
	 * (2 s by default). */
	ck_assert_msg(in - killed >= 500 && in - killed <= 4500,
		      "back in #c %lld ms after the KILL",
		      (long long)(in - killed));
	/* ngIRCd ends a killed link with ERROR only (no KILL line). */
	ck_assert_msg(faults_log_count(&bot, "server says: ERROR KILLed by "
					     "watcher: fault test") == 1,
		      "the KILL was not logged");
	fprintf(stderr,
		"faults: ngircd oper KILL: back in #c after %lld ms "
		"(reconnect_min 1 s)\n",
		(long long)(in - killed));
	free(env);
	free(path);
}
END_TEST

/*
 * Kills the server while "later" announcements are armed, waits until
 * they have fired (into the queue) and the bot's backoff has reached a
 * delay of at least 2 s, restarts the server and puts the watcher into
 * #c before the bot can return.  Returns when the bot's JOIN is seen.
 */
static int64_t outage_with_queued_lines(int count, long delay_ms)
{
	char cmd[128], want[64];
	long delays[16];
	int n = 0;
	int64_t killed, deadline;
	const char *line;

	snprintf(cmd, sizeof(cmd), "PRIVMSG #c :!probe later %ld %d #c",
		 delay_ms, count);
	snprintf(want, sizeof(want), "later: %d lines to #c in %ld ms", count,
		 delay_ms);
	ircclient_send(&client, "%s", cmd);
	ck_assert_ptr_nonnull(ircclient_wait(&client, want, WAIT_MS));
	kill_server();
	killed = time_now_ms();
	/* Refused connects: [0.5, 1] s, [1, 2] s, then [2, 4] s. */
	deadline = killed + 10000;
	while (time_now_ms() < deadline) {
		n = faults_reconnect_delays(&bot, delays, 16);
		if (n >= 3 && time_now_ms() - killed > delay_ms + 200)
			break;
		usleep(20000);
	}
	ck_assert_msg(n >= 3 && delays[n - 1] >= 2000,
		      "backoff did not reach 2 s (%d delays)", n);
	restart_server();
	ck_assert_int_eq(ircclient_connect(&client, "127.0.0.1", server.port,
					   "watcher", WAIT_MS),
			 0);
	ck_assert_int_eq(ircclient_join(&client, "#c", WAIT_MS), 0);
	ck_assert_msg(!strstr(client.log.data, "later line"),
		      "announcements arrived before the rejoin");
	/* The bot's next attempt may be a whole reconnect_max (8 s) away,
	 * and a sanitizer build registers slowly: wait that plus room. */
	line = ircclient_wait(&client, " JOIN ", 20000);
	ck_assert_msg(line && strstr(line, ":opsbot!"),
		      "no JOIN of the bot after the watcher's: %s",
		      line ? line : "(none)");
	return time_now_ms();
}

START_TEST(queued_lines_delivered_after_rejoin)
{
	int64_t joined, last = 0;
	int i;

	start_bot("flood_interval = 100ms\nreconnect_min = 1s\n"
		  "reconnect_max = 8s\nreconnect_reset = 1h\n");
	joined = outage_with_queued_lines(20, 500);
	for (i = 1; i <= 20; i++) {
		char want[64];
		const char *line =
		    ircclient_wait(&client, "later line ", WAIT_MS);

		ck_assert_msg(line, "line %d of 20 never came", i);
		snprintf(want, sizeof(want), "later line %d of 20", i);
		ck_assert_msg(strstr(line, want), "expected '%s', got '%s'",
			      want, line);
		last = time_now_ms();
	}
	ck_assert_int_eq(faults_log_count(&bot, "queued line"), 0);
	fprintf(stderr,
		"faults: ngircd outage with 20 announcements queued: all 20 "
		"delivered in order, the last %lld ms after the bot's JOIN "
		"(flood_interval 100 ms)\n",
		(long long)(last - joined));
}
END_TEST

START_TEST(queued_lines_expire_after_ttl)
{
	int64_t dropped;

	start_bot("queue_ttl = 1s\nflood_interval = 100ms\n"
		  "reconnect_min = 1s\nreconnect_max = 8s\n"
		  "reconnect_reset = 1h\n");
	outage_with_queued_lines(5, 200);
	dropped = faults_wait_log(&bot,
				  "dropped 5 queued lines older than "
				  "[irc] queue_ttl",
				  1, WAIT_MS);
	ck_assert_msg(dropped > 0, "no log line about the dropped lines");
	/* Nothing of them reaches the channel, and the bot still talks. */
	ircclient_send(&client, "PRIVMSG #c :!ping");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&client, "PRIVMSG #c :pong", WAIT_MS));
	ck_assert_msg(!strstr(client.log.data, "later line"),
		      "an expired announcement was sent");
	fprintf(stderr,
		"faults: ngircd outage longer than queue_ttl (1 s): 5 queued "
		"announcements dropped with a warning, none sent\n");
}
END_TEST

static TCase *tcase(Suite *s, const char *name)
{
	TCase *tc = tcase_create(name);

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 90);
	tcase_set_tags(tc, "live");
	suite_add_tcase(s, tc);
	return tc;
}

static Suite *faults_ngircd_suite(void)
{
	Suite *s = suite_create("faults_ngircd");
	TCase *tc;

	tc = tcase(s, "restart");
	tcase_add_test(tc, server_killed_and_restarted);
	tc = tcase(s, "blackhole");
	tcase_add_test(tc, blackhole_is_detected);
	tc = tcase(s, "kill");
	tcase_add_test(tc, oper_kill_reconnects);
	tc = tcase(s, "queue");
	tcase_add_test(tc, queued_lines_delivered_after_rejoin);
	tcase_add_test(tc, queued_lines_expire_after_ttl);
	return s;
}

CHECK_MAIN(faults_ngircd_suite)
