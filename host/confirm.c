/*
 * confirm.c - see confirm.h.  A short list: attempts expire after the
 * timeout and at most CONFIRM_MAX wait (the oldest goes), so a flood of
 * destructive commands cannot grow memory.
 */
#include "confirm.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define CONFIRM_MAX 256
#define DEFAULT_TIMEOUT_MS 60000

struct attempt {
	struct list link;
	char *who, *line;
	int64_t at;
};

static struct list attempts = LIST_INIT(attempts);
static int count;
static long timeout_ms = DEFAULT_TIMEOUT_MS;

void confirm_configure(long ms)
{
	timeout_ms = ms > 0 ? ms : DEFAULT_TIMEOUT_MS;
}

long confirm_timeout_ms(void)
{
	return timeout_ms;
}

static void attempt_free(struct attempt *a)
{
	list_del(&a->link);
	free(a->who);
	free(a->line);
	free(a);
	count--;
}

static struct attempt *find(const char *who, const char *line)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &attempts)
	{
		struct attempt *a = list_entry(pos, struct attempt, link);

		if (!strcmp(a->who, who) && !strcmp(a->line, line))
			return a;
	}
	return NULL;
}

/* Drops attempts long past their use (kept a while as "expired"). */
static void prune(int64_t now)
{
	struct list *pos, *tmp;

	list_for_each_safe(pos, tmp, &attempts)
	{
		struct attempt *a = list_entry(pos, struct attempt, link);

		if (now - a->at > 10 * (int64_t)timeout_ms)
			attempt_free(a);
	}
}

void confirm_remember(const char *who, const char *line, int64_t now)
{
	struct attempt *a = find(who, line);

	prune(now);
	if (a)
		attempt_free(a);
	if (count >= CONFIRM_MAX)
		attempt_free(list_entry(attempts.next, struct attempt, link));
	a = xcalloc(1, sizeof(*a));
	a->who = xstrdup(who);
	a->line = xstrdup(line);
	a->at = now;
	list_add_tail(&attempts, &a->link);
	count++;
}

enum confirm_result confirm_take(const char *who, const char *line, int64_t now)
{
	struct attempt *a = find(who, line);
	int expired;

	if (!a)
		return CONFIRM_NONE;
	expired = now - a->at > timeout_ms;
	attempt_free(a);
	return expired ? CONFIRM_EXPIRED : CONFIRM_OK;
}

void confirm_forget(const char *prefix)
{
	struct list *pos, *tmp;
	size_t n = strlen(prefix);

	list_for_each_safe(pos, tmp, &attempts)
	{
		struct attempt *a = list_entry(pos, struct attempt, link);

		if (!strncmp(a->line, prefix, n))
			attempt_free(a);
	}
}

void confirm_clear(void)
{
	while (!list_empty(&attempts))
		attempt_free(list_entry(attempts.next, struct attempt, link));
}
