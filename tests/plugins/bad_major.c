/* bad_major.c - a plugin built for ABI 2: the host must refuse it before
 * running init (which would crash the test if called). */
#include "opsbot.h"

#include <stdlib.h>

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	abort();
}

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR + 1,
    .abi_minor = 0,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "bad_major",
    .version = "1",
    .description = "wrong ABI major",
    .init = init,
};
