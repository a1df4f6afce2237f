/*
 * irc_queue.h - outbound flood control: a token bucket per connection
 * (a burst, then one line per interval) in front of per-target queues
 * served round-robin, so one busy channel cannot starve private replies.
 *
 * Pure logic with the time passed in, so tests can run hours of traffic
 * in microseconds.  Lines are complete IRC lines without CRLF.
 */
#ifndef IRC_QUEUE_H
#define IRC_QUEUE_H

#include <stddef.h>
#include <stdint.h>

struct irc_queue;

struct irc_queue *irc_queue_new(void);
void irc_queue_free(struct irc_queue *q);

/*
 * unlimited: no rate at all (tests, benchmarks).  Otherwise a burst of
 * burst lines, then one per interval_ms.  Lines older than ttl_ms are
 * dropped (and counted) instead of sent.
 */
void irc_queue_configure(struct irc_queue *q, int unlimited, int burst,
			 long interval_ms, long ttl_ms);

/* Would a line go out at once (nothing queued, a token free)? */
int irc_queue_can_send_now(struct irc_queue *q, int64_t now);
/* Takes a token for a line sent at once, or one that bypasses the queue
 * (PONG, registration): the server counts those too. */
void irc_queue_consume(struct irc_queue *q, int64_t now);

/* A new connection: the server's count starts again, so does ours. */
void irc_queue_refill(struct irc_queue *q, int64_t now);

/* Queues a line for target (a channel or nick; compared as given). */
void irc_queue_push(struct irc_queue *q, const char *target, const char *line,
		    size_t len, int64_t now);

/*
 * Queues a line that must precede everything waiting (JOIN after
 * registration): it still waits for a token, but goes out first.
 */
void irc_queue_push_urgent(struct irc_queue *q, const char *line, size_t len,
			   int64_t now);

/* How many lines of one group may wait for one target. */
#define IRC_QUEUE_GROUP_KEEP 3

/*
 * Queues a line that may be summarised: when IRC_QUEUE_GROUP_KEEP lines
 * of the same group already wait for target, the line is dropped and
 * counted instead, and right after the last waiting line of the group a
 * summary "PRIVMSG <target> :(N more <group> messages not shown)" is sent.
 */
void irc_queue_push_grouped(struct irc_queue *q, const char *target,
			    const char *group, const char *line, size_t len,
			    int64_t now);
/*
 * Queues a line under a key, "latest wins": with replace set (the first
 * line of a new text), every line of the same key still waiting for
 * target is dropped first.  Progress lines use it.
 */
void irc_queue_push_keyed(struct irc_queue *q, const char *target,
			  const char *key, int replace, const char *line,
			  size_t len, int64_t now);

/* Lines dropped into summaries since the last call (and resets it). */
size_t irc_queue_take_summarised(struct irc_queue *q);

typedef void irc_queue_send_fn(const char *line, size_t len, void *data);

/*
 * Sends what the bucket allows now, fairly across targets, dropping
 * expired lines.  Returns the ms until the next line may go, or -1 if the
 * queue is empty.
 */
long irc_queue_drain(struct irc_queue *q, int64_t now, irc_queue_send_fn *fn,
		     void *data);

size_t irc_queue_length(const struct irc_queue *q);
/* Lines dropped for age since the last call (and resets the count). */
size_t irc_queue_take_expired(struct irc_queue *q);
/* Lines of one target still queued. */
size_t irc_queue_target_length(const struct irc_queue *q, const char *target);
void irc_queue_clear(struct irc_queue *q);

#endif /* IRC_QUEUE_H */
