/*
 * test_irc_protocol.c - the bot's IRC state machine, fed server lines
 * directly (no socket): registration with CAP first, capability
 * negotiation, nick collisions, PING, commands, CTCP, splitting, and
 * hostile input.
 */
#include "access.h"
#include "builtin.h"
#include "check_main.h"
#include "command.h"
#include "config.h"
#include "irc.h"
#include "irc_internal.h"
#include "log.h"
#include "loop.h"
#include "module.h"
#include "sasl_scram.h"
#include "state.h"
#include "store.h"
#include "tls_backend.h"
#include "testutil.h"
#include "version.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct buf sent;
static int sent_lines;
static struct config *cfg;

static void on_sent(const char *line, size_t len)
{
	buf_add(&sent, line, len);
	buf_addch(&sent, '\n');
	sent_lines++;
}

static void feed(const char *text)
{
	char *copy = xstrdup(text);

	irc_test_receive(copy, strlen(copy));
	free(copy);
}

static const char *take_sent(void)
{
	static char *last;

	free(last);
	last = xstrdup(sent.data ? sent.data : "");
	buf_reset(&sent);
	sent_lines = 0;
	return last;
}

static void start(const char *config_text)
{
	log_set_level(LOG_ERROR);
	loop_init();
	command_init();
	builtin_init("1.2.3");
	cfg = config_load_string(config_text, "t.conf");
	command_configure(cfg);
	access_configure(cfg);
	buf_reset(&sent);
	sent_lines = 0;
	irc_test_attach(cfg, on_sent);
}

static void registered(void)
{
	start("[irc]\nchannels = #ops, #dev key\nflood_control = false\n");
	take_sent();
	feed(":irc.test CAP * LS :multi-prefix account-tag\r\n"
	     ":irc.test CAP * ACK :multi-prefix account-tag\r\n"
	     ":irc.test 001 opsbot :Welcome opsbot!bot@host\r\n"
	     ":irc.test 005 opsbot CASEMAPPING=rfc1459 NICKLEN=30 :are "
	     "supported\r\n"
	     ":opsbot!~opsbot@127.0.0.1 JOIN #ops\r\n");
	take_sent();
}

static void stop(void)
{
	irc_fini();
	access_clear();
	command_fini();
	builtin_fini();
	loop_close();
	config_free(cfg);
	buf_free(&sent);
}

/* What the log wrote (stderr) between capture_begin() and capture_end();
 * the text is malloc'd. */
static int capture_fd = -1, capture_saved = -1;
static char capture_path[64];

static void capture_begin(void)
{
	strlcpy_safe(capture_path, "/tmp/opsbot-irc-log-XXXXXX",
		     sizeof(capture_path));
	capture_fd = mkstemp(capture_path);
	ck_assert_int_ge(capture_fd, 0);
	capture_saved = dup(2);
	dup2(capture_fd, 2);
}

static char *capture_end(void)
{
	struct buf out = BUF_INIT;
	char chunk[4096];
	ssize_t n;

	dup2(capture_saved, 2);
	close(capture_saved);
	lseek(capture_fd, 0, SEEK_SET);
	while ((n = read(capture_fd, chunk, sizeof(chunk))) > 0)
		buf_add(&out, chunk, (size_t)n);
	close(capture_fd);
	unlink(capture_path);
	buf_addch(&out, '\0');
	return out.data;
}

START_TEST(cap_ls_comes_first)
{
	const char *out;

	start("[irc]\nnick = bot1\nusername = u\nrealname = Real Name\n");
	out = take_sent();
	ck_assert_str_eq(out, "CAP LS 302\nNICK bot1\nUSER u 0 * :Real Name\n");
	stop();
}
END_TEST

START_TEST(caps_negotiated_across_lines)
{
	start("");
	take_sent();
	feed(":irc.test CAP * LS * :multi-prefix sasl=PLAIN batch\r\n"
	     ":irc.test CAP * LS :account-tag server-time echo-message\r\n");
	/* sasl is offered but not configured: not requested. */
	ck_assert_str_eq(take_sent(),
			 "CAP REQ :multi-prefix server-time account-tag\n");
	feed(":irc.test CAP * ACK :multi-prefix account-tag server-time\r\n");
	ck_assert_str_eq(take_sent(), "CAP END\n");
	/* A server that offers none of them: just CAP END. */
	stop();
	start("");
	take_sent();
	feed(":irc.test CAP * LS :\r\n");
	ck_assert_str_eq(take_sent(), "CAP END\n");
	stop();
}
END_TEST

START_TEST(nick_collisions_during_registration)
{
	const char *out;
	int i;

	start("[irc]\nnick = bot\nalt_nicks = bot_, bot__\n");
	take_sent();
	feed(":irc.test 433 * bot :Nickname is already in use\r\n");
	ck_assert_str_eq(take_sent(), "NICK bot_\n");
	feed(":irc.test 433 * bot_ :Nickname is already in use\r\n");
	ck_assert_str_eq(take_sent(), "NICK bot__\n");
	/* Then digits, for as long as it takes. */
	for (i = 0; i < 20; i++)
		feed(":irc.test 433 * x :Nickname is already in use\r\n");
	out = take_sent();
	ck_assert_int_eq(strlen(out), 20 * strlen("NICK botNNN\n"));
	ck_assert(!strncmp(out, "NICK bot", 8));
	feed(":irc.test 437 * x :Nick/channel is temporarily unavailable\r\n");
	ck_assert(!strncmp(take_sent(), "NICK bot", 8));
	feed(":irc.test 001 bot123 :Welcome\r\n");
	ck_assert(irc_is_registered());
	ck_assert_str_eq(irc_current_nick(), "bot123");
	/* After registration a 433 (failed regain) changes nothing. */
	take_sent();
	feed(":irc.test 433 bot123 bot :Nickname is already in use\r\n");
	ck_assert_str_eq(take_sent(), "");
	stop();
}
END_TEST

START_TEST(many_channels_join_in_few_lines)
{
	struct buf text = BUF_INIT;
	const char *out;
	int i, lines = 0;

	buf_adds(&text, "[irc]\nflood_control = false\n");
	for (i = 0; i < 40; i++)
		buf_addf(&text, "channels = #channel-number-%02d\n", i);
	start(text.data);
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n");
	out = take_sent();
	for (i = 0; out[i]; i++)
		lines += out[i] == '\n';
	/* 40 channels of 18 bytes: three lines under 400 bytes each. */
	ck_assert_int_le(lines, 3);
	ck_assert(strstr(out, "#channel-number-00,#channel-number-01"));
	ck_assert(strstr(out, "#channel-number-39"));
	buf_free(&text);
	stop();
}
END_TEST

START_TEST(welcome_joins_channels_and_ping_is_answered)
{
	start("[irc]\nchannels = #ops, #dev key\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n");
	/* One line: keyed channels first, their keys by position. */
	ck_assert_str_eq(take_sent(), "JOIN #dev,#ops key\n");
	feed("PING :irc.test\r\n");
	ck_assert_str_eq(take_sent(), "PONG irc.test\n");
	feed("PING :with space\r\n");
	ck_assert_str_eq(take_sent(), "PONG :with space\n");
	/* Framing: LF alone, and a line split across reads. */
	feed("PING a\nPI");
	feed("NG b\r");
	feed("\n");
	ck_assert_str_eq(take_sent(), "PONG a\nPONG b\n");
	stop();
}
END_TEST

START_TEST(commands_in_channel_private_and_addressed)
{
	registered();
	feed(":ann!a@h PRIVMSG #ops :!ping\r\n");
	ck_assert_str_eq(take_sent(), "PRIVMSG #ops pong\n");
	feed(":ann!a@h PRIVMSG #ops :opsbot: ping\r\n");
	ck_assert_str_eq(take_sent(), "PRIVMSG #ops pong\n");
	feed(":ann!a@h PRIVMSG #ops :OpsBot, ping\r\n");
	ck_assert_str_eq(take_sent(), "PRIVMSG #ops pong\n");
	feed(":ann!a@h PRIVMSG opsbot :ping\r\n");
	ck_assert_str_eq(take_sent(), "PRIVMSG ann pong\n");
	feed(":ann!a@h PRIVMSG opsbot :!ping\r\n");
	ck_assert_str_eq(take_sent(), "PRIVMSG ann pong\n");
	/* Ordinary chat, notices, the bot's own echo: silence. */
	feed(":ann!a@h PRIVMSG #ops :ping everyone\r\n"
	     ":ann!a@h PRIVMSG #ops :! ping\r\n"
	     ":ann!a@h NOTICE opsbot :ping\r\n"
	     ":opsbot!b@h PRIVMSG #ops :!ping\r\n"
	     ":ann!a@h PRIVMSG someone_else :!ping\r\n");
	ck_assert_str_eq(take_sent(), "");
	stop();
}
END_TEST

START_TEST(account_tag_identifies)
{
	registered();
	feed("@account=alice;time=2026-01-01T00:00:00Z :ann!a@h PRIVMSG #ops "
	     ":!whoami\r\n");
	ck_assert_str_eq(take_sent(),
			 "PRIVMSG #ops :you are ann!a@h, account alice (from "
			 "account-tag); capabilities: none\n");
	feed("@account=* :ann!a@h PRIVMSG #ops :!whoami\r\n");
	ck_assert(strstr(take_sent(), "not identified"));
	stop();
}
END_TEST

START_TEST(ctcp_private_only_and_rate_limited)
{
	const char *out;

	registered();
	feed(":ann!a@h PRIVMSG opsbot :\001VERSION\001\r\n");
	ck_assert_str_eq(take_sent(),
			 "NOTICE ann :\001VERSION opsbot " OPSBOT_VERSION
			 "\001\n");
	feed(":ann!a@h PRIVMSG opsbot :\001PING 123\r\n");
	ck_assert_str_eq(take_sent(), "NOTICE ann :\001PING 123\001\n");
	/* A payload holding a secret is not echoed, not even redacted. */
	secret_register("open-sesame-42");
	feed(":ann!a@h PRIVMSG opsbot :\001PING xopen-sesame-42\001\r\n");
	ck_assert_str_eq(take_sent(), "");
	secret_clear_all();
	feed(":ann!a@h PRIVMSG #ops :\001VERSION\001\r\n"
	     ":ann!a@h PRIVMSG opsbot :\001DCC SEND x\001\r\n"
	     ":ann!a@h PRIVMSG opsbot :\001\001\r\n"
	     ":ann!a@h PRIVMSG opsbot :\001\r\n");
	ck_assert_str_eq(take_sent(), "");
	/* A flood gets a few answers, not one per request. */
	for (int i = 0; i < 50; i++)
		feed(":ann!a@h PRIVMSG opsbot :\001TIME\001\r\n");
	out = take_sent();
	ck_assert_int_le(sent_lines + (int)(strlen(out) > 0), 3);
	stop();
}
END_TEST

static int max_line(const char *text)
{
	int longest = 0;

	while (*text) {
		int n = (int)strcspn(text, "\n");

		if (n > longest)
			longest = n;
		text += n + (text[n] == '\n');
	}
	return longest;
}

START_TEST(long_replies_fit_the_relay)
{
	struct buf text = BUF_INIT;
	const char *out;
	int i;

	registered();
	buf_adds(&text, ":ann!a@h PRIVMSG #ops :!help ");
	for (i = 0; i < 300; i++)
		buf_adds(&text, "é");
	buf_adds(&text, "\r\n");
	feed(text.data);
	out = take_sent();
	/* ":opsbot!~opsbot@127.0.0.1 " (learned from our JOIN) + line +
	 * CRLF stays within 512. */
	ck_assert_int_le(max_line(out) + 26 + 2, 512);
	ck_assert_ptr_null(strchr(out, '\r'));
	buf_free(&text);
	stop();
}
END_TEST

START_TEST(hostile_lines_never_stall)
{
	static const char *const lines[] = {
	    "N\r\n",
	    "NOT\r\n",
	    ":srv NOTICE\r\n",
	    ":srv NOTICE bot\r\n",
	    "PRIVMSG\r\n",
	    ":x PRIVMSG\r\n",
	    ":x PRIVMSG #ops\r\n",
	    ":\r\n",
	    "@\r\n",
	    "@a :\r\n",
	    " \r\n",
	    "\r\n",
	    ":a!b@c PRIVMSG opsbot :\001\001\r\n",
	    ":a!b@c PRIVMSG opsbot :\001VERSION\r\n",
	    "001\r\n",
	    "005\r\n",
	    "CAP\r\n",
	    "CAP * ACK\r\n",
	    "433\r\n",
	    ":a JOIN\r\n",
	    ":a KICK #ops\r\n",
	    "ERROR\r\n",
	    "PING\r\n",
	};
	struct buf big = BUF_INIT;
	size_t i, sizes[] = {513, 1024, 8703, 8704, 65536};

	registered();
	for (i = 0; i < ARRAY_SIZE(lines); i++) {
		feed(lines[i]);
		take_sent();
		feed("PING :alive\r\n");
		ck_assert_msg(strstr(take_sent(), "PONG alive"),
			      "no PONG after '%s'", lines[i]);
	}
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		size_t n;

		buf_reset(&big);
		buf_adds(&big, ":x!y@z PRIVMSG #ops :");
		for (n = big.len; n < sizes[i]; n++)
			buf_addch(&big, 'a');
		buf_adds(&big, "\r\nPING :alive\r\n");
		irc_test_receive(big.data, big.len);
		ck_assert_msg(strstr(take_sent(), "PONG alive"),
			      "no PONG after a %zu-byte line", sizes[i]);
	}
	/* NUL and a bare CR inside a line. */
	{
		char nul[] = ":x!y@z PRIVMSG #ops :!pi\0ng\r\nPING :alive\r\n";
		char cr[] = ":x!y@z PRIVMSG #ops :a\rPRIVMSG #ops :!ping\r\n"
			    "PING :alive\r\n";

		irc_test_receive(nul, sizeof(nul) - 1);
		ck_assert_str_eq(take_sent(), "PONG alive\n");
		irc_test_receive(cr, sizeof(cr) - 1);
		ck_assert_str_eq(take_sent(), "PONG alive\n");
	}
	ck_assert_int_gt((long)irc_get_stats()->lines_rejected, 5);
	ck_assert_int_ge((long)irc_get_stats()->lines_too_long, 2);
	buf_free(&big);
	stop();
}
END_TEST

START_TEST(sasl_plain_success_then_join)
{
	const char *out;

	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = plain\nsasl_username = botacct\n"
	      "sasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl=PLAIN,EXTERNAL account-tag\r\n");
	ck_assert_str_eq(take_sent(), "CAP REQ :account-tag sasl\n");
	feed(":irc.test CAP * ACK :account-tag sasl\r\n");
	/* No CAP END before SASL is through. */
	ck_assert_str_eq(take_sent(), "AUTHENTICATE PLAIN\n");
	feed("AUTHENTICATE +\r\n");
	/* base64("botacct\0botacct\0pw"): the authorisation identity is
	 * the account, as most clients send it (RFC 4616 allows both). */
	ck_assert_str_eq(take_sent(),
			 "AUTHENTICATE Ym90YWNjdABib3RhY2N0AHB3\n");
	feed(":irc.test 900 opsbot opsbot!o@h botacct :You are now logged "
	     "in\r\n:irc.test 903 opsbot :SASL authentication successful\r\n");
	ck_assert_str_eq(take_sent(), "CAP END\n");
	feed(":irc.test 001 opsbot :Welcome\r\n");
	out = take_sent();
	ck_assert_str_eq(out, "JOIN #ops\n");
	stop();
}
END_TEST

START_TEST(sasl_long_payload_is_chunked)
{
	struct buf cfgtext = BUF_INIT;
	const char *out;
	int i, lines = 0;

	/* "u\0u\0" + 296 bytes: 300 bytes -> exactly 400 base64 characters,
	 * which must be followed by "AUTHENTICATE +". */
	buf_adds(&cfgtext, "[irc]\nflood_control = false\n"
			   "sasl_mechanism = plain\nsasl_username = u\n"
			   "sasl_password = ");
	for (i = 0; i < 117; i++)
		buf_addch(&cfgtext, 'p');
	buf_addch(&cfgtext, '\n');
	start(cfgtext.data);
	take_sent();
	feed(":irc.test CAP * LS :sasl\r\n:irc.test CAP * ACK :sasl\r\n");
	take_sent();
	feed("AUTHENTICATE +\r\n");
	out = take_sent();
	/* 120 bytes of credentials: 160 characters, one line. */
	for (i = 0; out[i]; i++)
		lines += out[i] == '\n';
	ck_assert_int_eq(lines, 1);
	stop();
	/* Too long for one config line: from the environment. */
	buf_reset(&cfgtext);
	for (i = 0; i < 296; i++)
		buf_addch(&cfgtext, 'p');
	setenv("OPSBOT_TEST_SASL_PASSWORD", cfgtext.data, 1);
	buf_reset(&cfgtext);
	buf_adds(&cfgtext, "[irc]\nflood_control = false\n"
			   "sasl_mechanism = plain\nsasl_username = u\n"
			   "sasl_password_env = OPSBOT_TEST_SASL_PASSWORD\n");
	start(cfgtext.data);
	take_sent();
	feed(":irc.test CAP * LS :sasl\r\n:irc.test CAP * ACK :sasl\r\n");
	take_sent();
	feed("AUTHENTICATE +\r\n");
	out = take_sent();
	ck_assert_int_eq(strlen(out), strlen("AUTHENTICATE ") + 400 + 1 +
					  strlen("AUTHENTICATE +\n"));
	ck_assert(strstr(out, "\nAUTHENTICATE +\n"));
	stop();
	buf_free(&cfgtext);
}
END_TEST

START_TEST(sasl_failure_fails_closed)
{
	const char *out;

	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = plain\nsasl_password = wrong\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl\r\n:irc.test CAP * ACK :sasl\r\n"
	     "AUTHENTICATE +\r\n");
	take_sent();
	feed(":irc.test 904 opsbot :SASL authentication failed\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "QUIT :authentication failed"), "%s", out);
	ck_assert(!strstr(out, "JOIN"));
	ck_assert(!strstr(out, "CAP END"));
	ck_assert(!irc_is_registered());
	stop();
	/* A server without SASL: the same. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = plain\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :multi-prefix\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "QUIT") && !strstr(out, "JOIN") &&
			  !strstr(out, "CAP END"),
		      "%s", out);
	stop();
}
END_TEST

START_TEST(sasl_external_sends_plus)
{
	start("[irc]\nflood_control = false\ntls = true\n"
	      "tls_client_cert = /dev/null\nsasl_mechanism = external\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl=EXTERNAL\r\n"
	     ":irc.test CAP * ACK :sasl\r\n");
	ck_assert_str_eq(take_sent(), "CAP REQ sasl\nAUTHENTICATE EXTERNAL\n");
	feed("AUTHENTICATE +\r\n");
	ck_assert_str_eq(take_sent(), "AUTHENTICATE +\n");
	feed(":irc.test 903 opsbot :SASL authentication successful\r\n");
	ck_assert_str_eq(take_sent(), "CAP END\n");
	stop();
}
END_TEST

START_TEST(nickserv_identify_gates_joins)
{
	const char *out;

	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "nickserv_password = hunter2\nnickserv_account = acct\n"
	      "nickserv_mask = NickServ!NickServ@services.example.net\n");
	take_sent();
	feed(":irc.test CAP * LS :\r\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n");
	/* First: is the NickServ online the configured one? */
	ck_assert_str_eq(take_sent(), "WHOIS NickServ\n");
	feed(":irc.test 311 opsbot NickServ NickServ services.example.net * "
	     ":Nickname Services\r\n"
	     ":irc.test 318 opsbot NickServ :End of /WHOIS list.\r\n");
	ck_assert_str_eq(take_sent(),
			 "PRIVMSG NickServ :IDENTIFY acct hunter2\n");
	/* A command before confirmation waits: no reply, no JOIN yet. */
	feed(":ann!a@h PRIVMSG opsbot :ping\r\n");
	ck_assert_str_eq(take_sent(), "");
	/* A confirmation from anyone else is not one. */
	feed(":NickServ!s@evil.example NOTICE opsbot :You are now identified "
	     "for \002acct\002.\r\n");
	ck_assert_str_eq(take_sent(), "");
	feed(":NickServ!NickServ@services.example.net NOTICE opsbot :You are "
	     "now identified for \002acct\002.\r\n");
	out = take_sent();
	ck_assert_str_eq(out, "JOIN #ops\nPRIVMSG ann pong\n");
	stop();
}
END_TEST

/* A user who took the nick NickServ on a network without protected
 * services never gets the password, and its NOTICE confirms nothing. */
START_TEST(nickserv_impostor_gets_no_password)
{
	const char *out;
	char *log;

	/* Configured mask, somebody else online as NickServ. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "nickserv_password = hunter2\n"
	      "nickserv_mask = NickServ!NickServ@services.example.net\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n");
	ck_assert_str_eq(take_sent(), "WHOIS NickServ\n");
	capture_begin();
	feed(":irc.test 311 opsbot NickServ evil 10.0.0.9 * :x\r\n"
	     ":irc.test 318 opsbot NickServ :End of /WHOIS list.\r\n"
	     ":NickServ!evil@10.0.0.9 NOTICE opsbot :You are now identified "
	     "for opsbot\r\n");
	log = capture_end();
	out = take_sent();
	ck_assert_msg(!strstr(out, "hunter2") && !strstr(out, "JOIN"), "%s",
		      out);
	ck_assert_msg(strstr(log, "nickserv_mask"), "%s", log);
	free(log);
	stop();
	/* No mask and no sign of a network service: fail closed. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "nickserv_password = hunter2\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n");
	ck_assert_str_eq(take_sent(), "WHOIS NickServ\n");
	feed(":irc.test 311 opsbot NickServ NickServ some.host * :x\r\n"
	     ":irc.test 318 opsbot NickServ :End of /WHOIS list.\r\n"
	     ":NickServ!NickServ@some.host NOTICE opsbot :You are now "
	     "identified for opsbot\r\n");
	out = take_sent();
	ck_assert_msg(!strstr(out, "hunter2") && !strstr(out, "JOIN"), "%s",
		      out);
	stop();
	/* No NickServ at all. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "nickserv_password = hunter2\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n"
	     ":irc.test 401 opsbot NickServ :No such nick\r\n"
	     ":irc.test 318 opsbot NickServ :End of /WHOIS list.\r\n");
	out = take_sent();
	ck_assert_msg(!strstr(out, "hunter2") && !strstr(out, "JOIN"), "%s",
		      out);
	stop();
	/* Learned from the network: the server says it is a service
	 * (313); then only that user@host is trusted. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "nickserv_password = hunter2\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n"
	     ":irc.test 311 opsbot NickServ NickServ services.net * :x\r\n"
	     ":irc.test 313 opsbot NickServ :is a Network Service\r\n"
	     ":irc.test 318 opsbot NickServ :End of /WHOIS list.\r\n");
	ck_assert_str_eq(take_sent(),
			 "WHOIS NickServ\nPRIVMSG NickServ :IDENTIFY opsbot "
			 "hunter2\n");
	feed(":NickServ!x@elsewhere NOTICE opsbot :You are now identified "
	     "for opsbot\r\n");
	ck_assert_str_eq(take_sent(), "");
	feed(":NickServ!NickServ@services.net NOTICE opsbot :You are now "
	     "identified for opsbot\r\n");
	ck_assert_str_eq(take_sent(), "JOIN #ops\n");
	stop();
}
END_TEST

START_TEST(nickserv_timeout_joins_anyway)
{
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "nickserv_password = hunter2\nidentify_timeout = 1s\n"
	      "nickserv_mask = NickServ!*@services.*\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n"
	     ":irc.test 311 opsbot NickServ NickServ services.net * :x\r\n"
	     ":irc.test 318 opsbot NickServ :End of /WHOIS list.\r\n");
	ck_assert_str_eq(take_sent(), "WHOIS NickServ\nPRIVMSG NickServ "
				      ":IDENTIFY opsbot hunter2\n");
	test_run_for(1300);
	ck_assert_str_eq(take_sent(), "JOIN #ops\n");
	stop();
}
END_TEST

START_TEST(accounts_from_every_source)
{
	registered();
	/* Without account-tag: extended-join and account-notify... */
	stop();
	start("[irc]\nchannels = #ops\nflood_control = false\n");
	take_sent();
	feed(":irc.test CAP * LS :extended-join account-notify\r\n"
	     ":irc.test CAP * ACK :extended-join account-notify\r\n"
	     ":irc.test 001 opsbot :Welcome\r\n"
	     ":irc.test 005 opsbot WHOX :are supported\r\n"
	     ":opsbot!o@h JOIN #ops * :bot\r\n");
	/* WHOX after our join. */
	ck_assert(strstr(take_sent(), "WHO #ops %tcna,616\n"));
	feed(":irc.test 354 opsbot 616 #ops carol carolacct\r\n"
	     ":irc.test 354 opsbot 616 #ops dave 0\r\n"
	     ":bob!b@h JOIN #ops bobacct :Bob\r\n"
	     ":bob!b@h PRIVMSG #ops :!whoami\r\n");
	ck_assert(strstr(take_sent(), "account bobacct"));
	feed(":carol!c@h PRIVMSG #ops :!whoami\r\n");
	ck_assert(strstr(take_sent(), "account carolacct"));
	feed(":dave!d@h PRIVMSG #ops :!whoami\r\n");
	ck_assert(strstr(take_sent(), "not identified"));
	/* account-notify: logged out, then renamed. */
	feed(":bob!b@h ACCOUNT *\r\n:bob!b@h PRIVMSG #ops :!whoami\r\n");
	ck_assert(strstr(take_sent(), "not identified"));
	feed(":carol!c@h NICK carol2\r\n:carol2!c@h PRIVMSG #ops :!whoami\r\n");
	ck_assert(strstr(take_sent(), "account carolacct"));
	stop();
}
END_TEST

START_TEST(privileged_commands_wait_for_whois)
{
	const char *out;

	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "[access]\ngrant = account eve admin\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n");
	take_sent();
	/* Unknown account, privileged command: WHOIS first. */
	feed(":eve!e@h PRIVMSG #ops :!plugin unload nothing\r\n");
	ck_assert_str_eq(take_sent(), "WHOIS eve\n");
	feed(":irc.test 311 opsbot eve e h * :Eve\r\n"
	     ":irc.test 330 opsbot eve eve :is logged in as\r\n"
	     ":irc.test 318 opsbot eve :End of /WHOIS list.\r\n");
	out = take_sent();
	/* Allowed: it got as far as the plugin lookup. */
	ck_assert_msg(strstr(out, "no plugin 'nothing' is loaded"), "%s", out);
	/* Someone else, not logged in: refused after the WHOIS. */
	feed(":mal!m@h PRIVMSG #ops :!plugin unload nothing\r\n");
	ck_assert_str_eq(take_sent(), "WHOIS mal\n");
	feed(":irc.test 318 opsbot mal :End of /WHOIS list.\r\n");
	ck_assert(strstr(take_sent(), "permission denied"));
	/* Unprivileged commands never wait. */
	feed(":x!x@h PRIVMSG #ops :!ping\r\n");
	ck_assert_str_eq(take_sent(), "PRIVMSG #ops pong\n");
	/* No answer at all: refused after the timeout. */
	feed(":zed!z@h PRIVMSG #ops :!plugin unload nothing\r\n");
	take_sent();
	test_run_for(6000);
	ck_assert(strstr(take_sent(), "cannot check your services account"));
	stop();
}
END_TEST

/* Registers with the given caps (no account-tag) and joins #ops; flood:
 * the flood-control lines of [irc] (NULL: off). */
static void registered_with(const char *caps, const char *flood)
{
	char text[512], lines[512];

	snprintf(text, sizeof(text),
		 "[irc]\nchannels = #ops\n%s"
		 "[access]\ngrant = account alice admin\n",
		 flood ? flood : "flood_control = false\n");
	start(text);
	take_sent();
	snprintf(lines, sizeof(lines),
		 ":irc.test CAP * LS :%s\r\n:irc.test CAP * ACK :%s\r\n"
		 ":irc.test 001 opsbot :Welcome\r\n"
		 ":irc.test 005 opsbot CASEMAPPING=rfc1459 :are supported\r\n"
		 ":opsbot!o@h JOIN #ops * :bot\r\n",
		 caps, caps);
	feed(lines);
	take_sent();
}

/* alice asks in private; the WHOIS says she is alice; it runs. */
static void alice_runs_once(void)
{
	const char *out;

	feed(":alice!a@h PRIVMSG opsbot :plugin unload nothing\r\n");
	ck_assert_str_eq(take_sent(), "WHOIS alice\n");
	feed(":irc.test 330 opsbot alice alice :is logged in as\r\n"
	     ":irc.test 318 opsbot alice :End of /WHOIS list.\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "no plugin 'nothing' is loaded"), "%s", out);
}

/* Whoever has the nick now, unseen by the bot: asked again, refused. */
static void impostor_is_asked_and_refused(void)
{
	const char *out;

	feed(":alice!m@evil PRIVMSG opsbot :plugin unload nothing\r\n");
	out = take_sent();
	ck_assert_msg(!strcmp(out, "WHOIS alice\n"), "%s", out);
	feed(":irc.test 318 opsbot alice :End of /WHOIS list.\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "permission denied"), "%s", out);
}

START_TEST(account_of_an_unseen_nick_is_asked_each_time)
{
	/* Private only, no shared channel: a WHOIS answer is for that
	 * command alone, whatever the caps. */
	registered_with("extended-join", NULL);
	alice_runs_once();
	impostor_is_asked_and_refused();
	stop();
	registered_with("extended-join account-notify", NULL);
	alice_runs_once();
	impostor_is_asked_and_refused();
	stop();
}
END_TEST

START_TEST(account_trusted_only_while_visible)
{
	const char *out;

	registered_with("extended-join account-notify", NULL);
	/* In #ops with account-notify: trusted, no WHOIS. */
	feed(":alice!a@h JOIN #ops alice :Alice\r\n"
	     ":alice!a@h PRIVMSG opsbot :plugin unload nothing\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "no plugin 'nothing' is loaded"), "%s", out);
	/* She parts the only shared channel: no longer seen. */
	feed(":alice!a@h PART #ops :bye\r\n");
	impostor_is_asked_and_refused();
	/* Seen through NAMES, then kicked. */
	feed(":irc.test 353 opsbot = #ops :@opsbot +alice\r\n"
	     ":irc.test 330 opsbot alice alice :is logged in as\r\n"
	     ":irc.test 318 opsbot alice :End of /WHOIS list.\r\n");
	take_sent();
	feed(":op!o@h KICK #ops alice :out\r\n");
	impostor_is_asked_and_refused();
	/* We leave the channel ourselves: nobody there is seen any more. */
	feed(":alice!a@h JOIN #ops alice :Alice\r\n"
	     ":opsbot!o@h PART #ops :bye\r\n");
	impostor_is_asked_and_refused();
	stop();
	/* Without account-notify a logout goes unseen: always asked. */
	registered_with("extended-join", NULL);
	feed(":alice!a@h JOIN #ops alice :Alice\r\n");
	impostor_is_asked_and_refused();
	stop();
}
END_TEST

START_TEST(missing_whois_answer_refuses)
{
	const char *out;

	registered_with("extended-join account-notify", NULL);
	alice_runs_once();
	/* No answer within the timeout: refused, with a reason. */
	feed(":alice!a@h PRIVMSG opsbot :plugin unload nothing\r\n");
	ck_assert_str_eq(take_sent(), "WHOIS alice\n");
	test_run_for(6000);
	out = take_sent();
	ck_assert_msg(!strstr(out, "no plugin"), "%s", out);
	ck_assert_msg(strstr(out, "PRIVMSG alice :error: cannot check your "
				  "services account"),
		      "%s", out);
	stop();
}
END_TEST

START_TEST(whois_goes_ahead_of_queued_replies)
{
	const char *out, *whois;

	registered_with("extended-join",
			"flood_control = true\nflood_burst = 1\n"
			"flood_interval = 1s\n");
	test_run_for(3000);
	take_sent();
	/* Replies wait in the queue (a burst of one); the lookup passes
	 * them: it follows at most the one reply that went at once. */
	feed(":ann!a@h PRIVMSG opsbot :ping\r\n"
	     ":bob!b@h PRIVMSG opsbot :ping\r\n"
	     ":cid!c@h PRIVMSG opsbot :ping\r\n"
	     ":alice!a@h PRIVMSG opsbot :plugin unload nothing\r\n");
	test_run_for(6000);
	out = take_sent();
	whois = strstr(out, "WHOIS alice\n");
	ck_assert_msg(whois, "%s", out);
	ck_assert_msg(!strstr(out, "PRIVMSG bob") ||
			  strstr(out, "PRIVMSG bob") > whois,
		      "%s", out);
	ck_assert_msg(!strstr(out, "PRIVMSG cid") ||
			  strstr(out, "PRIVMSG cid") > whois,
		      "%s", out);
	stop();
}
END_TEST

START_TEST(long_nicks_are_kept_whole)
{
	char admin[80], attacker[96], line[512], bot[80];
	const char *out;

	/* NICKLEN=100: an admin's 63-byte nick, and one that extends it. */
	memset(admin, 'a', 63);
	admin[63] = '\0';
	snprintf(attacker, sizeof(attacker), "%sX", admin);
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "[access]\ngrant = account root admin\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n"
	     ":irc.test 005 opsbot NICKLEN=100 :are supported\r\n");
	take_sent();
	snprintf(line, sizeof(line),
		 ":%s!m@evil PRIVMSG opsbot :plugin unload nothing\r\n",
		 attacker);
	feed(line);
	snprintf(line, sizeof(line), "WHOIS %s\n", attacker);
	ck_assert_str_eq(take_sent(), line);
	/* The admin asks too: a lookup of its own. */
	snprintf(line, sizeof(line),
		 ":%s!a@h PRIVMSG opsbot :plugin unload nothing\r\n", admin);
	feed(line);
	snprintf(line, sizeof(line), "WHOIS %s\n", admin);
	ck_assert_str_eq(take_sent(), line);
	snprintf(line, sizeof(line),
		 ":irc.test 330 opsbot %s root :is logged in as\r\n"
		 ":irc.test 318 opsbot %s :End of /WHOIS list.\r\n",
		 admin, admin);
	feed(line);
	out = take_sent();
	/* Only the admin's command ran, answered to the admin. */
	snprintf(line, sizeof(line), "PRIVMSG %s :error: no plugin", admin);
	ck_assert_msg(!strncmp(out, line, strlen(line)), "%s", out);
	ck_assert_msg(!strchr(out + 1, '\n') || !strchr(out, '\n')[1], "%s",
		      out);
	snprintf(line, sizeof(line),
		 ":irc.test 318 opsbot %s :End of /WHOIS list.\r\n", attacker);
	feed(line);
	out = take_sent();
	ck_assert_msg(strstr(out, "permission denied"), "%s", out);
	snprintf(line, sizeof(line), "PRIVMSG %s :", attacker);
	ck_assert_msg(!strncmp(out, line, strlen(line)), "%s", out);
	stop();

	/* Our own nick, as long as the server allows. */
	memset(bot, 'b', 70);
	bot[70] = '\0';
	snprintf(line, sizeof(line),
		 "[irc]\nnick = %s\nchannels = #ops\nflood_control = false\n",
		 bot);
	start(line);
	take_sent();
	snprintf(line, sizeof(line),
		 ":irc.test 001 %s :Welcome\r\n"
		 ":irc.test 005 %s NICKLEN=100 :are supported\r\n"
		 ":ann!a@h PRIVMSG %s :ping\r\n",
		 bot, bot, bot);
	feed(line);
	out = take_sent();
	ck_assert_msg(strstr(out, "PRIVMSG ann pong\n"), "%s", out);
	ck_assert_str_eq(irc_current_nick(), bot);
	stop();
}
END_TEST

/* alice (account-tag) asks for a privileged command: does it run? */
static int runs_as(const char *tags_and_source)
{
	char line[256];
	const char *out;

	snprintf(line, sizeof(line),
		 "%s PRIVMSG #ops :!plugin unload nothing\r\n",
		 tags_and_source);
	feed(line);
	out = take_sent();
	ck_assert_msg(strstr(out, "no plugin") || strstr(out, "permission"),
		      "%s", out);
	return strstr(out, "no plugin") != NULL;
}

static void casemapped_start(const char *casemapping)
{
	char line[256];

	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "[access]\ngrant = account alice^ admin, account [ops] admin, "
	      "mask [x]!*@* admin\n");
	take_sent();
	snprintf(line, sizeof(line),
		 ":irc.test CAP * LS :account-tag\r\n"
		 ":irc.test CAP * ACK :account-tag\r\n"
		 ":irc.test 001 opsbot :Welcome\r\n"
		 ":irc.test 005 opsbot CASEMAPPING=%s :are supported\r\n",
		 casemapping);
	feed(line);
	take_sent();
}

START_TEST(accounts_compare_as_services_do)
{
	const char *maps[] = {"ascii", "rfc1459"};
	size_t i;

	for (i = 0; i < 2; i++) {
		casemapped_start(maps[i]);
		/* Accounts: exact or ASCII case only, whatever the server. */
		ck_assert(runs_as("@account=alice^ :a!a@h"));
		ck_assert(runs_as("@account=ALICE^ :a!a@h"));
		ck_assert(!runs_as("@account=alice~ :a!a@h"));
		ck_assert(!runs_as("@account={ops} :a!a@h"));
		ck_assert(runs_as("@account=[OPS] :a!a@h"));
		/* Masks follow the server's CASEMAPPING. */
		ck_assert(runs_as("@account=* :[X]!u@h"));
		ck_assert_int_eq(runs_as("@account=* :{x}!u@h"), i == 1);
		stop();
	}
}
END_TEST

START_TEST(other_bots_are_not_answered_for_ever)
{
	const char *out;

	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "[bot]\nignore = relay*!*@*, *!*@bots.example\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n"
	     ":irc.test 005 opsbot BOT=B :are supported\r\n");
	take_sent();
	/* Unknown commands in private: one answer per nick per minute. */
	feed(":other!o@h PRIVMSG opsbot :unknown command 'pong'\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "PRIVMSG other :unknown command"), "%s", out);
	feed(":other!o@h PRIVMSG opsbot :unknown command 'unknown'\r\n"
	     ":other!o@h PRIVMSG opsbot :\"unbalanced\r\n"
	     ":OTHER!o@h PRIVMSG opsbot :again\r\n");
	ck_assert_str_eq(take_sent(), "");
	/* Someone else still gets an answer; known commands always do. */
	feed(":ann!a@h PRIVMSG opsbot :pnig\r\n");
	ck_assert(strstr(take_sent(), "PRIVMSG ann :unknown command"));
	feed(":other!o@h PRIVMSG opsbot :ping\r\n");
	ck_assert_str_eq(take_sent(), "PRIVMSG other pong\n");
	/* The ignore list and the IRCv3 bot tags: never answered. */
	feed(":relay1!r@h PRIVMSG opsbot :ping\r\n"
	     ":x!y@bots.example PRIVMSG #ops :!ping\r\n"
	     ":relay2!r@h PRIVMSG opsbot :plugin unload nothing\r\n"
	     "@bot :helper!h@h PRIVMSG opsbot :ping\r\n"
	     "@draft/bot :helper2!h@h PRIVMSG #ops :!ping\r\n"
	     "@draft/bot :helper2!h@h PRIVMSG opsbot :nonsense\r\n");
	ck_assert_str_eq(take_sent(), "");
	stop();
}
END_TEST

START_TEST(nick_is_regained)
{
	start("[irc]\nnick = bot\nflood_control = false\n");
	take_sent();
	feed(":irc.test 433 * bot :in use\r\n");
	take_sent();
	feed(":irc.test 001 bot123 :Welcome\r\n");
	take_sent();
	feed(":bot!x@h QUIT :bye\r\n");
	ck_assert_str_eq(take_sent(), "NICK bot\n");
	feed(":bot123!o@h NICK :bot\r\n");
	ck_assert_str_eq(irc_current_nick(), "bot");
	stop();
}
END_TEST

START_TEST(backoff_spreads_and_saturates)
{
	int64_t t, hour_start;
	int attempt, connects, worst = 0, i;

	/* Early delays double: 10 s base. */
	ck_assert_int_eq(irc_backoff_delay(10000, 720000, 0, 0.0), 5000);
	ck_assert_int_eq(irc_backoff_delay(10000, 720000, 0, 1.0), 10000);
	ck_assert_int_eq(irc_backoff_delay(10000, 720000, 3, 1.0), 80000);
	ck_assert_int_eq(irc_backoff_delay(10000, 720000, 30, 1.0), 720000);
	ck_assert_int_eq(irc_backoff_delay(10000, 720000, 30, 0.0), 360000);
	/* A server that drops every connection after 10 s, for 24 hours of
	 * simulated time with the default settings: once saturated, never
	 * more than 10 connects in any hour. */
	srand(7);
	for (i = 0; i < 20; i++) {
		int64_t times[400];
		int n = 0, a, b;

		t = 0;
		for (attempt = 0; t < 24LL * 3600 * 1000 && n < 400;
		     attempt++) {
			times[n++] = t;
			t += 10000 +
			     irc_backoff_delay(10000, 720000, attempt,
					       (double)rand() / RAND_MAX);
		}
		/* From the sixth connect on (saturated after ~6 attempts). */
		for (a = 6; a < n; a++) {
			hour_start = times[a];
			connects = 0;
			for (b = a; b < n && times[b] < hour_start + 3600000;
			     b++)
				connects++;
			if (connects > worst)
				worst = connects;
		}
	}
	ck_assert_int_le(worst, 10);
}
END_TEST

START_TEST(grouped_announcements_are_summarised)
{
	const char *out;
	int i;

	/* A burst of one, then a line per 100 ms: the rest wait. */
	start("[irc]\nchannels = #ops\nflood_burst = 1\nflood_interval = "
	      "100ms\n");
	take_sent();
	feed(":irc.test 001 opsbot :Welcome\r\n");
	test_run_for(1000);
	take_sent();
	for (i = 0; i < 20; i++) {
		char text[32];

		snprintf(text, sizeof(text), "build %d failed", i);
		irc_say("#ops", "build", text, strlen(text));
	}
	test_run_for(700);
	out = take_sent();
	ck_assert_str_eq(out, "PRIVMSG #ops :build 0 failed\n"
			      "PRIVMSG #ops :build 1 failed\n"
			      "PRIVMSG #ops :build 2 failed\n"
			      "PRIVMSG #ops :build 3 failed\n"
			      "PRIVMSG #ops :(16 more build messages not "
			      "shown, to avoid flooding)\n");
	/* Ungrouped lines are never dropped. */
	for (i = 0; i < 8; i++)
		irc_send_text("#ops", "x", 1);
	test_run_for(1200);
	ck_assert_int_eq(sent_lines, 8);
	stop();
}
END_TEST

/* A server that renames us to nothing (or to something no nick can be)
 * must not leave an empty nick behind: every line starting with ',' or
 * ':' would be addressed to it. */
START_TEST(invalid_own_nick_from_server_is_refused)
{
	static const char *const bad[] = {
	    ":opsbot!~opsbot@127.0.0.1 NICK :\r\n",
	    ":opsbot!~opsbot@127.0.0.1 NICK :#ops\r\n",
	    ":opsbot!~opsbot@127.0.0.1 NICK :a,b\r\n",
	    ":opsbot!~opsbot@127.0.0.1 NICK :1abc\r\n",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		registered();
		feed(bad[i]);
		ck_assert_str_eq(irc_current_nick(), "opsbot");
		feed(":ann!a@h PRIVMSG #ops :,ping\r\n"
		     ":ann!a@h PRIVMSG #ops ::ping\r\n");
		ck_assert_str_eq(take_sent(), "");
		stop();
	}
	/* A 001 with an empty or invalid nick changes nothing either. */
	start("");
	take_sent();
	feed(":irc.test 001 * :Welcome\r\n");
	ck_assert_str_eq(irc_current_nick(), "opsbot");
	stop();
	start("");
	take_sent();
	feed(":irc.test 001 #x :Welcome\r\n");
	ck_assert_str_eq(irc_current_nick(), "opsbot");
	stop();
	/* A valid rename still goes through. */
	registered();
	feed(":opsbot!~opsbot@127.0.0.1 NICK :opsbot2\r\n");
	ck_assert_str_eq(irc_current_nick(), "opsbot2");
	stop();
}
END_TEST

/* Channel keys are secrets: the line goes to the server, never to the
 * debug log (a long key is redacted everywhere, a short one masked). */
START_TEST(channel_keys_stay_out_of_the_log)
{
	char *log;

	start("[irc]\nchannels = #ops, #private s3cr3t-key, #x abc\n"
	      "flood_control = false\n");
	take_sent();
	log_set_level(LOG_DEBUG);
	capture_begin();
	feed(":irc.test 001 opsbot :Welcome\r\n");
	feed(":irc.test 475 opsbot #private :Cannot join channel (+k) "
	     "s3cr3t-key\r\n");
	log = capture_end();
	log_set_level(LOG_ERROR);
	ck_assert_str_eq(take_sent(), "JOIN #private,#x,#ops s3cr3t-key,abc\n");
	ck_assert_msg(strstr(log, "JOIN #private,#x,#ops"), "%s", log);
	ck_assert_msg(!strstr(log, "s3cr3t"), "%s", log);
	ck_assert_msg(!strstr(log, "abc"), "%s", log);
	free(log);
	stop();
	secret_clear_all();
}
END_TEST

/* CAP LS 302 says which mechanisms the server has (sasl=A,B): only one
 * of those is tried, and a configured one it lacks fails closed. */
START_TEST(sasl_uses_only_offered_mechanisms)
{
	const char *out;
	char *log;

	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = plain\nsasl_password = pw\n");
	take_sent();
	capture_begin();
	/* sasl is still requested (irctest's testPlainNotAvailable wants
	 * it acknowledged), then the bot gives up without authenticating. */
	feed(":irc.test CAP * LS :sasl=EXTERNAL account-tag\r\n");
	ck_assert_str_eq(take_sent(), "CAP REQ :account-tag sasl\n");
	feed(":irc.test CAP * ACK :account-tag sasl\r\n");
	log = capture_end();
	out = take_sent();
	ck_assert_msg(!strstr(out, "AUTHENTICATE") && !strstr(out, "CAP END"),
		      "%s", out);
	ck_assert_msg(strstr(out, "QUIT"), "%s", out);
	ck_assert_msg(strstr(log, "EXTERNAL") && strstr(log, "PLAIN"), "%s",
		      log);
	free(log);
	stop();
	/* No list in CAP LS (3.1): try it; 908 then says what there is. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = plain\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl\r\n:irc.test CAP * ACK :sasl\r\n");
	ck_assert_str_eq(take_sent(), "CAP REQ sasl\nAUTHENTICATE PLAIN\n");
	capture_begin();
	feed(":irc.test 908 opsbot EXTERNAL :are available SASL mechanisms\r\n"
	     ":irc.test 904 opsbot :SASL authentication failed\r\n");
	log = capture_end();
	out = take_sent();
	ck_assert_msg(strstr(out, "QUIT") && !strstr(out, "CAP END"), "%s",
		      out);
	ck_assert_msg(strstr(log, "offers EXTERNAL"), "%s", log);
	free(log);
	stop();
	/* auto: the strongest offered of what is configured. */
	start("[irc]\nflood_control = false\n"
	      "sasl_mechanism = auto\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl=EXTERNAL,PLAIN\r\n"
	     ":irc.test CAP * ACK :sasl\r\n");
	ck_assert_str_eq(take_sent(), "CAP REQ sasl\nAUTHENTICATE PLAIN\n");
	stop();
	start("[irc]\nflood_control = false\ntls = true\n"
	      "tls_client_cert = /dev/null\n"
	      "sasl_mechanism = auto\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl=PLAIN,SCRAM-SHA-256,EXTERNAL\r\n"
	     ":irc.test CAP * ACK :sasl\r\n");
	ck_assert_str_eq(take_sent(), "CAP REQ sasl\nAUTHENTICATE EXTERNAL\n");
	stop();
}
END_TEST

/* The base64 payload of the last AUTHENTICATE line in out, decoded. */
static char *authenticate_payload(const char *out)
{
	char line[1024];
	const char *p = strstr(out, "AUTHENTICATE "), *next;
	char *text;
	size_t n;

	while (p && (next = strstr(p + 1, "AUTHENTICATE ")) != NULL)
		p = next;
	ck_assert_msg(p != NULL, "%s", out);
	p += strlen("AUTHENTICATE ");
	n = strcspn(p, "\n");
	ck_assert(n < sizeof(line));
	memcpy(line, p, n);
	line[n] = '\0';
	text = sasl_base64_decode_text(line);
	ck_assert_msg(text != NULL, "%s", out);
	return text;
}

static void feed_authenticate(const char *text)
{
	char *b64 = base64_encode(text, strlen(text));
	char *line = xasprintf("AUTHENTICATE %s\r\n", b64);

	feed(line);
	free(line);
	free(b64);
}

/* The server's side of SCRAM-SHA-256 for password "pw" and the salt of
 * RFC 7677: its first message for the client's, and its signature. */
static char *scram_server_first(const char *client_first, int extend)
{
	const char *r = strstr(client_first, ",r=");

	ck_assert(r != NULL);
	return xasprintf("r=%s%s,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", r + 3,
			 extend ? "SRVNONCE" : "");
}

static char *scram_server_final(const char *client_first,
				const char *server_first,
				const char *client_final)
{
	const struct tls_backend *tls;
	unsigned char salt[16], salted[32], key[32], sig[32];
	char *err = NULL, *auth, *out, *b64;
	const char *p = strstr(client_final, ",p=");
	tls = module_tls(&err);
	ck_assert_msg(tls != NULL, "%s", err ? err : "");
	/* W22ZaJ0SNY7soEsUEjb6gQ== */
	memcpy(salt,
	       "\x5b\x6d\x99\x68\x9d\x12\x35\x8e\xec\xa0\x4b\x14\x12"
	       "\x36\xfa\x81",
	       16);
	ck_assert(p != NULL);
	auth = xasprintf("%s,%s,%.*s", client_first + 3, server_first,
			 (int)(p - client_final), client_final);
	ck_assert(tls->pbkdf2_sha256("pw", 2, salt, 16, 4096, salted) == 0);
	ck_assert(tls->hmac_sha256(salted, 32, "Server Key", 10, key) == 0);
	ck_assert(tls->hmac_sha256(key, 32, auth, strlen(auth), sig) == 0);
	b64 = base64_encode(sig, 32);
	out = xasprintf("v=%s", b64);
	free(b64);
	free(auth);
	return out;
}

/* SCRAM-SHA-256 over IRC: the exchange, then a server that fakes success
 * or cheats is refused (fail closed). */
START_TEST(sasl_scram_sha256)
{
	char *cfirst, *sfirst, *cfinal, *sfinal;
	char *modules = test_build_path("modules");
	const char *out;

	/* The bot loads the TLS module for the crypto. */
	setenv("OPSBOT_MODULE_DIR", modules, 1);
	free(modules);

	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = scram-sha-256\nsasl_username = botacct\n"
	      "sasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl=SCRAM-SHA-256\r\n"
	     ":irc.test CAP * ACK :sasl\r\n");
	ck_assert_str_eq(take_sent(),
			 "CAP REQ sasl\nAUTHENTICATE SCRAM-SHA-256\n");
	feed("AUTHENTICATE +\r\n");
	cfirst = authenticate_payload(take_sent());
	ck_assert_msg(str_has_prefix(cfirst, "n,,n=botacct,r="), "%s", cfirst);
	sfirst = scram_server_first(cfirst, 1);
	feed_authenticate(sfirst);
	cfinal = authenticate_payload(take_sent());
	ck_assert_msg(str_has_prefix(cfinal, "c=biws,r="), "%s", cfinal);
	sfinal = scram_server_final(cfirst, sfirst, cfinal);
	feed_authenticate(sfinal);
	ck_assert_str_eq(take_sent(), "AUTHENTICATE +\n");
	feed(":irc.test 903 opsbot :SASL authentication successful\r\n");
	ck_assert_str_eq(take_sent(), "CAP END\n");
	feed(":irc.test 001 opsbot :Welcome\r\n");
	ck_assert_str_eq(take_sent(), "JOIN #ops\n");
	free(cfirst);
	free(sfirst);
	free(cfinal);
	free(sfinal);
	stop();

	/* A wrong server signature. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = scram-sha-256\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl\r\n:irc.test CAP * ACK :sasl\r\n"
	     "AUTHENTICATE +\r\n");
	cfirst = authenticate_payload(take_sent());
	sfirst = scram_server_first(cfirst, 1);
	feed_authenticate(sfirst);
	take_sent();
	feed_authenticate("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
	out = take_sent();
	ck_assert_msg(strstr(out, "AUTHENTICATE *\n") && strstr(out, "QUIT") &&
			  !strstr(out, "CAP END"),
		      "%s", out);
	feed(":irc.test 903 opsbot :SASL authentication successful\r\n"
	     ":irc.test 001 opsbot :Welcome\r\n");
	ck_assert(!strstr(take_sent(), "JOIN"));
	free(cfirst);
	free(sfirst);
	stop();

	/* Success claimed without any proof. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = scram-sha-256\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl\r\n:irc.test CAP * ACK :sasl\r\n"
	     "AUTHENTICATE +\r\n");
	take_sent();
	feed(":irc.test 903 opsbot :SASL authentication successful\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "QUIT") && !strstr(out, "CAP END"), "%s",
		      out);
	stop();

	/* A server nonce that does not extend ours. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = scram-sha-256\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl\r\n:irc.test CAP * ACK :sasl\r\n"
	     "AUTHENTICATE +\r\n");
	take_sent();
	feed_authenticate("r=fakenonce,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
	out = take_sent();
	ck_assert_msg(strstr(out, "AUTHENTICATE *\n") && strstr(out, "QUIT"),
		      "%s", out);
	stop();

	/* auto prefers SCRAM-SHA-256 to PLAIN. */
	start("[irc]\nflood_control = false\n"
	      "sasl_mechanism = auto\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl=PLAIN,SCRAM-SHA-256,EXTERNAL\r\n"
	     ":irc.test CAP * ACK :sasl\r\n");
	ck_assert_str_eq(take_sent(),
			 "CAP REQ sasl\nAUTHENTICATE SCRAM-SHA-256\n");
	stop();
}
END_TEST

/* IRCv3 STS: plain text told to upgrade reconnects with TLS; a TLS
 * session's policy is kept in the host's SQLite state and makes every
 * later connection TLS until it expires or the server removes it. */
START_TEST(sts_upgrades_and_persists)
{
	char *dir = test_make_dir("sts"), *db = xasprintf("%s/s.db", dir);
	char *err = NULL, *value = NULL;
	const char *out;
	size_t len;
	int port, tls;

	ck_assert_msg(store_open(db, &err) == 0, "%s", err ? err : "");
	/* Plain text: a policy with a port means "come back with TLS". */
	start("[irc]\nserver = irc.example.net\nport = 6667\n"
	      "flood_control = false\n");
	take_sent();
	irc_test_connect_target(&port, &tls);
	ck_assert_int_eq(port, 6667);
	ck_assert_int_eq(tls, 0);
	feed(":irc.test CAP * LS :multi-prefix sts=port=6697,duration=300\r\n");
	out = take_sent();
	ck_assert_msg(!strstr(out, "CAP REQ") && !strstr(out, "CAP END"), "%s",
		      out);
	irc_test_connect_target(&port, &tls);
	ck_assert_int_eq(port, 6697);
	ck_assert_int_eq(tls, 1);
	/* A duration on plain text is not stored (only TLS may set it). */
	ck_assert_int_ne(state_get("host.sts", "irc.example.net", &value, &len),
			 0);
	stop();
	/* Plain text without a port: nothing to do. */
	start("[irc]\nserver = irc.example.net\nport = 6667\n"
	      "flood_control = false\n");
	take_sent();
	feed(":irc.test CAP * LS :multi-prefix sts=duration=300\r\n");
	ck_assert_str_eq(take_sent(), "CAP REQ multi-prefix\n");
	irc_test_connect_target(&port, &tls);
	ck_assert_int_eq(tls, 0);
	stop();
	/* TLS: the policy is persisted... */
	start("[irc]\nserver = irc.example.net\nport = 6697\ntls = true\n"
	      "flood_control = false\n");
	take_sent();
	feed(":irc.test CAP * LS :sts=duration=3600,port=7000\r\n");
	ck_assert_str_eq(take_sent(), "CAP END\n");
	ck_assert_int_eq(state_get("host.sts", "irc.example.net", &value, &len),
			 0);
	free(value);
	stop();
	/* ... and a plain-text configuration now connects with TLS to the
	 * port of the secure session. */
	start("[irc]\nserver = irc.example.net\nport = 6667\n"
	      "flood_control = false\n");
	irc_test_connect_target(&port, &tls);
	ck_assert_int_eq(port, 6697);
	ck_assert_int_eq(tls, 1);
	stop();
	/* duration=0 removes it. */
	start("[irc]\nserver = irc.example.net\nport = 6697\ntls = true\n"
	      "flood_control = false\n");
	take_sent();
	feed(":irc.test CAP * LS :sts=duration=0\r\n");
	stop();
	start("[irc]\nserver = irc.example.net\nport = 6667\n"
	      "flood_control = false\n");
	irc_test_connect_target(&port, &tls);
	ck_assert_int_eq(port, 6667);
	ck_assert_int_eq(tls, 0);
	stop();
	/* An expired policy is no policy. */
	ck_assert_int_eq(
	    state_set("host.sts", "irc.example.net", "6697 1000", 9), 0);
	start("[irc]\nserver = irc.example.net\nport = 6667\n"
	      "flood_control = false\n");
	irc_test_connect_target(&port, &tls);
	ck_assert_int_eq(tls, 0);
	stop();
	store_close();
	free(db);
	test_cleanup_dir(dir);
}
END_TEST

/* SASL auto: after a failed mechanism (and a 908 saying what there is),
 * the next configured one the server offers, strongest first; when none
 * is left, fail closed (QUIT, no CAP END, no JOIN). */
START_TEST(sasl_auto_tries_the_next_mechanism)
{
	const char *out;
	char *log;

	/* The list in CAP LS: SCRAM first, PLAIN after its 904. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = auto\nsasl_username = botacct\n"
	      "sasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl=PLAIN,SCRAM-SHA-256\r\n"
	     ":irc.test CAP * ACK :sasl\r\n");
	ck_assert_str_eq(take_sent(),
			 "CAP REQ sasl\nAUTHENTICATE SCRAM-SHA-256\n");
	feed(":irc.test 904 opsbot :SASL authentication failed\r\n");
	ck_assert_str_eq(take_sent(), "AUTHENTICATE PLAIN\n");
	feed("AUTHENTICATE +\r\n");
	ck_assert_str_eq(take_sent(),
			 "AUTHENTICATE Ym90YWNjdABib3RhY2N0AHB3\n");
	feed(":irc.test 903 opsbot :SASL authentication successful\r\n");
	ck_assert_str_eq(take_sent(), "CAP END\n");
	stop();
	/* No list in CAP LS: SCRAM is tried; 908 says only PLAIN, so PLAIN
	 * next; when that fails too, nothing is left: fail closed. */
	start("[irc]\nchannels = #ops\nflood_control = false\n"
	      "sasl_mechanism = auto\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl\r\n:irc.test CAP * ACK :sasl\r\n");
	ck_assert_str_eq(take_sent(),
			 "CAP REQ sasl\nAUTHENTICATE SCRAM-SHA-256\n");
	feed(":irc.test 908 opsbot PLAIN :are available SASL mechanisms\r\n"
	     ":irc.test 904 opsbot :SASL authentication failed\r\n");
	ck_assert_str_eq(take_sent(), "AUTHENTICATE PLAIN\n");
	feed("AUTHENTICATE +\r\n");
	take_sent();
	capture_begin();
	feed(":irc.test 904 opsbot :SASL authentication failed\r\n");
	log = capture_end();
	out = take_sent();
	ck_assert_msg(strstr(out, "QUIT") && !strstr(out, "CAP END") &&
			  !strstr(out, "AUTHENTICATE"),
		      "%s", out);
	ck_assert_msg(strstr(log, "no SASL mechanism succeeded") &&
			  strstr(log, "fail closed"),
		      "%s", log);
	free(log);
	feed(":irc.test 001 opsbot :Welcome\r\n");
	ck_assert_msg(!strstr(take_sent(), "JOIN"), "joined after failing");
	stop();
	/* 908 offering nothing configured after the first failure: fail
	 * closed at once, never a mechanism the server did not offer. */
	start("[irc]\nflood_control = false\n"
	      "sasl_mechanism = auto\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl\r\n:irc.test CAP * ACK :sasl\r\n");
	take_sent();
	feed(":irc.test 908 opsbot EXTERNAL :are available SASL mechanisms\r\n"
	     ":irc.test 904 opsbot :SASL authentication failed\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "QUIT") && !strstr(out, "AUTHENTICATE"), "%s",
		      out);
	stop();
	/* A single configured mechanism is not retried. */
	start("[irc]\nflood_control = false\n"
	      "sasl_mechanism = scram-sha-256\nsasl_password = pw\n");
	take_sent();
	feed(":irc.test CAP * LS :sasl=SCRAM-SHA-256,PLAIN\r\n"
	     ":irc.test CAP * ACK :sasl\r\n");
	ck_assert_str_eq(take_sent(),
			 "CAP REQ sasl\nAUTHENTICATE SCRAM-SHA-256\n");
	feed(":irc.test 904 opsbot :SASL authentication failed\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "QUIT") && !strstr(out, "AUTHENTICATE"), "%s",
		      out);
	stop();
}
END_TEST

/* ISUPPORT BOT=<mode>: the bot sets the mode on itself once a session;
 * anything but one mode letter is ignored. */
START_TEST(bot_mode_is_set_from_isupport)
{
	registered();
	feed(":irc.test 005 opsbot BOT=B :are supported\r\n");
	ck_assert_str_eq(take_sent(), "MODE opsbot +B\n");
	feed(":irc.test 005 opsbot BOT=B WHOX :are supported\r\n");
	ck_assert_str_eq(take_sent(), "");
	stop();
	registered();
	feed(":irc.test 005 opsbot BOT=1 :are supported\r\n"
	     ":irc.test 005 opsbot BOT=Bx :are supported\r\n"
	     ":irc.test 005 opsbot BOT= :are supported\r\n");
	ck_assert_str_eq(take_sent(), "");
	stop();
	/* Before 001 (a server that sends 005 early): set at the welcome. */
	start("[irc]\nflood_control = false\n");
	take_sent();
	feed(":irc.test CAP * LS :\r\n");
	take_sent();
	feed(":irc.test 005 * BOT=b :are supported\r\n");
	ck_assert_str_eq(take_sent(), "");
	feed(":irc.test 001 opsbot :Welcome\r\n");
	ck_assert_msg(strstr(take_sent(), "MODE opsbot +b\n"), "no MODE");
	stop();
}
END_TEST

/* cap-notify: CAP NEW sts on plain text is an upgrade (disconnect, TLS
 * to the port); on TLS its duration is stored as from CAP LS; CAP DEL
 * turns a capability off (account-notify stops being relied on). */
START_TEST(cap_new_sts_and_cap_del)
{
	char *dir = test_make_dir("capnew"), *db = xasprintf("%s/s.db", dir);
	char *err = NULL, *value = NULL;
	size_t len;
	int port, tls;

	ck_assert_msg(store_open(db, &err) == 0, "%s", err ? err : "");
	start("[irc]\nserver = irc.example.net\nport = 6667\n"
	      "flood_control = false\n");
	take_sent();
	feed(":irc.test CAP * LS :cap-notify account-notify\r\n"
	     ":irc.test CAP * ACK :account-notify cap-notify\r\n"
	     ":irc.test 001 opsbot :Welcome\r\n");
	take_sent();
	ck_assert(irc_cap_enabled("account-notify"));
	feed(":irc.test CAP opsbot DEL :account-notify\r\n");
	ck_assert(!irc_cap_enabled("account-notify"));
	ck_assert(irc_cap_enabled("cap-notify"));
	irc_test_connect_target(&port, &tls);
	ck_assert_int_eq(tls, 0);
	feed(":irc.test CAP opsbot NEW :sasl=PLAIN sts=port=6697,duration=60"
	     "\r\n");
	irc_test_connect_target(&port, &tls);
	ck_assert_int_eq(port, 6697);
	ck_assert_int_eq(tls, 1);
	ck_assert_int_ne(state_get("host.sts", "irc.example.net", &value, &len),
			 0);
	stop();
	/* On TLS: the policy's duration is kept. */
	start("[irc]\nserver = irc.example.net\nport = 6697\ntls = true\n"
	      "flood_control = false\n");
	take_sent();
	feed(":irc.test CAP * LS :cap-notify\r\n"
	     ":irc.test CAP * ACK :cap-notify\r\n"
	     ":irc.test 001 opsbot :Welcome\r\n");
	take_sent();
	feed(":irc.test CAP opsbot NEW :sts=duration=3600\r\n");
	ck_assert_int_eq(state_get("host.sts", "irc.example.net", &value, &len),
			 0);
	ck_assert_msg(value && !strncmp(value, "6697 ", 5), "%s",
		      value ? value : "");
	free(value);
	stop();
	start("[irc]\nserver = irc.example.net\nport = 6667\n"
	      "flood_control = false\n");
	irc_test_connect_target(&port, &tls);
	ck_assert_int_eq(port, 6697);
	ck_assert_int_eq(tls, 1);
	stop();
	store_close();
	free(db);
	test_cleanup_dir(dir);
}
END_TEST

/* SASL ECDSA-NIST256P-CHALLENGE: "+" -> the account in base64; the
 * challenge -> a DER ECDSA signature (checked end to end against a
 * verifier in tests/conformance testEcdsa); a key that cannot sign
 * aborts and fails closed. */
START_TEST(sasl_ecdsa_challenge)
{
	char *dir = test_make_dir("ecdsa"), *cmd, *conf, *raw;
	char *modules = test_build_path("modules");
	const char *out;
	size_t len = 0;

	/* The bot loads the TLS module for the signature. */
	setenv("OPSBOT_MODULE_DIR", modules, 1);
	free(modules);
	cmd = xasprintf("openssl ecparam -name prime256v1 -genkey -noout "
			"-out %s/k.pem 2>/dev/null",
			dir);
	ck_assert_int_eq(system(cmd), 0);
	free(cmd);
	conf = xasprintf("[irc]\nflood_control = false\n"
			 "sasl_mechanism = auto\nsasl_username = botacct\n"
			 "sasl_ecdsa_key = %s/k.pem\n",
			 dir);
	start(conf);
	take_sent();
	feed(":irc.test CAP * LS :sasl=PLAIN,ECDSA-NIST256P-CHALLENGE\r\n"
	     ":irc.test CAP * ACK :sasl\r\n");
	ck_assert_str_eq(
	    take_sent(),
	    "CAP REQ sasl\nAUTHENTICATE ECDSA-NIST256P-CHALLENGE\n");
	feed("AUTHENTICATE +\r\n");
	ck_assert_str_eq(take_sent(), "AUTHENTICATE Ym90YWNjdA==\n");
	feed("AUTHENTICATE AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n");
	out = take_sent();
	ck_assert_msg(str_has_prefix(out, "AUTHENTICATE "), "%s", out);
	{
		char b64[200];
		size_t n = strcspn(out + 13, "\n");

		ck_assert_uint_lt(n, sizeof(b64));
		memcpy(b64, out + 13, n);
		b64[n] = '\0';
		raw = (char *)sasl_base64_decode(b64, &len);
	}
	/* DER: SEQUENCE of two INTEGERs, at most 72 bytes for P-256. */
	ck_assert_msg(raw != NULL, "%s", out);
	ck_assert_uint_ge(len, 8);
	ck_assert_uint_le(len, 72);
	ck_assert_int_eq((unsigned char)raw[0], 0x30);
	free(raw);
	feed(":irc.test 903 opsbot :SASL authentication successful\r\n");
	ck_assert_str_eq(take_sent(), "CAP END\n");
	stop();
	free(conf);
	/* A key file that is not a P-256 key: abort, fail closed. */
	free(test_write_file(dir, "bad.pem", "not a key\n"));
	conf = xasprintf("[irc]\nflood_control = false\n"
			 "sasl_mechanism = ecdsa-nist256p-challenge\n"
			 "sasl_ecdsa_key = %s/bad.pem\n",
			 dir);
	start(conf);
	take_sent();
	feed(":irc.test CAP * LS :sasl\r\n:irc.test CAP * ACK :sasl\r\n"
	     "AUTHENTICATE +\r\n");
	take_sent();
	feed("AUTHENTICATE AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\r\n");
	out = take_sent();
	ck_assert_msg(strstr(out, "AUTHENTICATE *") && strstr(out, "QUIT") &&
			  !strstr(out, "CAP END"),
		      "%s", out);
	stop();
	free(conf);
	test_cleanup_dir(dir);
}
END_TEST

static Suite *protocol_suite(void)
{
	Suite *s = suite_create("irc_protocol");
	TCase *tc = tcase_create("protocol");

	tcase_add_test(tc, cap_ls_comes_first);
	tcase_add_test(tc, caps_negotiated_across_lines);
	tcase_add_test(tc, nick_collisions_during_registration);
	tcase_add_test(tc, welcome_joins_channels_and_ping_is_answered);
	tcase_add_test(tc, many_channels_join_in_few_lines);
	tcase_add_test(tc, commands_in_channel_private_and_addressed);
	tcase_add_test(tc, account_tag_identifies);
	tcase_add_test(tc, ctcp_private_only_and_rate_limited);
	tcase_add_test(tc, long_replies_fit_the_relay);
	tcase_add_test(tc, hostile_lines_never_stall);
	tcase_add_test(tc, sasl_plain_success_then_join);
	tcase_add_test(tc, sasl_long_payload_is_chunked);
	tcase_add_test(tc, sasl_failure_fails_closed);
	tcase_add_test(tc, sasl_external_sends_plus);
	tcase_add_test(tc, nickserv_identify_gates_joins);
	tcase_add_test(tc, nickserv_timeout_joins_anyway);
	tcase_add_test(tc, nickserv_impostor_gets_no_password);
	tcase_add_test(tc, accounts_from_every_source);
	tcase_add_test(tc, privileged_commands_wait_for_whois);
	tcase_add_test(tc, account_of_an_unseen_nick_is_asked_each_time);
	tcase_add_test(tc, account_trusted_only_while_visible);
	tcase_add_test(tc, missing_whois_answer_refuses);
	tcase_add_test(tc, whois_goes_ahead_of_queued_replies);
	tcase_add_test(tc, long_nicks_are_kept_whole);
	tcase_add_test(tc, accounts_compare_as_services_do);
	tcase_add_test(tc, other_bots_are_not_answered_for_ever);
	tcase_add_test(tc, nick_is_regained);
	tcase_add_test(tc, backoff_spreads_and_saturates);
	tcase_add_test(tc, grouped_announcements_are_summarised);
	tcase_add_test(tc, invalid_own_nick_from_server_is_refused);
	tcase_add_test(tc, channel_keys_stay_out_of_the_log);
	tcase_add_test(tc, sasl_uses_only_offered_mechanisms);
	tcase_add_test(tc, sasl_scram_sha256);
	tcase_add_test(tc, sts_upgrades_and_persists);
	tcase_add_test(tc, sasl_auto_tries_the_next_mechanism);
	tcase_add_test(tc, bot_mode_is_set_from_isupport);
	tcase_add_test(tc, cap_new_sts_and_cap_del);
	tcase_add_test(tc, sasl_ecdsa_challenge);
	tcase_set_timeout(tc, 30);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(protocol_suite)
