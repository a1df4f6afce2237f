/*
 * irc_gateway.c - chat into commands: a PRIVMSG addressed to the bot (the
 * command prefix, "nick:" in a channel, anything in private) goes to
 * command_dispatch_text() with who sent it, and replies come back through
 * irc_reply_sink.  A privileged command waits for the sender's services
 * account: an account is trusted only from the account tag on that very
 * message, or while the nick shares a channel with us and account-notify
 * keeps it current.  Anyone else is asked (WHOIS, ahead of the flood
 * queue), for that command alone; no answer in time means no.  CTCP
 * VERSION, PING and TIME are answered here too.
 */
#include "command.h"
#include "irc_accounts.h"
#include "irc_internal.h"
#include "log.h"
#include "loop.h"
#include "util.h"
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define COMPONENT "irc"
#define LOOKUP_TIMEOUT_MS 5000
#define LOOKUPS_MAX 32
#define WHOX_TOKEN "616"

/* A privileged command waiting for the sender's account (WHOIS). */
struct lookup {
	struct lookup *next;
	char *nick; /* whole, whatever NICKLEN allows */
	char *user, *host, *channel, *text;
	char *account; /* from this lookup's WHOIS 330, or NULL */
	enum opsbot_origin origin;
	int64_t deadline;
};

static struct {
	struct lookup *lookups;
	uv_timer_t lookup_timer;
	int handles_ready;
	/* CTCP replies: a small bucket of their own. */
	double ctcp_tokens;
	int64_t ctcp_refill;
} gateway;

static void lookups_clear(void);

void irc_gateway_init(void)
{
	if (gateway.handles_ready)
		return;
	uv_timer_init(loop_get(), &gateway.lookup_timer);
	gateway.handles_ready = 1;
}

void irc_gateway_fini(void)
{
	if (gateway.handles_ready) {
		uv_close((uv_handle_t *)&gateway.lookup_timer, NULL);
		gateway.handles_ready = 0;
	}
}

void irc_gateway_defaults(void)
{
	gateway.ctcp_tokens = 3;
	gateway.ctcp_refill = time_now_ms();
}

void irc_gateway_session_end(void)
{
	accounts_clear();
	lookups_clear();
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

/* ---- CTCP ---- */

static int ctcp_allowed(void)
{
	int64_t now = time_now_ms();

	/* Three replies at once, then one every 5 s. */
	gateway.ctcp_tokens += (double)(now - gateway.ctcp_refill) / 5000.0;
	if (gateway.ctcp_tokens > 3)
		gateway.ctcp_tokens = 3;
	gateway.ctcp_refill = now;
	if (gateway.ctcp_tokens < 1)
		return 0;
	gateway.ctcp_tokens -= 1;
	return 1;
}

static void handle_ctcp(const char *nick, const char *target, const char *text)
{
	char copy[IRC_LINE_MAX], reply[IRC_LINE_MAX];
	const char *verb, *args;

	if (!irc_ctcp_parse(text, copy, sizeof(copy), &verb, &args))
		return;
	/* Answer only what is asked of us directly, never channels. */
	if (!irc_nick_is_me(target) || !ctcp_allowed())
		return;
	if (!strcmp(verb, "VERSION")) {
		snprintf(reply, sizeof(reply), "\001VERSION opsbot %s\001",
			 OPSBOT_VERSION);
	} else if (!strcmp(verb, "PING")) {
		char safe[64];
		size_t i, n = 0;

		/* Echo a bounded, printable payload only, and never one
		 * holding a secret (not even as "[redacted]"). */
		if (args && secret_found(args, strlen(args)))
			return;
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
	irc_send_queued(nick, NULL, "NOTICE", 2,
			(const char *const[]){nick, reply});
}

/* ---- accounts of the people who give commands ---- */

/*
 * What we know of nick's account: 1 and *account (NULL if not logged in)
 * when it can be trusted, 0 when a lookup is needed.  account-tag on the
 * message is authoritative; a cached answer only while the nick shares a
 * channel with us and account-notify tells us of every change.  A nick
 * out of sight may have been taken by someone else a moment ago.
 */
static int sender_account(const struct irc_message *m, const char *nick,
			  const char **account, const char **source)
{
	const char *cached;
	int64_t seen;

	if (irc_cap_enabled("account-tag")) {
		const char *tag = irc_message_tag(m, "account");

		*account = tag && *tag && strcmp(tag, "*") ? tag : NULL;
		*source = "account-tag";
		return 1;
	}
	if (irc_cap_enabled("account-notify") && accounts_visible(nick) &&
	    accounts_get(nick, &cached, &seen)) {
		*account = cached;
		*source = "account-notify";
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
	src.nick_casemap = (int)irc_isupport()->casemap;
	command_dispatch_text(&src, text);
}

static void lookup_free(struct lookup *l)
{
	free(l->account);
	free(l->nick);
	free(l->user);
	free(l->host);
	free(l->channel);
	free(l->text);
	free(l);
}

/* A command that cannot be checked is refused, in one line. */
static void lookup_refuse(const struct lookup *l, const char *why)
{
	char text[256];

	snprintf(text, sizeof(text),
		 "error: cannot check your services account (%s); try again",
		 why);
	irc_send_text(l->origin == OPSBOT_ORIGIN_CHANNEL ? l->channel : l->nick,
		      text, strlen(text));
}

/*
 * Runs the commands that waited for nick's account, with what this
 * lookup's WHOIS said (nothing: not logged in).  gone: the nick was given
 * up (NICK, QUIT), so the answer would speak of whoever takes it next:
 * its commands run as not identified.  timed_out (nick NULL): the ones
 * past their deadline are refused.
 */
static void lookups_finish(const char *nick, int timed_out, int gone)
{
	enum irc_casemapping casemap = irc_isupport()->casemap;
	struct lookup **pl = &gateway.lookups, *l;

	while ((l = *pl)) {
		if (nick && irc_casecmp(l->nick, nick, casemap)) {
			pl = &l->next;
			continue;
		}
		if (!nick && !(timed_out && time_now_ms() >= l->deadline)) {
			pl = &l->next;
			continue;
		}
		*pl = l->next;
		if (timed_out) {
			warning(COMPONENT,
				"no WHOIS answer for %s in %d s; "
				"refusing its command",
				l->nick, LOOKUP_TIMEOUT_MS / 1000);
			lookup_refuse(l, "no answer from the server in time");
		} else {
			dispatch_as(l->origin, l->nick, l->user, l->host,
				    l->channel, gone ? NULL : l->account,
				    "WHOIS", l->text);
		}
		lookup_free(l);
	}
	if (!gateway.lookups)
		uv_timer_stop(&gateway.lookup_timer);
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
	enum irc_casemapping casemap = irc_isupport()->casemap;
	struct lookup *l, **tail = &gateway.lookups;
	int count = 0, asked = 0;

	for (l = gateway.lookups; l; l = l->next) {
		count++;
		asked |= !irc_casecmp(l->nick, nick, casemap);
		tail = &l->next;
	}
	l = xcalloc(1, sizeof(*l));
	l->nick = xstrdup(nick);
	l->user = xstrdup(user ? user : "");
	l->host = xstrdup(host ? host : "");
	l->channel = xstrdup(channel ? channel : "");
	l->text = xstrdup(text);
	l->origin = origin;
	l->deadline = time_now_ms() + LOOKUP_TIMEOUT_MS;
	if (count >= LOOKUPS_MAX) {
		/* Fail closed rather than queue without bound. */
		lookup_refuse(l, "too many checks waiting");
		lookup_free(l);
		return;
	}
	*tail = l;
	/* Ahead of the replies waiting in the flood queue: the deadline
	 * runs from now. */
	if (!asked)
		irc_send_urgent("WHOIS", 1, (const char *const[]){nick});
	if (!uv_is_active((uv_handle_t *)&gateway.lookup_timer))
		loop_timer_start(&gateway.lookup_timer, on_lookup_timer, 250,
				 250);
}

static void lookups_clear(void)
{
	while (gateway.lookups) {
		struct lookup *l = gateway.lookups;

		gateway.lookups = l->next;
		lookup_free(l);
	}
	uv_timer_stop(&gateway.lookup_timer);
}

/* ---- what the server tells us about accounts ---- */

void irc_gateway_note_account_tag(const struct irc_message *m,
				  const struct irc_userhost *who)
{
	if (who && who->host && irc_cap_enabled("account-tag") &&
	    strcmp(m->command, "QUIT") && strcmp(m->command, "NICK")) {
		const char *tag = irc_message_tag(m, "account");

		accounts_set(who->nick, tag, time_now_ms());
	}
}

void irc_gateway_on_join(const struct irc_message *m, const char *nick)
{
	if (irc_nick_is_me(nick))
		return;
	accounts_join(nick, m->params[0], time_now_ms());
	/* extended-join: "JOIN #chan account :realname". */
	if (m->param_count >= 3 && irc_cap_enabled("extended-join"))
		accounts_set(nick, m->params[1], time_now_ms());
}

void irc_gateway_on_part(const struct irc_message *m,
			 const struct irc_userhost *who)
{
	if (!who || m->param_count < 1)
		return;
	if (irc_nick_is_me(who->nick))
		accounts_leave_channel(m->params[0]);
	else
		accounts_part(who->nick, m->params[0]);
}

void irc_gateway_on_kick(const struct irc_message *m,
			 const struct irc_userhost *who)
{
	UNUSED(who);
	if (m->param_count < 2)
		return;
	if (irc_nick_is_me(m->params[1]))
		accounts_leave_channel(m->params[0]);
	else
		accounts_part(m->params[1], m->params[0]);
}

/* 353 RPL_NAMREPLY: me symbol channel :[prefixes]nick[!user@host] ... */
void irc_gateway_on_names(const struct irc_message *m, int code)
{
	const char *p;

	UNUSED(code);
	if (m->param_count < 4)
		return;
	for (p = m->params[3]; *p;) {
		size_t len;
		char *nick;

		/* Channel-membership prefixes (multi-prefix: several). */
		while (*p && strchr("~&@%+!", *p))
			p++;
		len = strcspn(p, " !");
		if (len) {
			nick = xstrndup(p, len);
			if (!irc_nick_is_me(nick))
				accounts_join(nick, m->params[2],
					      time_now_ms());
			free(nick);
		}
		p += strcspn(p, " ");
		while (*p == ' ')
			p++;
	}
}

void irc_gateway_ask_channel_accounts(const char *channel)
{
	/* Learn who is logged in as whom, in one request per channel. */
	if (irc_isupport()->whox)
		irc_send_queued(
		    "*who*", NULL, "WHO", 2,
		    (const char *const[]){channel, "%tcna," WHOX_TOKEN});
}

void irc_gateway_on_nick_change(const char *old_nick, const char *new_nick)
{
	lookups_finish(old_nick, 0, 1);
	accounts_rename(old_nick, new_nick);
}

void irc_gateway_on_quit(const char *nick)
{
	lookups_finish(nick, 0, 1);
	accounts_forget(nick);
}

/* account-notify: "ACCOUNT name" or "ACCOUNT *". */
void irc_gateway_on_account(const struct irc_message *m,
			    const struct irc_userhost *who)
{
	if (who && m->param_count >= 1)
		accounts_set(who->nick, m->params[0], time_now_ms());
}

/*
 * 330 RPL_WHOISACCOUNT: me nick account :is logged in.  The answer is for
 * the commands waiting on it; it is kept only for a nick we can see.
 */
void irc_gateway_on_whois_account(const struct irc_message *m, int code)
{
	enum irc_casemapping casemap = irc_isupport()->casemap;
	struct lookup *l;

	UNUSED(code);
	if (m->param_count < 3)
		return;
	for (l = gateway.lookups; l; l = l->next)
		if (!irc_casecmp(l->nick, m->params[1], casemap)) {
			free(l->account);
			l->account = strcmp(m->params[2], "*")
					 ? xstrdup(m->params[2])
					 : NULL;
		}
	if (accounts_visible(m->params[1]))
		accounts_set(m->params[1], m->params[2], time_now_ms());
}

/* 318 RPL_ENDOFWHOIS: no 330 means not logged in. */
void irc_gateway_on_whois_end(const struct irc_message *m, int code)
{
	UNUSED(code);
	if (m->param_count < 2)
		return;
	lookups_finish(m->params[1], 0, 0);
}

/* 401 ERR_NOSUCHNICK: gone; its commands fail closed. */
void irc_gateway_on_no_such_nick(const struct irc_message *m, int code)
{
	UNUSED(code);
	if (m->param_count < 2)
		return;
	accounts_forget(m->params[1]);
	lookups_finish(m->params[1], 0, 1);
}

/* 354 WHOX: me token channel nick account ("0": none). */
void irc_gateway_on_whox_reply(const struct irc_message *m, int code)
{
	UNUSED(code);
	if (m->param_count < 5 || strcmp(m->params[1], WHOX_TOKEN))
		return;
	if (irc_nick_is_me(m->params[3]))
		return;
	accounts_join(m->params[3], m->params[2], time_now_ms());
	accounts_set(m->params[3],
		     strcmp(m->params[4], "0") ? m->params[4] : NULL,
		     time_now_ms());
}

/* ---- commands from PRIVMSG ---- */

/* Does text start with nick (casemapped) followed by ':' or ','? */
static int addressed_to_me(const char *text, size_t *skip)
{
	const char *nick = irc_register_nick();
	enum irc_casemapping casemap = irc_isupport()->casemap;
	size_t n = strlen(nick), i;

	for (i = 0; i < n; i++)
		if (!text[i] ||
		    irc_tolower((unsigned char)text[i], casemap) !=
			irc_tolower((unsigned char)nick[i], casemap))
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
	return name && *name && strchr(irc_isupport()->chantypes, name[0]);
}

void irc_gateway_on_privmsg(const struct irc_message *m,
			    const struct irc_userhost *who)
{
	const char *target, *text, *prefix = command_prefix();
	const char *account = NULL, *account_source = NULL, *channel = NULL;
	enum opsbot_origin origin;
	size_t plen = strlen(prefix), skip;

	if (m->param_count < 2 || !who || irc_nick_is_me(who->nick))
		return;
	/* Another bot (IRCv3 bot mode, or [bot] ignore): never answered,
	 * or two bots could talk for ever.  The tags are the server's; a
	 * client cannot send them. */
	if (irc_message_tag(m, "bot") || irc_message_tag(m, "draft/bot") ||
	    command_ignores(who->nick, who->user, who->host,
			    (int)irc_isupport()->casemap))
		return;
	target = m->params[0];
	text = m->params[1];
	if (text[0] == '\001') {
		handle_ctcp(who->nick, target, text);
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
	} else if (irc_nick_is_me(target)) {
		origin = OPSBOT_ORIGIN_PRIVATE;
		if (plen && !strncmp(text, prefix, plen))
			text += plen;
	} else {
		return;
	}
	if (!*text)
		return;
	if (!sender_account(m, who->nick, &account, &account_source) &&
	    command_capability_for(text)) {
		/* Privileged and we do not know who it is: ask first. */
		lookup_start(origin, who->nick, who->user, who->host, channel,
			     text);
		return;
	}
	dispatch_as(origin, who->nick, who->user, who->host, channel, account,
		    account_source, text);
}
