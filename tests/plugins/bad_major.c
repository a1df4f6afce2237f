/* bad_major.c - a plugin built for ABI 2: the host must refuse it before
 * running init (which would crash the test if called). */
#include "opsbot.h"

#include <stdlib.h>

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	abort();
}

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    OPSBOT_ABI_MAJOR + 1,
    0,
    "bad_major",
    "1",
    "wrong ABI major",
    NULL,
    NULL,
    init,
    NULL,
};
