/*
 * test_services.c - the bot against real servers for what ngIRCd alone
 * cannot show: TLS verification (ngIRCd's TLS ports with a test CA, a
 * wrong-host and an unknown-CA certificate), and services accounts with
 * InspIRCd + Atheme: SASL PLAIN, EXTERNAL and ECDSA, failing closed, NickServ
 * IDENTIFY, account-tag permissions, a storm of 433s, and IRCv3 bot
 * mode (botmode's BOT=B).
 */
#include "waitscale.h"
#include "check_main.h"
#include "ircclient.h"
#include "procs.h"
#include "testutil.h"

#include <check.h>
#include <limits.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define WAIT_MS 8000

/* Servers, started once per test case (unchecked fixtures). */
static char *srv_dir;
static char *env_text;
static struct bot bot;
static char *bot_dir;

static const char *env(const char *key)
{
	static char values[8][512];
	static int next;
	char *v = values[next++ % 8];

	if (kv_get(env_text, key, v, 512) < 0)
		ck_abort_msg("no %s in the kit's output", key);
	return v;
}

static int env_port(const char *key)
{
	return (int)strtol(env(key), NULL, 10);
}

/* Runs a kit's start script in a fresh directory; keeps its output. */
static void kit_start(const char *script, const char *option)
{
	const char *argv[] = {script, NULL, option, NULL};

	srv_dir = test_make_dir("kit");
	argv[1] = srv_dir;
	env_text = script_run(argv, 60000);
	if (!env_text)
		abort();
}

static void kit_stop(const char *script)
{
	const char *argv[] = {script, srv_dir, NULL};

	free(script_run(argv, 30000));
	free(env_text);
	test_cleanup_dir(srv_dir);
}

static void start_ngircd_tls(void)
{
	kit_start("tests/servers/ngircd-start", "--tls");
}

static void stop_ngircd(void)
{
	kit_stop("tests/servers/ngircd-stop");
}

static void start_inspircd(void)
{
	kit_start("tests/servers/inspircd-start", NULL);
}

static void stop_inspircd(void)
{
	kit_stop("tests/servers/inspircd-stop");
}

static void register_account(const char *account, const char *password,
			     const char *fingerprint)
{
	const char *argv[] = {"tests/servers/inspircd-register",
			      srv_dir,
			      account,
			      password,
			      fingerprint,
			      NULL};
	char *out = script_run(argv, 30000);

	ck_assert_msg(out != NULL, "cannot register %s", account);
	free(out);
}

/* Per test: a directory for the bot, and the bot stopped afterwards. */
static void bot_setup(void)
{
	bot_dir = test_make_dir("svcbot");
	memset(&bot, 0, sizeof(bot));
}

static void bot_teardown(void)
{
	bot_stop(&bot);
	test_cleanup_dir(bot_dir);
}

/* Writes the config (text after the common part) and starts the bot. */
static void run_bot(const char *irc_keys)
{
	struct buf b = BUF_INIT;
	char *path, *log;
	const char *args[] = {"-c", NULL, "-v", NULL};

	static int runs;

	buf_addf(&b,
		 "[irc]\n%sflood_control = false\n"
		 "reconnect_min = 30s\nconnect_timeout = 5s\n%s\n"
		 "[bot]\nstate = state.db\n"
		 "[access]\ngrant = account alice admin\n",
		 strstr(irc_keys, "nick = ") ? "" : "nick = opsbot\n",
		 irc_keys);
	path = test_write_file(bot_dir, "opsbot.conf", b.data);
	/* A log per run, so a second run reads only its own lines. */
	log = xasprintf("%s/bot-%d.log", bot_dir, ++runs);
	args[1] = path;
	ck_assert_int_eq(bot_start(&bot, log, args), 0);
	free(path);
	free(log);
	buf_free(&b);
}

/* Waits until the bot's log holds text. */
static int log_wait(const char *text, long ms)
{
	int64_t deadline = time_now_ms() + test_wait_ms(ms);

	while (time_now_ms() < deadline) {
		if (bot_log_contains(&bot, text))
			return 1;
		usleep(50000);
	}
	return 0;
}

static char *conf_line(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static char *conf_line(const char *fmt, ...)
{
	struct buf b = BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return buf_detach(&b);
}

/* ---- TLS against ngIRCd ---- */

START_TEST(tls_verified_connection_works)
{
	struct ircclient c;
	char *keys = conf_line("server = localhost\nport = %d\ntls = true\n"
			       "tls_ca_file = %s\nchannels = #t\n",
			       env_port("TLS_PORT"), env("CA_FILE"));

	run_bot(keys);
	ck_assert(log_wait("registered as opsbot", WAIT_MS));
	ck_assert(bot_log_contains(&bot, "with TLSv1."));
	/* A plain client on the same server talks to it. */
	ck_assert_int_eq(ircclient_connect(&c, "127.0.0.1", env_port("PORT"),
					   "tester", WAIT_MS),
			 0);
	ck_assert_int_eq(ircclient_join(&c, "#t", WAIT_MS), 0);
	ircclient_send(&c, "PRIVMSG #t :!ping");
	ck_assert_ptr_nonnull(ircclient_wait(&c, "PRIVMSG #t :pong", WAIT_MS));
	ircclient_close(&c);
	free(keys);
}
END_TEST

START_TEST(tls_wrong_host_is_refused)
{
	char *keys = conf_line("server = localhost\nport = %d\ntls = true\n"
			       "tls_ca_file = %s\n",
			       env_port("WRONG_HOST_TLS_PORT"), env("CA_FILE"));

	run_bot(keys);
	ck_assert(log_wait("certificate verification failed: hostname "
			   "mismatch",
			   WAIT_MS));
	ck_assert(!bot_log_contains(&bot, "registered as"));
	free(keys);
}
END_TEST

START_TEST(tls_unknown_ca_is_refused)
{
	char *keys = conf_line("server = localhost\nport = %d\ntls = true\n"
			       "tls_ca_file = %s\n",
			       env_port("UNKNOWN_CA_TLS_PORT"), env("CA_FILE"));

	run_bot(keys);
	ck_assert(log_wait("certificate verification failed", WAIT_MS));
	ck_assert(!bot_log_contains(&bot, "registered as"));
	free(keys);
}
END_TEST

START_TEST(tls_system_store_refuses_test_ca)
{
	/* No tls_ca_file: the system store does not know the test CA. */
	char *keys = conf_line("server = localhost\nport = %d\ntls = true\n",
			       env_port("TLS_PORT"));

	run_bot(keys);
	ck_assert(log_wait("certificate verification failed", WAIT_MS));
	ck_assert(!bot_log_contains(&bot, "registered as"));
	free(keys);
}
END_TEST

START_TEST(tls_fingerprint_pinning)
{
	char *keys = conf_line("server = 127.0.0.1\nport = %d\ntls = true\n"
			       "tls_fingerprint = %s\n",
			       env_port("TLS_PORT"), env("SERVER_CERT_SHA256"));

	/* Pinned: no CA needed, even for an IP address. */
	run_bot(keys);
	ck_assert(log_wait("registered as opsbot", WAIT_MS));
	bot_stop(&bot);
	free(keys);
	/* The right pin for another server's certificate: refused. */
	keys = conf_line("server = localhost\nport = %d\ntls = true\n"
			 "tls_fingerprint = %s\n",
			 env_port("UNKNOWN_CA_TLS_PORT"),
			 env("SERVER_CERT_SHA256"));
	run_bot(keys);
	ck_assert(log_wait("does not match tls_fingerprint", WAIT_MS));
	ck_assert(!bot_log_contains(&bot, "registered as"));
	free(keys);
}
END_TEST

START_TEST(tls_verify_off_warns_every_time)
{
	char *keys = conf_line("server = localhost\nport = %d\ntls = true\n"
			       "tls_verify = false\n",
			       env_port("UNKNOWN_CA_TLS_PORT"));

	run_bot(keys);
	ck_assert(log_wait("registered as opsbot", WAIT_MS));
	ck_assert(bot_log_contains(&bot, "TLS certificate verification is "
					 "OFF"));
	free(keys);
}
END_TEST

/* ---- services with InspIRCd + Atheme ---- */

static void wait_in_channel(struct ircclient *c, const char *channel, int want)
{
	int64_t deadline = time_now_ms() + WAIT_MS;
	int in = -1;

	while (time_now_ms() < deadline) {
		in = ircclient_in_channel(c, channel, "opsbot", 2000);
		if (in == want)
			return;
		usleep(200000);
	}
	ck_abort_msg("opsbot %s %s", want ? "not in" : "still in", channel);
}

START_TEST(sasl_plain_logs_in_before_joining)
{
	struct ircclient c;
	char *keys = conf_line("port = %d\nchannels = #ops\n"
			       "sasl_mechanism = plain\n"
			       "sasl_username = botacct\n"
			       "sasl_password = botpass1\n",
			       env_port("PORT"));

	register_account("botacct", "botpass1", NULL);
	run_bot(keys);
	ck_assert(log_wait("sasl PLAIN: authenticated", WAIT_MS));
	ck_assert(log_wait("logged in to services as botacct", WAIT_MS));
	ck_assert_int_eq(ircclient_connect(&c, "127.0.0.1", env_port("PORT"),
					   "watcher", WAIT_MS),
			 0);
	ck_assert_int_eq(ircclient_join(&c, "#ops", WAIT_MS), 0);
	wait_in_channel(&c, "#ops", 1);
	ircclient_close(&c);
	free(keys);
}
END_TEST

START_TEST(sasl_wrong_password_fails_closed)
{
	struct ircclient c;
	char *keys = conf_line("port = %d\nchannels = #ops\n"
			       "sasl_mechanism = plain\n"
			       "sasl_username = botacct2\n"
			       "sasl_password = not-the-password\n",
			       env_port("PORT"));

	register_account("botacct2", "rightpass2", NULL);
	run_bot(keys);
	ck_assert(log_wait("not joining any channel (fail closed)", WAIT_MS));
	ck_assert(bot_log_contains(&bot, "904"));
	ck_assert_int_eq(ircclient_connect(&c, "127.0.0.1", env_port("PORT"),
					   "watcher2", WAIT_MS),
			 0);
	ck_assert_int_eq(ircclient_join(&c, "#ops", WAIT_MS), 0);
	ck_assert_int_eq(ircclient_in_channel(&c, "#ops", "opsbot", WAIT_MS),
			 0);
	ck_assert(!bot_log_contains(&bot, "joined #ops"));
	/* The password is never in the log. */
	ck_assert(!bot_log_contains(&bot, "not-the-password"));
	ircclient_close(&c);
	free(keys);
}
END_TEST

/* SASL ECDSA-NIST256P-CHALLENGE against Atheme: the account's public key
 * set with NickServ SET PUBKEY (the raw compressed point, base64), the
 * bot logs in with the private key and joins. */
START_TEST(sasl_ecdsa_logs_in_with_atheme)
{
	struct ircclient c;
	char *cmd, *pub, *keys, line[200];
	FILE *f;

	register_account("ecdsaacct", "ecdsapass1", NULL);
	cmd = xasprintf("openssl ecparam -name prime256v1 -genkey -noout "
			"-out %s/ecdsa.pem 2>/dev/null && openssl ec -in "
			"%s/ecdsa.pem -pubout -conv_form compressed -outform "
			"DER 2>/dev/null | tail -c 33 | base64 -w0",
			bot_dir, bot_dir);
	f = popen(cmd, "r");
	ck_assert_ptr_nonnull(f);
	ck_assert_ptr_nonnull(fgets(line, sizeof(line), f));
	ck_assert_int_eq(pclose(f), 0);
	free(cmd);
	line[strcspn(line, "\r\n")] = '\0';
	pub = xstrdup(line);
	ck_assert_int_eq(ircclient_connect(&c, "127.0.0.1", env_port("PORT"),
					   "ecdsaacct", WAIT_MS),
			 0);
	ircclient_send(&c, "PRIVMSG NickServ :IDENTIFY ecdsaacct ecdsapass1");
	ck_assert_ptr_nonnull(ircclient_wait(&c, " 900 ", WAIT_MS));
	ircclient_send(&c, "PRIVMSG NickServ :SET PUBKEY %s", pub);
	ck_assert_ptr_nonnull(
	    ircclient_wait(&c, "NOTICE ecdsaacct :", WAIT_MS));
	ircclient_send(&c, "QUIT");
	ircclient_close(&c);
	keys = conf_line("port = %d\nchannels = #ops\n"
			 "sasl_mechanism = ecdsa-nist256p-challenge\n"
			 "sasl_username = ecdsaacct\n"
			 "sasl_ecdsa_key = %s/ecdsa.pem\n",
			 env_port("PORT"), bot_dir);
	run_bot(keys);
	ck_assert(
	    log_wait("sasl ECDSA-NIST256P-CHALLENGE: authenticated", WAIT_MS));
	ck_assert(log_wait("logged in to services as ecdsaacct", WAIT_MS));
	ck_assert(log_wait("joined #ops", WAIT_MS));
	free(keys);
	free(pub);
}
END_TEST

START_TEST(sasl_external_with_client_certificate)
{
	const char *argv[] = {"tests/servers/make-client-cert", NULL, "certbot",
			      NULL};
	char *cert = NULL, fp[128], file[PATH_MAX], key[PATH_MAX];
	char *keys;

	argv[1] = srv_dir;
	cert = script_run(argv, 30000);
	ck_assert_ptr_nonnull(cert);
	ck_assert_int_eq(kv_get(cert, "CLIENT_CERT_FP", fp, sizeof(fp)), 0);
	ck_assert_int_eq(kv_get(cert, "CLIENT_CERT_FILE", file, sizeof(file)),
			 0);
	ck_assert_int_eq(kv_get(cert, "CLIENT_KEY_FILE", key, sizeof(key)), 0);
	register_account("certacct", "certpass1", fp);
	keys = conf_line("server = localhost\nport = %d\ntls = true\n"
			 "tls_ca_file = %s\ntls_client_cert = %s\n"
			 "tls_client_key = %s\nsasl_mechanism = external\n"
			 "channels = #ops\n",
			 env_port("TLS_PORT"), env("CA_FILE"), file, key);
	run_bot(keys);
	ck_assert(log_wait("sasl EXTERNAL: authenticated", WAIT_MS));
	ck_assert(log_wait("logged in to services as certacct", WAIT_MS));
	ck_assert(log_wait("joined #ops", WAIT_MS));
	free(keys);
	free(cert);
}
END_TEST

START_TEST(sasl_external_unknown_certificate_fails_closed)
{
	const char *argv[] = {"tests/servers/make-client-cert", NULL,
			      "stranger", "--self-signed", NULL};
	char *cert, file[PATH_MAX], key[PATH_MAX], *keys;

	argv[1] = srv_dir;
	cert = script_run(argv, 30000);
	ck_assert_ptr_nonnull(cert);
	kv_get(cert, "CLIENT_CERT_FILE", file, sizeof(file));
	kv_get(cert, "CLIENT_KEY_FILE", key, sizeof(key));
	keys = conf_line("server = localhost\nport = %d\ntls = true\n"
			 "tls_ca_file = %s\ntls_client_cert = %s\n"
			 "tls_client_key = %s\nsasl_mechanism = external\n"
			 "channels = #ops\n",
			 env_port("TLS_PORT"), env("CA_FILE"), file, key);
	run_bot(keys);
	ck_assert(log_wait("not joining any channel (fail closed)", WAIT_MS));
	ck_assert(!bot_log_contains(&bot, "joined #ops"));
	free(keys);
	free(cert);
}
END_TEST

START_TEST(nickserv_identify_without_sasl)
{
	char *keys =
	    conf_line("port = %d\nchannels = #ops\nnick = nsbot\n"
		      "nickserv_password = nspass1\n"
		      "nickserv_mask = NickServ!*@services.opsbot.test\n",
		      env_port("PORT"));

	register_account("nsbot", "nspass1", NULL);
	run_bot(keys);
	ck_assert(log_wait("identifying to NickServ as nsbot", WAIT_MS));
	ck_assert(log_wait("joined #ops", WAIT_MS));
	/* Joined only after the confirmation. */
	{
		FILE *f = fopen(bot.log_path, "r");
		struct buf b = BUF_INIT;
		char chunk[4096];
		size_t n;

		while (f && (n = fread(chunk, 1, sizeof(chunk), f)) > 0)
			buf_add(&b, chunk, n);
		if (f)
			fclose(f);
		/* Atheme confirms with a NOTICE and a 900; either one. */
		const char *ok = strstr(b.data, "confirmed the identification");

		if (!ok)
			ok = strstr(b.data, "identified to services");
		ck_assert_msg(ok && ok < strstr(b.data, "joined #ops"),
			      "joined before NickServ confirmed");
		buf_free(&b);
	}
	ck_assert(!bot_log_contains(&bot, "nspass1"));
	free(keys);
}
END_TEST

START_TEST(account_tag_decides_permissions)
{
	struct ircclient alice, mallory;
	char *keys =
	    conf_line("port = %d\nchannels = #ops\n", env_port("PORT"));
	const char *line;

	register_account("alice", "alicepass1", NULL);
	run_bot(keys);
	ck_assert(log_wait("joined #ops", WAIT_MS));
	ck_assert_int_eq(ircclient_connect(&alice, "127.0.0.1",
					   env_port("PORT"), "alice", WAIT_MS),
			 0);
	ircclient_send(&alice, "PRIVMSG NickServ :IDENTIFY alice alicepass1");
	ck_assert_ptr_nonnull(ircclient_wait(&alice, " 900 ", WAIT_MS));
	ck_assert_int_eq(ircclient_join(&alice, "#ops", WAIT_MS), 0);
	ircclient_send(&alice, "PRIVMSG #ops :!whoami");
	line = ircclient_wait(&alice, "PRIVMSG #ops :you are", WAIT_MS);
	ck_assert_msg(line &&
			  strstr(line, "account alice (from account-tag)") &&
			  strstr(line, "capabilities: admin"),
		      "%s", line ? line : "(none)");
	/* Privileged: allowed for the account... */
	ircclient_send(&alice, "PRIVMSG #ops :!plugin unload nothing");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&alice, "no plugin 'nothing' is loaded", WAIT_MS));
	/* ...refused for a user who only took a similar nick. */
	ck_assert_int_eq(ircclient_connect(&mallory, "127.0.0.1",
					   env_port("PORT"), "alice_", WAIT_MS),
			 0);
	ck_assert_int_eq(ircclient_join(&mallory, "#ops", WAIT_MS), 0);
	ircclient_send(&mallory, "PRIVMSG #ops :!plugin unload nothing");
	ck_assert_ptr_nonnull(ircclient_wait(
	    &mallory, "permission denied: !plugin needs capability admin",
	    WAIT_MS));
	ircclient_close(&alice);
	ircclient_close(&mallory);
	free(keys);
}
END_TEST

START_TEST(nick_taken_after_admin_left_is_refused)
{
	struct ircclient alice, mallory;
	char *keys =
	    conf_line("port = %d\nchannels = #ops\n", env_port("PORT"));
	const char *argv[] = {"tests/servers/inspircd-register", srv_dir,
			      "alice", "alicepass1", NULL};
	const char *line;

	/* alice may be registered already (same password): IDENTIFY
	 * below is what counts. */
	free(script_run(argv, 30000));
	run_bot(keys);
	ck_assert(log_wait("joined #ops", WAIT_MS));
	/* The admin talks to the bot only in private, no shared channel. */
	ck_assert_int_eq(ircclient_connect(&alice, "127.0.0.1",
					   env_port("PORT"), "alice", WAIT_MS),
			 0);
	ircclient_send(&alice, "PRIVMSG NickServ :IDENTIFY alice alicepass1");
	ck_assert_ptr_nonnull(ircclient_wait(&alice, " 900 ", WAIT_MS));
	ircclient_send(&alice, "PRIVMSG opsbot :plugin unload nothing");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&alice, "no plugin 'nothing' is loaded", WAIT_MS));
	/* She leaves; someone else takes the nick at once. */
	ircclient_send(&alice, "QUIT :bye");
	ircclient_close(&alice);
	ck_assert_int_eq(ircclient_connect(&mallory, "127.0.0.1",
					   env_port("PORT"), "alice", WAIT_MS),
			 0);
	ircclient_send(&mallory, "PRIVMSG opsbot :plugin unload nothing");
	line = ircclient_wait(&mallory, "PRIVMSG alice :", WAIT_MS);
	ck_assert_msg(line && strstr(line, "permission denied"), "%s",
		      line ? line : "(none)");
	ircclient_close(&mallory);
	free(keys);
}
END_TEST

START_TEST(twenty_nick_collisions)
{
	struct ircclient holders[20];
	struct buf alts = BUF_INIT;
	char nick[32], *keys;
	int64_t t0;
	int i;

	/* Take opsbot and 19 alternatives, registering in parallel. */
	for (i = 0; i < 20; i++) {
		if (i == 0)
			snprintf(nick, sizeof(nick), "opsbot");
		else
			snprintf(nick, sizeof(nick), "opsalt%02d", i);
		if (i)
			buf_addf(&alts, "alt_nicks = %s\n", nick);
		ck_assert_int_eq(ircclient_connect(&holders[i], "127.0.0.1",
						   env_port("PORT"), nick,
						   WAIT_MS),
				 0);
	}
	keys = conf_line("port = %d\n%schannels = #ops\n", env_port("PORT"),
			 alts.data);
	t0 = time_now_ms();
	run_bot(keys);
	ck_assert(log_wait("registered as opsbot", 5000) ||
		  log_wait("registered as ops", 5000));
	ck_assert_msg(time_now_ms() - t0 < 5000, "registration took %lld ms",
		      (long long)(time_now_ms() - t0));
	/* It went through every alternative (20 refusals). */
	ck_assert(!bot_log_contains(&bot, "registered as opsalt"));
	/* The holder of "opsbot" shares a channel with the bot and quits:
	 * the bot sees the QUIT and takes its nick back at once. */
	ck_assert(log_wait("joined #ops", WAIT_MS));
	ck_assert_int_eq(ircclient_join(&holders[0], "#ops", WAIT_MS), 0);
	for (i = 0; i < 20; i++)
		ircclient_close(&holders[i]);
	/* The nick frees up: the bot takes it back. */
	ck_assert(log_wait("is free again; taking it back", WAIT_MS));
	ck_assert(log_wait("now known as opsbot", WAIT_MS));
	buf_free(&alts);
	free(keys);
}
END_TEST

/* InspIRCd's botmode says BOT=B in ISUPPORT: the bot sets +B on itself,
 * which WHOIS shows (335 RPL_WHOISBOT) and the server confirms. */
START_TEST(bot_mode_from_isupport)
{
	struct ircclient c;
	char *keys =
	    conf_line("port = %d\nchannels = #ops\n", env_port("PORT"));

	run_bot(keys);
	ck_assert(
	    log_wait("marking ourselves a bot (MODE opsbot +B)", WAIT_MS));
	ck_assert(log_wait("joined #ops", WAIT_MS));
	ck_assert_int_eq(ircclient_connect(&c, "127.0.0.1", env_port("PORT"),
					   "watcher", WAIT_MS),
			 0);
	ircclient_send(&c, "WHOIS opsbot");
	ck_assert_ptr_nonnull(
	    ircclient_wait(&c, " 335 watcher opsbot ", WAIT_MS));
	ircclient_close(&c);
	free(keys);
}
END_TEST

static Suite *services_suite(void)
{
	Suite *s = suite_create("services");
	TCase *tls = tcase_create("tls");
	TCase *insp = tcase_create("inspircd");

	tcase_add_unchecked_fixture(tls, start_ngircd_tls, stop_ngircd);
	tcase_add_checked_fixture(tls, bot_setup, bot_teardown);
	tcase_set_timeout(tls, 60);
	tcase_add_test(tls, tls_verified_connection_works);
	tcase_add_test(tls, tls_wrong_host_is_refused);
	tcase_add_test(tls, tls_unknown_ca_is_refused);
	tcase_add_test(tls, tls_system_store_refuses_test_ca);
	tcase_add_test(tls, tls_fingerprint_pinning);
	tcase_add_test(tls, tls_verify_off_warns_every_time);
	suite_add_tcase(s, tls);

	tcase_add_unchecked_fixture(insp, start_inspircd, stop_inspircd);
	tcase_add_checked_fixture(insp, bot_setup, bot_teardown);
	tcase_set_timeout(insp, 90);
	tcase_add_test(insp, sasl_plain_logs_in_before_joining);
	tcase_add_test(insp, sasl_wrong_password_fails_closed);
	tcase_add_test(insp, sasl_external_with_client_certificate);
	tcase_add_test(insp, sasl_ecdsa_logs_in_with_atheme);
	tcase_add_test(insp, sasl_external_unknown_certificate_fails_closed);
	tcase_add_test(insp, nickserv_identify_without_sasl);
	tcase_add_test(insp, account_tag_decides_permissions);
	tcase_add_test(insp, nick_taken_after_admin_left_is_refused);
	tcase_add_test(insp, twenty_nick_collisions);
	tcase_add_test(insp, bot_mode_from_isupport);
	suite_add_tcase(s, insp);
	return s;
}

CHECK_MAIN(services_suite)
