/*
 * sdk_json.h - reading jansson documents by path (part of the plugin
 * SDK).  Plugins that use these link -ljansson.
 *
 * A path is a chain of object keys and array indexes: "a.b[2].c",
 * "[0].id", "items[10]".  Keys are the bytes between separators ('.' and
 * '['); a key holding '.' or '[' cannot be named by a path (use
 * json_object_get() for those).  A missing key, an index past the end, a
 * key looked up in something that is not an object (or an index in
 * something not an array) and a malformed path all give NULL: untrusted
 * JSON never makes these crash, only fall back to the default.
 */
#ifndef SDK_JSON_H
#define SDK_JSON_H

#include <jansson.h>

/* The value at path (borrowed from root), or NULL.  "" is root itself. */
json_t *sdk_json_get(const json_t *root, const char *path);

/* The string at path (borrowed), or def if missing or not a string. */
const char *sdk_json_string(const json_t *root, const char *path,
			    const char *def);
/*
 * The integer at path, or def if missing or not an integer.  A real with
 * no fraction that fits (3.0) counts as an integer; 3.5 does not.
 */
long long sdk_json_int(const json_t *root, const char *path, long long def);
/* true/false at path, or def if missing or not a boolean. */
int sdk_json_bool(const json_t *root, const char *path, int def);

/* json_dumps() into a string of the SDK's allocator: never NULL. */
char *sdk_json_dump(const json_t *value, size_t flags);

#endif /* SDK_JSON_H */
