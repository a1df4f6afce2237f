/*
 * fdwatch.h - file descriptors of a plugin's library watched on the loop
 * (api->fd_watch): libvirt's event implementation needs this for its
 * keepalives, its close callback and domain events.
 */
#ifndef FDWATCH_H
#define FDWATCH_H

#include "opsbot.h"

int64_t fdwatch_start(struct opsbot_plugin *p, int fd, unsigned events,
		      opsbot_fd_fn *fn, void *data);
int fdwatch_update(struct opsbot_plugin *p, int64_t id, unsigned events);

#endif /* FDWATCH_H */
