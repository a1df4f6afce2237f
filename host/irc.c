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
#include "irc_accounts.h"
#include "irc_message.h"
#include "irc_queue.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "tls_backend.h"
#include "util.h"
#include "version.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "irc"
#define CHANNELS_MAX 64
#define KLINE_BACKOFF_MS (60 * 60 * 1000)
#define NICK_REGAIN_MS 60000
#define QUIT_WAIT_MS 2000
#define CAPS_OFFERED_MAX 16384

enum irc_state {
	IRC_IDLE, /* waiting to (re)connect */
	IRC_CONNECTING,
	IRC_REGISTERING, /* connected, before 001 */
	IRC_REGISTERED,
	IRC_QUITTING,
};

/* Capabilities the bot asks for when the server offers them; "sasl"
 * only when SASL is configured. */
static const char *const wanted_caps[] = {
    "multi-prefix", "message-tags",	 "server-time",
    "account-tag",  "extended-join",	 "account-notify",
    "cap-notify",   "userhost-in-names", "sasl",
};

#define CAP_BIT(name) (1u << cap_index(name))

/* Logging in to services, before channels are joined. */
enum auth_state {
	AUTH_NONE,     /* nothing configured */
	AUTH_SASL,     /* SASL in progress (before CAP END) */
	AUTH_NICKSERV, /* IDENTIFY sent, waiting for confirmation */
	AUTH_DONE,     /* logged in (or nothing to do): join */
	AUTH_FAILED,   /* fail closed: no joins */
};

/* A privileged command waiting for the sender's account (WHOIS). */
struct lookup {
	struct lookup *next;
	char nick[64];
	char *user, *host, *channel, *text;
	enum opsbot_origin origin;
	int64_t deadline;
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
	long reconnect_reset_ms;
	int tls;
	struct tls_options tls_opts;
	char *sasl_mechanism; /* "PLAIN", "EXTERNAL" or NULL */
	char *sasl_username;
	char *sasl_password;
	char *nickserv_password;
	char *nickserv_account;
	long identify_timeout_ms;
};

static struct {
	struct settings cfg;
	enum irc_state state;
	struct net_conn *conn;
	char nick[64];	       /* the nick the server knows us by */
	int nick_attempt;      /* index into the nick candidates */
	size_t own_prefix_len; /* len(":nick!user@host "), 0 if unknown */
	enum irc_casemapping casemap;
	int nicklen, userlen, hostlen;
	char chantypes[16];
	unsigned caps_enabled;	 /* bit i: wanted_caps[i] acknowledged */
	struct buf caps_offered; /* from CAP LS, space-separated */
	int cap_negotiating;
	struct channel channels[CHANNELS_MAX];
	int channel_count;
	enum auth_state auth;
	char *account; /* our own services account, once known */
	int whox;      /* the server has WHOX */
	struct lookup *lookups;
	uv_timer_t identify_timer, lookup_timer;

	struct buf carry; /* the incomplete last line of a read */
	int discarding;	  /* inside an over-long line */
	struct buf out;	  /* lines to hand to the socket */
	uv_prepare_t flush_check;
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
static void drop_connection(const char *reason);

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
	free((char *)s->tls_opts.ca_file);
	free((char *)s->tls_opts.fingerprint);
	free((char *)s->tls_opts.client_cert);
	free((char *)s->tls_opts.client_key);
	free(s->sasl_mechanism);
	free(s->sasl_username);
	free_secret(s->sasl_password);
	free_secret(s->nickserv_password);
	free(s->nickserv_account);
	memset(s, 0, sizeof(*s));
}

static char *dup_or_null(const char *v)
{
	return v && *v ? xstrdup(v) : NULL;
}

/* A file from [irc] (a CA, a client certificate), relative to the config
 * file like every path in it; NULL if unset. */
static char *path_or_null(const struct config *cfg, const char *key)
{
	const char *v = config_get(cfg, "irc", config_irc_keys, key);

	return v && *v ? config_resolve_path(cfg, v) : NULL;
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
	s->alt_nicks =
	    config_get_list(cfg, "irc", k, "alt_nicks", &s->alt_nick_count);
	s->username = xstrdup(config_get(cfg, "irc", k, "username"));
	s->realname = xstrdup(config_get(cfg, "irc", k, "realname"));
	s->channels =
	    config_get_list(cfg, "irc", k, "channels", &s->channel_count);
	s->flood_control = config_get_bool(cfg, "irc", k, "flood_control");
	s->flood_burst = (int)config_get_int(cfg, "irc", k, "flood_burst");
	s->flood_interval_ms =
	    (long)config_get_duration_ms(cfg, "irc", k, "flood_interval");
	s->queue_ttl_ms =
	    (long)config_get_duration_ms(cfg, "irc", k, "queue_ttl");
	s->ping_timeout_ms =
	    (long)config_get_duration_ms(cfg, "irc", k, "ping_timeout");
	s->connect_timeout_ms =
	    (long)config_get_duration_ms(cfg, "irc", k, "connect_timeout");
	s->reconnect_min_ms =
	    (long)config_get_duration_ms(cfg, "irc", k, "reconnect_min");
	s->reconnect_max_ms =
	    (long)config_get_duration_ms(cfg, "irc", k, "reconnect_max");
	s->reconnect_reset_ms =
	    (long)config_get_duration_ms(cfg, "irc", k, "reconnect_reset");
	s->tls = config_get_bool(cfg, "irc", k, "tls");
	s->tls_opts.verify = config_get_bool(cfg, "irc", k, "tls_verify");
	s->tls_opts.ca_file = path_or_null(cfg, "tls_ca_file");
	s->tls_opts.fingerprint =
	    dup_or_null(config_get(cfg, "irc", k, "tls_fingerprint"));
	s->tls_opts.client_cert = path_or_null(cfg, "tls_client_cert");
	s->tls_opts.client_key = path_or_null(cfg, "tls_client_key");
	s->sasl_mechanism =
	    dup_or_null(config_get(cfg, "irc", k, "sasl_mechanism"));
	if (s->sasl_mechanism) {
		char *c;

		for (c = s->sasl_mechanism; *c; c++)
			*c = (char)toupper((unsigned char)*c);
	}
	s->sasl_username =
	    dup_or_null(config_get(cfg, "irc", k, "sasl_username"));
	s->sasl_password = config_get_secret(cfg, "irc", "sasl_password", &err);
	free(err);
	err = NULL;
	s->nickserv_password =
	    config_get_secret(cfg, "irc", "nickserv_password", &err);
	free(err);
	s->nickserv_account =
	    dup_or_null(config_get(cfg, "irc", k, "nickserv_account"));
	s->identify_timeout_ms =
	    (long)config_get_duration_ms(cfg, "irc", k, "identify_timeout");
}

void irc_validate_config(struct config *cfg)
{
	const struct config_entry *mech =
	    config_find(cfg, "irc", "sasl_mechanism");
	const struct config_entry *fp =
	    config_find(cfg, "irc", "tls_fingerprint");
	int tls = config_get_bool(cfg, "irc", config_irc_keys, "tls");

	if (mech && *mech->value) {
		if (str_ieq(mech->value, "plain")) {
			if (!config_find(cfg, "irc", "sasl_password") &&
			    !config_find(cfg, "irc", "sasl_password_file") &&
			    !config_find(cfg, "irc", "sasl_password_env"))
				config_error(cfg, mech,
					     "plain needs sasl_password (or "
					     "sasl_password_file or _env)");
			if (!tls)
				warning("config",
					"%s:%d: SASL PLAIN without TLS sends "
					"the password in clear text",
					cfg->path, mech->line);
		} else if (str_ieq(mech->value, "external")) {
			if (!tls || !config_find(cfg, "irc", "tls_client_cert"))
				config_error(cfg, mech,
					     "external needs tls = true and "
					     "tls_client_cert");
		} else {
			config_error(cfg, mech, "'%s' is not plain or external",
				     mech->value);
		}
	}
	if (fp && *fp->value) {
		size_t hex = 0;
		const char *c;

		for (c = fp->value; *c; c++)
			if (isxdigit((unsigned char)*c))
				hex++;
			else if (*c != ':')
				hex = 999;
		if (hex != 64)
			config_error(
			    cfg, fp,
			    "not a SHA-256 fingerprint (64 hex digits, "
			    "colons allowed)");
	}
	if ((config_find(cfg, "irc", "tls_ca_file") || fp) && !tls)
		warning("config",
			"%s: tls_ca_file/tls_fingerprint are set but "
			"tls is off",
			cfg->path);
}

/* ---- output ---- */

static void on_flush(uv_prepare_t *check)
{
	uv_prepare_stop(check);
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
	    strncmp(line, "AUTHENTICATE ", 13) &&
	    strncmp(line, "PRIVMSG NickServ :IDENTIFY", 26))
		debug(COMPONENT, ">> %.*s", (int)len, line);
	buf_add(&irc.out, line, len);
	buf_add(&irc.out, "\r\n", 2);
	/* Flushed by a prepare handle, which runs before the loop blocks in
	 * poll: the lines of one pass go out in one write, and a line
	 * written in a timer callback (the queue's pacing timer, a plugin's
	 * timer) goes out at once.  A check handle runs only after poll,
	 * which kept such a line until the next event, seconds later. */
	if (!uv_is_active((uv_handle_t *)&irc.flush_check))
		uv_prepare_start(&irc.flush_check, on_flush);
}

/* Builds a line; returns its length or -1 (logged) if it is unsafe. */
static int build_line(char *out, size_t size, const char *command, int count,
		      const char *const *params)
{
	int n = irc_message_format(out, size, NULL, 0, command, count, params);

	if (n < 0)
		warning(COMPONENT,
			"refused to send an unsafe or oversized %s "
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

/* Lines that go before anything waiting, but wait for a token: JOIN. */
static void send_urgent(const char *command, int count,
			const char *const *params)
{
	char line[IRC_LINE_MAX];
	int n = build_line(line, sizeof(line) - 2, command, count, params);
	int64_t now = time_now_ms();

	if (n < 0)
		return;
	if (irc_queue_can_send_now(irc.queue, now)) {
		irc_queue_consume(irc.queue, now);
		write_line(line, (size_t)n, NULL);
		return;
	}
	irc_queue_push_urgent(irc.queue, line, (size_t)n, now);
	drain_queue();
}

static void send1(const char *command, const char *p1)
{
	const char *params[] = {p1};

	send_now(command, 1, params);
}

/* Lines that wait their turn in the flood-control queue. */
static int channels_ready(void);

static void send_queued(const char *target, const char *group,
			const char *command, int count,
			const char *const *params)
{
	char line[IRC_LINE_MAX];
	int n = build_line(line, sizeof(line) - 2, command, count, params);
	int64_t now = time_now_ms();

	if (n < 0)
		return;
	if (channels_ready() && irc_queue_can_send_now(irc.queue, now)) {
		irc_queue_consume(irc.queue, now);
		write_line(line, (size_t)n, NULL);
		return;
	}
	if (group)
		irc_queue_push_grouped(irc.queue, target, group, line,
				       (size_t)n, now);
	else
		irc_queue_push(irc.queue, target, line, (size_t)n, now);
	if (channels_ready())
		drain_queue();
}

static void on_queue_timer(uv_timer_t *t)
{
	UNUSED(t);
	drain_queue();
}

static void drain_queue(void)
{
	size_t expired, summarised;
	long wait;

	if (!channels_ready())
		return;
	wait = irc_queue_drain(irc.queue, time_now_ms(), write_line, NULL);
	summarised = irc_queue_take_summarised(irc.queue);
	if (summarised)
		info(COMPONENT, "summarised %zu queued announcement%s",
		     summarised, summarised == 1 ? "" : "s");
	expired = irc_queue_take_expired(irc.queue);
	if (expired) {
		irc.stats.queue_expired += expired;
		warning(COMPONENT,
			"dropped %zu queued line%s older than "
			"[irc] queue_ttl",
			expired, expired == 1 ? "" : "s");
	}
	if (wait >= 0)
		loop_timer_start(&irc.queue_timer, on_queue_timer,
				 (uint64_t)wait, 0);
}

/* The room for text in "PRIVMSG <target> :<text>" as the server will
 * relay it, with our own ":nick!user@host " in front. */
static size_t text_budget(const char *target)
{
	size_t prefix = irc.own_prefix_len;
	size_t fixed;

	if (!prefix)
		prefix = 1 + (size_t)irc.nicklen + 1 + (size_t)irc.userlen + 1 +
			 (size_t)irc.hostlen + 1;
	fixed = prefix + strlen("PRIVMSG ") + strlen(target) + 2 + 2;
	return fixed + 16 < IRC_LINE_MAX ? IRC_LINE_MAX - fixed : 16;
}

struct split_ctx {
	const char *target;
	const char *command;
	const char *group;
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
	send_queued(ctx->target, ctx->group, ctx->command, 2, params);
	return 0;
}

static void send_text(const char *command, const char *target,
		      const char *group, const char *text, size_t len)
{
	struct split_ctx ctx = {target, command, group};
	/* A secret that reached a reply leaves as "[redacted]". */
	char *copy = secret_redact_copy(text, len, &len);

	if (copy)
		text = copy;
	irc_text_split(text, len, text_budget(target), send_chunk, &ctx);
	free(copy);
}

void irc_send_text(const char *target, const char *text, size_t len)
{
	send_text("PRIVMSG", target, NULL, text, len);
}

void irc_say(const char *target, const char *group, const char *text,
	     size_t len)
{
	send_text("PRIVMSG", target, group, text, len);
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

const struct reply_sink irc_reply_sink = {sink_send, sink_finished};

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
		if (!text[i] ||
		    irc_tolower((unsigned char)text[i], irc.casemap) !=
			irc_tolower((unsigned char)irc.nick[i], irc.casemap))
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

/*
 * Joins every configured channel in as few lines as fit: "JOIN #a,#b k"
 * with the keyed channels first (keys match channels by position).  Each
 * line counts against the flood bucket, so registration plus the joins
 * stay within a server's burst.
 */
static void join_channels(void)
{
	struct buf names = BUF_INIT, keys = BUF_INIT;
	int pass, i;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < irc.cfg.channel_count && i < CHANNELS_MAX;
		     i++) {
			char name[256], *key;

			strlcpy_safe(name, irc.cfg.channels[i], sizeof(name));
			key = strchr(name, ' ');
			if (key) {
				*key++ = '\0';
				while (*key == ' ')
					key++;
			}
			if (!key || !*key)
				key = NULL;
			/* Keyed channels in the first pass, the rest after. */
			if ((pass == 0) != (key != NULL))
				continue;
			if (names.len + keys.len + strlen(name) +
				(key ? strlen(key) : 0) + 12 >
			    400) {
				send_urgent("JOIN", keys.len ? 2 : 1,
					    (const char *const[]){names.data,
								  keys.data});
				buf_reset(&names);
				buf_reset(&keys);
			}
			if (names.len)
				buf_addch(&names, ',');
			buf_adds(&names, name);
			if (key) {
				if (keys.len)
					buf_addch(&keys, ',');
				buf_adds(&keys, key);
			}
		}
	}
	if (names.len)
		send_urgent("JOIN", keys.len ? 2 : 1,
			    (const char *const[]){names.data, keys.data});
	buf_free(&names);
	buf_free(&keys);
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
	send_now("CAP", 2, (const char *const[]){"LS", "302"});
	irc.cap_negotiating = 1;
	irc.auth = irc.cfg.sasl_mechanism ? AUTH_SASL : AUTH_NONE;
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

static void fail_auth(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* SASL is configured and cannot succeed: never join unauthenticated
 * (another user could own the nick); log why and try again later. */
static void fail_auth(const char *fmt, ...)
{
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	irc.auth = AUTH_FAILED;
	error(COMPONENT, "sasl: %s; not joining any channel (fail closed)",
	      why);
	if (irc.state == IRC_REGISTERING || irc.state == IRC_REGISTERED)
		send1("QUIT", "authentication failed");
	on_flush(&irc.flush_check);
	drop_connection(why);
}

/* Does the space-separated list hold name (as "name" or "name=...")? */
static int cap_listed(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p = list;

	while (p && *p) {
		while (*p == ' ')
			p++;
		if (!strncmp(p, name, n) &&
		    (!p[n] || p[n] == ' ' || p[n] == '='))
			return 1;
		p = strchr(p, ' ');
	}
	return 0;
}

static void sasl_begin(void)
{
	send1("AUTHENTICATE", irc.cfg.sasl_mechanism);
}

/* The server is ready for our credentials ("AUTHENTICATE +"). */
static void sasl_respond(void)
{
	struct buf raw = BUF_INIT;
	char *b64;
	size_t len, off;

	if (irc.auth != AUTH_SASL)
		return;
	if (!strcmp(irc.cfg.sasl_mechanism, "EXTERNAL")) {
		/* The certificate is the credential; no authorization id. */
		send1("AUTHENTICATE", "+");
		return;
	}
	{
		const char *user = irc.cfg.sasl_username ? irc.cfg.sasl_username
							 : irc.cfg.nick;

		/* authzid \0 authcid \0 password, authzid empty. */
		buf_addch(&raw, '\0');
		buf_adds(&raw, user);
		buf_addch(&raw, '\0');
		buf_adds(&raw,
			 irc.cfg.sasl_password ? irc.cfg.sasl_password : "");
	}
	b64 = base64_encode(raw.data, raw.len);
	explicit_bzero(raw.data, raw.len);
	buf_free(&raw);
	len = strlen(b64);
	/* 400-byte pieces; a last piece of exactly 400 is followed by "+". */
	for (off = 0; off < len; off += 400) {
		char piece[401];
		size_t n = len - off < 400 ? len - off : 400;

		memcpy(piece, b64 + off, n);
		piece[n] = '\0';
		send1("AUTHENTICATE", piece);
		explicit_bzero(piece, sizeof(piece));
	}
	if (len % 400 == 0)
		send1("AUTHENTICATE", "+");
	free_secret(b64);
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
		size_t i;

		/* A real list is a few hundred bytes; a server that never
		 * ends its LS must not grow this until memory runs out. */
		if (irc.caps_offered.len + strlen(list) < CAPS_OFFERED_MAX) {
			if (irc.caps_offered.len)
				buf_addch(&irc.caps_offered, ' ');
			buf_adds(&irc.caps_offered, list);
		}
		if (more)
			return;
		if (irc.state != IRC_REGISTERING) {
			buf_reset(&irc.caps_offered);
			return;
		}
		/* Request what we want and the server has. */
		for (i = 0; i < ARRAY_SIZE(wanted_caps); i++) {
			if (!strcmp(wanted_caps[i], "sasl") &&
			    !irc.cfg.sasl_mechanism)
				continue;
			if (!cap_listed(irc.caps_offered.data, wanted_caps[i]))
				continue;
			if (req.len)
				buf_addch(&req, ' ');
			buf_adds(&req, wanted_caps[i]);
		}
		if (irc.cfg.sasl_mechanism &&
		    !cap_listed(irc.caps_offered.data, "sasl")) {
			buf_free(&req);
			buf_reset(&irc.caps_offered);
			fail_auth(
			    "the server does not offer SASL (no 'sasl' in "
			    "CAP LS)");
			return;
		}
		buf_reset(&irc.caps_offered);
		if (req.len)
			send_now("CAP", 2,
				 (const char *const[]){"REQ", req.data});
		else
			cap_end();
		buf_free(&req);
	} else if (!strcmp(sub, "ACK") || !strcmp(sub, "NAK")) {
		int ack = !strcmp(sub, "ACK");
		const char *p = list;

		while (*p) {
			size_t len = strcspn(p, " ");
			char name[64];
			int off = p[0] == '-', idx;

			if (len > (size_t)off && len < sizeof(name)) {
				memcpy(name, p + off, len - (size_t)off);
				name[len - (size_t)off] = '\0';
				idx = cap_index(name);
				if (idx >= 0 && ack && !off)
					irc.caps_enabled |= 1u << idx;
				else if (idx >= 0)
					irc.caps_enabled &= ~(1u << idx);
			}
			p += len;
			while (*p == ' ')
				p++;
		}
		if (irc.state != IRC_REGISTERING)
			return;
		if (irc.auth == AUTH_SASL) {
			if (irc.caps_enabled & CAP_BIT("sasl")) {
				sasl_begin();
				return;
			}
			fail_auth("the server refused the sasl capability");
			return;
		}
		cap_end();
	} else if (!strcmp(sub, "NEW") || !strcmp(sub, "DEL")) {
		/* cap-notify: nothing we use changes mid-session except the
		 * account sources, which stay as negotiated. */
		debug(COMPONENT, "CAP %s %s", sub, list);
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
			accounts_set_casemap(irc.casemap);
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
		} else if (!strcmp(t, "WHOX") || str_has_prefix(t, "WHOX=")) {
			irc.whox = 1;
		} else if (str_has_prefix(t, "CHANTYPES=")) {
			strlcpy_safe(irc.chantypes, t + 10,
				     sizeof(irc.chantypes));
		}
	}
}

/* Logged in (or nothing to log in to): join, then let queued lines go. */
static void auth_done(const char *how)
{
	uv_timer_stop(&irc.identify_timer);
	irc.auth = AUTH_DONE;
	if (how)
		info(COMPONENT, "%s", how);
	if (irc.state != IRC_REGISTERED)
		return;
	join_channels();
	drain_queue();
}

static void on_identify_timeout(uv_timer_t *t)
{
	UNUSED(t);
	if (irc.auth != AUTH_NICKSERV)
		return;
	warning(COMPONENT,
		"NickServ did not confirm the identification in "
		"%ld s; joining anyway ([irc] identify_timeout)",
		irc.cfg.identify_timeout_ms / 1000);
	auth_done(NULL);
}

static int channels_ready(void)
{
	return irc.state == IRC_REGISTERED && irc.auth == AUTH_DONE;
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
	/* Registered before SASL could end (no CAP, or a server that does
	 * not wait for CAP END): nothing will log us in now. */
	if (irc.auth == AUTH_SASL) {
		fail_auth("the server completed registration before SASL "
			  "could run (no CAP support?)");
		return;
	}
	if (irc.auth == AUTH_NONE && irc.cfg.nickserv_password) {
		const char *account = irc.cfg.nickserv_account
					  ? irc.cfg.nickserv_account
					  : irc.cfg.nick;
		char text[512];

		snprintf(text, sizeof(text), "IDENTIFY %s %s", account,
			 irc.cfg.nickserv_password);
		irc.auth = AUTH_NICKSERV;
		send_now("PRIVMSG", 2, (const char *const[]){"NickServ", text});
		explicit_bzero(text, sizeof(text));
		info(COMPONENT,
		     "identifying to NickServ as %s; channels wait "
		     "for its confirmation (at most %ld s)",
		     account, irc.cfg.identify_timeout_ms / 1000);
		loop_timer_start(&irc.identify_timer, on_identify_timeout,
				 (uint64_t)irc.cfg.identify_timeout_ms, 0);
		return;
	}
	if (irc.auth == AUTH_NONE)
		irc.auth = AUTH_DONE;
	if (irc.auth == AUTH_DONE)
		auth_done(NULL);
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

static void handle_ctcp(const char *nick, const char *target, const char *text)
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
	send_queued(nick, NULL, "NOTICE", 2,
		    (const char *const[]){nick, reply});
}

/* ---- accounts of the people who give commands ---- */

#define ACCOUNT_FRESH_MS 60000
#define LOOKUP_TIMEOUT_MS 5000
#define LOOKUPS_MAX 32
#define WHOX_TOKEN "616"

/*
 * What we know of nick's account: 1 and *account (NULL if not logged in)
 * when known, 0 when a lookup is needed.  account-tag on the message is
 * authoritative; a cached answer is trusted while account-notify keeps it
 * current, or for a minute.
 */
static int sender_account(const struct irc_message *m, const char *nick,
			  const char **account, const char **source)
{
	const char *cached;
	int64_t seen;

	if (irc.caps_enabled & CAP_BIT("account-tag")) {
		const char *tag = irc_message_tag(m, "account");

		*account = tag && *tag && strcmp(tag, "*") ? tag : NULL;
		*source = "account-tag";
		return 1;
	}
	if (accounts_get(nick, &cached, &seen) &&
	    ((irc.caps_enabled & CAP_BIT("account-notify")) ||
	     time_now_ms() - seen < ACCOUNT_FRESH_MS)) {
		*account = cached;
		*source = irc.caps_enabled & CAP_BIT("extended-join")
			      ? "extended-join/account-notify"
			      : "WHOIS";
		return 1;
	}
	return 0;
}

static void dispatch_as(enum opsbot_origin origin, const char *nick,
			const char *user, const char *host, const char *channel,
			const char *account, const char *account_source,
			const char *text)
{
	struct command_source src;

	memset(&src, 0, sizeof(src));
	src.origin = origin;
	src.nick = nick;
	src.user = user;
	src.host = host;
	src.account = account;
	src.account_source = account ? account_source : NULL;
	src.channel = origin == OPSBOT_ORIGIN_CHANNEL ? channel : NULL;
	src.reply_to = origin == OPSBOT_ORIGIN_CHANNEL ? channel : nick;
	src.sink = &irc_reply_sink;
	command_dispatch_text(&src, text);
}

static void lookup_free(struct lookup *l)
{
	free(l->user);
	free(l->host);
	free(l->channel);
	free(l->text);
	free(l);
}

/*
 * Runs the commands that waited for nick's account (now known, or not).
 * gone: the nick was given up (NICK, QUIT), so a WHOIS answer would speak
 * of whoever takes it next: its commands run as not identified.
 */
static void lookups_finish(const char *nick, int timed_out, int gone)
{
	struct lookup **pl = &irc.lookups, *l;

	while ((l = *pl)) {
		const char *account = NULL;
		int64_t seen;

		if (nick && irc_casecmp(l->nick, nick, irc.casemap)) {
			pl = &l->next;
			continue;
		}
		if (!nick && !(timed_out && time_now_ms() >= l->deadline)) {
			pl = &l->next;
			continue;
		}
		*pl = l->next;
		if (gone || !accounts_get(l->nick, &account, &seen))
			account = NULL;
		if (timed_out)
			warning(COMPONENT,
				"no WHOIS answer for %s in %d s; "
				"treating as not identified",
				l->nick, LOOKUP_TIMEOUT_MS / 1000);
		dispatch_as(l->origin, l->nick, l->user, l->host, l->channel,
			    account, "WHOIS", l->text);
		lookup_free(l);
	}
	if (!irc.lookups)
		uv_timer_stop(&irc.lookup_timer);
}

static void on_lookup_timer(uv_timer_t *t)
{
	UNUSED(t);
	lookups_finish(NULL, 1, 0);
}

static void lookup_start(enum opsbot_origin origin, const char *nick,
			 const char *user, const char *host,
			 const char *channel, const char *text)
{
	struct lookup *l, **tail = &irc.lookups;
	int count = 0, asked = 0;

	for (l = irc.lookups; l; l = l->next) {
		count++;
		asked |= !irc_casecmp(l->nick, nick, irc.casemap);
		tail = &l->next;
	}
	if (count >= LOOKUPS_MAX) {
		/* Fail closed rather than queue without bound. */
		dispatch_as(origin, nick, user, host, channel, NULL, NULL,
			    text);
		return;
	}
	l = xcalloc(1, sizeof(*l));
	strlcpy_safe(l->nick, nick, sizeof(l->nick));
	l->user = xstrdup(user ? user : "");
	l->host = xstrdup(host ? host : "");
	l->channel = xstrdup(channel ? channel : "");
	l->text = xstrdup(text);
	l->origin = origin;
	l->deadline = time_now_ms() + LOOKUP_TIMEOUT_MS;
	*tail = l;
	if (!asked)
		send_queued("*lookup*", NULL, "WHOIS", 1,
			    (const char *const[]){nick});
	if (!uv_is_active((uv_handle_t *)&irc.lookup_timer))
		loop_timer_start(&irc.lookup_timer, on_lookup_timer, 250, 250);
}

static void lookups_clear(void)
{
	while (irc.lookups) {
		struct lookup *l = irc.lookups;

		irc.lookups = l->next;
		lookup_free(l);
	}
	uv_timer_stop(&irc.lookup_timer);
}

static void handle_privmsg(const struct irc_message *m)
{
	char src_buf[512];
	struct irc_userhost who;
	const char *target, *text, *prefix = command_prefix();
	const char *account = NULL, *account_source = NULL, *channel = NULL;
	enum opsbot_origin origin;
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
	if (is_channel(target)) {
		origin = OPSBOT_ORIGIN_CHANNEL;
		channel = target;
		if (plen && !strncmp(text, prefix, plen) && text[plen] &&
		    text[plen] != ' ')
			text += plen;
		else if (addressed_to_me(text, &skip))
			text += skip;
		else
			return;
	} else if (nick_is_me(target)) {
		origin = OPSBOT_ORIGIN_PRIVATE;
		if (plen && !strncmp(text, prefix, plen))
			text += plen;
	} else {
		return;
	}
	if (!*text)
		return;
	if (!sender_account(m, who.nick, &account, &account_source) &&
	    command_capability_for(text)) {
		/* Privileged and we do not know who it is: ask first. */
		lookup_start(origin, who.nick, who.user, who.host, channel,
			     text);
		return;
	}
	dispatch_as(origin, who.nick, who.user, who.host, channel, account,
		    account_source, text);
}

/* ---- inbound dispatch ---- */

static void handle_join(const struct irc_message *m, const char *nick,
			const char *source)
{
	struct channel *ch;

	if (m->param_count < 1)
		return;
	/* extended-join: "JOIN #chan account :realname". */
	if (m->param_count >= 3 &&
	    (irc.caps_enabled & CAP_BIT("extended-join")))
		accounts_set(nick, m->params[1], time_now_ms());
	if (!nick_is_me(nick))
		return;
	/* Our own JOIN shows the prefix the server relays for us. */
	irc.own_prefix_len = strlen(source) + 2;
	ch = channel_find(m->params[0]);
	if (ch) {
		ch->joined = 1;
		info(COMPONENT, "joined %s", m->params[0]);
	}
	/* Learn who is logged in as whom, in one request per channel. */
	if (irc.whox)
		send_queued(
		    "*who*", NULL, "WHO", 2,
		    (const char *const[]){m->params[0], "%tna," WHOX_TOKEN});
}

/* Somebody left or renamed: maybe our nick is free again. */
static void maybe_regain_nick(const char *freed)
{
	if (irc.state == IRC_REGISTERED && strcmp(irc.nick, irc.cfg.nick) &&
	    !irc_casecmp(freed, irc.cfg.nick, irc.casemap)) {
		info(COMPONENT, "%s is free again; taking it back", freed);
		send1("NICK", irc.cfg.nick);
	}
}

/* NickServ's answer to IDENTIFY, in the words the common services use. */
static void handle_nickserv_notice(const char *text)
{
	static const char *const ok[] = {
	    "you are now identified", "you are now logged in",
	    "password accepted", "you are successfully identified"};
	static const char *const bad[] = {
	    "invalid password", "incorrect password", "is not registered",
	    "authentication failed"};
	size_t i;

	if (irc.auth != AUTH_NICKSERV)
		return;
	for (i = 0; i < ARRAY_SIZE(ok); i++)
		if (strcasestr(text, ok[i])) {
			auth_done("NickServ confirmed the identification");
			return;
		}
	for (i = 0; i < ARRAY_SIZE(bad); i++)
		if (strcasestr(text, bad[i]))
			error(COMPONENT,
			      "NickServ refused the identification "
			      "(\"%.120s\"); check [irc] "
			      "nickserv_password",
			      text);
}

/* 900-908: services login and SASL. */
static void handle_login_numeric(const struct irc_message *m, int code)
{
	const char *last = m->param_count ? m->params[m->param_count - 1] : "";

	switch (code) {
	case 900: /* RPL_LOGGEDIN: me nick!u@h account :You are now... */
		if (m->param_count >= 3) {
			free(irc.account);
			irc.account = xstrdup(m->params[2]);
			info(COMPONENT, "logged in to services as %s",
			     irc.account);
		}
		if (irc.auth == AUTH_NICKSERV)
			auth_done("identified to services");
		return;
	case 901: /* RPL_LOGGEDOUT */
		free(irc.account);
		irc.account = NULL;
		return;
	case 903: /* RPL_SASLSUCCESS */
		if (irc.auth == AUTH_SASL) {
			irc.auth = AUTH_DONE;
			info(COMPONENT, "sasl %s: authenticated",
			     irc.cfg.sasl_mechanism);
			cap_end();
		}
		return;
	case 907: /* ERR_SASLALREADY */
		return;
	case 908: /* RPL_SASLMECHS */
		info(COMPONENT, "sasl: the server offers %s",
		     m->param_count >= 2 ? m->params[1] : "?");
		return;
	case 902: /* ERR_NICKLOCKED */
	case 904: /* ERR_SASLFAIL */
	case 905: /* ERR_SASLTOOLONG */
	case 906: /* ERR_SASLABORTED */
		if (irc.auth == AUTH_SASL)
			fail_auth("%s %s failed (%d: %s); check [irc] "
				  "sasl_username and sasl_password, or the "
				  "client certificate",
				  irc.cfg.sasl_mechanism,
				  irc.cfg.sasl_username ? irc.cfg.sasl_username
							: irc.cfg.nick,
				  code, last);
		return;
	}
}

static void handle_line(char *line, size_t len)
{
	struct irc_message m;
	enum irc_parse_error err;
	char src_buf[512], *nick = NULL;
	struct irc_userhost who;
	const char *cmd;
	int code;

	irc.stats.lines_in++;
	err = irc_message_parse(line, len, &m);
	if (err != IRC_PARSE_OK) {
		irc.stats.lines_rejected++;
		irc.stats.rejected_by_reason[err]++;
		debug(COMPONENT, "ignored a server line: %s",
		      irc_parse_error_name(err));
		return;
	}
	if (log_enabled(LOG_DEBUG))
		debug(COMPONENT, "<< %s %s", m.command,
		      m.param_count ? m.params[0] : "");
	if (m.source &&
	    irc_userhost_split(m.source, src_buf, sizeof(src_buf), &who) == 0 &&
	    *who.nick)
		nick = who.nick;
	/* Verbs are case-insensitive; the parser keeps what was sent. */
	for (char *c = (char *)m.command; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	cmd = m.command;
	/* account-tag on anything a user sends keeps the cache current. */
	if (nick && who.host && (irc.caps_enabled & CAP_BIT("account-tag")) &&
	    strcmp(cmd, "QUIT") && strcmp(cmd, "NICK")) {
		const char *tag = irc_message_tag(&m, "account");

		accounts_set(nick, tag, time_now_ms());
	}

	if (isdigit((unsigned char)cmd[0])) {
		code = (int)strtol(cmd, NULL, 10);
		if (code >= 900 && code <= 908) {
			handle_login_numeric(&m, code);
			return;
		}
		switch (code) {
		case 1:
			handle_welcome(&m);
			return;
		case 5:
			handle_isupport(&m);
			return;
		case 330: /* RPL_WHOISACCOUNT: me nick account :is logged in */
			if (m.param_count >= 3)
				accounts_set(m.params[1], m.params[2],
					     time_now_ms());
			return;
		case 318: /* RPL_ENDOFWHOIS: no 330 means not logged in */
			if (m.param_count >= 2) {
				const char *acct;
				int64_t seen;

				if (!accounts_get(m.params[1], &acct, &seen) ||
				    time_now_ms() - seen > LOOKUP_TIMEOUT_MS)
					accounts_set(m.params[1], NULL,
						     time_now_ms());
				lookups_finish(m.params[1], 0, 0);
			}
			return;
		case 401: /* ERR_NOSUCHNICK: gone; its commands fail closed */
			if (m.param_count >= 2) {
				accounts_forget(m.params[1]);
				lookups_finish(m.params[1], 0, 0);
			}
			return;
		case 354: /* WHOX: me token nick account ("0": none) */
			if (m.param_count >= 4 &&
			    !strcmp(m.params[1], WHOX_TOKEN))
				accounts_set(m.params[2],
					     strcmp(m.params[3], "0")
						 ? m.params[3]
						 : NULL,
					     time_now_ms());
			return;
		case 432:
		case 433:
		case 436:
		case 437:
			handle_nick_error(&m);
			return;
		case 465:
			irc.banned = 1;
			error(COMPONENT, "BANNED from the server (465): %s",
			      m.param_count >= 2 ? m.params[1] : "");
			return;
		case 403:
		case 405:
		case 471:
		case 473:
		case 474:
		case 475:
		case 477:
			warning(COMPONENT, "cannot join %s: %s",
				m.param_count >= 2 ? m.params[1] : "?",
				m.param_count >= 3 ? m.params[2] : cmd);
			return;
		case 421:
			if (m.param_count >= 2 && !strcmp(m.params[1], "CAP"))
				irc.cap_negotiating = 0; /* no CAP at all */
			return;
		default:
			return;
		}
	}

	switch (cmd[0]) {
	case 'A':
		if (!strcmp(cmd, "AUTHENTICATE") && m.param_count >= 1 &&
		    !strcmp(m.params[0], "+"))
			sasl_respond();
		else if (!strcmp(cmd, "ACCOUNT") && nick && m.param_count >= 1)
			accounts_set(nick, m.params[0], time_now_ms());
		return;
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
			if (strcasestr(why, "banned") ||
			    strcasestr(why, "k-line") ||
			    strcasestr(why, "kline") ||
			    strcasestr(why, "g-line") ||
			    strcasestr(why, "z-line"))
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
			warning(COMPONENT, "killed by %s: %s",
				nick ? nick : "the server",
				m.param_count >= 2 ? m.params[1] : "");
		}
		return;
	case 'N':
		if (!strcmp(cmd, "NICK") && m.param_count >= 1 && nick) {
			if (nick_is_me(nick)) {
				strlcpy_safe(irc.nick, m.params[0],
					     sizeof(irc.nick));
				irc.own_prefix_len = 0;
				info(COMPONENT, "now known as %s", irc.nick);
			} else {
				lookups_finish(nick, 0, 1);
				accounts_rename(nick, m.params[0]);
				maybe_regain_nick(nick);
			}
		} else if (!strcmp(cmd, "NOTICE") && nick &&
			   m.param_count >= 2 &&
			   !strcasecmp(nick, "NickServ")) {
			handle_nickserv_notice(m.params[1]);
		}
		return;
	case 'Q':
		if (!strcmp(cmd, "QUIT") && nick && !nick_is_me(nick)) {
			lookups_finish(nick, 0, 1);
			accounts_forget(nick);
			maybe_regain_nick(nick);
		}
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
			/* Logged like one that spans reads, so every refused
			 * line is accounted for in the log. */
			irc.stats.lines_too_long++;
			debug(COMPONENT, "skipped a line longer than %d bytes",
			      IRC_INPUT_MAX);
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

/* What the server told us about this session only. */
static void reset_session(void)
{
	irc.auth = AUTH_NONE;
	free(irc.account);
	irc.account = NULL;
	irc.whox = 0;
	irc.caps_enabled = 0;
	uv_timer_stop(&irc.identify_timer);
	accounts_clear();
	lookups_clear();
}

static void on_connected(void *data)
{
	UNUSED(data);
	irc.state = IRC_REGISTERING;
	irc.stats.connects++;
	irc.last_rx = time_now_ms();
	irc.ping_outstanding = 0;
	irc.caps_enabled = 0;
	irc.own_prefix_len = 0;
	/* The server counts lines per connection: a new one starts full. */
	irc_queue_refill(irc.queue, time_now_ms());
	buf_reset(&irc.carry);
	buf_reset(&irc.caps_offered);
	irc.discarding = 0;
	if (irc.cfg.tls)
		info(COMPONENT, "connected to %s with %s", net_peer(irc.conn),
		     net_tls_info(irc.conn));
	else
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
	reset_session();
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

long irc_backoff_delay(long base, long cap, int attempt, double random01)
{
	long ceiling = base;
	int i;

	for (i = 0; i < attempt && ceiling < cap; i++)
		ceiling *= 2;
	if (ceiling > cap)
		ceiling = cap;
	/* Jitter over the upper half: spread out, never a tight loop. */
	return ceiling / 2 + (long)(random01 * (double)(ceiling - ceiling / 2));
}

static void schedule_reconnect(const char *why)
{
	long delay;

	irc.state = IRC_IDLE;
	/* Only a session that lasted resets the backoff. */
	if (irc.registered_at &&
	    time_now_ms() - irc.registered_at >= irc.cfg.reconnect_reset_ms)
		irc.reconnect_attempt = 0;
	irc.registered_at = 0;
	delay = irc_backoff_delay(
	    irc.cfg.reconnect_min_ms, irc.cfg.reconnect_max_ms,
	    irc.reconnect_attempt, (double)rand() / RAND_MAX);
	irc.reconnect_attempt++;
	if (irc.banned) {
		delay = KLINE_BACKOFF_MS;
		error(COMPONENT, "banned by the server: not reconnecting for "
				 "an hour (restart opsbot to try sooner)");
		irc.banned = 0;
	}
	warning(COMPONENT, "disconnected (%s); reconnecting in %.1f s", why,
		(double)delay / 1000.0);
	loop_timer_start(&irc.reconnect_timer, on_reconnect_timer,
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
	static const struct net_callbacks cb = {on_connected, on_received,
						on_closed};
	struct net_options o;

	if (irc.conn)
		return;
	memset(&o, 0, sizeof(o));
	o.host = irc.cfg.server;
	o.port = irc.cfg.port;
	o.connect_timeout_ms = irc.cfg.connect_timeout_ms;
	if (irc.cfg.tls) {
		o.tls = &irc.cfg.tls_opts;
		/* Said at every connect: it must not go unnoticed. */
		if (!irc.cfg.tls_opts.verify && !irc.cfg.tls_opts.fingerprint)
			warning(COMPONENT,
				"TLS certificate verification is OFF ([irc] "
				"tls_verify = false): anyone on the path can "
				"read and change this connection");
	}
	irc.state = IRC_CONNECTING;
	info(COMPONENT, "connecting to %s port %d%s", o.host, o.port,
	     irc.cfg.tls ? " with TLS" : "");
	irc.conn = net_connect(&o, &cb, NULL);
}

static void timers_init(void)
{
	if (irc.timers_ready)
		return;
	uv_prepare_init(loop_get(), &irc.flush_check);
	uv_timer_init(loop_get(), &irc.reconnect_timer);
	uv_timer_init(loop_get(), &irc.watchdog_timer);
	uv_timer_init(loop_get(), &irc.queue_timer);
	uv_timer_init(loop_get(), &irc.nick_timer);
	uv_timer_init(loop_get(), &irc.quit_timer);
	uv_timer_init(loop_get(), &irc.identify_timer);
	uv_timer_init(loop_get(), &irc.lookup_timer);
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
	loop_timer_start(&irc.watchdog_timer, on_watchdog, (uint64_t)tick,
			 (uint64_t)tick);
	loop_timer_start(&irc.nick_timer, on_nick_timer, NICK_REGAIN_MS,
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
	} else if (irc.state == IRC_REGISTERED &&
		   strcmp(old.nick, irc.cfg.nick)) {
		send1("NICK", irc.cfg.nick);
	}
	/* Before services confirmed us nothing was joined, and auth_done()
	 * joins the new list: channels stay fail-closed across a reload. */
	if (!reconnect && channels_ready()) {
		/* Part what was removed; join everything configured (a
		 * JOIN of a channel we are in is harmless). */
		for (i = 0; i < old.channel_count; i++) {
			int kept = 0;
			char name[256], other[256];

			strlcpy_safe(name, old.channels[i], sizeof(name));
			name[strcspn(name, " ")] = '\0';
			/* The whole name: "#ops" is not kept by "#ops-team". */
			for (j = 0; j < irc.cfg.channel_count; j++) {
				strlcpy_safe(other, irc.cfg.channels[j],
					     sizeof(other));
				other[strcspn(other, " ")] = '\0';
				if (!irc_casecmp(other, name, irc.casemap))
					kept = 1;
			}
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
	loop_timer_start(&irc.quit_timer, on_quit_timer, QUIT_WAIT_MS, 0);
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
		uv_close((uv_handle_t *)&irc.identify_timer, NULL);
		uv_close((uv_handle_t *)&irc.lookup_timer, NULL);
		irc.timers_ready = 0;
	}
	irc_queue_free(irc.queue);
	irc.queue = NULL;
	buf_free(&irc.carry);
	buf_free(&irc.out);
	buf_free(&irc.caps_offered);
	settings_free(&irc.cfg);
	reset_session();
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
