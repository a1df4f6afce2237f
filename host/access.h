/*
 * access.h - who may do what.  Capabilities ("admin", "registrar.view")
 * are granted in [access] to services accounts, or, as a fallback, to
 * hostmasks.  "admin" grants every capability; "registrar.*" every
 * capability of a plugin.  Account names compare as services compare them:
 * exactly or ignoring ASCII case, never with RFC 1459 folding ("alice^"
 * is not "alice~"); masks follow the server's CASEMAPPING.
 */
#ifndef ACCESS_H
#define ACCESS_H

#include <stddef.h>

struct config;

struct identity {
	const char *nick;
	const char *user;
	const char *host;
	const char *account; /* NULL: not identified */
	/* enum irc_casemapping the server uses for nicks (0: rfc1459);
	 * masks follow it, account names never do. */
	int nick_casemap;
};

/* Validates [access] grant lines; errors go into cfg. */
void access_validate(struct config *cfg);
/* Replaces the active grants with those of cfg (already validated). */
void access_configure(const struct config *cfg);
void access_clear(void);

/* Does id hold capability?  1 or 0. */
int access_has(const struct identity *id, const char *capability);

/* The capabilities id holds, comma-separated, into out; "none" if none. */
void access_describe(const struct identity *id, char *out, size_t size);

#endif /* ACCESS_H */
