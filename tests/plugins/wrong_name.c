/* wrong_name.c - its descriptor names another plugin: refused. */
#include "opsbot.h"

#include <stdlib.h>

static int init(struct opsbot_plugin *p, const struct opsbot_api *api)
{
	abort();
}

OPSBOT_EXPORT const struct opsbot_plugin_descriptor opsbot_plugin = {
    OPSBOT_ABI_MAJOR,
    OPSBOT_ABI_MINOR,
    "someone_else",
    "1",
    "misnamed",
    NULL,
    NULL,
    init,
    NULL,
};
