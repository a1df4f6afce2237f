/*
 * irc_accounts.c - nick -> account, in a small chained hash table keyed
 * by the casemapped nick.  Bounded: past ACCOUNTS_MAX entries the oldest
 * news is dropped first, so a channel of a million users cannot grow it.
 */
#include "irc_accounts.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 512
#define ACCOUNTS_MAX 20000

struct entry {
	struct entry *next;
	char *nick;    /* as last seen */
	char *account; /* NULL: not logged in */
	int64_t seen;
};

static struct entry *table[BUCKETS];
static size_t count;
static enum irc_casemapping casemap = IRC_CASEMAP_RFC1459;

void accounts_set_casemap(enum irc_casemapping map)
{
	/* Keys were hashed under the old mapping: start over. */
	if (map != casemap)
		accounts_clear();
	casemap = map;
}

static unsigned hash(const char *nick)
{
	unsigned h = 2166136261u;

	for (; *nick; nick++)
		h = (h ^ (unsigned)irc_tolower((unsigned char)*nick, casemap)) *
		    16777619u;
	return h % BUCKETS;
}

static struct entry **find(const char *nick)
{
	struct entry **e = &table[hash(nick)];

	while (*e && irc_casecmp((*e)->nick, nick, casemap))
		e = &(*e)->next;
	return e;
}

static void entry_free(struct entry *e)
{
	free(e->nick);
	free(e->account);
	free(e);
}

static void drop_oldest(void)
{
	struct entry **oldest = NULL, **e;
	int i;

	for (i = 0; i < BUCKETS; i++)
		for (e = &table[i]; *e; e = &(*e)->next)
			if (!oldest || (*e)->seen < (*oldest)->seen)
				oldest = e;
	if (oldest) {
		struct entry *victim = *oldest;

		*oldest = victim->next;
		entry_free(victim);
		count--;
	}
}

void accounts_set(const char *nick, const char *account, int64_t now)
{
	struct entry **slot = find(nick), *e = *slot;

	if (account && (!*account || !strcmp(account, "*")))
		account = NULL;
	if (!e) {
		if (count >= ACCOUNTS_MAX)
			drop_oldest();
		slot = find(nick);
		e = xcalloc(1, sizeof(*e));
		e->nick = xstrdup(nick);
		*slot = e;
		count++;
	}
	free(e->account);
	e->account = account ? xstrdup(account) : NULL;
	e->seen = now;
}

int accounts_get(const char *nick, const char **account, int64_t *seen)
{
	struct entry *e = *find(nick);

	if (!e)
		return 0;
	*account = e->account;
	if (seen)
		*seen = e->seen;
	return 1;
}

void accounts_forget(const char *nick)
{
	struct entry **slot = find(nick), *e = *slot;

	if (!e)
		return;
	*slot = e->next;
	entry_free(e);
	count--;
}

void accounts_rename(const char *old_nick, const char *new_nick)
{
	struct entry **slot = find(old_nick), *e = *slot;
	char *account;
	int64_t seen;

	if (!e)
		return;
	account = e->account ? xstrdup(e->account) : NULL;
	seen = e->seen;
	accounts_forget(old_nick);
	accounts_set(new_nick, account, seen);
	free(account);
}

void accounts_clear(void)
{
	int i;

	for (i = 0; i < BUCKETS; i++) {
		while (table[i]) {
			struct entry *e = table[i];

			table[i] = e->next;
			entry_free(e);
		}
	}
	count = 0;
}

size_t accounts_count(void)
{
	return count;
}
