/*
 * confirm.h - confirmation of destructive commands (OPSBOT_COMMAND_CONFIRM):
 * the first attempt is remembered per asker and command line; the same
 * asker typing the same line again with --yes within the timeout runs it.
 * Only the table lives here; command.c asks and words the replies.
 */
#ifndef CONFIRM_H
#define CONFIRM_H

#include <stdint.h>

/* [bot] confirm_timeout. */
void confirm_configure(long timeout_ms);
long confirm_timeout_ms(void);

/* Remembers that who asked for line (replacing an older attempt). */
void confirm_remember(const char *who, const char *line, int64_t now);

enum confirm_result {
	CONFIRM_NONE = 0,    /* nothing to confirm for who and line */
	CONFIRM_OK = 1,	     /* confirmed: the attempt is used up */
	CONFIRM_EXPIRED = 2, /* there was one, but too long ago */
};
enum confirm_result confirm_take(const char *who, const char *line,
				 int64_t now);

/* Forgets every attempt whose line starts with prefix (an unload). */
void confirm_forget(const char *prefix);
void confirm_clear(void);

#endif /* CONFIRM_H */
