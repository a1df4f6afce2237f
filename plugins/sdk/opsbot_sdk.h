/*
 * opsbot_sdk.h - the plugin SDK: what plugins share but the host ABI
 * (opsbot.h) should not carry.  A static library, libopsbot-sdk.a, built
 * -fPIC -fvisibility=hidden and linked into every plugin .so: nothing of
 * it is exported, and each plugin carries its own copy, so the SDK can
 * change without an ABI change.  Include this header, or only a part:
 *
 *   sdk_buf.h    growing buffers; allocation that aborts when out of memory
 *   sdk_rate.h   jitter, exponential backoff, token buckets
 *   sdk_json.h   jansson lookups by path ("a.b[2].c") with typed defaults
 *   sdk_parse.h  durations ("1h30m") and sizes ("1.5T") with overflow checks
 *   sdk_text.h   UTF-8, and cleaning of untrusted outside text
 *   sdk_hash.h   SHA-256, HMAC-SHA256, constant-time comparison, hex
 *   sdk_http.h   URL/form encoding, Retry-After, error causes, and an HTTP
 *                call queue with concurrency, rate limits and retries
 *   sdk_jenkins.h    a Jenkins client on that queue: crumbs, tree= queries,
 *                triggering and following builds, stop and cancel
 *
 * Rules: the SDK calls the host only through the `const struct opsbot_api *`
 * it is given (sdk_http.h lists which members); it keeps no global state;
 * functions return 0 or -1 with a message in a struct sdk_buf, as the
 * host does.  A plugin using sdk_json.h or sdk_http.h links -ljansson.
 */
#ifndef OPSBOT_SDK_H
#define OPSBOT_SDK_H

#include "sdk_jenkins.h"
#include "sdk_buf.h"
#include "sdk_hash.h"
#include "sdk_http.h"
#include "sdk_json.h"
#include "sdk_parse.h"
#include "sdk_rate.h"
#include "sdk_text.h"

#endif /* OPSBOT_SDK_H */
