/*
 * command.h - commands: argument splitting, the registry (built-ins and
 * plugin subcommands), dispatch with permission checks and confirmation.
 * The request a command runs with and its replies are request.h's; the
 * built-in commands are builtin.h's.
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

/* One registered command: a built-in or a plugin's subcommand. */
struct command_entry {
	struct opsbot_plugin *plugin; /* NULL: built-in */
	char *word;		      /* built-in name or plugin word */
	char *name;		      /* subcommand, "" for none */
	char *usage;
	char *help;
	char *capability; /* NULL: anyone */
	int min_args, max_args;
	opsbot_command_fn *fn;
	void *data;
	unsigned flags; /* enum opsbot_command_flags */
	char *confirm;	/* CONFIRM: what it destroys, or NULL */
	struct list link;
};

/*
 * Splits text in place into argv (at most max entries plus a NULL),
 * honouring "double" and 'single' quotes and backslash escapes.  starts[i]
 * is set to the offset in the original text where argument i began (may be
 * NULL).  Returns the count, or -1 with *err set (malloc'd).
 */
int command_split_args(char *text, char **argv, size_t *starts, int max,
		       char **err);

/*
 * Registers the sweeper that drops an unloaded plugin's requests and
 * commands, and the check the loader asks whether a command word is taken.
 * The built-in commands are registered by builtin_init().
 */
void command_init(void);
/* Takes prefix, unknown_command_reply, ignore, the line caps and
 * confirm_timeout from [bot]. */
void command_configure(const struct config *cfg);
/* Drops every command, the refusal and the confirmations waiting. */
void command_fini(void);
/* From now on every command is answered "error: <why>" (shutdown); NULL
 * lifts it. */
void command_refuse(const char *why);

/* Plugin side: add a subcommand (from init).  Returns OPSBOT_*. */
int command_add(struct opsbot_plugin *p, const struct opsbot_command *cmd);
/* Adds the built-in command word (builtin_init()); cmd->name is "". */
void command_add_builtin(const char *word, const struct opsbot_command *cmd);
/* Is word a built-in command? */
int command_is_builtin(const char *word);
/* Is word a built-in or another plugin's command word? */
int command_word_taken(const char *word);
/* Drops every command of p. */
void command_remove_plugin(struct opsbot_plugin *p);

/* The entry registered as word and subcommand name ("" for none), or NULL. */
struct command_entry *command_find(const char *word, const char *name);
/* The built-in command word, or NULL. */
struct command_entry *command_find_builtin(const char *word);
/*
 * The registry in registration order: the entry after e, the first when e
 * is NULL, NULL after the last.  The entries stay the registry's.
 */
struct command_entry *command_next(const struct command_entry *e);
/* The closest command word (within NULL) or subcommand of within to word,
 * for "did you mean"; NULL if none is close. */
const char *command_suggest(const char *word, struct opsbot_plugin *within);
/* "!reg add <name>", or "opsbot run registrar add <name>" in a shell. */
void command_format_usage(const struct command_source *src,
			  const struct command_entry *e, char *out,
			  size_t size);

/* Does nick!user@host match [bot] ignore (another bot, say)?  casemap:
 * the server's enum irc_casemapping. */
int command_ignores(const char *nick, const char *user, const char *host,
		    int casemap);

/*
 * Runs a command line typed on IRC (prefix already removed).  A sender
 * [bot] ignore names is ignored.  Returns 1 if
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
