/*
 * irc_internal.h - what the parts of the IRC client share, and nothing
 * more.  Each part keeps its state static in its own file and the others
 * reach it only through the functions below:
 *
 *   irc.c           the public irc.h lifecycle, the [irc] settings, and
 *                   the table that hands each server verb to its part
 *   irc_conn.c      the socket (net.c), lines in and out, the PING
 *                   watchdog, reconnects with backoff, QUIT
 *   irc_register.c  CAP LS 302, SASL, NickServ, our nick, ISUPPORT
 *   irc_channels.c  the configured channels: JOIN, PART, KICK
 *   irc_send.c      building lines, flood-control pacing, PRIVMSG splits
 *   irc_gateway.c   PRIVMSG to commands, senders' accounts (WHOIS), CTCP
 *
 * Calls go from irc.c to the parts and between parts through this header;
 * a part includes only this header and never another part's file, so
 * there are no include cycles.  Not for use outside host/irc*.c.
 */
#ifndef IRC_INTERNAL_H
#define IRC_INTERNAL_H

#include "irc.h"
#include "irc_message.h"
#include "tls_backend.h"

#include <stddef.h>
#include <stdint.h>

/* ---- irc.c: settings, counters, and what the connection reports ---- */

/* [irc] as read at start or the last reload; read-only for the parts. */
struct irc_settings {
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
	char *sasl_mechanism; /* "PLAIN", "EXTERNAL", "SCRAM-SHA-256",
				 "AUTO" or NULL */
	long scram_min_iterations, scram_max_iterations;
	char *sasl_username;
	char *sasl_password;
	char *sasl_ecdsa_key; /* PEM file, ECDSA-NIST256P-CHALLENGE */
	char *nickserv_password;
	char *nickserv_account;
	char *nickserv_mask; /* nick!user@host NickServ must match, or NULL */
	long identify_timeout_ms;
};
const struct irc_settings *irc_settings_get(void);

/* The counters irc_get_stats() shows; each part adds to its own. */
struct irc_stats *irc_counters(void);

/* The connection calls these: registration may begin, a line came in,
 * the session was lost (not on a QUIT we asked for). */
void irc_on_connected(void);
void irc_handle_line(char *line, size_t len);
void irc_on_disconnected(void);

/* ---- irc_conn.c: the socket, the watchdog, reconnects ---- */

enum irc_state {
	IRC_IDLE, /* waiting to (re)connect */
	IRC_CONNECTING,
	IRC_REGISTERING, /* connected, before 001 */
	IRC_REGISTERED,
	IRC_QUITTING,
};

/* Handles on the loop; each init is safe to repeat. */
void irc_conn_init(void);
void irc_conn_fini(void);
/* Starts the watchdog at the configured ping_timeout. */
void irc_conn_configure(void);
void irc_conn_connect(void);
enum irc_state irc_conn_state(void);
int irc_conn_is_open(void);
/* "host:port" of the server, or "(test)" without a socket. */
const char *irc_conn_peer(void);
/* 001 arrived: registered, and the session counts for the backoff. */
void irc_conn_mark_registered(void);
/* Appends one finished line (no CRLF); it leaves before the loop blocks. */
void irc_conn_write_line(const char *line, size_t len);
/* Writes what is buffered now (before a QUIT closes the socket). */
void irc_conn_flush(void);
/* Closes the socket and schedules a reconnect; no-op if not connected. */
void irc_conn_drop(const char *reason);
void irc_conn_quit(const char *message, void (*done)(void));
/* Bytes from the server (or a test), cut into lines for irc_handle_line. */
void irc_conn_receive(char *bytes, size_t len);
/* Without a socket: lines go to sent(), the session is registering. */
void irc_conn_test_attach(void (*sent)(const char *line, size_t len));
/* CAP LS offered "sts=<policy>": on plain text with a port, drops the
 * session to reconnect with TLS (returns 1: registration stops); on TLS
 * with a duration, stores or (duration=0) removes the policy. */
int irc_conn_on_sts(const char *policy);
/* Verb handlers (see irc.c's table). */
void irc_conn_on_ping(const struct irc_message *m,
		      const struct irc_userhost *who);
void irc_conn_on_pong(const struct irc_message *m,
		      const struct irc_userhost *who);
void irc_conn_on_error(const struct irc_message *m,
		       const struct irc_userhost *who);
void irc_conn_on_kill(const struct irc_message *m,
		      const struct irc_userhost *who);
void irc_conn_on_banned(const struct irc_message *m, int code);

/* ---- irc_register.c: registration, logging in, our nick, ISUPPORT ---- */

/* What the server's 005 told us (defaults until then). */
struct irc_isupport {
	enum irc_casemapping casemap;
	int nicklen, userlen, hostlen;
	char chantypes[16];
	int whox;      /* the server has WHOX */
	char bot_mode; /* BOT=<mode>: the user mode that marks a bot, or 0 */
};
const struct irc_isupport *irc_isupport(void);

void irc_register_init(void);
void irc_register_fini(void);
/* RFC 1459 defaults for a server that has not said otherwise. */
void irc_register_defaults(void);
/* Starts the timer that takes our configured nick back. */
void irc_register_configure(void);
/* A new connection: forget the last one's capabilities. */
void irc_register_on_connect(void);
/* CAP LS 302, PASS, NICK, USER. */
void irc_register_begin(void);
/* Forgets what this session told us about our login. */
void irc_register_session_end(void);
const char *irc_register_nick(void);
int irc_nick_is_me(const char *nick);
/* Did the server acknowledge the capability (one of the wanted ones)? */
int irc_cap_enabled(const char *name);
/* Registered and logged in (or nothing to log in to): channels may be
 * joined and queued lines may go. */
int irc_register_complete(void);
/* Our own NICK went through; another's nick was freed (maybe ours). */
void irc_register_on_own_nick(const char *new_nick);
void irc_register_on_nick_freed(const char *nick);
void irc_register_on_cap(const struct irc_message *m,
			 const struct irc_userhost *who);
void irc_register_on_authenticate(const struct irc_message *m,
				  const struct irc_userhost *who);
void irc_register_on_notice(const struct irc_message *m,
			    const struct irc_userhost *who);
void irc_register_on_welcome(const struct irc_message *m, int code);
void irc_register_on_isupport(const struct irc_message *m, int code);
void irc_register_on_nick_error(const struct irc_message *m, int code);
void irc_register_on_unknown_command(const struct irc_message *m, int code);
void irc_register_on_login_numeric(const struct irc_message *m, int code);
/* WHOIS NickServ before IDENTIFY: 311, 313, 401, 318. */
void irc_register_on_whois_user(const struct irc_message *m, int code);
void irc_register_on_whois_service(const struct irc_message *m, int code);
void irc_register_on_whois_missing(const struct irc_message *m, int code);
void irc_register_on_whois_end(const struct irc_message *m, int code);

/* ---- irc_channels.c: the configured channels ---- */

/* Takes the list from the settings; none is joined yet. */
void irc_channels_configure(void);
void irc_channels_fini(void);
/* JOIN every configured channel, keyed ones first, few lines. */
void irc_channels_join_all(void);
/* After a reload: PART what old had and the settings no longer do. */
void irc_channels_part_removed(const struct irc_settings *old);
void irc_channels_on_joined(const char *name);
void irc_channels_on_disconnect(void);
void irc_channels_on_part(const struct irc_message *m,
			  const struct irc_userhost *who);
void irc_channels_on_kick(const struct irc_message *m,
			  const struct irc_userhost *who);
void irc_channels_on_join_refused(const struct irc_message *m, int code);

/* ---- irc_send.c: building, pacing and splitting outbound lines ---- */

void irc_send_init(void);
void irc_send_fini(void);
/* Applies flood_control, flood_burst, flood_interval and queue_ttl. */
void irc_send_configure(void);
/* A new connection: a full bucket, our relayed prefix unknown. */
void irc_send_on_connect(void);
/* Our own JOIN showed the ":nick!user@host " the server relays (source
 * NULL: unknown again, after a NICK). */
void irc_send_learn_own_prefix(const char *source);
/* Lines that must not wait: PONG, CAP, NICK, USER, QUIT. */
void irc_send_now(const char *command, int count, const char *const *params);
void irc_send_now1(const char *command, const char *param);
/* Lines that go before anything waiting, but wait for a token: JOIN. */
void irc_send_urgent(const char *command, int count, const char *const *params);
/* Lines that wait their turn in the queue, per target (group: may be
 * summarised when many wait; NULL: never). */
void irc_send_queued(const char *target, const char *group, const char *command,
		     int count, const char *const *params);
/* Lets queued lines go as far as the bucket allows. */
void irc_send_drain(void);

/* ---- irc_gateway.c: chat to commands, and who sent them ---- */

void irc_gateway_init(void);
void irc_gateway_fini(void);
/* A full CTCP reply bucket. */
void irc_gateway_defaults(void);
/* Forgets accounts and drops commands still waiting for a WHOIS. */
void irc_gateway_session_end(void);
/* account-tag on any line a user sends keeps the account cache current. */
void irc_gateway_note_account_tag(const struct irc_message *m,
				  const struct irc_userhost *who);
/* Who shares a channel with us (JOIN, PART, KICK, NAMES), and
 * extended-join tells the joiner's account. */
void irc_gateway_on_join(const struct irc_message *m, const char *nick);
void irc_gateway_on_part(const struct irc_message *m,
			 const struct irc_userhost *who);
void irc_gateway_on_kick(const struct irc_message *m,
			 const struct irc_userhost *who);
void irc_gateway_on_names(const struct irc_message *m, int code);
/* After our own JOIN: one WHOX for the accounts of everyone there. */
void irc_gateway_ask_channel_accounts(const char *channel);
/* Someone else renamed or quit: their waiting commands run as not
 * identified, their cached account moves or goes. */
void irc_gateway_on_nick_change(const char *old_nick, const char *new_nick);
void irc_gateway_on_quit(const char *nick);
void irc_gateway_on_privmsg(const struct irc_message *m,
			    const struct irc_userhost *who);
void irc_gateway_on_account(const struct irc_message *m,
			    const struct irc_userhost *who);
void irc_gateway_on_whois_account(const struct irc_message *m, int code);
void irc_gateway_on_whois_end(const struct irc_message *m, int code);
void irc_gateway_on_no_such_nick(const struct irc_message *m, int code);
void irc_gateway_on_whox_reply(const struct irc_message *m, int code);

#endif /* IRC_INTERNAL_H */
