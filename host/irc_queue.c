/*
 * irc_queue.c - token bucket plus round-robin per-target queues.
 *
 * The bucket holds at most `burst` tokens and gains one every interval;
 * a line costs one.  That is RFC 1459 section 8.10 seen from the client:
 * a burst of 5, then one line per 2 s, never more than the server allows.
 */
#include "irc_queue.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct queued_line {
	struct queued_line *next;
	int64_t queued_at;
	char *group;	/* NULL unless pushed with a group */
	char *key;	/* NULL unless pushed with a key (latest wins) */
	int suppressed; /* lines of the group counted into this one */
	size_t len;
	char line[]; /* NUL-terminated */
};

struct target_queue {
	struct target_queue *next; /* in the round-robin ring order */
	char *name;
	struct queued_line *head, **tail;
	size_t count;
};

struct irc_queue {
	int unlimited;
	int burst;
	long interval_ms;
	long ttl_ms;
	double tokens;
	int64_t refilled_at;
	struct target_queue *targets; /* targets with lines, served in turn */
	struct target_queue urgent;   /* served before any target */
	size_t length;
	size_t expired;
	size_t summarised;
};

struct irc_queue *irc_queue_new(void)
{
	struct irc_queue *q = xcalloc(1, sizeof(*q));

	irc_queue_configure(q, 0, 5, 2000, 600000);
	q->tokens = q->burst;
	q->urgent.tail = &q->urgent.head;
	return q;
}

static void target_free(struct target_queue *t)
{
	struct queued_line *l, *next;

	for (l = t->head; l; l = next) {
		next = l->next;
		free(l->group);
		free(l->key);
		free(l);
	}
	free(t->name);
	free(t);
}

void irc_queue_clear(struct irc_queue *q)
{
	struct target_queue *t, *next;
	struct queued_line *l, *lnext;

	for (l = q->urgent.head; l; l = lnext) {
		lnext = l->next;
		free(l);
	}
	q->urgent.head = NULL;
	q->urgent.tail = &q->urgent.head;
	q->urgent.count = 0;

	for (t = q->targets; t; t = next) {
		next = t->next;
		target_free(t);
	}
	q->targets = NULL;
	q->length = 0;
}

void irc_queue_free(struct irc_queue *q)
{
	if (!q)
		return;
	irc_queue_clear(q);
	free(q);
}

void irc_queue_configure(struct irc_queue *q, int unlimited, int burst,
			 long interval_ms, long ttl_ms)
{
	q->unlimited = unlimited;
	q->burst = burst > 0 ? burst : 1;
	q->interval_ms = interval_ms > 0 ? interval_ms : 1;
	q->ttl_ms = ttl_ms;
	if (q->tokens > q->burst)
		q->tokens = q->burst;
}

static void refill(struct irc_queue *q, int64_t now)
{
	if (now > q->refilled_at) {
		q->tokens +=
		    (double)(now - q->refilled_at) / (double)q->interval_ms;
		if (q->tokens > q->burst)
			q->tokens = q->burst;
	}
	q->refilled_at = now;
}

int irc_queue_can_send_now(struct irc_queue *q, int64_t now)
{
	if (q->unlimited)
		return 1;
	if (q->length)
		return 0;
	refill(q, now);
	return q->tokens >= 1.0;
}

void irc_queue_consume(struct irc_queue *q, int64_t now)
{
	if (q->unlimited)
		return;
	refill(q, now);
	/* Bypassing lines may take the bucket below zero, without a floor:
	 * the lines after them then wait, as the server's own count
	 * demands. */
	q->tokens -= 1.0;
}

void irc_queue_refill(struct irc_queue *q, int64_t now)
{
	q->tokens = q->burst;
	q->refilled_at = now;
}

static struct target_queue *target_get(struct irc_queue *q, const char *target)
{
	struct target_queue *t, **link;

	for (link = &q->targets; (t = *link); link = &t->next)
		if (!strcmp(t->name, target))
			return t;
	t = xcalloc(1, sizeof(*t));
	t->name = xstrdup(target);
	t->tail = &t->head;
	*link = t; /* new targets join the end of the ring */
	return t;
}

static struct queued_line *line_new(const char *line, size_t len, int64_t now)
{
	struct queued_line *l = xmalloc(sizeof(*l) + len + 1);

	l->next = NULL;
	l->queued_at = now;
	l->group = NULL;
	l->key = NULL;
	l->suppressed = 0;
	l->len = len;
	memcpy(l->line, line, len);
	l->line[len] = '\0';
	return l;
}

static void append(struct irc_queue *q, struct target_queue *t,
		   struct queued_line *l)
{
	*t->tail = l;
	t->tail = &l->next;
	t->count++;
	q->length++;
}

void irc_queue_push_urgent(struct irc_queue *q, const char *line, size_t len,
			   int64_t now)
{
	append(q, &q->urgent, line_new(line, len, now));
}

void irc_queue_push(struct irc_queue *q, const char *target, const char *line,
		    size_t len, int64_t now)
{
	append(q, target_get(q, target), line_new(line, len, now));
}

void irc_queue_push_grouped(struct irc_queue *q, const char *target,
			    const char *group, const char *line, size_t len,
			    int64_t now)
{
	struct target_queue *t = target_get(q, target);
	struct queued_line *l, *last = NULL;
	int waiting = 0;

	for (l = t->head; l; l = l->next)
		if (l->group && !strcmp(l->group, group)) {
			waiting++;
			last = l;
		}
	if (waiting >= IRC_QUEUE_GROUP_KEEP) {
		last->suppressed++;
		q->summarised++;
		return;
	}
	l = line_new(line, len, now);
	l->group = xstrdup(group);
	append(q, t, l);
}

void irc_queue_push_keyed(struct irc_queue *q, const char *target,
			  const char *key, int replace, const char *line,
			  size_t len, int64_t now)
{
	struct target_queue *t = target_get(q, target);
	struct queued_line *l, **link;

	/* The newer text replaces every waiting line of the older one (a
	 * long text is several lines); the place in the queue is the new
	 * line's, at the end, so fairness stays as it was. */
	if (replace) {
		for (link = &t->head; (l = *link);) {
			if (l->key && !strcmp(l->key, key)) {
				*link = l->next;
				t->count--;
				q->length--;
				free(l->group);
				free(l->key);
				free(l);
				continue;
			}
			link = &l->next;
		}
		/* Re-find the tail after removals. */
		t->tail = &t->head;
		while (*t->tail)
			t->tail = &(*t->tail)->next;
	}
	l = line_new(line, len, now);
	l->key = xstrdup(key);
	append(q, t, l);
}

/* "PRIVMSG <target> :(N more <group> messages not shown)", queued at the
 * front of its target so it follows the line it summarises. */
static void queue_summary(struct irc_queue *q, const char *target,
			  const struct queued_line *after)
{
	struct target_queue *t = target_get(q, target);
	struct queued_line *l;
	char text[600];
	int n;

	n = snprintf(text, sizeof(text),
		     "PRIVMSG %s :(%d more %s message%s not shown, to avoid "
		     "flooding)",
		     target, after->suppressed, after->group,
		     after->suppressed == 1 ? "" : "s");
	if (n < 0 || (size_t)n >= sizeof(text) || n > 510)
		return;
	l = line_new(text, (size_t)n, after->queued_at);
	l->next = t->head;
	t->head = l;
	if (!l->next)
		t->tail = &l->next;
	t->count++;
	q->length++;
}

/* Removes the head line of the first target and rotates that target to
 * the back of the ring, so each target gets one line per turn. */
static struct queued_line *pop_fair(struct irc_queue *q, char *target,
				    size_t size)
{
	struct target_queue *t = q->targets, **link;
	struct queued_line *l;

	if (!t)
		return NULL;
	snprintf(target, size, "%s", t->name);
	l = t->head;
	t->head = l->next;
	if (!t->head)
		t->tail = &t->head;
	t->count--;
	q->length--;
	q->targets = t->next;
	t->next = NULL;
	if (!t->count) {
		target_free(t);
	} else {
		for (link = &q->targets; *link; link = &(*link)->next)
			;
		*link = t;
	}
	return l;
}

long irc_queue_drain(struct irc_queue *q, int64_t now, irc_queue_send_fn *fn,
		     void *data)
{
	struct queued_line *l;
	char target[256];

	if (!q->unlimited)
		refill(q, now);
	while (q->length) {
		if (!q->unlimited && q->tokens < 1.0) {
			double missing = 1.0 - q->tokens;

			return (long)(missing * (double)q->interval_ms) + 1;
		}
		if (q->urgent.head) {
			/* Urgent lines never expire: they are the session's. */
			l = q->urgent.head;
			q->urgent.head = l->next;
			if (!q->urgent.head)
				q->urgent.tail = &q->urgent.head;
			q->urgent.count--;
			q->length--;
			if (!q->unlimited)
				q->tokens -= 1.0;
			fn(l->line, l->len, data);
			free(l);
			continue;
		}
		l = pop_fair(q, target, sizeof(target));
		if (q->ttl_ms > 0 && now - l->queued_at > q->ttl_ms) {
			q->expired += 1 + (size_t)l->suppressed;
			free(l->group);
			free(l->key);
			free(l);
			continue;
		}
		if (!q->unlimited)
			q->tokens -= 1.0;
		fn(l->line, l->len, data);
		if (l->suppressed)
			queue_summary(q, target, l);
		free(l->group);
		free(l->key);
		free(l);
	}
	return -1;
}

size_t irc_queue_length(const struct irc_queue *q)
{
	return q->length;
}

size_t irc_queue_take_summarised(struct irc_queue *q)
{
	size_t n = q->summarised;

	q->summarised = 0;
	return n;
}

size_t irc_queue_take_expired(struct irc_queue *q)
{
	size_t n = q->expired;

	q->expired = 0;
	return n;
}

size_t irc_queue_target_length(const struct irc_queue *q, const char *target)
{
	const struct target_queue *t;

	for (t = q->targets; t; t = t->next)
		if (!strcmp(t->name, target))
			return t->count;
	return 0;
}
