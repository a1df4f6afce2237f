/* wrong_name.c - its descriptor names another plugin: refused. */
#include "opsbot.h"

#include <stdlib.h>

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	abort();
}

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    .abi_major = OPSBOT_ABI_MAJOR,
    .abi_minor = OPSBOT_ABI_MINOR,
    .size = sizeof(struct opsbot_plugin_descriptor),
    .name = "someone_else",
    .version = "1",
    .description = "misnamed",
    .init = init,
};
