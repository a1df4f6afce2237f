/*
 * irc_register.c - getting the bot registered and logged in: CAP LS 302
 * first (so the server holds registration for CAP END), SASL PLAIN or
 * EXTERNAL before CAP END, NickServ IDENTIFY after 001 when there is no
 * SASL, our nick (collisions at registration, taking it back later), and
 * what ISUPPORT says about the server.
 *
 * Login fails closed: when SASL is configured and cannot succeed, the bot
 * quits instead of joining under a nick someone else may own.  Channels
 * are joined only once irc_register_complete() says so.
 */
#include "irc_accounts.h"
#include "irc_internal.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "irc"
#define NICK_REGAIN_MS 60000
#define CAPS_OFFERED_MAX 16384

/* Capabilities the bot asks for when the server offers them; "sasl"
 * only when SASL is configured. */
static const char *const wanted_caps[] = {
    "multi-prefix", "message-tags",	 "server-time",
    "account-tag",  "extended-join",	 "account-notify",
    "cap-notify",   "userhost-in-names", "sasl",
};

/* Logging in to services, before channels are joined. */
enum auth_state {
	AUTH_NONE,     /* nothing configured */
	AUTH_SASL,     /* SASL in progress (before CAP END) */
	AUTH_NICKSERV, /* IDENTIFY sent, waiting for confirmation */
	AUTH_DONE,     /* logged in (or nothing to do): join */
	AUTH_FAILED,   /* fail closed: no joins */
};

static struct {
	char *nick;		 /* the nick the server knows us by */
	int nick_attempt;	 /* index into the nick candidates */
	unsigned caps_enabled;	 /* bit i: wanted_caps[i] acknowledged */
	struct buf caps_offered; /* from CAP LS, space-separated */
	int cap_negotiating;
	enum auth_state auth;
	char *account; /* our own services account, once known */
	struct irc_isupport isupport;
	uv_timer_t identify_timer, nick_timer;
	int handles_ready;
} reg;

static void on_nick_timer(uv_timer_t *t);
static void set_own_nick(char *nick);

void irc_register_init(void)
{
	if (reg.handles_ready)
		return;
	uv_timer_init(loop_get(), &reg.identify_timer);
	uv_timer_init(loop_get(), &reg.nick_timer);
	reg.handles_ready = 1;
}

void irc_register_fini(void)
{
	if (reg.handles_ready) {
		uv_close((uv_handle_t *)&reg.identify_timer, NULL);
		uv_close((uv_handle_t *)&reg.nick_timer, NULL);
		reg.handles_ready = 0;
	}
	buf_free(&reg.caps_offered);
	set_own_nick(NULL);
}

void irc_register_defaults(void)
{
	reg.isupport.casemap = IRC_CASEMAP_RFC1459;
	reg.isupport.nicklen = 30;
	reg.isupport.userlen = 10;
	reg.isupport.hostlen = 63;
	strlcpy_safe(reg.isupport.chantypes, "#&",
		     sizeof(reg.isupport.chantypes));
}

void irc_register_configure(void)
{
	loop_timer_start(&reg.nick_timer, on_nick_timer, NICK_REGAIN_MS,
			 NICK_REGAIN_MS);
}

const struct irc_isupport *irc_isupport(void)
{
	return &reg.isupport;
}

const char *irc_register_nick(void)
{
	return reg.nick ? reg.nick : "";
}

int irc_nick_is_me(const char *nick)
{
	return nick && reg.nick &&
	       !irc_casecmp(nick, reg.nick, reg.isupport.casemap);
}

static int cap_index(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(wanted_caps); i++)
		if (!strcmp(wanted_caps[i], name))
			return (int)i;
	return -1;
}

int irc_cap_enabled(const char *name)
{
	int i = cap_index(name);

	return i >= 0 && (reg.caps_enabled & (1u << i));
}

int irc_register_complete(void)
{
	return irc_conn_state() == IRC_REGISTERED && reg.auth == AUTH_DONE;
}

void irc_register_session_end(void)
{
	reg.auth = AUTH_NONE;
	free(reg.account);
	reg.account = NULL;
	reg.isupport.whox = 0;
	reg.caps_enabled = 0;
	uv_timer_stop(&reg.identify_timer);
}

/* ---- nicks ---- */

/* Nick candidates: the nick, the alternatives, then nick + digits. */
static char *next_nick(void)
{
	const struct irc_settings *cfg = irc_settings_get();
	int i = reg.nick_attempt++;

	if (i == 0)
		return xstrdup(cfg->nick);
	if (i <= cfg->alt_nick_count)
		return xstrdup(cfg->alt_nicks[i - 1]);
	{
		int room = reg.isupport.nicklen - 3;

		if (room < 1)
			room = 1;
		return xasprintf("%.*s%03d", room, cfg->nick, rand() % 1000);
	}
}

/* Our nick, kept whole whatever its length (NICKLEN may exceed 63). */
static void set_own_nick(char *nick)
{
	free(reg.nick);
	reg.nick = nick;
}

void irc_register_on_nick_error(const struct irc_message *m, int code)
{
	char *nick;

	UNUSED(code);
	if (irc_conn_state() != IRC_REGISTERING)
		return; /* a failed regain attempt; keep the nick we have */
	nick = next_nick();
	debug(COMPONENT, "nick '%s' unavailable (%s); trying '%s'", reg.nick,
	      m->command, nick);
	set_own_nick(nick);
	irc_send_now1("NICK", reg.nick);
}

void irc_register_on_own_nick(const char *new_nick)
{
	set_own_nick(xstrdup(new_nick));
	info(COMPONENT, "now known as %s", reg.nick);
}

/* Somebody left or renamed: maybe our nick is free again. */
void irc_register_on_nick_freed(const char *freed)
{
	const char *wanted = irc_settings_get()->nick;

	if (irc_conn_state() == IRC_REGISTERED && strcmp(reg.nick, wanted) &&
	    !irc_casecmp(freed, wanted, reg.isupport.casemap)) {
		info(COMPONENT, "%s is free again; taking it back", freed);
		irc_send_now1("NICK", wanted);
	}
}

static void on_nick_timer(uv_timer_t *t)
{
	const char *wanted = irc_settings_get()->nick;

	UNUSED(t);
	if (irc_conn_state() == IRC_REGISTERED && strcmp(reg.nick, wanted))
		irc_send_now1("NICK", wanted);
}

/* ---- registration ---- */

void irc_register_on_connect(void)
{
	reg.caps_enabled = 0;
	buf_reset(&reg.caps_offered);
}

void irc_register_begin(void)
{
	const struct irc_settings *cfg = irc_settings_get();
	const char *user[4];

	/* CAP first, so the server holds registration for CAP END. */
	irc_send_now("CAP", 2, (const char *const[]){"LS", "302"});
	reg.cap_negotiating = 1;
	reg.auth = cfg->sasl_mechanism ? AUTH_SASL : AUTH_NONE;
	if (cfg->password)
		irc_send_now1("PASS", cfg->password);
	reg.nick_attempt = 0;
	set_own_nick(next_nick());
	irc_send_now1("NICK", reg.nick);
	user[0] = cfg->username;
	user[1] = "0";
	user[2] = "*";
	user[3] = cfg->realname;
	irc_send_now("USER", 4, user);
}

static void cap_end(void)
{
	if (!reg.cap_negotiating)
		return;
	reg.cap_negotiating = 0;
	irc_send_now1("CAP", "END");
}

/* 421 ERR_UNKNOWNCOMMAND for CAP: the server has no CAP at all. */
void irc_register_on_unknown_command(const struct irc_message *m, int code)
{
	UNUSED(code);
	if (m->param_count >= 2 && !strcmp(m->params[1], "CAP"))
		reg.cap_negotiating = 0;
}

static void fail_auth(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* SASL is configured and cannot succeed: never join unauthenticated
 * (another user could own the nick); log why and try again later. */
static void fail_auth(const char *fmt, ...)
{
	enum irc_state state = irc_conn_state();
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	reg.auth = AUTH_FAILED;
	error(COMPONENT, "sasl: %s; not joining any channel (fail closed)",
	      why);
	if (state == IRC_REGISTERING || state == IRC_REGISTERED)
		irc_send_now1("QUIT", "authentication failed");
	irc_conn_flush();
	irc_conn_drop(why);
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

/* The end of CAP LS: request what we want and the server has. */
static void cap_request_offered(void)
{
	const struct irc_settings *cfg = irc_settings_get();
	struct buf req = BUF_INIT;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(wanted_caps); i++) {
		if (!strcmp(wanted_caps[i], "sasl") && !cfg->sasl_mechanism)
			continue;
		if (!cap_listed(reg.caps_offered.data, wanted_caps[i]))
			continue;
		if (req.len)
			buf_addch(&req, ' ');
		buf_adds(&req, wanted_caps[i]);
	}
	if (cfg->sasl_mechanism && !cap_listed(reg.caps_offered.data, "sasl")) {
		buf_free(&req);
		buf_reset(&reg.caps_offered);
		fail_auth("the server does not offer SASL (no 'sasl' in "
			  "CAP LS)");
		return;
	}
	buf_reset(&reg.caps_offered);
	if (req.len)
		irc_send_now("CAP", 2, (const char *const[]){"REQ", req.data});
	else
		cap_end();
	buf_free(&req);
}

/* CAP ACK or NAK: note what is on, then SASL or CAP END. */
static void cap_answered(int ack, const char *list)
{
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
				reg.caps_enabled |= 1u << idx;
			else if (idx >= 0)
				reg.caps_enabled &= ~(1u << idx);
		}
		p += len;
		while (*p == ' ')
			p++;
	}
	if (irc_conn_state() != IRC_REGISTERING)
		return;
	if (reg.auth == AUTH_SASL) {
		if (irc_cap_enabled("sasl")) {
			irc_send_now1("AUTHENTICATE",
				      irc_settings_get()->sasl_mechanism);
			return;
		}
		fail_auth("the server refused the sasl capability");
		return;
	}
	cap_end();
}

/* "CAP * LS [*] :caps" (302 may split the list over several lines). */
void irc_register_on_cap(const struct irc_message *m,
			 const struct irc_userhost *who)
{
	const char *sub, *list;
	int more;

	UNUSED(who);
	if (m->param_count < 3)
		return;
	sub = m->params[1];
	more = m->param_count >= 4 && !strcmp(m->params[2], "*");
	list = m->params[m->param_count - 1];
	if (!strcmp(sub, "LS")) {
		/* A real list is a few hundred bytes; a server that never
		 * ends its LS must not grow this until memory runs out. */
		if (reg.caps_offered.len + strlen(list) < CAPS_OFFERED_MAX) {
			if (reg.caps_offered.len)
				buf_addch(&reg.caps_offered, ' ');
			buf_adds(&reg.caps_offered, list);
		}
		if (more)
			return;
		if (irc_conn_state() != IRC_REGISTERING) {
			buf_reset(&reg.caps_offered);
			return;
		}
		cap_request_offered();
	} else if (!strcmp(sub, "ACK") || !strcmp(sub, "NAK")) {
		cap_answered(!strcmp(sub, "ACK"), list);
	} else if (!strcmp(sub, "NEW") || !strcmp(sub, "DEL")) {
		/* cap-notify: nothing we use changes mid-session except the
		 * account sources, which stay as negotiated. */
		debug(COMPONENT, "CAP %s %s", sub, list);
	}
}

/* The server is ready for our credentials ("AUTHENTICATE +"). */
static void sasl_respond(void)
{
	const struct irc_settings *cfg = irc_settings_get();
	struct buf raw = BUF_INIT;
	char *b64;
	size_t len, off;

	if (reg.auth != AUTH_SASL)
		return;
	if (!strcmp(cfg->sasl_mechanism, "EXTERNAL")) {
		/* The certificate is the credential; no authorization id. */
		irc_send_now1("AUTHENTICATE", "+");
		return;
	}
	{
		const char *user =
		    cfg->sasl_username ? cfg->sasl_username : cfg->nick;

		/* authzid \0 authcid \0 password, authzid empty. */
		buf_addch(&raw, '\0');
		buf_adds(&raw, user);
		buf_addch(&raw, '\0');
		buf_adds(&raw, cfg->sasl_password ? cfg->sasl_password : "");
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
		irc_send_now1("AUTHENTICATE", piece);
		explicit_bzero(piece, sizeof(piece));
	}
	if (len % 400 == 0)
		irc_send_now1("AUTHENTICATE", "+");
	free_secret(b64);
}

void irc_register_on_authenticate(const struct irc_message *m,
				  const struct irc_userhost *who)
{
	UNUSED(who);
	if (m->param_count >= 1 && !strcmp(m->params[0], "+"))
		sasl_respond();
}

void irc_register_on_isupport(const struct irc_message *m, int code)
{
	struct irc_isupport *s = &reg.isupport;
	int i;

	UNUSED(code);
	/* params: our nick, TOKEN[=value]..., "are supported by..." */
	for (i = 1; i < m->param_count - 1; i++) {
		const char *t = m->params[i];

		if (str_has_prefix(t, "CASEMAPPING=")) {
			const char *v = t + 12;

			if (!strcmp(v, "ascii"))
				s->casemap = IRC_CASEMAP_ASCII;
			else if (!strcmp(v, "strict-rfc1459"))
				s->casemap = IRC_CASEMAP_STRICT_RFC1459;
			else
				s->casemap = IRC_CASEMAP_RFC1459;
			accounts_set_casemap(s->casemap);
		} else if (str_has_prefix(t, "NICKLEN=")) {
			long v = strtol(t + 8, NULL, 10);

			if (v > 0 && v < 200)
				s->nicklen = (int)v;
		} else if (str_has_prefix(t, "USERLEN=")) {
			long v = strtol(t + 8, NULL, 10);

			if (v > 0 && v < 200)
				s->userlen = (int)v;
		} else if (str_has_prefix(t, "HOSTLEN=")) {
			long v = strtol(t + 8, NULL, 10);

			if (v > 0 && v < 300)
				s->hostlen = (int)v;
		} else if (!strcmp(t, "WHOX") || str_has_prefix(t, "WHOX=")) {
			s->whox = 1;
		} else if (str_has_prefix(t, "CHANTYPES=")) {
			strlcpy_safe(s->chantypes, t + 10,
				     sizeof(s->chantypes));
		}
	}
}

/* ---- logging in ---- */

/* Logged in (or nothing to log in to): join, then let queued lines go. */
static void auth_done(const char *how)
{
	uv_timer_stop(&reg.identify_timer);
	reg.auth = AUTH_DONE;
	if (how)
		info(COMPONENT, "%s", how);
	if (irc_conn_state() != IRC_REGISTERED)
		return;
	irc_channels_join_all();
	irc_send_drain();
}

static void on_identify_timeout(uv_timer_t *t)
{
	UNUSED(t);
	if (reg.auth != AUTH_NICKSERV)
		return;
	warning(COMPONENT,
		"NickServ did not confirm the identification in "
		"%ld s; joining anyway ([irc] identify_timeout)",
		irc_settings_get()->identify_timeout_ms / 1000);
	auth_done(NULL);
}

/* Sends IDENTIFY; channels wait for NickServ's answer or the timeout. */
static void nickserv_identify(void)
{
	const struct irc_settings *cfg = irc_settings_get();
	const char *account =
	    cfg->nickserv_account ? cfg->nickserv_account : cfg->nick;
	char text[512];

	snprintf(text, sizeof(text), "IDENTIFY %s %s", account,
		 cfg->nickserv_password);
	reg.auth = AUTH_NICKSERV;
	irc_send_now("PRIVMSG", 2, (const char *const[]){"NickServ", text});
	explicit_bzero(text, sizeof(text));
	info(COMPONENT,
	     "identifying to NickServ as %s; channels wait "
	     "for its confirmation (at most %ld s)",
	     account, cfg->identify_timeout_ms / 1000);
	loop_timer_start(&reg.identify_timer, on_identify_timeout,
			 (uint64_t)cfg->identify_timeout_ms, 0);
}

void irc_register_on_welcome(const struct irc_message *m, int code)
{
	UNUSED(code);
	if (m->param_count >= 1 && *m->params[0])
		set_own_nick(xstrdup(m->params[0]));
	irc_conn_mark_registered();
	reg.cap_negotiating = 0;
	info(COMPONENT, "registered as %s on %s", reg.nick, irc_conn_peer());
	/* Registered before SASL could end (no CAP, or a server that does
	 * not wait for CAP END): nothing will log us in now. */
	if (reg.auth == AUTH_SASL) {
		fail_auth("the server completed registration before SASL "
			  "could run (no CAP support?)");
		return;
	}
	if (reg.auth == AUTH_NONE && irc_settings_get()->nickserv_password) {
		nickserv_identify();
		return;
	}
	if (reg.auth == AUTH_NONE)
		reg.auth = AUTH_DONE;
	if (reg.auth == AUTH_DONE)
		auth_done(NULL);
}

/* NickServ's answer to IDENTIFY, in the words the common services use. */
static void nickserv_answered(const char *text)
{
	static const char *const ok[] = {
	    "you are now identified", "you are now logged in",
	    "password accepted", "you are successfully identified"};
	static const char *const bad[] = {
	    "invalid password", "incorrect password", "is not registered",
	    "authentication failed"};
	size_t i;

	if (reg.auth != AUTH_NICKSERV)
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

void irc_register_on_notice(const struct irc_message *m,
			    const struct irc_userhost *who)
{
	if (who && m->param_count >= 2 && !strcasecmp(who->nick, "NickServ"))
		nickserv_answered(m->params[1]);
}

/* 900-908: services login and SASL. */
void irc_register_on_login_numeric(const struct irc_message *m, int code)
{
	const struct irc_settings *cfg = irc_settings_get();
	const char *last = m->param_count ? m->params[m->param_count - 1] : "";

	switch (code) {
	case 900: /* RPL_LOGGEDIN: me nick!u@h account :You are now... */
		if (m->param_count >= 3) {
			free(reg.account);
			reg.account = xstrdup(m->params[2]);
			info(COMPONENT, "logged in to services as %s",
			     reg.account);
		}
		if (reg.auth == AUTH_NICKSERV)
			auth_done("identified to services");
		return;
	case 901: /* RPL_LOGGEDOUT */
		free(reg.account);
		reg.account = NULL;
		return;
	case 903: /* RPL_SASLSUCCESS */
		if (reg.auth == AUTH_SASL) {
			reg.auth = AUTH_DONE;
			info(COMPONENT, "sasl %s: authenticated",
			     cfg->sasl_mechanism);
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
		if (reg.auth == AUTH_SASL)
			fail_auth("%s %s failed (%d: %s); check [irc] "
				  "sasl_username and sasl_password, or the "
				  "client certificate",
				  cfg->sasl_mechanism,
				  cfg->sasl_username ? cfg->sasl_username
						     : cfg->nick,
				  code, last);
		return;
	}
}
