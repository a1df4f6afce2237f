/*
 * irc_conn.c - the bot's one connection to its server: the socket (TCP or
 * TLS through net.c), the state of the session, the bytes in and out, the
 * PING watchdog, reconnects with backoff, and QUIT.
 *
 * Inbound: bytes are cut into lines at LF (a trailing CR is dropped) and
 * each goes to irc_handle_line(); a line longer than IRC_INPUT_MAX is
 * skipped up to its end, so no input can stall the reader.  Outbound:
 * finished lines are buffered and leave in one write before the loop
 * blocks again.  What a line means is for the other parts.
 *
 * IRCv3 STS (ircv3.net/specs/extensions/sts): a plain-text session that
 * is offered "sts=port=P" reconnects with TLS to P; a TLS session's
 * "sts=duration=N" is kept in the host state table (plugin name
 * "host.sts", key the server name, value "port expiry-ms") and, while it
 * lasts, every connection to that server is TLS to the policy's port
 * with the certificate verified.  A failed TLS connection is retried as
 * TLS, never as plain text.
 */
#include "irc_internal.h"
#include "log.h"
#include "loop.h"
#include "net.h"
#include "state.h"
#include "store.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "irc"
#define KLINE_BACKOFF_MS (60 * 60 * 1000)
#define QUIT_WAIT_MS 2000
#define STS_STATE "host.sts"

static struct {
	enum irc_state state;
	struct net_conn *conn;
	struct buf carry; /* the incomplete last line of a read */
	int discarding;	  /* inside an over-long line */
	struct buf out;	  /* lines to hand to the socket */
	uv_prepare_t flush_check;
	uv_timer_t reconnect_timer, watchdog_timer, quit_timer;
	int handles_ready;
	int64_t last_rx;
	int ping_outstanding;
	int reconnect_attempt;
	int64_t registered_at;	    /* 0 before 001 */
	int banned;		    /* the server said so: wait an hour */
	int tls_now, port_now;	    /* how this session connected */
	int sts_port;		    /* a plain session was told to upgrade */
	char sts_host[256];	    /* ... by this server */
	struct tls_options sts_tls; /* the settings', verification on */
	void (*quit_done)(void);
	void (*test_sent)(const char *line, size_t len);
} conn;

static void schedule_reconnect(const char *why);

void irc_conn_init(void)
{
	if (conn.handles_ready)
		return;
	uv_prepare_init(loop_get(), &conn.flush_check);
	uv_timer_init(loop_get(), &conn.reconnect_timer);
	uv_timer_init(loop_get(), &conn.watchdog_timer);
	uv_timer_init(loop_get(), &conn.quit_timer);
	conn.handles_ready = 1;
}

void irc_conn_fini(void)
{
	if (conn.conn)
		net_close(conn.conn);
	conn.conn = NULL;
	if (conn.handles_ready) {
		uv_close((uv_handle_t *)&conn.flush_check, NULL);
		uv_close((uv_handle_t *)&conn.reconnect_timer, NULL);
		uv_close((uv_handle_t *)&conn.watchdog_timer, NULL);
		uv_close((uv_handle_t *)&conn.quit_timer, NULL);
		conn.handles_ready = 0;
	}
	buf_free(&conn.carry);
	buf_free(&conn.out);
}

enum irc_state irc_conn_state(void)
{
	return conn.state;
}

int irc_conn_is_open(void)
{
	return conn.conn != NULL;
}

const char *irc_conn_peer(void)
{
	return conn.conn ? net_peer(conn.conn) : "(test)";
}

void irc_conn_mark_registered(void)
{
	conn.state = IRC_REGISTERED;
	conn.registered_at = time_now_ms();
	irc_counters()->registrations++;
}

/* ---- output ---- */

static void on_flush(uv_prepare_t *check)
{
	uv_prepare_stop(check);
	if (!conn.out.len)
		return;
	if (conn.test_sent) {
		buf_reset(&conn.out);
		return;
	}
	if (conn.conn)
		net_write(conn.conn, conn.out.data, conn.out.len);
	buf_reset(&conn.out);
}

void irc_conn_flush(void)
{
	on_flush(&conn.flush_check);
}

/* The debug log shows what we send, except credentials: PASS,
 * AUTHENTICATE and IDENTIFY not at all, a JOIN without its keys (short
 * keys are not redacted, see secret_register()), and the text of private
 * messages, where plugins put what is one person's (an e-mail address,
 * a capability link): only its target and size. */
static void log_sent_line(const char *line, size_t len)
{
	const char *keys, *target, *text;

	if (str_has_prefix(line, "PASS ") ||
	    str_has_prefix(line, "AUTHENTICATE ") ||
	    strcasestr(line, " :IDENTIFY "))
		return;
	if (str_has_prefix(line, "JOIN ") &&
	    (keys = memchr(line + 5, ' ', len - 5)) != NULL) {
		debug(COMPONENT, ">> %.*s <keys hidden>", (int)(keys - line),
		      line);
		return;
	}
	target = str_has_prefix(line, "PRIVMSG ")  ? line + 8
		 : str_has_prefix(line, "NOTICE ") ? line + 7
						   : NULL;
	if (target && !strchr("#&+!", *target) &&
	    (text = memmem(target, len - (size_t)(target - line), " :", 2))) {
		debug(COMPONENT, ">> %.*s :<private text, %zu bytes>",
		      (int)(text - line), line,
		      len - (size_t)(text + 2 - line));
		return;
	}
	debug(COMPONENT, ">> %.*s", (int)len, line);
}

void irc_conn_write_line(const char *line, size_t len)
{
	irc_counters()->lines_out++;
	if (conn.test_sent)
		conn.test_sent(line, len);
	if (log_enabled(LOG_DEBUG))
		log_sent_line(line, len);
	buf_add(&conn.out, line, len);
	buf_add(&conn.out, "\r\n", 2);
	/* Flushed by a prepare handle, which runs before the loop blocks in
	 * poll: the lines of one pass go out in one write, and a line
	 * written in a timer callback (the queue's pacing timer, a plugin's
	 * timer) goes out at once.  A check handle runs only after poll,
	 * which kept such a line until the next event, seconds later. */
	if (!uv_is_active((uv_handle_t *)&conn.flush_check))
		uv_prepare_start(&conn.flush_check, on_flush);
}

/* ---- input ---- */

static void skipped_long_line(void)
{
	irc_counters()->lines_too_long++;
	debug(COMPONENT, "skipped a line longer than %d bytes", IRC_INPUT_MAX);
}

/* Cuts bytes into lines; a partial line waits in conn.carry. */
void irc_conn_receive(char *bytes, size_t len)
{
	char *p = bytes, *end = bytes + len;

	conn.last_rx = time_now_ms();
	conn.ping_outstanding = 0;
	if (conn.carry.len || conn.discarding) {
		char *nl = memchr(p, '\n', len);
		size_t take = nl ? (size_t)(nl - p) : len;

		if (!conn.discarding) {
			if (conn.carry.len + take > IRC_INPUT_MAX) {
				conn.discarding = 1;
				buf_reset(&conn.carry);
			} else {
				buf_add(&conn.carry, p, take);
			}
		}
		if (!nl)
			return;
		p = nl + 1;
		if (conn.discarding) {
			conn.discarding = 0;
			skipped_long_line();
		} else {
			size_t l = conn.carry.len;

			if (l && conn.carry.data[l - 1] == '\r')
				l--;
			irc_handle_line(conn.carry.data, l);
			buf_reset(&conn.carry);
		}
		/* The line may have ended the session. */
		if (conn.state == IRC_IDLE)
			return;
	}
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t l;

		if (!nl) {
			if ((size_t)(end - p) > IRC_INPUT_MAX)
				conn.discarding = 1;
			else
				buf_add(&conn.carry, p, (size_t)(end - p));
			return;
		}
		l = (size_t)(nl - p);
		if (l > IRC_INPUT_MAX) {
			/* Logged like one that spans reads, so every refused
			 * line is accounted for in the log. */
			skipped_long_line();
		} else {
			if (l && p[l - 1] == '\r')
				l--;
			p[l] = '\0';
			irc_handle_line(p, l);
		}
		p = nl + 1;
		if (conn.state == IRC_IDLE)
			return;
	}
}

static void on_received(void *data, char *bytes, size_t len)
{
	UNUSED(data);
	irc_conn_receive(bytes, len);
}

/* ---- connection life ---- */

static void on_connected(void *data)
{
	UNUSED(data);
	conn.state = IRC_REGISTERING;
	irc_counters()->connects++;
	conn.last_rx = time_now_ms();
	conn.ping_outstanding = 0;
	buf_reset(&conn.carry);
	conn.discarding = 0;
	if (conn.tls_now)
		info(COMPONENT, "connected to %s with %s", net_peer(conn.conn),
		     net_tls_info(conn.conn));
	else
		info(COMPONENT, "connected to %s", net_peer(conn.conn));
	irc_on_connected();
}

static void on_closed(void *data, const char *reason)
{
	UNUSED(data);
	if (conn.state == IRC_QUITTING) {
		net_close(conn.conn);
		conn.conn = NULL;
		uv_timer_stop(&conn.quit_timer);
		conn.state = IRC_IDLE;
		if (conn.quit_done) {
			void (*done)(void) = conn.quit_done;

			conn.quit_done = NULL;
			done();
		}
		return;
	}
	net_close(conn.conn);
	conn.conn = NULL;
	buf_reset(&conn.out);
	irc_on_disconnected();
	schedule_reconnect(reason);
}

void irc_conn_drop(const char *reason)
{
	if (!conn.conn)
		return;
	warning(COMPONENT, "closing the connection: %s", reason);
	on_closed(NULL, reason);
}

static void on_reconnect_timer(uv_timer_t *t)
{
	UNUSED(t);
	irc_conn_connect();
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
	const struct irc_settings *cfg = irc_settings_get();
	long delay;

	conn.state = IRC_IDLE;
	/* Only a session that lasted resets the backoff. */
	if (conn.registered_at &&
	    time_now_ms() - conn.registered_at >= cfg->reconnect_reset_ms)
		conn.reconnect_attempt = 0;
	conn.registered_at = 0;
	delay = irc_backoff_delay(cfg->reconnect_min_ms, cfg->reconnect_max_ms,
				  conn.reconnect_attempt,
				  (double)rand() / RAND_MAX);
	conn.reconnect_attempt++;
	if (conn.banned) {
		delay = KLINE_BACKOFF_MS;
		error(COMPONENT, "banned by the server: not reconnecting for "
				 "an hour (restart opsbot to try sooner)");
		conn.banned = 0;
	}
	warning(COMPONENT, "disconnected (%s); reconnecting in %.1f s", why,
		(double)delay / 1000.0);
	loop_timer_start(&conn.reconnect_timer, on_reconnect_timer,
			 (uint64_t)delay, 0);
}

static void on_watchdog(uv_timer_t *t)
{
	int64_t silent = time_now_ms() - conn.last_rx;
	long limit = irc_settings_get()->ping_timeout_ms;

	UNUSED(t);
	if (conn.state != IRC_REGISTERED && conn.state != IRC_REGISTERING)
		return;
	if (silent >= limit) {
		char why[80];

		snprintf(why, sizeof(why), "no data from the server for %lld s",
			 (long long)(silent / 1000));
		irc_conn_drop(why);
	} else if (silent >= limit / 2 && !conn.ping_outstanding &&
		   conn.state == IRC_REGISTERED) {
		conn.ping_outstanding = 1;
		irc_send_now1("PING", "opsbot");
	}
}

void irc_conn_configure(void)
{
	long tick = irc_settings_get()->ping_timeout_ms / 8;

	if (tick < 250)
		tick = 250;
	loop_timer_start(&conn.watchdog_timer, on_watchdog, (uint64_t)tick,
			 (uint64_t)tick);
}

/* ---- STS ---- */

static int64_t wall_ms(void)
{
	return (int64_t)time(NULL) * 1000;
}

/* The stored policy for the configured server: its port, or 0 when there
 * is none (or it expired: then it is removed). */
static int sts_policy_port(int64_t *expires)
{
	const char *host = irc_settings_get()->server;
	char *value = NULL;
	size_t len = 0;
	long long port = 0, until = 0;

	if (!store_db() || !host)
		return 0;
	if (state_get(STS_STATE, host, &value, &len) != 0 || !value)
		return 0;
	if (sscanf(value, "%lld %lld", &port, &until) != 2 || port < 1 ||
	    port > 65535 || until <= wall_ms()) {
		free(value);
		state_delete(STS_STATE, host);
		return 0;
	}
	free(value);
	if (expires)
		*expires = until;
	return (int)port;
}

/* Where the next connection goes: the settings, unless STS says TLS.
 * why gets a line for the log when STS changed it. */
static void connect_target(int *port, int *tls, char *why, size_t size)
{
	const struct irc_settings *cfg = irc_settings_get();
	int64_t until = 0;
	int policy;

	*port = cfg->port;
	*tls = cfg->tls;
	if (why)
		*why = '\0';
	if (cfg->tls)
		return;
	if (conn.sts_port && cfg->server &&
	    !strcmp(conn.sts_host, cfg->server)) {
		*port = conn.sts_port;
		*tls = 1;
		if (why)
			snprintf(why, size,
				 "sts: %s asked for TLS; connecting to port "
				 "%d with TLS, not plain text",
				 cfg->server, *port);
	} else if ((policy = sts_policy_port(&until)) > 0) {
		*port = policy;
		*tls = 1;
		if (why)
			snprintf(why, size,
				 "sts: %s has a TLS-only policy for %lld more "
				 "s; connecting to port %d with TLS, not plain "
				 "text ([irc] tls = false)",
				 cfg->server,
				 (long long)((until - wall_ms()) / 1000),
				 *port);
	}
}

/* "a=1,b=2" -> the value of key, or -1 (none) / -2 (not a number). */
static long long sts_value(const char *policy, const char *key)
{
	size_t n = strlen(key);
	const char *p = policy;

	while (p && *p) {
		if (!strncmp(p, key, n) && p[n] == '=') {
			char *end;
			long long v;

			if (!isdigit((unsigned char)p[n + 1]))
				return -2;
			v = strtoll(p + n + 1, &end, 10);
			return *end && *end != ',' ? -2 : v;
		}
		p = strchr(p, ',');
		if (p)
			p++;
	}
	return -1;
}

int irc_conn_on_sts(const char *policy)
{
	const char *host = irc_settings_get()->server;

	if (!conn.tls_now) {
		long long port = sts_value(policy, "port");

		/* Without a port the policy means nothing on plain text. */
		if (port < 1 || port > 65535)
			return 0;
		conn.sts_port = (int)port;
		strlcpy_safe(conn.sts_host, host ? host : "",
			     sizeof(conn.sts_host));
		warning(COMPONENT,
			"sts: %s offers TLS on port %lld and asks clients to "
			"use it; reconnecting with TLS",
			host, port);
		irc_conn_drop("sts: upgrading to TLS");
		/* At once, as the spec asks: the next attempt is TLS, so a
		 * server cannot make this loop. */
		if (conn.state == IRC_IDLE)
			loop_timer_start(&conn.reconnect_timer,
					 on_reconnect_timer, 0, 0);
		return 1;
	}
	{
		long long duration = sts_value(policy, "duration");
		char value[64];

		if (duration < 0 || !store_db())
			return 0;
		if (duration == 0) {
			if (state_delete(STS_STATE, host) == 0)
				info(COMPONENT, "sts: %s removed its policy",
				     host);
			return 0;
		}
		snprintf(value, sizeof(value), "%d %lld", conn.port_now,
			 (long long)wall_ms() + duration * 1000);
		if (state_set(STS_STATE, host, value, strlen(value)) == 0)
			info(COMPONENT,
			     "sts: %s is TLS-only for %lld s (port %d); "
			     "plain text to it is refused until then",
			     host, duration, conn.port_now);
	}
	return 0;
}

void irc_test_connect_target(int *port, int *tls)
{
	connect_target(port, tls, NULL, 0);
}

void irc_conn_connect(void)
{
	static const struct net_callbacks cb = {on_connected, on_received,
						on_closed};
	const struct irc_settings *cfg = irc_settings_get();
	struct net_options o;
	char why[300];

	if (conn.conn)
		return;
	memset(&o, 0, sizeof(o));
	o.host = cfg->server;
	connect_target(&conn.port_now, &conn.tls_now, why, sizeof(why));
	o.port = conn.port_now;
	o.connect_timeout_ms = cfg->connect_timeout_ms;
	if (*why)
		warning(COMPONENT, "%s", why);
	if (conn.tls_now && !cfg->tls) {
		/* STS needs a certificate that is really checked. */
		conn.sts_tls = cfg->tls_opts;
		if (!conn.sts_tls.fingerprint)
			conn.sts_tls.verify = 1;
		o.tls = &conn.sts_tls;
	} else if (cfg->tls) {
		o.tls = &cfg->tls_opts;
		/* Said at every connect: it must not go unnoticed. */
		if (!cfg->tls_opts.verify && !cfg->tls_opts.fingerprint)
			warning(COMPONENT,
				"TLS certificate verification is OFF ([irc] "
				"tls_verify = false): anyone on the path can "
				"read and change this connection");
	}
	conn.state = IRC_CONNECTING;
	info(COMPONENT, "connecting to %s port %d%s", o.host, o.port,
	     o.tls ? " with TLS" : "");
	conn.conn = net_connect(&o, &cb, NULL);
}

static void on_quit_timer(uv_timer_t *t)
{
	UNUSED(t);
	if (conn.conn)
		on_closed(NULL, "quit");
}

void irc_conn_quit(const char *message, void (*done)(void))
{
	uv_timer_stop(&conn.reconnect_timer);
	if (!conn.conn || conn.state == IRC_CONNECTING) {
		if (conn.conn)
			net_close(conn.conn);
		conn.conn = NULL;
		conn.state = IRC_IDLE;
		if (done)
			done();
		return;
	}
	conn.quit_done = done;
	if (conn.state == IRC_REGISTERED || conn.state == IRC_REGISTERING)
		irc_send_now1("QUIT", message ? message : "bye");
	conn.state = IRC_QUITTING;
	on_flush(&conn.flush_check);
	loop_timer_start(&conn.quit_timer, on_quit_timer, QUIT_WAIT_MS, 0);
}

void irc_conn_test_attach(void (*sent)(const char *line, size_t len))
{
	conn.test_sent = sent;
	conn.state = IRC_REGISTERING;
	conn.sts_port = 0;
	connect_target(&conn.port_now, &conn.tls_now, NULL, 0);
	irc_counters()->connects++;
}

/* ---- what the server says about the link ---- */

void irc_conn_on_ping(const struct irc_message *m,
		      const struct irc_userhost *who)
{
	UNUSED(who);
	irc_send_now("PONG", m->param_count ? 1 : 0, m->params);
}

void irc_conn_on_pong(const struct irc_message *m,
		      const struct irc_userhost *who)
{
	UNUSED(m);
	UNUSED(who);
	conn.ping_outstanding = 0;
}

void irc_conn_on_error(const struct irc_message *m,
		       const struct irc_userhost *who)
{
	const char *why = m->param_count ? m->params[0] : "";

	UNUSED(who);
	if (conn.state == IRC_QUITTING)
		info(COMPONENT, "server closed the link: %s", why);
	else
		warning(COMPONENT, "server says: ERROR %s", why);
	if (strcasestr(why, "banned") || strcasestr(why, "k-line") ||
	    strcasestr(why, "kline") || strcasestr(why, "g-line") ||
	    strcasestr(why, "z-line"))
		conn.banned = 1;
	/* ERROR is the server's last word: the link is over even when the
	 * server does not close it, so close it and reconnect (or finish
	 * quitting) instead of waiting for the ping timeout. */
	if (conn.conn && conn.state == IRC_QUITTING)
		on_closed(NULL, "quit");
	else
		irc_conn_drop("the server sent ERROR");
}

void irc_conn_on_kill(const struct irc_message *m,
		      const struct irc_userhost *who)
{
	warning(COMPONENT, "killed by %s: %s", who ? who->nick : "the server",
		m->param_count >= 2 ? m->params[1] : "");
}

/* 465 ERR_YOUREBANNEDCREEP. */
void irc_conn_on_banned(const struct irc_message *m, int code)
{
	UNUSED(code);
	conn.banned = 1;
	error(COMPONENT, "BANNED from the server (465): %s",
	      m->param_count >= 2 ? m->params[1] : "");
}
