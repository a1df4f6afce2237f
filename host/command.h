/*
 * command.h - commands: argument splitting, the registry (built-ins and
 * plugin subcommands), dispatch with permission checks and confirmation.
 * The request a command runs with and its replies are request.h's.
 */
#ifndef COMMAND_H
#define COMMAND_H

#include "opsbot.h"
#include "request.h"
#include "util.h"

#include <stddef.h>

#define COMMAND_ARGS_MAX 64

struct config;
struct opsbot_plugin;

/*
 * Splits text in place into argv (at most max entries plus a NULL),
 * honouring "double" and 'single' quotes and backslash escapes.  starts[i]
 * is set to the offset in the original text where argument i began (may be
 * NULL).  Returns the count, or -1 with *err set (malloc'd).
 */
int command_split_args(char *text, char **argv, size_t *starts, int max,
		       char **err);

/* Built-in commands; registers them.  version is the host's. */
void command_init(const char *version);
/* Takes prefix, unknown_command_reply, the line caps and confirm_timeout
 * from [bot]. */
void command_configure(const struct config *cfg);
/* Drops every command, the refusal and the confirmations waiting. */
void command_fini(void);
/* From now on every command is answered "error: <why>" (shutdown); NULL
 * lifts it. */
void command_refuse(const char *why);

/* Plugin side: add a subcommand (from init).  Returns OPSBOT_*. */
int command_add(struct opsbot_plugin *p, const struct opsbot_command *cmd);
/* Is word a built-in command? */
int command_is_builtin(const char *word);
/* Is word a built-in or another plugin's command word? */
int command_word_taken(const char *word);
/* Drops every command of p. */
void command_remove_plugin(struct opsbot_plugin *p);

/*
 * Runs a command line typed on IRC (prefix already removed).  Returns 1 if
 * it was a command (known or not), 0 if it was ignored.
 */
int command_dispatch_text(const struct command_source *src, const char *text);
/*
 * The capability the command in text needs: NULL if none (or if text is
 * not a command the bot knows).  Lets the IRC layer look up the sender's
 * account before dispatching a privileged command.
 */
const char *command_capability_for(const char *text);

/* Runs an already split command line (the CLI). */
int command_dispatch_argv(const struct command_source *src, int argc,
			  char **argv);

#endif /* COMMAND_H */
