/*
 * irc_accounts.h - which services account each nick is logged in to, as
 * the server told us: account-tag, extended-join, account-notify, WHOX and
 * WHOIS 330 all feed it.  An entry says "logged in as X", "not logged
 * in", or nothing; it is forgotten when the nick quits or changes, and on
 * disconnect.
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
void accounts_rename(const char *old_nick, const char *new_nick);
void accounts_forget(const char *nick);
void accounts_clear(void);
size_t accounts_count(void);

#endif /* IRC_ACCOUNTS_H */
