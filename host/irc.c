/*
 * irc.c - the IRC client's front: the public irc.h lifecycle (start,
 * reconfigure, quit), the [irc] settings, and the table that hands each
 * server line to the part that owns what it is about, the way ngIRCd
 * dispatches its commands.
 *
 * The parts (see irc_internal.h): irc_conn.c the socket and reconnects,
 * irc_register.c registration and login, irc_channels.c the channels,
 * irc_send.c outbound lines, irc_gateway.c chat to commands.  A line that
 * does not parse is counted by the reason and dropped here, so no input
 * reaches a part unparsed.
 */
#include "config.h"
#include "irc_internal.h"
#include "log.h"
#include "util.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define COMPONENT "irc"

static struct irc_settings settings;
static struct irc_stats stats;

const struct irc_settings *irc_settings_get(void)
{
	return &settings;
}

struct irc_stats *irc_counters(void)
{
	return &stats;
}

/* ---- settings ---- */

static void settings_free(struct irc_settings *s)
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
	free(s->sasl_ecdsa_key);
	free_secret(s->nickserv_password);
	free(s->nickserv_account);
	free(s->nickserv_mask);
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

static void settings_read(struct irc_settings *s, const struct config *cfg)
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
	/* "#chan key": the key is a secret, kept out of every log line
	 * (a server's 475 may quote it). */
	for (int i = 0; i < s->channel_count; i++) {
		const char *key = strchr(s->channels[i], ' ');

		if (key)
			secret_register(key + strspn(key, " "));
	}
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
	s->scram_min_iterations =
	    (long)config_get_int(cfg, "irc", k, "sasl_scram_min_iterations");
	s->scram_max_iterations =
	    (long)config_get_int(cfg, "irc", k, "sasl_scram_max_iterations");
	s->sasl_ecdsa_key = path_or_null(cfg, "sasl_ecdsa_key");
	s->sasl_password = config_get_secret(cfg, "irc", "sasl_password", &err);
	free(err);
	err = NULL;
	s->nickserv_password =
	    config_get_secret(cfg, "irc", "nickserv_password", &err);
	free(err);
	s->nickserv_account =
	    dup_or_null(config_get(cfg, "irc", k, "nickserv_account"));
	s->nickserv_mask =
	    dup_or_null(config_get(cfg, "irc", k, "nickserv_mask"));
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
		if (str_ieq(mech->value, "plain") ||
		    str_ieq(mech->value, "scram-sha-256")) {
			if (!config_find(cfg, "irc", "sasl_password") &&
			    !config_find(cfg, "irc", "sasl_password_file") &&
			    !config_find(cfg, "irc", "sasl_password_env"))
				config_error(cfg, mech,
					     "%s needs sasl_password (or "
					     "sasl_password_file or _env)",
					     mech->value);
			if (!tls && str_ieq(mech->value, "plain"))
				warning("config",
					"%s:%d: SASL PLAIN without TLS sends "
					"the password in clear text",
					cfg->path, mech->line);
		} else if (str_ieq(mech->value, "external")) {
			if (!tls || !config_find(cfg, "irc", "tls_client_cert"))
				config_error(cfg, mech,
					     "external needs tls = true and "
					     "tls_client_cert");
		} else if (str_ieq(mech->value, "ecdsa-nist256p-challenge")) {
			if (!config_find(cfg, "irc", "sasl_ecdsa_key"))
				config_error(cfg, mech,
					     "ecdsa-nist256p-challenge needs "
					     "sasl_ecdsa_key");
		} else if (str_ieq(mech->value, "auto")) {
			if (!config_find(cfg, "irc", "sasl_password") &&
			    !config_find(cfg, "irc", "sasl_password_file") &&
			    !config_find(cfg, "irc", "sasl_password_env") &&
			    !config_find(cfg, "irc", "sasl_ecdsa_key") &&
			    (!tls ||
			     !config_find(cfg, "irc", "tls_client_cert")))
				config_error(cfg, mech,
					     "auto needs sasl_password, "
					     "sasl_ecdsa_key or a "
					     "tls_client_cert (with tls = "
					     "true)");
		} else {
			config_error(cfg, mech,
				     "'%s' is not plain, external, "
				     "scram-sha-256, ecdsa-nist256p-challenge "
				     "or auto",
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

/* ---- server lines to the parts ---- */

/* JOIN, PART, KICK, NICK and QUIT concern several parts; they are
 * composed here. */

static void on_join(const struct irc_message *m, const struct irc_userhost *who)
{
	if (!who || m->param_count < 1)
		return;
	irc_gateway_on_join(m, who->nick);
	if (!irc_nick_is_me(who->nick))
		return;
	/* Our own JOIN shows the prefix the server relays for us. */
	irc_send_learn_own_prefix(m->source);
	irc_channels_on_joined(m->params[0]);
	irc_gateway_ask_channel_accounts(m->params[0]);
}

static void on_part(const struct irc_message *m, const struct irc_userhost *who)
{
	irc_channels_on_part(m, who);
	irc_gateway_on_part(m, who);
}

static void on_kick(const struct irc_message *m, const struct irc_userhost *who)
{
	irc_channels_on_kick(m, who);
	irc_gateway_on_kick(m, who);
}

static void on_nick(const struct irc_message *m, const struct irc_userhost *who)
{
	if (!who || m->param_count < 1)
		return;
	if (irc_nick_is_me(who->nick)) {
		irc_send_learn_own_prefix(NULL);
		irc_register_on_own_nick(m->params[0]);
	} else {
		irc_gateway_on_nick_change(who->nick, m->params[0]);
		irc_register_on_nick_freed(who->nick);
	}
}

static void on_quit(const struct irc_message *m, const struct irc_userhost *who)
{
	UNUSED(m);
	if (!who || irc_nick_is_me(who->nick))
		return;
	irc_gateway_on_quit(who->nick);
	irc_register_on_nick_freed(who->nick);
}

/* WHOIS replies: the gateway's account lookups, and registration's
 * check of NickServ. */
static void on_whois_end(const struct irc_message *m, int code)
{
	irc_gateway_on_whois_end(m, code);
	irc_register_on_whois_end(m, code);
}

static void on_no_such_nick(const struct irc_message *m, int code)
{
	irc_gateway_on_no_such_nick(m, code);
	irc_register_on_whois_missing(m, code);
}

/* who: the sender, or NULL when the source has no nick (a server). */
typedef void irc_verb_handler(const struct irc_message *m,
			      const struct irc_userhost *who);
typedef void irc_numeric_handler(const struct irc_message *m, int code);

static const struct {
	const char *verb;
	irc_verb_handler *handle;
} verbs[] = {
    {"ACCOUNT", irc_gateway_on_account},
    {"AUTHENTICATE", irc_register_on_authenticate},
    {"CAP", irc_register_on_cap},
    {"ERROR", irc_conn_on_error},
    {"JOIN", on_join},
    {"KICK", on_kick},
    {"KILL", irc_conn_on_kill},
    {"NICK", on_nick},
    {"NOTICE", irc_register_on_notice},
    {"PART", on_part},
    {"PING", irc_conn_on_ping},
    {"PONG", irc_conn_on_pong},
    {"PRIVMSG", irc_gateway_on_privmsg},
    {"QUIT", on_quit},
};

/* Numerics not listed are ignored. */
static const struct {
	int first, last;
	irc_numeric_handler *handle;
} numerics[] = {
    {1, 1, irc_register_on_welcome},
    {5, 5, irc_register_on_isupport},
    {311, 311, irc_register_on_whois_user},
    {313, 313, irc_register_on_whois_service},
    {318, 318, on_whois_end},
    {330, 330, irc_gateway_on_whois_account},
    {353, 353, irc_gateway_on_names},
    {354, 354, irc_gateway_on_whox_reply},
    {401, 401, on_no_such_nick},
    {403, 403, irc_channels_on_join_refused},
    {405, 405, irc_channels_on_join_refused},
    {421, 421, irc_register_on_unknown_command},
    {432, 433, irc_register_on_nick_error},
    {436, 437, irc_register_on_nick_error},
    {465, 465, irc_conn_on_banned},
    {471, 471, irc_channels_on_join_refused},
    {473, 475, irc_channels_on_join_refused},
    {477, 477, irc_channels_on_join_refused},
    {900, 908, irc_register_on_login_numeric},
};

static void dispatch(const struct irc_message *m,
		     const struct irc_userhost *who)
{
	size_t i;

	if (isdigit((unsigned char)m->command[0])) {
		int code = (int)strtol(m->command, NULL, 10);

		for (i = 0; i < ARRAY_SIZE(numerics); i++)
			if (code >= numerics[i].first &&
			    code <= numerics[i].last) {
				numerics[i].handle(m, code);
				return;
			}
		return;
	}
	for (i = 0; i < ARRAY_SIZE(verbs); i++)
		if (!strcmp(m->command, verbs[i].verb)) {
			verbs[i].handle(m, who);
			return;
		}
}

void irc_handle_line(char *line, size_t len)
{
	struct irc_message m;
	enum irc_parse_error err;
	char src_buf[512];
	struct irc_userhost who;
	int has_nick;

	stats.lines_in++;
	err = irc_message_parse(line, len, &m);
	if (err != IRC_PARSE_OK) {
		stats.lines_rejected++;
		stats.rejected_by_reason[err]++;
		debug(COMPONENT, "ignored a server line: %s",
		      irc_parse_error_name(err));
		return;
	}
	if (log_enabled(LOG_DEBUG))
		debug(COMPONENT, "<< %s %s", m.command,
		      m.param_count ? m.params[0] : "");
	has_nick =
	    m.source &&
	    irc_userhost_split(m.source, src_buf, sizeof(src_buf), &who) == 0 &&
	    *who.nick;
	/* Verbs are case-insensitive; the parser keeps what was sent. */
	for (char *c = (char *)m.command; *c; c++)
		*c = (char)toupper((unsigned char)*c);
	irc_gateway_note_account_tag(&m, has_nick ? &who : NULL);
	dispatch(&m, has_nick ? &who : NULL);
}

/* ---- what the connection reports ---- */

void irc_on_connected(void)
{
	irc_send_on_connect();
	irc_register_on_connect();
	irc_register_begin();
}

/* What the server told us about this session only. */
static void session_end(void)
{
	irc_register_session_end();
	irc_gateway_session_end();
}

void irc_on_disconnected(void)
{
	irc_channels_on_disconnect();
	session_end();
}

/* ---- the public interface ---- */

static void parts_init(void)
{
	irc_conn_init();
	irc_register_init();
	irc_send_init();
	irc_gateway_init();
}

/* Defaults until the server says otherwise (ISUPPORT), and a full CTCP
 * bucket. */
static void parts_defaults(void)
{
	irc_register_defaults();
	irc_gateway_defaults();
}

static void parts_configure(void)
{
	irc_send_configure();
	irc_conn_configure();
	irc_register_configure();
	irc_channels_configure();
}

int irc_start(const struct config *cfg)
{
	parts_init();
	settings_read(&settings, cfg);
	parts_defaults();
	parts_configure();
	if (settings.password)
		secret_register(settings.password);
	irc_conn_connect();
	return 0;
}

void irc_reconfigure(const struct config *cfg)
{
	struct irc_settings old = settings;
	int reconnect;

	settings_read(&settings, cfg);
	parts_configure();
	reconnect = strcmp(old.server, settings.server) ||
		    old.port != settings.port ||
		    strcmp(old.username, settings.username) ||
		    strcmp(old.realname, settings.realname) ||
		    (!old.password != !settings.password) ||
		    (old.password && settings.password &&
		     strcmp(old.password, settings.password));
	if (reconnect) {
		info(COMPONENT, "server settings changed; reconnecting");
		irc_conn_drop("configuration changed");
	} else if (irc_conn_state() == IRC_REGISTERED &&
		   strcmp(old.nick, settings.nick)) {
		irc_send_now1("NICK", settings.nick);
	}
	/* Before services confirmed us nothing was joined, and the login
	 * joins the new list: channels stay fail-closed across a reload. */
	if (!reconnect && irc_register_complete()) {
		/* Part what was removed; join everything configured (a
		 * JOIN of a channel we are in is harmless). */
		irc_channels_part_removed(&old);
		irc_channels_join_all();
	}
	settings_free(&old);
}

void irc_quit(const char *message, void (*done)(void))
{
	irc_conn_quit(message, done);
}

void irc_fini(void)
{
	irc_conn_fini();
	irc_register_fini();
	irc_send_fini();
	irc_gateway_fini();
	irc_channels_fini();
	settings_free(&settings);
	session_end();
}

int irc_is_registered(void)
{
	return irc_conn_state() == IRC_REGISTERED;
}

const char *irc_current_nick(void)
{
	return irc_register_nick();
}

const struct irc_stats *irc_get_stats(void)
{
	return &stats;
}

void irc_test_attach(const struct config *cfg,
		     void (*sent)(const char *line, size_t len))
{
	parts_init();
	settings_free(&settings);
	settings_read(&settings, cfg);
	parts_defaults();
	parts_configure();
	irc_conn_test_attach(sent);
	irc_register_begin();
}

void irc_test_receive(char *bytes, size_t len)
{
	irc_conn_receive(bytes, len);
}
