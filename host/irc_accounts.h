/*
 * irc_accounts.h - the nicks the bot can see (those sharing a channel with
 * it) and which services account each is logged in to, as the server told
 * us: account-tag, extended-join, account-notify, WHOX and WHOIS 330 all
 * feed it; JOIN, NAMES, WHOX, PART, KICK, QUIT and NICK keep the channels
 * current.  An entry says "logged in as X", "not logged in", or nothing;
 * it goes when the nick quits, leaves the last shared channel, or on
 * disconnect.  The gateway trusts an account only while its nick is seen
 * (accounts_visible()): once a nick is out of sight it may be anyone.
 */
#ifndef IRC_ACCOUNTS_H
#define IRC_ACCOUNTS_H

#include "irc_message.h"

#include <stdint.h>

void accounts_set_casemap(enum irc_casemapping map);
/* account NULL or "*": known not to be logged in. */
void accounts_set(const char *nick, const char *account, int64_t now);
/*
 * 1 if nick's state is known (*account set, NULL if not logged in, and
 * *seen the time of the last news), 0 if unknown.
 */
int accounts_get(const char *nick, const char **account, int64_t *seen);
/* nick is in channel with us (JOIN, NAMES, WHOX), or left it. */
void accounts_join(const char *nick, const char *channel, int64_t now);
void accounts_part(const char *nick, const char *channel);
/* We left channel: whoever we saw only there is out of sight. */
void accounts_leave_channel(const char *channel);
/* Does nick share at least one channel with us? */
int accounts_visible(const char *nick);
void accounts_rename(const char *old_nick, const char *new_nick);
void accounts_forget(const char *nick);
void accounts_clear(void);
size_t accounts_count(void);

#endif /* IRC_ACCOUNTS_H */
