/*
 * irc.c - the IRC protocol for the bot: one connection to one server.
 *
 * Inbound: bytes are cut into lines at LF (a trailing CR is dropped), each
 * line is parsed in place by irc_message_parse() and handled; lines that
 * do not parse are counted by the reason and dropped, and a line longer
 * than IRC_INPUT_MAX is skipped up to its end, so no input can stall or
 * crash the reader.  Outbound: every line is built by irc_message_format(),
 * which refuses CR, LF and NUL, and goes through the flood-control queue;
 * PONG and registration lines skip the wait but still count.
 */
#include "irc.h"
#include "command.h"
#include "config.h"
#include "irc_message.h"
#include "irc_queue.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "util.h"
#include "version.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "irc"
#define CHANNELS_MAX 64
#define STABLE_SESSION_MS (5 * 60 * 1000)
#define KLINE_BACKOFF_MS (60 * 60 * 1000)
#define NICK_REGAIN_MS 60000
#define QUIT_WAIT_MS 2000

enum irc_state {
	IRC_IDLE,        /* waiting to (re)connect */
	IRC_CONNECTING,
	IRC_REGISTERING, /* connected, before 001 */
	IRC_REGISTERED,
	IRC_QUITTING,
};

/* Capabilities the bot asks for when the server offers them. */
static const char *const wanted_caps[] = {
	"multi-prefix", "message-tags",	 "server-time",	  "account-tag",
	"extended-join", "account-notify", "cap-notify",	  "userhost-in-names",
};

struct channel {
	char name[64];
	int joined;
};

struct settings {
	char *server;
	int port;
	char *password;
	char *nick;
	char **alt_nicks;
	int alt_nick_count;
	char *username;
	char *realname;
	char **channels;
	int channel_count;
	int flood_control;
	int flood_burst;
	long flood_interval_ms;
	long queue_ttl_ms;
	long ping_timeout_ms;
	long connect_timeout_ms;
	long reconnect_min_ms;
	long reconnect_max_ms;
};

static struct {
	struct settings cfg;
	enum irc_state state;
	struct net_conn *conn;
	char nick[64];         /* the nick the server knows us by */
	int nick_attempt;      /* index into the nick candidates */
	size_t own_prefix_len; /* len(":nick!user@host "), 0 if unknown */
	enum irc_casemapping casemap;
	int nicklen, userlen, hostlen;
	char chantypes[16];
	unsigned caps_enabled; /* bit i: wanted_caps[i] acknowledged */
	struct buf caps_offered; /* from CAP LS, space-separated */
	int cap_negotiating;
	struct channel channels[CHANNELS_MAX];
	int channel_count;

	struct buf carry;  /* the incomplete last line of a read */
	int discarding;    /* inside an over-long line */
	struct buf out;    /* lines to hand to the socket */
	uv_check_t flush_check;
	uv_timer_t reconnect_timer, watchdog_timer, queue_timer, nick_timer,
		quit_timer;
	int timers_ready;
	int64_t last_rx;
	int ping_outstanding;
	int reconnect_attempt;
	int64_t registered_at;
	int banned;
	struct irc_queue *queue;
	void (*quit_done)(void);
	struct irc_stats stats;
	void (*test_sent)(const char *line, size_t len);
	/* CTCP replies: a small bucket of their own. */
	double ctcp_tokens;
	int64_t ctcp_refill;
} irc;

static void schedule_reconnect(const char *why);
static void connect_now(void);
static void drain_queue(void);

/* ---- settings ---- */

static void settings_free(struct settings *s)
{
	free(s->server);
	free_secret(s->password);
	free(s->nick);
	free(s->alt_nicks);
	free(s->username);
	free(s->realname);
	free(s->channels);
	memset(s, 0, sizeof(*s));
}

static void settings_read(struct settings *s, const struct config *cfg)
{
	const struct opsbot_config_key *k = config_irc_keys;
	char *err = NULL;

	memset(s, 0, sizeof(*s));
	s->server = xstrdup(config_get(cfg, "irc", k, "server"));
	s->port = (int)config_get_int(cfg, "irc", k, "port");
	s->password = config_get_secret(cfg, "irc", "password", &err);
	free(err);
	s->nick = xstrdup(config_get(cfg, "irc", k, "nick"));
	s->alt_nicks = config_get_list(cfg, "irc", k, "alt_nicks",
				       &s->alt_nick_count);
	s->username = xstrdup(config_get(cfg, "irc", k, "username"));
	s->realname = xstrdup(config_get(cfg, "irc", k, "realname"));
	s->channels = config_get_list(cfg, "irc", k, "channels",
				      &s->channel_count);
	s->flood_control = config_get_bool(cfg, "irc", k, "flood_control");
	s->flood_burst = (int)config_get_int(cfg, "irc", k, "flood_burst");
	s->flood_interval_ms = (long)config_get_duration_ms(cfg, "irc", k,
							   "flood_interval");
	s->queue_ttl_ms = (long)config_get_duration_ms(cfg, "irc", k,
						      "queue_ttl");
	s->ping_timeout_ms = (long)config_get_duration_ms(cfg, "irc", k,
							 "ping_timeout");
	s->connect_timeout_ms = (long)config_get_duration_ms(cfg, "irc", k,
							    "connect_timeout");
	s->reconnect_min_ms = (long)config_get_duration_ms(cfg, "irc", k,
							  "reconnect_min");
	s->reconnect_max_ms = (long)config_get_duration_ms(cfg, "irc", k,
							  "reconnect_max");
}

/* ---- output ---- */

static void on_flush(uv_check_t *check)
{
	uv_check_stop(check);
	if (!irc.out.len)
		return;
	if (irc.test_sent) {
		buf_reset(&irc.out);
		return;
	}
	if (irc.conn)
		net_write(irc.conn, irc.out.data, irc.out.len);
	buf_reset(&irc.out);
}

/* Appends one finished line (no CRLF) to the socket buffer. */
static void write_line(const char *line, size_t len, void *data)
{
	UNUSED(data);
	irc.stats.lines_out++;
	if (irc.test_sent)
		irc.test_sent(line, len);
	if (log_enabled(LOG_DEBUG) && strncmp(line, "PASS ", 5) &&
	    strncmp(line, "AUTHENTICATE ", 13))
		debug(COMPONENT, ">> %.*s", (int)len, line);
	buf_add(&irc.out, line, len);
	buf_add(&irc.out, "\r\n", 2);
	if (!uv_is_active((uv_handle_t *)&irc.flush_check))
		uv_check_start(&irc.flush_check, on_flush);
}

/* Builds a line; returns its length or -1 (logged) if it is unsafe. */
static int build_line(char *out, size_t size, const char *command, int count,
		      const char *const *params)
{
	int n = irc_message_format(out, size, NULL, 0, command, count, params);

	if (n < 0)
		warning(COMPONENT, "refused to send an unsafe or oversized %s "
				   "line",
			command);
	return n;
}

/* Lines that must not wait: PONG, CAP, NICK, USER, QUIT. */
static void send_now(const char *command, int count, const char *const *params)
{
	char line[IRC_LINE_MAX];
	int n = build_line(line, sizeof(line) - 2, command, count, params);

	if (n < 0)
		return;
	irc_queue_consume(irc.queue, time_now_ms());
	write_line(line, (size_t)n, NULL);
}

static void send1(const char *command, const char *p1)
{
	const char *params[] = { p1 };

	send_now(command, 1, params);
}

/* Lines that wait their turn in the flood-control queue. */
static void send_queued(const char *target, const char *command, int count,
			const char *const *params)
{
	char line[IRC_LINE_MAX];
	int n = build_line(line, sizeof(line) - 2, command, count, params);
	int64_t now = time_now_ms();

	if (n < 0)
		return;
	if (irc.state == IRC_REGISTERED &&
	    irc_queue_can_send_now(irc.queue, now)) {
		irc_queue_consume(irc.queue, now);
		write_line(line, (size_t)n, NULL);
		return;
	}
	irc_queue_push(irc.queue, target, line, (size_t)n, now);
	if (irc.state == IRC_REGISTERED)
		drain_queue();
}

static void on_queue_timer(uv_timer_t *t)
{
	UNUSED(t);
	drain_queue();
}

static void drain_queue(void)
{
	size_t expired;
	long wait;

	if (irc.state != IRC_REGISTERED)
		return;
	wait = irc_queue_drain(irc.queue, time_now_ms(), write_line, NULL);
	expired = irc_queue_take_expired(irc.queue);
	if (expired) {
		irc.stats.queue_expired += expired;
		warning(COMPONENT, "dropped %zu queued line%s older than "
				   "[irc] queue_ttl",
			expired, expired == 1 ? "" : "s");
	}
	if (wait >= 0)
		uv_timer_start(&irc.queue_timer, on_queue_timer,
			       (uint64_t)wait, 0);
}

/* The room for text in "PRIVMSG <target> :<text>" as the server will
 * relay it, with our own ":nick!user@host " in front. */
static size_t text_budget(const char *target)
{
	size_t prefix = irc.own_prefix_len;
	size_t fixed;

	if (!prefix)
		prefix = 1 + (size_t)irc.nicklen + 1 + (size_t)irc.userlen +
			 1 + (size_t)irc.hostlen + 1;
	fixed = prefix + strlen("PRIVMSG ") + strlen(target) + 2 + 2;
	return fixed + 16 < IRC_LINE_MAX ? IRC_LINE_MAX - fixed : 16;
}

struct split_ctx {
	const char *target;
	const char *command;
};

static int send_chunk(const char *chunk, size_t len, void *data)
{
	struct split_ctx *ctx = data;
	char text[IRC_LINE_MAX];
	const char *params[2];

	if (len >= sizeof(text))
		len = sizeof(text) - 1;
	memcpy(text, chunk, len);
	text[len] = '\0';
	params[0] = ctx->target;
	params[1] = text;
	send_queued(ctx->target, ctx->command, 2, params);
	return 0;
}

static void send_text(const char *command, const char *target,
		      const char *text, size_t len)
{
	struct split_ctx ctx = { target, command };
	char *copy = NULL;

	/* A secret that reached a reply leaves as "[redacted]". */
	if (secret_found(text, len)) {
		size_t n = len;

		copy = xmalloc(len * 2 + 64);
		memcpy(copy, text, len);
		copy[len] = '\0';
		secret_redact(copy, &n, len * 2 + 64);
		text = copy;
		len = n;
	}
	irc_text_split(text, len, text_budget(target), send_chunk, &ctx);
	free(copy);
}

void irc_send_text(const char *target, const char *text, size_t len)
{
	send_text("PRIVMSG", target, text, len);
}

/* ---- the reply sink for commands typed on IRC ---- */

static void sink_send(struct request *req, int private, int is_error,
		      const char *text, size_t len)
{
	UNUSED(is_error);
	irc_send_text(private ? req->src.nick : req->src.reply_to, text, len);
}

static void sink_finished(struct request *req, int status)
{
	UNUSED(req);
	UNUSED(status);
}

const struct reply_sink irc_reply_sink = { sink_send, sink_finished };

/* ---- channels and nicks ---- */

static int nick_is_me(const char *nick)
{
	return nick && !irc_casecmp(nick, irc.nick, irc.casemap);
}

/* Does text start with nick (casemapped) followed by ':' or ','? */
static int addressed_to_me(const char *text, size_t *skip)
{
	size_t n = strlen(irc.nick), i;

	for (i = 0; i < n; i++)
		if (!text[i] || irc_tolower((unsigned char)text[i], irc.casemap) !=
					irc_tolower((unsigned char)irc.nick[i],
						    irc.casemap))
			return 0;
	if (text[n] != ':' && text[n] != ',')
		return 0;
	for (i = n + 1; text[i] == ' '; i++)
		;
	*skip = i;
	return 1;
}

static int is_channel(const char *name)
{
	return name && *name && strchr(irc.chantypes, name[0]);
}

static struct channel *channel_find(const char *name)
{
	int i;

	for (i = 0; i < irc.channel_count; i++)
		if (!irc_casecmp(irc.channels[i].name, name, irc.casemap))
			return &irc.channels[i];
	return NULL;
}

static void channels_from_settings(void)
{
	int i;

	irc.channel_count = 0;
	for (i = 0; i < irc.cfg.channel_count && i < CHANNELS_MAX; i++) {
		const char *name = irc.cfg.channels[i];
		char *space = strchr(name, ' ');
		size_t len = space ? (size_t)(space - name) : strlen(name);

		if (len >= sizeof(irc.channels[0].name))
			continue;
		memcpy(irc.channels[irc.channel_count].name, name, len);
		irc.channels[irc.channel_count].name[len] = '\0';
		irc.channels[irc.channel_count].joined = 0;
		irc.channel_count++;
	}
}

static void join_channels(void)
{
	int i;

	for (i = 0; i < irc.cfg.channel_count && i < CHANNELS_MAX; i++) {
		/* "#chan key": the key is the second parameter. */
		char name[256], *key;
		const char *params[2];

		strlcpy_safe(name, irc.cfg.channels[i], sizeof(name));
		key = strchr(name, ' ');
		if (key) {
			*key++ = '\0';
			while (*key == ' ')
				key++;
		}
		params[0] = name;
		params[1] = key;
		send_now("JOIN", key && *key ? 2 : 1, params);
	}
}

/* Nick candidates: the nick, the alternatives, then nick + digits. */
static void next_nick(char *out, size_t size)
{
	int i = irc.nick_attempt++;

	if (i == 0) {
		strlcpy_safe(out, irc.cfg.nick, size);
	} else if (i <= irc.cfg.alt_nick_count) {
		strlcpy_safe(out, irc.cfg.alt_nicks[i - 1], size);
	} else {
		int room = irc.nicklen - 3;

		if (room < 1)
			room = 1;
		snprintf(out, size, "%.*s%03d", room, irc.cfg.nick,
			 rand() % 1000);
	}
}

/* ---- registration ---- */

static void send_registration(void)
{
	const char *user[4];

	/* CAP first, so the server holds registration for CAP END. */
	send_now("CAP", 2, (const char *const[]){ "LS", "302" });
	irc.cap_negotiating = 1;
	if (irc.cfg.password)
		send1("PASS", irc.cfg.password);
	irc.nick_attempt = 0;
	next_nick(irc.nick, sizeof(irc.nick));
	send1("NICK", irc.nick);
	user[0] = irc.cfg.username;
	user[1] = "0";
	user[2] = "*";
	user[3] = irc.cfg.realname;
	send_now("USER", 4, user);
}

static int cap_index(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(wanted_caps); i++)
		if (!strcmp(wanted_caps[i], name))
			return (int)i;
	return -1;
}

static void cap_end(void)
{
	if (!irc.cap_negotiating)
		return;
	irc.cap_negotiating = 0;
	send1("CAP", "END");
}

/* "CAP * LS [*] :caps" (302 may split the list over several lines). */
static void handle_cap(const struct irc_message *m)
{
	const char *sub, *list;
	int more;

	if (m->param_count < 3)
		return;
	sub = m->params[1];
	more = m->param_count >= 4 && !strcmp(m->params[2], "*");
	list = m->params[m->param_count - 1];
	if (!strcmp(sub, "LS")) {
		struct buf req = BUF_INIT;
		const char *p = NULL;

		if (irc.caps_offered.len)
			buf_addch(&irc.caps_offered, ' ');
		buf_adds(&irc.caps_offered, list);
		if (more)
			return;
		/* Request what we want and the server has ("cap=value"
		 * values are ignored). */
		for (p = irc.caps_offered.data; p && *p;) {
			size_t len = strcspn(p, " ="), skip;
			char name[64];
			int idx;

			if (len && len < sizeof(name)) {
				memcpy(name, p, len);
				name[len] = '\0';
				idx = cap_index(name);
				if (idx >= 0) {
					if (req.len)
						buf_addch(&req, ' ');
					buf_adds(&req, name);
				}
			}
			skip = strcspn(p, " ");
			p += skip;
			while (*p == ' ')
				p++;
		}
		buf_reset(&irc.caps_offered);
		if (req.len)
			send_now("CAP", 2, (const char *const[]){ "REQ",
								  req.data });
		else
			cap_end();
		buf_free(&req);
	} else if (!strcmp(sub, "ACK") || !strcmp(sub, "NAK")) {
		if (!strcmp(sub, "ACK")) {
			const char *p = list;

			while (*p) {
				size_t len = strcspn(p, " ");
				char name[64];
				int idx;

				if (len && len < sizeof(name)) {
					int off = p[0] == '-';

					memcpy(name, p + off, len - (size_t)off);
					name[len - (size_t)off] = '\0';
					idx = cap_index(name);
					if (idx >= 0 && !off)
						irc.caps_enabled |= 1u << idx;
					else if (idx >= 0)
						irc.caps_enabled &=
							~(1u << idx);
				}
				p += len;
				while (*p == ' ')
					p++;
			}
		}
		if (irc.state == IRC_REGISTERING)
			cap_end();
	}
}

static void handle_isupport(const struct irc_message *m)
{
	int i;

	/* params: our nick, TOKEN[=value]..., "are supported by..." */
	for (i = 1; i < m->param_count - 1; i++) {
		const char *t = m->params[i];

		if (str_has_prefix(t, "CASEMAPPING=")) {
			const char *v = t + 12;

			if (!strcmp(v, "ascii"))
				irc.casemap = IRC_CASEMAP_ASCII;
			else if (!strcmp(v, "strict-rfc1459"))
				irc.casemap = IRC_CASEMAP_STRICT_RFC1459;
			else
				irc.casemap = IRC_CASEMAP_RFC1459;
		} else if (str_has_prefix(t, "NICKLEN=")) {
			long v = strtol(t + 8, NULL, 10);

			if (v > 0 && v < 200)
				irc.nicklen = (int)v;
		} else if (str_has_prefix(t, "USERLEN=")) {
			long v = strtol(t + 8, NULL, 10);

			if (v > 0 && v < 200)
				irc.userlen = (int)v;
		} else if (str_has_prefix(t, "HOSTLEN=")) {
			long v = strtol(t + 8, NULL, 10);

			if (v > 0 && v < 300)
				irc.hostlen = (int)v;
		} else if (str_has_prefix(t, "CHANTYPES=")) {
			strlcpy_safe(irc.chantypes, t + 10,
				     sizeof(irc.chantypes));
		}
	}
}

static void handle_welcome(const struct irc_message *m)
{
	if (m->param_count >= 1 && *m->params[0])
		strlcpy_safe(irc.nick, m->params[0], sizeof(irc.nick));
	irc.state = IRC_REGISTERED;
	irc.cap_negotiating = 0;
	irc.registered_at = time_now_ms();
	irc.stats.registrations++;
	info(COMPONENT, "registered as %s on %s", irc.nick,
	     irc.conn ? net_peer(irc.conn) : "(test)");
	join_channels();
	drain_queue();
}

static void handle_nick_error(const struct irc_message *m)
{
	char nick[64];

	if (irc.state != IRC_REGISTERING)
		return; /* a failed regain attempt; keep the nick we have */
	next_nick(nick, sizeof(nick));
	debug(COMPONENT, "nick '%s' unavailable (%s); trying '%s'", irc.nick,
	      m->command, nick);
	strlcpy_safe(irc.nick, nick, sizeof(irc.nick));
	send1("NICK", nick);
}

/* ---- commands from PRIVMSG ---- */

static int ctcp_allowed(void)
{
	int64_t now = time_now_ms();

	/* Three replies at once, then one every 5 s. */
	irc.ctcp_tokens += (double)(now - irc.ctcp_refill) / 5000.0;
	if (irc.ctcp_tokens > 3)
		irc.ctcp_tokens = 3;
	irc.ctcp_refill = now;
	if (irc.ctcp_tokens < 1)
		return 0;
	irc.ctcp_tokens -= 1;
	return 1;
}

static void handle_ctcp(const char *nick, const char *target,
			const char *text)
{
	char copy[IRC_LINE_MAX], reply[IRC_LINE_MAX];
	const char *verb, *args;

	if (!irc_ctcp_parse(text, copy, sizeof(copy), &verb, &args))
		return;
	/* Answer only what is asked of us directly, never channels. */
	if (!nick_is_me(target) || !ctcp_allowed())
		return;
	if (!strcmp(verb, "VERSION")) {
		snprintf(reply, sizeof(reply), "\001VERSION opsbot %s\001",
			 OPSBOT_VERSION);
	} else if (!strcmp(verb, "PING")) {
		char safe[64];
		size_t i, n = 0;

		/* Echo a bounded, printable payload only. */
		for (i = 0; args && args[i] && n < sizeof(safe) - 1; i++)
			if ((unsigned char)args[i] >= 0x20 && args[i] != 0x7f)
				safe[n++] = args[i];
		safe[n] = '\0';
		snprintf(reply, sizeof(reply), "\001PING %s\001", safe);
	} else if (!strcmp(verb, "TIME")) {
		char when[64];
		time_t t = time(NULL);
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		snprintf(reply, sizeof(reply), "\001TIME %s\001", when);
	} else {
		return;
	}
	send_queued(nick, "NOTICE", 2, (const char *const[]){ nick, reply });
}

static void handle_privmsg(const struct irc_message *m)
{
	char src_buf[512];
	struct irc_userhost who;
	struct command_source src;
	const char *target, *text, *prefix = command_prefix();
	size_t plen = strlen(prefix), skip;

	if (m->param_count < 2 || !m->source)
		return;
	if (irc_userhost_split(m->source, src_buf, sizeof(src_buf), &who) < 0 ||
	    !*who.nick || nick_is_me(who.nick))
		return;
	target = m->params[0];
	text = m->params[1];
	if (text[0] == '\001') {
		handle_ctcp(who.nick, target, text);
		return;
	}
	memset(&src, 0, sizeof(src));
	src.nick = who.nick;
	src.user = who.user;
	src.host = who.host;
	src.sink = &irc_reply_sink;
	if (irc.caps_enabled & (1u << cap_index("account-tag"))) {
		const char *acct = irc_message_tag(m, "account");

		if (acct && *acct && strcmp(acct, "*")) {
			src.account = acct;
			src.account_source = "account-tag";
		}
	}
	if (is_channel(target)) {
		src.origin = OPSBOT_ORIGIN_CHANNEL;
		src.channel = target;
		src.reply_to = target;
		if (plen && !strncmp(text, prefix, plen) && text[plen] &&
		    text[plen] != ' ')
			text += plen;
		else if (addressed_to_me(text, &skip))
			text += skip;
		else
			return;
	} else if (nick_is_me(target)) {
		src.origin = OPSBOT_ORIGIN_PRIVATE;
		src.reply_to = who.nick;
		if (plen && !strncmp(text, prefix, plen))
			text += plen;
	} else {
		return;
	}
	if (*text)
		command_dispatch_text(&src, text);
}

/* ---- inbound dispatch ---- */

static void handle_join(const struct irc_message *m, const char *nick,
			const char *source)
{
	struct channel *ch;

	if (m->param_count < 1 || !nick_is_me(nick))
		return;
	/* Our own JOIN shows the prefix the server relays for us. */
	irc.own_prefix_len = strlen(source) + 2;
	ch = channel_find(m->params[0]);
	if (ch) {
		ch->joined = 1;
		info(COMPONENT, "joined %s", m->params[0]);
	}
}

static void handle_line(char *line, size_t len)
{
	struct irc_message m;
	enum irc_parse_error err;
	char src_buf[512], *nick = NULL;
	struct irc_userhost who;
	const char *cmd;

	irc.stats.lines_in++;
	err = irc_message_parse(line, len, &m);
	if (err != IRC_PARSE_OK) {
		irc.stats.lines_rejected++;
		debug(COMPONENT, "ignored a server line: %s",
		      irc_parse_error_name(err));
		return;
	}
	if (log_enabled(LOG_DEBUG))
		debug(COMPONENT, "<< %s %s", m.command,
		      m.param_count ? m.params[0] : "");
	if (m.source && irc_userhost_split(m.source, src_buf, sizeof(src_buf),
					   &who) == 0)
		nick = who.nick;
	/* Verbs are case-insensitive; the parser keeps what was sent. */
	for (char *c = (char *)m.command; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	cmd = m.command;

	switch (cmd[0]) {
	case 'P':
		if (!strcmp(cmd, "PING")) {
			send_now("PONG", m.param_count ? 1 : 0, m.params);
			return;
		}
		if (!strcmp(cmd, "PRIVMSG")) {
			handle_privmsg(&m);
			return;
		}
		if (!strcmp(cmd, "PONG")) {
			irc.ping_outstanding = 0;
			return;
		}
		if (!strcmp(cmd, "PART") && m.param_count >= 1 &&
		    nick_is_me(nick)) {
			struct channel *ch = channel_find(m.params[0]);

			if (ch)
				ch->joined = 0;
		}
		return;
	case 'C':
		if (!strcmp(cmd, "CAP"))
			handle_cap(&m);
		return;
	case 'E':
		if (!strcmp(cmd, "ERROR")) {
			const char *why = m.param_count ? m.params[0] : "";

			if (irc.state == IRC_QUITTING)
				info(COMPONENT, "server closed the link: %s",
				     why);
			else
				warning(COMPONENT, "server says: ERROR %s",
					why);
			if (strcasestr(why, "banned") || strcasestr(why, "k-line") ||
			    strcasestr(why, "kline"))
				irc.banned = 1;
		}
		return;
	case 'J':
		if (!strcmp(cmd, "JOIN") && nick)
			handle_join(&m, nick, m.source);
		return;
	case 'K':
		if (!strcmp(cmd, "KICK") && m.param_count >= 2 &&
		    nick_is_me(m.params[1])) {
			struct channel *ch = channel_find(m.params[0]);

			warning(COMPONENT, "kicked from %s by %s: %s",
				m.params[0], nick ? nick : "?",
				m.param_count >= 3 ? m.params[2] : "");
			if (ch)
				ch->joined = 0;
		} else if (!strcmp(cmd, "KILL")) {
			warning(COMPONENT, "killed by the server: %s",
				m.param_count >= 2 ? m.params[1] : "");
		}
		return;
	case 'N':
		if (!strcmp(cmd, "NICK") && m.param_count >= 1 &&
		    nick_is_me(nick)) {
			strlcpy_safe(irc.nick, m.params[0], sizeof(irc.nick));
			irc.own_prefix_len = 0;
			info(COMPONENT, "now known as %s", irc.nick);
		}
		return;
	case '0':
		if (!strcmp(cmd, "001"))
			handle_welcome(&m);
		else if (!strcmp(cmd, "005"))
			handle_isupport(&m);
		return;
	case '4':
		if (!strcmp(cmd, "433") || !strcmp(cmd, "432") ||
		    !strcmp(cmd, "437") || !strcmp(cmd, "436"))
			handle_nick_error(&m);
		else if (!strcmp(cmd, "465")) {
			irc.banned = 1;
			error(COMPONENT, "banned from the server (465): %s",
			      m.param_count >= 2 ? m.params[1] : "");
		} else if (!strcmp(cmd, "471") || !strcmp(cmd, "473") ||
			   !strcmp(cmd, "474") || !strcmp(cmd, "475") ||
			   !strcmp(cmd, "403") || !strcmp(cmd, "405"))
			warning(COMPONENT, "cannot join %s: %s",
				m.param_count >= 2 ? m.params[1] : "?",
				m.param_count >= 3 ? m.params[2] : cmd);
		else if (!strcmp(cmd, "421") && m.param_count >= 2 &&
			 !strcmp(m.params[1], "CAP"))
			irc.cap_negotiating = 0; /* a server without CAP */
		return;
	default:
		return;
	}
}

/* Cuts bytes into lines; a partial line waits in irc.carry. */
static void on_received(void *data, char *bytes, size_t len)
{
	char *p = bytes, *end = bytes + len;

	UNUSED(data);
	irc.last_rx = time_now_ms();
	irc.ping_outstanding = 0;
	if (irc.carry.len || irc.discarding) {
		char *nl = memchr(p, '\n', len);
		size_t take = nl ? (size_t)(nl - p) : len;

		if (!irc.discarding) {
			if (irc.carry.len + take > IRC_INPUT_MAX) {
				irc.discarding = 1;
				buf_reset(&irc.carry);
			} else {
				buf_add(&irc.carry, p, take);
			}
		}
		if (!nl)
			return;
		p = nl + 1;
		if (irc.discarding) {
			irc.discarding = 0;
			irc.stats.lines_too_long++;
			debug(COMPONENT, "skipped a line longer than %d bytes",
			      IRC_INPUT_MAX);
		} else {
			size_t l = irc.carry.len;

			if (l && irc.carry.data[l - 1] == '\r')
				l--;
			handle_line(irc.carry.data, l);
			buf_reset(&irc.carry);
		}
		/* handle_line may have ended the session. */
		if (irc.state == IRC_IDLE)
			return;
	}
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l;

		if (!nl) {
			if ((size_t)(end - p) > IRC_INPUT_MAX)
				irc.discarding = 1;
			else
				buf_add(&irc.carry, p, (size_t)(end - p));
			return;
		}
		l = (size_t)(nl - p);
		if (l > IRC_INPUT_MAX) {
			irc.stats.lines_too_long++;
		} else {
			if (l && p[l - 1] == '\r')
				l--;
			p[l] = '\0';
			handle_line(p, l);
		}
		p = nl + 1;
		if (irc.state == IRC_IDLE)
			return;
	}
}

/* ---- connection life ---- */

static void on_connected(void *data)
{
	UNUSED(data);
	irc.state = IRC_REGISTERING;
	irc.stats.connects++;
	irc.last_rx = time_now_ms();
	irc.ping_outstanding = 0;
	irc.caps_enabled = 0;
	irc.own_prefix_len = 0;
	buf_reset(&irc.carry);
	buf_reset(&irc.caps_offered);
	irc.discarding = 0;
	info(COMPONENT, "connected to %s", net_peer(irc.conn));
	send_registration();
}

static void on_closed(void *data, const char *reason)
{
	int i;

	UNUSED(data);
	if (irc.state == IRC_QUITTING) {
		net_close(irc.conn);
		irc.conn = NULL;
		uv_timer_stop(&irc.quit_timer);
		irc.state = IRC_IDLE;
		if (irc.quit_done) {
			void (*done)(void) = irc.quit_done;

			irc.quit_done = NULL;
			done();
		}
		return;
	}
	for (i = 0; i < irc.channel_count; i++)
		irc.channels[i].joined = 0;
	net_close(irc.conn);
	irc.conn = NULL;
	buf_reset(&irc.out);
	schedule_reconnect(reason);
}

static void drop_connection(const char *reason)
{
	if (!irc.conn)
		return;
	warning(COMPONENT, "closing the connection: %s", reason);
	on_closed(NULL, reason);
}

static void on_reconnect_timer(uv_timer_t *t)
{
	UNUSED(t);
	connect_now();
}

static void schedule_reconnect(const char *why)
{
	long base = irc.cfg.reconnect_min_ms, cap = irc.cfg.reconnect_max_ms;
	long ceiling = base, delay;
	int i;

	irc.state = IRC_IDLE;
	/* Only a session that lasted resets the backoff. */
	if (irc.registered_at &&
	    time_now_ms() - irc.registered_at >= STABLE_SESSION_MS)
		irc.reconnect_attempt = 0;
	irc.registered_at = 0;
	for (i = 0; i < irc.reconnect_attempt && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	/* Full jitter, with a floor of half the base delay. */
	delay = base / 2 + (long)((double)rand() / RAND_MAX *
				  (double)(ceiling - base / 2));
	irc.reconnect_attempt++;
	if (irc.banned) {
		delay = KLINE_BACKOFF_MS;
		error(COMPONENT, "banned by the server: not reconnecting for "
				 "an hour (restart opsbot to try sooner)");
		irc.banned = 0;
	}
	warning(COMPONENT, "disconnected (%s); reconnecting in %.1f s", why,
		(double)delay / 1000.0);
	uv_timer_start(&irc.reconnect_timer, on_reconnect_timer,
		       (uint64_t)delay, 0);
}

static void on_watchdog(uv_timer_t *t)
{
	int64_t silent = time_now_ms() - irc.last_rx;
	long limit = irc.cfg.ping_timeout_ms;

	UNUSED(t);
	if (irc.state != IRC_REGISTERED && irc.state != IRC_REGISTERING)
		return;
	if (silent >= limit) {
		char why[80];

		snprintf(why, sizeof(why), "no data from the server for %lld s",
			 (long long)(silent / 1000));
		drop_connection(why);
	} else if (silent >= limit / 2 && !irc.ping_outstanding &&
		   irc.state == IRC_REGISTERED) {
		irc.ping_outstanding = 1;
		send1("PING", "opsbot");
	}
}

static void on_nick_timer(uv_timer_t *t)
{
	UNUSED(t);
	if (irc.state == IRC_REGISTERED && strcmp(irc.nick, irc.cfg.nick))
		send1("NICK", irc.cfg.nick);
}

static void connect_now(void)
{
	static const struct net_callbacks cb = { on_connected, on_received,
						 on_closed };
	struct net_options o;

	if (irc.conn)
		return;
	memset(&o, 0, sizeof(o));
	o.host = irc.cfg.server;
	o.port = irc.cfg.port;
	o.connect_timeout_ms = irc.cfg.connect_timeout_ms;
	irc.state = IRC_CONNECTING;
	info(COMPONENT, "connecting to %s port %d", o.host, o.port);
	irc.conn = net_connect(&o, &cb, NULL);
}

static void timers_init(void)
{
	if (irc.timers_ready)
		return;
	uv_check_init(loop_get(), &irc.flush_check);
	uv_timer_init(loop_get(), &irc.reconnect_timer);
	uv_timer_init(loop_get(), &irc.watchdog_timer);
	uv_timer_init(loop_get(), &irc.queue_timer);
	uv_timer_init(loop_get(), &irc.nick_timer);
	uv_timer_init(loop_get(), &irc.quit_timer);
	irc.timers_ready = 1;
}

static void apply_settings(void)
{
	long tick = irc.cfg.ping_timeout_ms / 8;

	irc_queue_configure(irc.queue, !irc.cfg.flood_control,
			    irc.cfg.flood_burst, irc.cfg.flood_interval_ms,
			    irc.cfg.queue_ttl_ms);
	if (tick < 250)
		tick = 250;
	uv_timer_start(&irc.watchdog_timer, on_watchdog, (uint64_t)tick,
		       (uint64_t)tick);
	uv_timer_start(&irc.nick_timer, on_nick_timer, NICK_REGAIN_MS,
		       NICK_REGAIN_MS);
	channels_from_settings();
}

static void reset_protocol_defaults(void)
{
	irc.casemap = IRC_CASEMAP_RFC1459;
	irc.nicklen = 30;
	irc.userlen = 10;
	irc.hostlen = 63;
	strlcpy_safe(irc.chantypes, "#&", sizeof(irc.chantypes));
	irc.ctcp_tokens = 3;
	irc.ctcp_refill = time_now_ms();
}

int irc_start(const struct config *cfg)
{
	timers_init();
	settings_read(&irc.cfg, cfg);
	if (!irc.queue)
		irc.queue = irc_queue_new();
	reset_protocol_defaults();
	apply_settings();
	if (irc.cfg.password)
		secret_register(irc.cfg.password);
	connect_now();
	return 0;
}

void irc_reconfigure(const struct config *cfg)
{
	struct settings old = irc.cfg;
	int reconnect, i, j;

	settings_read(&irc.cfg, cfg);
	apply_settings();
	reconnect = strcmp(old.server, irc.cfg.server) ||
		    old.port != irc.cfg.port ||
		    strcmp(old.username, irc.cfg.username) ||
		    strcmp(old.realname, irc.cfg.realname) ||
		    (!old.password != !irc.cfg.password) ||
		    (old.password && irc.cfg.password &&
		     strcmp(old.password, irc.cfg.password));
	if (reconnect) {
		info(COMPONENT, "server settings changed; reconnecting");
		if (irc.conn)
			drop_connection("configuration changed");
	} else if (irc.state == IRC_REGISTERED) {
		if (strcmp(old.nick, irc.cfg.nick))
			send1("NICK", irc.cfg.nick);
		/* Part what was removed; join everything configured (a
		 * JOIN of a channel we are in is harmless). */
		for (i = 0; i < old.channel_count; i++) {
			int kept = 0;
			char name[256];

			strlcpy_safe(name, old.channels[i], sizeof(name));
			name[strcspn(name, " ")] = '\0';
			for (j = 0; j < irc.cfg.channel_count; j++)
				if (!strncmp(irc.cfg.channels[j], name,
					     strlen(name)))
					kept = 1;
			if (!kept)
				send1("PART", name);
		}
		join_channels();
	}
	settings_free(&old);
}

static void on_quit_timer(uv_timer_t *t)
{
	UNUSED(t);
	if (irc.conn)
		on_closed(NULL, "quit");
}

void irc_quit(const char *message, void (*done)(void))
{
	uv_timer_stop(&irc.reconnect_timer);
	if (!irc.conn || irc.state == IRC_CONNECTING) {
		if (irc.conn)
			net_close(irc.conn);
		irc.conn = NULL;
		irc.state = IRC_IDLE;
		if (done)
			done();
		return;
	}
	irc.quit_done = done;
	if (irc.state == IRC_REGISTERED || irc.state == IRC_REGISTERING)
		send1("QUIT", message ? message : "bye");
	irc.state = IRC_QUITTING;
	on_flush(&irc.flush_check);
	uv_timer_start(&irc.quit_timer, on_quit_timer, QUIT_WAIT_MS, 0);
}

void irc_fini(void)
{
	if (irc.conn)
		net_close(irc.conn);
	irc.conn = NULL;
	if (irc.timers_ready) {
		uv_close((uv_handle_t *)&irc.flush_check, NULL);
		uv_close((uv_handle_t *)&irc.reconnect_timer, NULL);
		uv_close((uv_handle_t *)&irc.watchdog_timer, NULL);
		uv_close((uv_handle_t *)&irc.queue_timer, NULL);
		uv_close((uv_handle_t *)&irc.nick_timer, NULL);
		uv_close((uv_handle_t *)&irc.quit_timer, NULL);
		irc.timers_ready = 0;
	}
	irc_queue_free(irc.queue);
	irc.queue = NULL;
	buf_free(&irc.carry);
	buf_free(&irc.out);
	buf_free(&irc.caps_offered);
	settings_free(&irc.cfg);
}

int irc_is_registered(void)
{
	return irc.state == IRC_REGISTERED;
}

const char *irc_current_nick(void)
{
	return irc.nick;
}

const struct irc_stats *irc_get_stats(void)
{
	return &irc.stats;
}

void irc_test_attach(const struct config *cfg,
		     void (*sent)(const char *line, size_t len))
{
	irc.test_sent = sent;
	timers_init();
	settings_free(&irc.cfg);
	settings_read(&irc.cfg, cfg);
	if (!irc.queue)
		irc.queue = irc_queue_new();
	reset_protocol_defaults();
	apply_settings();
	irc.state = IRC_REGISTERING;
	irc.stats.connects++;
	send_registration();
}

void irc_test_receive(char *bytes, size_t len)
{
	on_received(NULL, bytes, len);
}
