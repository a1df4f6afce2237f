/*
 * builtin.h - the built-in commands: !ping, !help, !version, !plugins,
 * !plugin load|unload|reload and !whoami.
 */
#ifndef BUILTIN_H
#define BUILTIN_H

/* Registers the built-in commands; version is the host's (!version).
 * After command_init(). */
void builtin_init(const char *version);
/* Frees what builtin_init() kept; command_fini() drops the commands. */
void builtin_fini(void);

#endif /* BUILTIN_H */
