/*
 * access.c - capability grants by account or hostmask.
 */
#include "access.h"
#include "config.h"
#include "irc_message.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum grant_kind { GRANT_ACCOUNT, GRANT_MASK };

struct grant {
	enum grant_kind kind;
	char *who; /* account name or mask */
	char **caps;
	int cap_count;
};

static struct grant *grants;
static int grant_count;

static void grant_free(struct grant *g);

/* The next space-separated word of *p, copied; NULL at the end. */
static char *next_word(const char **p)
{
	const char *s = *p, *e;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s)
		return NULL;
	for (e = s; *e && *e != ' ' && *e != '\t'; e++)
		;
	*p = e;
	return xstrndup(s, (size_t)(e - s));
}

/* "account alice admin registrar.view" -> a grant. */
static int parse_grant(const char *text, struct grant *g, char **err)
{
	char *kind = next_word(&text), *word;

	memset(g, 0, sizeof(*g));
	if (!kind || (strcmp(kind, "account") && strcmp(kind, "mask"))) {
		*err = xstrdup("expected 'account NAME CAP...' or "
			       "'mask NICK!USER@HOST CAP...'");
		free(kind);
		return -1;
	}
	g->kind = !strcmp(kind, "account") ? GRANT_ACCOUNT : GRANT_MASK;
	free(kind);
	g->who = next_word(&text);
	while ((word = next_word(&text))) {
		g->caps = xrealloc(g->caps,
				   (size_t)(g->cap_count + 1) * sizeof(char *));
		g->caps[g->cap_count++] = word;
	}
	if (!g->who || !g->cap_count) {
		*err = xstrdup("a grant needs a kind, a name or mask, and at "
			       "least one capability");
		grant_free(g);
		return -1;
	}
	return 0;
}

static void grant_free(struct grant *g)
{
	int i;

	free(g->who);
	for (i = 0; i < g->cap_count; i++)
		free(g->caps[i]);
	free(g->caps);
}

void access_validate(struct config *cfg)
{
	const struct config_entry *e;

	for (e = cfg->entries; e; e = e->next) {
		const char *p;

		if (strcmp(e->section, "access") || strcmp(e->key, "grant"))
			continue;
		/* Items are comma-separated, as in every list. */
		for (p = e->value; *p;) {
			const char *comma = strchr(p, ',');
			size_t len = comma ? (size_t)(comma - p) : strlen(p);
			char *item = xstrndup(p, len);
			char *err = NULL;
			struct grant g;

			if (strspn(item, " \t") != len) {
				if (parse_grant(item, &g, &err) < 0)
					config_error(cfg, e, "'%s': %s", item,
						     err);
				else
					grant_free(&g);
				free(err);
			}
			free(item);
			p += len + (comma != NULL);
		}
	}
}

void access_clear(void)
{
	int i;

	for (i = 0; i < grant_count; i++)
		grant_free(&grants[i]);
	free(grants);
	grants = NULL;
	grant_count = 0;
}

void access_configure(const struct config *cfg)
{
	char **items;
	int count, i;

	access_clear();
	items =
	    config_get_list(cfg, "access", config_access_keys, "grant", &count);
	grants = xcalloc((size_t)count + 1, sizeof(*grants));
	for (i = 0; i < count; i++) {
		char *err = NULL;

		/* Validated already (access_validate): a bad one is skipped. */
		if (parse_grant(items[i], &grants[grant_count], &err) == 0)
			grant_count++;
		free(err);
	}
	free(items);
}

static int cap_matches(const char *granted, const char *wanted)
{
	size_t len = strlen(granted);

	if (!strcmp(granted, "admin") || !strcmp(granted, wanted))
		return 1;
	/* "registrar.*" covers "registrar.view". */
	return len >= 2 && granted[len - 1] == '*' && granted[len - 2] == '.' &&
	       !strncmp(granted, wanted, len - 1);
}

static int grant_applies(const struct grant *g, const struct identity *id)
{
	char *full;
	int match;

	if (g->kind == GRANT_ACCOUNT)
		return id->account &&
		       !irc_casecmp(g->who, id->account, IRC_CASEMAP_ASCII);
	if (!id->nick)
		return 0;
	full = xasprintf("%s!%s@%s", id->nick, id->user ? id->user : "*",
			 id->host ? id->host : "*");
	match = irc_mask_match(g->who, full,
			       (enum irc_casemapping)id->nick_casemap);
	free(full);
	return match;
}

int access_has(const struct identity *id, const char *capability)
{
	int i, j;

	for (i = 0; i < grant_count; i++) {
		if (!grant_applies(&grants[i], id))
			continue;
		for (j = 0; j < grants[i].cap_count; j++)
			if (cap_matches(grants[i].caps[j], capability))
				return 1;
	}
	return 0;
}

void access_describe(const struct identity *id, char *out, size_t size)
{
	struct buf b = BUF_INIT;
	int i, j;

	for (i = 0; i < grant_count; i++) {
		if (!grant_applies(&grants[i], id))
			continue;
		for (j = 0; j < grants[i].cap_count; j++) {
			const char *c = grants[i].caps[j];

			/* No duplicates in the list. */
			if (b.data && strstr(b.data, c))
				continue;
			if (b.len)
				buf_adds(&b, ", ");
			buf_adds(&b, c);
		}
	}
	strlcpy_safe(out, b.len ? b.data : "none", size);
	buf_free(&b);
}
