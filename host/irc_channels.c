/*
 * irc_channels.c - the channels [irc] channels names, and which of them
 * the bot is in: JOIN once logged in (keyed ones first, as few lines as
 * fit), PART what a reload removed, and our own JOIN, PART and KICK.
 */
#include "irc_internal.h"
#include "log.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define COMPONENT "irc"
#define CHANNELS_MAX 64

struct channel {
	char *name; /* whole, whatever CHANNELLEN allows */
	int joined;
};

static struct {
	struct channel list[CHANNELS_MAX];
	int count;
} channels;

static struct channel *channel_find(const char *name)
{
	enum irc_casemapping casemap = irc_isupport()->casemap;
	int i;

	for (i = 0; i < channels.count; i++)
		if (!irc_casecmp(channels.list[i].name, name, casemap))
			return &channels.list[i];
	return NULL;
}

void irc_channels_fini(void)
{
	int i;

	for (i = 0; i < channels.count; i++)
		free(channels.list[i].name);
	channels.count = 0;
}

void irc_channels_configure(void)
{
	const struct irc_settings *cfg = irc_settings_get();
	int i;

	for (i = 0; i < channels.count; i++)
		free(channels.list[i].name);
	channels.count = 0;
	for (i = 0; i < cfg->channel_count && i < CHANNELS_MAX; i++) {
		const char *name = cfg->channels[i];
		struct channel *ch = &channels.list[channels.count];

		ch->name = xstrndup(name, strcspn(name, " "));
		ch->joined = 0;
		channels.count++;
	}
}

/*
 * Joins every configured channel in as few lines as fit: "JOIN #a,#b k"
 * with the keyed channels first (keys match channels by position).  Each
 * line counts against the flood bucket, so registration plus the joins
 * stay within a server's burst.
 */
void irc_channels_join_all(void)
{
	const struct irc_settings *cfg = irc_settings_get();
	struct buf names = BUF_INIT, keys = BUF_INIT;
	int pass, i;

	for (pass = 0; pass < 2; pass++) {
		for (i = 0; i < cfg->channel_count && i < CHANNELS_MAX; i++) {
			char *name = xstrdup(cfg->channels[i]), *key;

			key = strchr(name, ' ');
			if (key) {
				*key++ = '\0';
				while (*key == ' ')
					key++;
			}
			if (!key || !*key)
				key = NULL;
			/* Keyed channels in the first pass, the rest after. */
			if ((pass == 0) != (key != NULL)) {
				free(name);
				continue;
			}
			if (names.len + keys.len + strlen(name) +
				(key ? strlen(key) : 0) + 12 >
			    400) {
				irc_send_urgent("JOIN", keys.len ? 2 : 1,
						(const char *const[]){
						    names.data, keys.data});
				buf_reset(&names);
				buf_reset(&keys);
			}
			if (names.len)
				buf_addch(&names, ',');
			buf_adds(&names, name);
			if (key) {
				if (keys.len)
					buf_addch(&keys, ',');
				buf_adds(&keys, key);
			}
			free(name);
		}
	}
	if (names.len)
		irc_send_urgent("JOIN", keys.len ? 2 : 1,
				(const char *const[]){names.data, keys.data});
	buf_free(&names);
	buf_free(&keys);
}

void irc_channels_part_removed(const struct irc_settings *old)
{
	const struct irc_settings *cfg = irc_settings_get();
	enum irc_casemapping casemap = irc_isupport()->casemap;
	int i, j;

	for (i = 0; i < old->channel_count; i++) {
		int kept = 0;
		char *name =
		    xstrndup(old->channels[i], strcspn(old->channels[i], " "));

		/* The whole name: "#ops" is not kept by "#ops-team". */
		for (j = 0; j < cfg->channel_count; j++) {
			char *other = xstrndup(cfg->channels[j],
					       strcspn(cfg->channels[j], " "));

			if (!irc_casecmp(other, name, casemap))
				kept = 1;
			free(other);
		}
		if (!kept)
			irc_send_now1("PART", name);
		free(name);
	}
}

void irc_channels_on_joined(const char *name)
{
	struct channel *ch = channel_find(name);

	if (ch) {
		ch->joined = 1;
		info(COMPONENT, "joined %s", name);
	}
}

void irc_channels_on_disconnect(void)
{
	int i;

	for (i = 0; i < channels.count; i++)
		channels.list[i].joined = 0;
}

void irc_channels_on_part(const struct irc_message *m,
			  const struct irc_userhost *who)
{
	struct channel *ch;

	if (m->param_count < 1 || !who || !irc_nick_is_me(who->nick))
		return;
	ch = channel_find(m->params[0]);
	if (ch)
		ch->joined = 0;
}

void irc_channels_on_kick(const struct irc_message *m,
			  const struct irc_userhost *who)
{
	struct channel *ch;

	if (m->param_count < 2 || !irc_nick_is_me(m->params[1]))
		return;
	ch = channel_find(m->params[0]);
	warning(COMPONENT, "kicked from %s by %s: %s", m->params[0],
		who ? who->nick : "?", m->param_count >= 3 ? m->params[2] : "");
	if (ch)
		ch->joined = 0;
}

/* 403, 405, 471, 473-475, 477: a JOIN the server refused. */
void irc_channels_on_join_refused(const struct irc_message *m, int code)
{
	UNUSED(code);
	warning(COMPONENT, "cannot join %s: %s",
		m->param_count >= 2 ? m->params[1] : "?",
		m->param_count >= 3 ? m->params[2] : m->command);
}
