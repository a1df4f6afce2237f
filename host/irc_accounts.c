/*
 * irc_accounts.c - nick -> account and the channels we share with it, in
 * a small chained hash table keyed by the casemapped nick.  Bounded: past
 * ACCOUNTS_MAX entries the oldest news is dropped first, so a channel of a
 * million users cannot grow it.
 */
#include "irc_accounts.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 512
#define ACCOUNTS_MAX 20000

struct entry {
	struct entry *next;
	char *nick;	 /* as last seen */
	char *account;	 /* NULL: not logged in (or unknown) */
	int known;	 /* account (or its absence) is known */
	char **channels; /* shared with us */
	int channel_count;
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

static void drop_oldest(void);

static void entry_free(struct entry *e)
{
	int i;

	for (i = 0; i < e->channel_count; i++)
		free(e->channels[i]);
	free(e->channels);
	free(e->nick);
	free(e->account);
	free(e);
}

/* nick's entry, made (state unknown, no channel) if there is none. */
static struct entry *entry_get(const char *nick, int64_t now)
{
	struct entry **slot = find(nick), *e = *slot;

	if (e)
		return e;
	if (count >= ACCOUNTS_MAX)
		drop_oldest();
	slot = find(nick);
	e = xcalloc(1, sizeof(*e));
	e->nick = xstrdup(nick);
	e->seen = now;
	*slot = e;
	count++;
	return e;
}

static int channel_index(const struct entry *e, const char *channel)
{
	int i;

	for (i = 0; i < e->channel_count; i++)
		if (!irc_casecmp(e->channels[i], channel, casemap))
			return i;
	return -1;
}

/* Drops channel from e; 1 if e is left in none. */
static int entry_part(struct entry *e, const char *channel)
{
	int i = channel_index(e, channel);

	if (i >= 0) {
		free(e->channels[i]);
		e->channels[i] = e->channels[--e->channel_count];
	}
	return e->channel_count == 0;
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
	struct entry *e = entry_get(nick, now);

	if (account && (!*account || !strcmp(account, "*")))
		account = NULL;
	free(e->account);
	e->account = account ? xstrdup(account) : NULL;
	e->known = 1;
	e->seen = now;
}

int accounts_get(const char *nick, const char **account, int64_t *seen)
{
	struct entry *e = *find(nick);

	if (!e || !e->known)
		return 0;
	*account = e->account;
	if (seen)
		*seen = e->seen;
	return 1;
}

void accounts_join(const char *nick, const char *channel, int64_t now)
{
	struct entry *e = entry_get(nick, now);

	if (channel_index(e, channel) >= 0)
		return;
	e->channels = xrealloc(e->channels, (size_t)(e->channel_count + 1) *
						sizeof(*e->channels));
	e->channels[e->channel_count++] = xstrdup(channel);
}

void accounts_part(const char *nick, const char *channel)
{
	struct entry *e = *find(nick);

	/* Out of sight: whatever we knew may be someone else's soon. */
	if (e && entry_part(e, channel))
		accounts_forget(nick);
}

void accounts_leave_channel(const char *channel)
{
	int i;

	for (i = 0; i < BUCKETS; i++) {
		struct entry **e = &table[i];

		while (*e) {
			struct entry *victim = *e;

			if (channel_index(victim, channel) >= 0 &&
			    entry_part(victim, channel)) {
				*e = victim->next;
				entry_free(victim);
				count--;
			} else {
				e = &victim->next;
			}
		}
	}
}

int accounts_visible(const char *nick)
{
	struct entry *e = *find(nick);

	return e && e->channel_count > 0;
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

	if (!e)
		return;
	/* Unlink, then relink under the new key (what it knew goes along). */
	*slot = e->next;
	count--;
	accounts_forget(new_nick);
	free(e->nick);
	e->nick = xstrdup(new_nick);
	slot = find(new_nick);
	e->next = *slot;
	*slot = e;
	count++;
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
