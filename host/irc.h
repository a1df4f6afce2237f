/*
 * irc.h - the bot's IRC connection: registration (CAP LS 302 first),
 * PING/PONG and the watchdog, nick collisions, channels, commands from
 * PRIVMSG, CTCP, reconnects with backoff, and every outbound line through
 * one serializer and the flood-control queue.
 */
#ifndef IRC_H
#define IRC_H

#include "irc_message.h"

#include <stddef.h>

struct config;
struct reply_sink;

/* Checks what the schema cannot: SASL and TLS settings that only make
 * sense together.  Errors go into cfg. */
void irc_validate_config(struct config *cfg);

/* Reads [irc] and starts connecting. */
int irc_start(const struct config *cfg);
/* Applies a reloaded config: new channels joined, removed ones parted,
 * a changed server or nick reconnects or renames. */
void irc_reconfigure(const struct config *cfg);
/* Sends QUIT, waits (at most 2 s) for the server to close, then calls
 * done.  Safe in any state. */
void irc_quit(const char *message, void (*done)(void));
/* Frees everything (after irc_quit). */
void irc_fini(void);

/* PRIVMSG text to target, split, sanitised, flood-controlled; queued
 * while disconnected. */
void irc_send_text(const char *target, const char *text, size_t len);
/* The same for announcements of a group that may be summarised when many
 * wait (group NULL: never). */
void irc_say(const char *target, const char *group, const char *text,
	     size_t len);
/* A progress line: while it waits for flood control, a newer one with
 * the same key replaces it (api->say_progress). */
void irc_say_progress(const char *target, const char *key, const char *text,
		      size_t len);

/* Where command replies go for requests that came from IRC. */
extern const struct reply_sink irc_reply_sink;

/* State for tests and !whoami. */
int irc_is_registered(void);
const char *irc_current_nick(void);

/*
 * The reconnect delay after attempt failures (0 for the first): the
 * ceiling doubles from base up to cap, and the delay is uniform over the
 * ceiling's upper half, given random01 in [0, 1].
 */
long irc_backoff_delay(long base, long cap, int attempt, double random01);

/* Counters of what the connection saw, for logs and tests. */
struct irc_stats {
	unsigned long lines_in;
	unsigned long lines_rejected;			 /* failed to parse */
	unsigned long rejected_by_reason[IRC_ERR_COUNT]; /* the same, by why */
	unsigned long lines_too_long;
	unsigned long lines_out;
	unsigned long connects;
	unsigned long registrations;
	unsigned long queue_expired;
};
const struct irc_stats *irc_get_stats(void);

/*
 * Feeds raw bytes as if the server sent them (fuzzing and protocol tests
 * without a socket); what the bot would send goes to sent(line, len).
 */
void irc_test_attach(const struct config *cfg,
		     void (*sent)(const char *line, size_t len));
void irc_test_receive(char *bytes, size_t len);
/* Where the next connection would go (port, and 1 for TLS), after STS. */
void irc_test_connect_target(int *port, int *tls);

#endif /* IRC_H */
