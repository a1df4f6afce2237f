/*
 * ircclient.h - a tiny blocking IRC client for integration tests: connect,
 * register, send lines, and wait (with a deadline) for a line that
 * contains some text.  Every received line is kept for later checks.
 */
#ifndef IRCCLIENT_H
#define IRCCLIENT_H

#include "util.h"

struct ircclient {
	int fd;
	char nick[32];
	struct buf in;	/* unread bytes */
	struct buf log; /* every line received, one per line */
};

/* Connects and registers as nick; returns 0 or -1 (message on stderr). */
int ircclient_connect(struct ircclient *c, const char *host, int port,
		      const char *nick, long timeout_ms);
void ircclient_close(struct ircclient *c);
/* Sends one line (CRLF added). */
int ircclient_send(struct ircclient *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Sends raw bytes as they are (for injection tests). */
int ircclient_send_raw(struct ircclient *c, const char *bytes, size_t len);
/*
 * Waits for a line containing want; returns it (static storage, valid
 * until the next call) or NULL after timeout_ms.
 */
const char *ircclient_wait(struct ircclient *c, const char *want,
			   long timeout_ms);
/*
 * Waits until n lines containing want have arrived since the client
 * connected (counted in the log, so lines read by earlier waits count
 * too: for replies whose order against other replies is not fixed);
 * returns 0, or -1 after timeout_ms.
 */
int ircclient_wait_count(struct ircclient *c, const char *want, int n,
			 long timeout_ms);
/* How many lines containing want have arrived so far. */
int ircclient_count(const struct ircclient *c, const char *want);
/* Reads every line arriving within ms into the log; returns how many. */
int ircclient_drain(struct ircclient *c, long ms);
/* Joins and waits for the end of NAMES. */
int ircclient_join(struct ircclient *c, const char *channel, long timeout_ms);
/* Is nick in channel?  Asks NAMES; 1, 0, or -1 on timeout. */
int ircclient_in_channel(struct ircclient *c, const char *channel,
			 const char *nick, long timeout_ms);

#endif /* IRCCLIENT_H */
