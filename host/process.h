/*
 * process.h - child processes for plugins (api->process_start): argv only,
 * a minimal environment, output streamed line by line, a time limit that
 * kills the whole process group.
 */
#ifndef PROCESS_H
#define PROCESS_H

#include "opsbot.h"

int64_t process_start(struct opsbot_plugin *p,
		      const struct opsbot_process_options *opts,
		      opsbot_process_fn *fn, void *data);

int process_signal(struct opsbot_plugin *p, int64_t id, int sig);
/* Kills every child still running (shutdown). */
void process_kill_all(void);

#endif /* PROCESS_H */
