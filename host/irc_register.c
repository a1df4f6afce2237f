/*
 * irc_register.c - getting the bot registered and logged in: CAP LS 302
 * first (so the server holds registration for CAP END), SASL (PLAIN,
 * EXTERNAL, SCRAM-SHA-256 or ECDSA-NIST256P-CHALLENGE, of those the
 * server offers; with "auto" the
 * next offered one after a failure) before CAP END, cap-notify (CAP NEW
 * and DEL), NickServ IDENTIFY after 001 when there is no SASL (only to a
 * NickServ the configured mask or the network vouches for), our nick
 * (collisions at registration, taking it back later), and what ISUPPORT
 * says about the server (including the IRCv3 bot mode we set on ourselves).
 *
 * Login fails closed: when SASL is configured and cannot succeed, the bot
 * quits instead of joining under a nick someone else may own.  Channels
 * are joined only once irc_register_complete() says so.
 */
#include "irc_accounts.h"
#include "irc_internal.h"
#include "log.h"
#include "loop.h"
#include "module.h"
#include "sasl_scram.h"
#include "util.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "irc"
#define NICK_REGAIN_MS 60000
#define CAPS_OFFERED_MAX 16384
#define SASL_IN_MAX 8192

/* Capabilities the bot asks for when the server offers them; "sasl"
 * only when SASL is configured. */
static const char *const wanted_caps[] = {
    "multi-prefix", "message-tags",	 "server-time",
    "account-tag",  "extended-join",	 "account-notify",
    "cap-notify",   "userhost-in-names", "sasl",
};

/* Logging in to services, before channels are joined. */
enum auth_state {
	AUTH_NONE,	     /* nothing configured */
	AUTH_SASL,	     /* SASL in progress (before CAP END) */
	AUTH_NICKSERV_CHECK, /* WHOIS NickServ sent: is it the real one? */
	AUTH_NICKSERV,	     /* IDENTIFY sent, waiting for confirmation */
	AUTH_DONE,	     /* logged in (or nothing to do): join */
	AUTH_FAILED,	     /* fail closed: no joins */
};

static struct {
	char *nick;		 /* the nick the server knows us by */
	int nick_attempt;	 /* index into the nick candidates */
	unsigned caps_enabled;	 /* bit i: wanted_caps[i] acknowledged */
	struct buf caps_offered; /* from CAP LS, space-separated */
	int cap_negotiating;
	enum auth_state auth;
	/* The server's SASL mechanisms (CAP LS "sasl=A,B" or 908), ""
	 * when it has not said; the one we use this session. */
	char sasl_offered[256];
	const char *sasl_mech;
	unsigned sasl_tried; /* bit i: known_mechs[i] failed this session */
	struct buf sasl_in;  /* AUTHENTICATE pieces until the last */
	struct scram *scram;
	int scram_sent_final, scram_verified;
	int ecdsa_step; /* ECDSA-NIST256P-CHALLENGE: 0, account sent: 1 */
	char *account;	/* our own services account, once known */
	/* WHOIS NickServ before IDENTIFY: where it is, whether the server
	 * calls it a network service (313); then the mask we trust. */
	char nickserv_source[300];
	int nickserv_is_service;
	char nickserv_trusted[300];
	struct irc_isupport isupport;
	int bot_mode_set; /* MODE <nick> +<BOT> sent this session */
	uv_timer_t identify_timer, nick_timer;
	int handles_ready;
} reg;

static void on_nick_timer(uv_timer_t *t);
static void set_own_nick(char *nick);

/* Forgets a SASL exchange (its keys zeroed). */
static void sasl_reset(void)
{
	scram_free(reg.scram);
	reg.scram = NULL;
	reg.scram_sent_final = 0;
	reg.scram_verified = 0;
	reg.ecdsa_step = 0;
	buf_reset(&reg.sasl_in);
}

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
	sasl_reset();
	buf_free(&reg.sasl_in);
	set_own_nick(NULL);
	reg.sasl_mech = NULL;
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
	reg.isupport.bot_mode = 0;
	reg.bot_mode_set = 0;
	reg.caps_enabled = 0;
	sasl_reset();
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

/* Could the server really have given us this nick?  Not empty, not
 * longer than we keep, and nothing a target, a mask or the command
 * parser treats specially (a nick of "" or ":" would make every line
 * that starts with ',' or ':' a command addressed to us). */
static int nick_valid(const char *nick)
{
	const unsigned char *c = (const unsigned char *)nick;

	/* Any length the server allows is kept whole (a line is at most
	 * 512 bytes, so no nick is longer). */
	if (!nick || !*nick || strlen(nick) > 400)
		return 0;
	if ((*c >= '0' && *c <= '9') || *c == '-' ||
	    strchr(reg.isupport.chantypes, *c) || strchr("$+~%@&#:", *c))
		return 0;
	for (; *c; c++)
		if (*c <= ' ' || *c == 0x7f || strchr(",*?!@.:", *c))
			return 0;
	return 1;
}

void irc_register_on_own_nick(const char *new_nick)
{
	if (!nick_valid(new_nick)) {
		/* Keep the nick we had; the server's idea of it is now
		 * unknown, so start a clean session. */
		error(COMPONENT,
		      "the server renamed us to an invalid nick \"%.40s\"; "
		      "keeping %s and reconnecting",
		      new_nick, reg.nick);
		irc_conn_drop("the server sent an invalid nick for us");
		return;
	}
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
	reg.sasl_offered[0] = '\0';
	reg.sasl_mech = NULL;
	reg.sasl_tried = 0;
	sasl_reset();
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
	reg.sasl_mech = NULL;
	reg.sasl_tried = 0;
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

static void fail_auth(const char *how, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* SASL or NickServ is configured and cannot succeed: never join
 * unauthenticated (another user could own the nick), never hand the
 * password to a stranger; log why in one line and try again later. */
static void fail_auth(const char *how, const char *fmt, ...)
{
	enum irc_state state = irc_conn_state();
	char why[300];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	reg.auth = AUTH_FAILED;
	error(COMPONENT, "%s: %s; not joining any channel (fail closed)", how,
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

/* Is mech in the server's comma-separated list (case-insensitive)? */
static int mech_offered(const char *mech)
{
	size_t n = strlen(mech);
	const char *p = reg.sasl_offered;

	while (*p) {
		size_t len = strcspn(p, ",");

		if (len == n && !strncasecmp(p, mech, n))
			return 1;
		p += len;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* The value of "sasl=..." in CAP LS into reg.sasl_offered. */
static void note_offered_mechs(const char *caps)
{
	const char *p = caps;

	reg.sasl_offered[0] = '\0';
	while (p && *p) {
		while (*p == ' ')
			p++;
		if (str_has_prefix(p, "sasl=")) {
			size_t len = strcspn(p + 5, " ");

			if (len >= sizeof(reg.sasl_offered))
				len = sizeof(reg.sasl_offered) - 1;
			memcpy(reg.sasl_offered, p + 5, len);
			reg.sasl_offered[len] = '\0';
			return;
		}
		p = strchr(p, ' ');
	}
}

/* The names the bot speaks, strongest first, as constants: reg.sasl_mech
 * must not point into the settings, which a reload or a restart frees
 * while a session (or the next one) still looks at it. */
static const char *const known_mechs[] = {
    "EXTERNAL", "ECDSA-NIST256P-CHALLENGE", "SCRAM-SHA-256", "PLAIN"};
enum { MECH_EXTERNAL, MECH_ECDSA, MECH_SCRAM, MECH_PLAIN };

static int mech_index(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(known_mechs); i++)
		if (!strcasecmp(name, known_mechs[i]))
			return (int)i;
	return -1;
}

/* The mechanisms the settings allow, strongest first: the configured
 * one, or for "auto" every one the credentials allow (EXTERNAL with a
 * client certificate, then SCRAM-SHA-256, then PLAIN). */
static int configured_mechs(const char *out[5])
{
	const struct irc_settings *cfg = irc_settings_get();
	int n = 0;

	if (strcmp(cfg->sasl_mechanism, "AUTO")) {
		int i = mech_index(cfg->sasl_mechanism);

		/* The config check allows no other name. */
		out[n++] = known_mechs[i >= 0 ? i : MECH_PLAIN];
		return n;
	}
	if (cfg->tls && cfg->tls_opts.client_cert)
		out[n++] = known_mechs[MECH_EXTERNAL];
	if (cfg->sasl_ecdsa_key)
		out[n++] = known_mechs[MECH_ECDSA];
	if (cfg->sasl_password) {
		out[n++] = known_mechs[MECH_SCRAM];
		out[n++] = known_mechs[MECH_PLAIN];
	}
	return n;
}

/* The next mechanism to try: the strongest configured one that has not
 * failed this session and that the server offers (when it said which:
 * CAP LS "sasl=..." or 908).  NULL when none is left. */
static const char *next_mechanism(void)
{
	const char *candidates[5];
	int n = configured_mechs(candidates), i;

	for (i = 0; i < n; i++) {
		int bit = mech_index(candidates[i]);

		if (bit >= 0 && (reg.sasl_tried & (1u << bit)))
			continue;
		if (!reg.sasl_offered[0] || mech_offered(candidates[i]))
			return candidates[i];
	}
	return NULL;
}

/* No configured mechanism is left: fail closed, saying what the server
 * offers and what was tried. */
static void no_mechanism_left(void)
{
	const char *candidates[5];
	int n = configured_mechs(candidates);

	if (reg.sasl_tried)
		fail_auth("sasl",
			  "no SASL mechanism succeeded (the server offers "
			  "%s; %s configured); check [irc] sasl_username and "
			  "sasl_password, or the client certificate",
			  reg.sasl_offered[0] ? reg.sasl_offered : "any",
			  n > 1 ? "several mechanisms were"
				: (n ? candidates[0] : "nothing"));
	else
		fail_auth("sasl",
			  "the server offers %s, not %s; set [irc] "
			  "sasl_mechanism to one it offers",
			  reg.sasl_offered,
			  n ? (n > 1 ? "any mechanism the credentials allow"
				     : candidates[0])
			    : "anything the configured credentials allow");
}

/* Starts the next mechanism, or fails closed when none is left. */
static void sasl_try_next(void)
{
	reg.sasl_mech = next_mechanism();
	sasl_reset();
	if (!reg.sasl_mech) {
		no_mechanism_left();
		return;
	}
	irc_send_now1("AUTHENTICATE", reg.sasl_mech);
}

/* "sts=<policy>" in CAP LS goes to the connection; 1 when it drops
 * this plain-text session to come back with TLS. */
static int sts_offered(void)
{
	const char *p = reg.caps_offered.data;

	while (p && *p) {
		while (*p == ' ')
			p++;
		if (str_has_prefix(p, "sts=")) {
			char policy[256];
			size_t len = strcspn(p + 4, " ");

			if (len >= sizeof(policy))
				return 0;
			memcpy(policy, p + 4, len);
			policy[len] = '\0';
			return irc_conn_on_sts(policy);
		}
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
	/* STS first: a plain-text session may offer SASL only on TLS. */
	if (sts_offered()) {
		buf_free(&req);
		buf_reset(&reg.caps_offered);
		return;
	}
	if (cfg->sasl_mechanism && !cap_listed(reg.caps_offered.data, "sasl")) {
		buf_free(&req);
		buf_reset(&reg.caps_offered);
		fail_auth("sasl",
			  "the server does not offer SASL (no 'sasl' in "
			  "CAP LS)");
		return;
	}
	/* Which mechanisms are offered is decided after the ACK: a client
	 * that cannot use any of them still requests sasl, then gives up
	 * (as the IRCv3 client conformance tests expect). */
	if (cfg->sasl_mechanism)
		note_offered_mechs(reg.caps_offered.data);
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
			if (!reg.sasl_mech)
				sasl_try_next();
			return;
		}
		fail_auth("sasl", "the server refused the sasl capability");
		return;
	}
	cap_end();
}

/* cap-notify "CAP NEW": an STS policy is acted on as in CAP LS (on plain
 * text: disconnect and come back with TLS; on TLS: the duration is
 * stored), and a new SASL mechanism list is noted.  Other capabilities
 * are not requested mid-session: the account sources stay as they were
 * negotiated, so that what account-notify is trusted for holds from the
 * start of the session. */
static void cap_new(const char *list)
{
	const char *p = list;

	debug(COMPONENT, "CAP NEW %s", list);
	while (*p) {
		size_t len = strcspn(p, " ");
		char item[300];

		if (len < sizeof(item)) {
			memcpy(item, p, len);
			item[len] = '\0';
			if (str_has_prefix(item, "sts=")) {
				if (irc_conn_on_sts(item + 4))
					return; /* this session is over */
			} else if (!strcmp(item, "sasl")) {
				reg.sasl_offered[0] = '\0';
			} else if (str_has_prefix(item, "sasl=")) {
				strlcpy_safe(reg.sasl_offered, item + 5,
					     sizeof(reg.sasl_offered));
			}
		}
		p += len;
		while (*p == ' ')
			p++;
	}
}

/* cap-notify "CAP DEL": what the server no longer gives is off, so that
 * nothing is trusted on a capability that stopped (account-notify going
 * away means cached accounts are no longer kept current). */
static void cap_del(const char *list)
{
	const char *p = list;

	debug(COMPONENT, "CAP DEL %s", list);
	while (*p) {
		size_t len = strcspn(p, " ");
		size_t name_len = strcspn(p, " =");
		char name[64];
		int idx;

		if (name_len < sizeof(name)) {
			memcpy(name, p, name_len);
			name[name_len] = '\0';
			idx = cap_index(name);
			if (idx >= 0 && (reg.caps_enabled & (1u << idx))) {
				reg.caps_enabled &= ~(1u << idx);
				info(COMPONENT,
				     "the server withdrew %s (CAP DEL)", name);
			}
		}
		p += len;
		while (*p == ' ')
			p++;
	}
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
	} else if (!strcmp(sub, "NEW")) {
		cap_new(list);
	} else if (!strcmp(sub, "DEL")) {
		cap_del(list);
	}
}

/* Sends raw as AUTHENTICATE payload: base64 in 400-byte pieces, and a
 * last piece of exactly 400 followed by "+". */
static void send_authenticate(const void *raw, size_t raw_len)
{
	char *b64 = base64_encode(raw, raw_len);
	size_t len = strlen(b64), off;

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

/* PLAIN: authzid \0 authcid \0 password, the authorisation identity the
 * account itself: RFC 4616 allows it empty, but some services refuse an
 * empty one. */
static void sasl_plain(void)
{
	const struct irc_settings *cfg = irc_settings_get();
	const char *user = cfg->sasl_username ? cfg->sasl_username : cfg->nick;
	struct buf raw = BUF_INIT;

	buf_adds(&raw, user);
	buf_addch(&raw, '\0');
	buf_adds(&raw, user);
	buf_addch(&raw, '\0');
	buf_adds(&raw, cfg->sasl_password ? cfg->sasl_password : "");
	send_authenticate(raw.data, raw.len);
	explicit_bzero(raw.data, raw.len);
	buf_free(&raw);
}

/* SCRAM or ECDSA went wrong (the server's proof or message, or our key):
 * abort the exchange, then fail closed. */
static void sasl_abort(char *err)
{
	irc_send_now1("AUTHENTICATE", "*");
	fail_auth("sasl", "%s", err);
	free(err);
}

/* SCRAM-SHA-256, one server message at a time: "+" -> client-first;
 * server-first -> client-final; server-final -> its signature checked,
 * then "+".  A 903 before a good signature is refused (see below). */
static void sasl_scram_step(const char *payload)
{
	const struct irc_settings *cfg = irc_settings_get();
	const char *user = cfg->sasl_username ? cfg->sasl_username : cfg->nick;
	char *out = NULL, *err = NULL, *text;

	if (!reg.scram) {
		const struct tls_backend *tls = module_tls(&err);

		if (!tls) {
			sasl_abort(err);
			return;
		}
		reg.scram = scram_start(tls, user, cfg->sasl_password, NULL,
					cfg->scram_min_iterations,
					cfg->scram_max_iterations, &out, &err);
		if (!reg.scram) {
			sasl_abort(err);
			return;
		}
		send_authenticate(out, strlen(out));
		free(out);
		return;
	}
	text = sasl_base64_decode_text(payload);
	if (!text) {
		sasl_abort(xstrdup("scram-sha-256: the server's message is "
				   "not base64 text"));
		return;
	}
	if (!reg.scram_sent_final) {
		if (scram_client_final(reg.scram, text, &out, &err) < 0) {
			free(text);
			sasl_abort(err);
			return;
		}
		reg.scram_sent_final = 1;
		send_authenticate(out, strlen(out));
		free_secret(out);
	} else if (!reg.scram_verified) {
		if (scram_check_server_final(reg.scram, text, &err) < 0) {
			free(text);
			sasl_abort(err);
			return;
		}
		reg.scram_verified = 1;
		irc_send_now1("AUTHENTICATE", "+");
	}
	free(text);
}

/* ECDSA-NIST256P-CHALLENGE (Atheme's): "+" -> the account name; the
 * server's challenge -> its signature with the configured P-256 key (the
 * challenge used as the digest).  The key is read for each signature and
 * never kept. */
static void sasl_ecdsa_step(const char *payload)
{
	const struct irc_settings *cfg = irc_settings_get();
	const char *user = cfg->sasl_username ? cfg->sasl_username : cfg->nick;
	const struct tls_backend *tls;
	unsigned char *challenge, sig[160];
	size_t len = 0, sig_len = sizeof(sig);
	char *err = NULL, why[256];

	if (reg.ecdsa_step == 0) {
		if (*payload)
			return;
		reg.ecdsa_step = 1;
		send_authenticate(user, strlen(user));
		return;
	}
	if (reg.ecdsa_step != 1)
		return;
	reg.ecdsa_step = 2;
	challenge = *payload ? sasl_base64_decode(payload, &len) : NULL;
	if (!challenge || !len) {
		free(challenge);
		sasl_abort(xstrdup("ecdsa-nist256p-challenge: the server's "
				   "challenge is not base64"));
		return;
	}
	tls = module_tls(&err);
	if (!tls) {
		free(challenge);
		sasl_abort(err);
		return;
	}
	if (tls->ecdsa_p256_sign(cfg->sasl_ecdsa_key, challenge, len, sig,
				 &sig_len, why, sizeof(why)) < 0) {
		free(challenge);
		sasl_abort(xasprintf("ecdsa-nist256p-challenge: %s", why));
		return;
	}
	free(challenge);
	send_authenticate(sig, sig_len);
}

/* A whole payload from the server ("" for "+"). */
static void sasl_respond(const char *payload)
{
	if (reg.auth != AUTH_SASL || !reg.sasl_mech)
		return;
	if (!strcmp(reg.sasl_mech, "SCRAM-SHA-256")) {
		sasl_scram_step(payload);
		return;
	}
	if (!strcmp(reg.sasl_mech, "ECDSA-NIST256P-CHALLENGE")) {
		sasl_ecdsa_step(payload);
		return;
	}
	if (*payload)
		return; /* PLAIN and EXTERNAL expect only "+" */
	if (!strcmp(reg.sasl_mech, "EXTERNAL")) {
		/* The certificate is the credential; no authorization id. */
		irc_send_now1("AUTHENTICATE", "+");
		return;
	}
	sasl_plain();
}

/* "AUTHENTICATE <base64>": pieces of 400 until a shorter one (or "+"). */
void irc_register_on_authenticate(const struct irc_message *m,
				  const struct irc_userhost *who)
{
	const char *p;
	size_t len;

	UNUSED(who);
	if (m->param_count < 1)
		return;
	p = m->params[0];
	len = strlen(p);
	if (strcmp(p, "+")) {
		if (reg.sasl_in.len + len > SASL_IN_MAX) {
			buf_reset(&reg.sasl_in);
			return;
		}
		buf_add(&reg.sasl_in, p, len);
		if (len == 400)
			return;
	}
	buf_addch(&reg.sasl_in, '\0');
	sasl_respond(reg.sasl_in.data);
	buf_reset(&reg.sasl_in);
}

/* IRCv3 bot mode (ircv3.net/specs/extensions/bot-mode): once registered
 * on a server that names the mode (ISUPPORT BOT=<mode>), the bot marks
 * itself with it, once a session, so that other bots and clients can
 * tell it is one (and not answer it for ever). */
static void mark_as_bot(void)
{
	char mode[3];

	if (!reg.isupport.bot_mode || reg.bot_mode_set ||
	    irc_conn_state() != IRC_REGISTERED || !reg.nick)
		return;
	mode[0] = '+';
	mode[1] = reg.isupport.bot_mode;
	mode[2] = '\0';
	reg.bot_mode_set = 1;
	irc_send_now("MODE", 2, (const char *const[]){reg.nick, mode});
	info(COMPONENT, "marking ourselves a bot (MODE %s %s)", reg.nick, mode);
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
		} else if (str_has_prefix(t, "BOT=")) {
			/* IRCv3 bot mode: one mode letter, nothing else. */
			if (isalpha((unsigned char)t[4]) && !t[5])
				s->bot_mode = t[4];
		}
	}
	mark_as_bot();
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
	if (reg.auth == AUTH_NICKSERV_CHECK) {
		fail_auth("nickserv",
			  "the server did not answer WHOIS NickServ in %ld s, "
			  "so the password was not sent",
			  irc_settings_get()->identify_timeout_ms / 1000);
		return;
	}
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
	uv_timer_stop(&reg.identify_timer);
	irc_send_now("PRIVMSG", 2, (const char *const[]){"NickServ", text});
	explicit_bzero(text, sizeof(text));
	info(COMPONENT,
	     "identifying to NickServ as %s; channels wait "
	     "for its confirmation (at most %ld s)",
	     account, cfg->identify_timeout_ms / 1000);
	loop_timer_start(&reg.identify_timer, on_identify_timeout,
			 (uint64_t)cfg->identify_timeout_ms, 0);
}

/* Before the password goes anywhere: WHOIS NickServ, to see whether the
 * one online is the configured one (nickserv_mask) or, without a mask,
 * one the server calls a network service.  Otherwise a user who took the
 * nick on a network without protected services would get the password. */
static void nickserv_check(void)
{
	reg.auth = AUTH_NICKSERV_CHECK;
	reg.nickserv_source[0] = '\0';
	reg.nickserv_is_service = 0;
	reg.nickserv_trusted[0] = '\0';
	irc_send_now1("WHOIS", "NickServ");
	loop_timer_start(&reg.identify_timer, on_identify_timeout,
			 (uint64_t)irc_settings_get()->identify_timeout_ms, 0);
}

static int is_nickserv_reply(const struct irc_message *m, int min_params)
{
	return reg.auth == AUTH_NICKSERV_CHECK &&
	       m->param_count >= min_params &&
	       !irc_casecmp(m->params[1], "NickServ", reg.isupport.casemap);
}

/* 311 RPL_WHOISUSER: me nick user host * :realname */
void irc_register_on_whois_user(const struct irc_message *m, int code)
{
	UNUSED(code);
	if (is_nickserv_reply(m, 4))
		snprintf(reg.nickserv_source, sizeof(reg.nickserv_source),
			 "%s!%s@%s", m->params[1], m->params[2], m->params[3]);
}

/* 313: "is a network service" (or an operator: the server vouches). */
void irc_register_on_whois_service(const struct irc_message *m, int code)
{
	UNUSED(code);
	if (is_nickserv_reply(m, 2))
		reg.nickserv_is_service = 1;
}

/* 401 ERR_NOSUCHNICK: no NickServ online. */
void irc_register_on_whois_missing(const struct irc_message *m, int code)
{
	UNUSED(code);
	if (is_nickserv_reply(m, 2))
		reg.nickserv_source[0] = '\0';
}

/* 318 RPL_ENDOFWHOIS: decide whether this NickServ gets the password. */
void irc_register_on_whois_end(const struct irc_message *m, int code)
{
	const char *mask = irc_settings_get()->nickserv_mask;
	const char *src = reg.nickserv_source;

	UNUSED(code);
	if (!is_nickserv_reply(m, 2))
		return;
	if (mask) {
		if (!*src || !irc_mask_match(mask, src, reg.isupport.casemap)) {
			fail_auth("nickserv",
				  "NickServ online is %s, not [irc] "
				  "nickserv_mask %s: the password was not "
				  "sent to it",
				  *src ? src : "nobody", mask);
			return;
		}
		strlcpy_safe(reg.nickserv_trusted, mask,
			     sizeof(reg.nickserv_trusted));
	} else {
		if (!*src || !reg.nickserv_is_service) {
			fail_auth(
			    "nickserv",
			    "NickServ online is %s, which the server does "
			    "not call a network service: the password was "
			    "not sent (set [irc] nickserv_mask to the "
			    "services' nick!user@host)",
			    *src ? src : "nobody");
			return;
		}
		strlcpy_safe(reg.nickserv_trusted, src,
			     sizeof(reg.nickserv_trusted));
	}
	nickserv_identify();
}

void irc_register_on_welcome(const struct irc_message *m, int code)
{
	UNUSED(code);
	if (m->param_count >= 1 && nick_valid(m->params[0]))
		set_own_nick(xstrdup(m->params[0]));
	else
		warning(COMPONENT,
			"the welcome names an invalid nick \"%.40s\"; "
			"keeping %s",
			m->param_count >= 1 ? m->params[0] : "", reg.nick);
	irc_conn_mark_registered();
	reg.cap_negotiating = 0;
	mark_as_bot();
	info(COMPONENT, "registered as %s on %s", reg.nick, irc_conn_peer());
	/* Registered before SASL could end (no CAP, or a server that does
	 * not wait for CAP END): nothing will log us in now. */
	if (reg.auth == AUTH_SASL) {
		fail_auth("sasl",
			  "the server completed registration before SASL "
			  "could run (no CAP support?)");
		return;
	}
	if (reg.auth == AUTH_NONE && irc_settings_get()->nickserv_password) {
		nickserv_check();
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

/* Only the NickServ we identified to confirms anything. */
void irc_register_on_notice(const struct irc_message *m,
			    const struct irc_userhost *who)
{
	char source[300];

	if (!who || m->param_count < 2 || reg.auth != AUTH_NICKSERV ||
	    !who->user || !who->host)
		return;
	snprintf(source, sizeof(source), "%s!%s@%s", who->nick, who->user,
		 who->host);
	if (irc_mask_match(reg.nickserv_trusted, source, reg.isupport.casemap))
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
		/* A server that skips the proof of knowing the password
		 * (a SCRAM server-final with a valid signature) is not
		 * believed: it may be an impostor faking success. */
		if (reg.auth == AUTH_SASL && reg.sasl_mech &&
		    !strcmp(reg.sasl_mech, "SCRAM-SHA-256") &&
		    !reg.scram_verified) {
			fail_auth("sasl", "the server claimed SCRAM-SHA-256 "
					  "success without a valid signature");
			return;
		}
		if (reg.auth == AUTH_SASL) {
			sasl_reset();
			reg.auth = AUTH_DONE;
			info(COMPONENT, "sasl %s: authenticated",
			     reg.sasl_mech);
			cap_end();
		}
		return;
	case 907: /* ERR_SASLALREADY */
		return;
	case 908: /* RPL_SASLMECHS: me mechs :are available */
		if (m->param_count >= 3)
			strlcpy_safe(reg.sasl_offered, m->params[1],
				     sizeof(reg.sasl_offered));
		return;
	case 902: /* ERR_NICKLOCKED */
	case 906: /* ERR_SASLABORTED */
		if (reg.auth == AUTH_SASL)
			fail_auth("sasl",
				  "%s %s failed (%d: %s); check [irc] "
				  "sasl_username and sasl_password, or the "
				  "client certificate",
				  reg.sasl_mech ? reg.sasl_mech : "?",
				  cfg->sasl_username ? cfg->sasl_username
						     : cfg->nick,
				  code, last);
		return;
	case 904: /* ERR_SASLFAIL */
	case 905: /* ERR_SASLTOOLONG */
		if (reg.auth != AUTH_SASL || !reg.sasl_mech)
			return;
		/* This mechanism failed: the next configured one the
		 * server offers (908 may just have said which), strongest
		 * first; none left means fail closed. */
		if (mech_index(reg.sasl_mech) >= 0)
			reg.sasl_tried |= 1u << mech_index(reg.sasl_mech);
		warning(COMPONENT, "sasl %s as %s failed (%d: %s)",
			reg.sasl_mech,
			cfg->sasl_username ? cfg->sasl_username : cfg->nick,
			code, last);
		sasl_try_next();
		return;
	}
}
