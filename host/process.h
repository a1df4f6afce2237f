/*
 * process.h - child processes for plugins (api->process_start): argv only,
 * a minimal environment, output streamed line by line (and to a capped log
 * file), ended by a signal to the whole process group with a grace before
 * SIGKILL, and EXIT only once the group is gone.
 */
#ifndef PROCESS_H
#define PROCESS_H

#include "opsbot.h"

int64_t process_start(struct opsbot_plugin *p,
		      const struct opsbot_process_options *opts,
		      opsbot_process_fn *fn, void *data);

int process_signal(struct opsbot_plugin *p, int64_t id, int sig);
/* Children are started through `path --process-keeper` (keeper.c), so
 * they end when the host dies; NULL: directly.  Called once by main(). */
void process_set_keeper(const char *path);
/* SIGKILLs the group of every child not yet finished (host_stop, after
 * the shutdown's deadline). */
void process_kill_all(void);

#endif /* PROCESS_H */
