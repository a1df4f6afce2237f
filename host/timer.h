/*
 * timer.h - plugin timers (api->timer_start).
 */
#ifndef TIMER_H
#define TIMER_H

#include "opsbot.h"

int64_t timer_start(struct opsbot_plugin *p, long delay_ms, opsbot_timer_fn *fn,
		    void *data);

#endif /* TIMER_H */
