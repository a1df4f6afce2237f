/*
 * waitscale.h - how long the tests' waits for something to happen last.
 * A wait for a line, a log entry or an exit ends as soon as it happens;
 * its limit only bounds a failure.  Under valgrind or the sanitizers the
 * bot runs several times slower, so tests/run sets OPSBOT_TEST_WAIT_SCALE
 * and every such limit is multiplied by it.  Bounds that are measured
 * figures (latency, flood windows) never go through here.
 */
#ifndef WAITSCALE_H
#define WAITSCALE_H

#include <stdlib.h>

static inline long test_wait_ms(long ms)
{
	const char *env = getenv("OPSBOT_TEST_WAIT_SCALE");
	long scale = env ? strtol(env, NULL, 10) : 1;

	return scale > 1 && scale <= 20 ? ms * scale : ms;
}

#endif /* WAITSCALE_H */
