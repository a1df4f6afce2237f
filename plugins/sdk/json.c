/*
 * json.c - path lookups on jansson values (see sdk_json.h).
 */
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sdk_buf.h"
#include "sdk_json.h"

json_t *sdk_json_get(const json_t *root, const char *path)
{
	json_t *cur = (json_t *)root;
	const char *p = path;

	if (!root || !path)
		return NULL;
	while (*p && cur) {
		if (*p == '[') {
			char *end;
			unsigned long long index;

			if (!json_is_array(cur) || p[1] < '0' || p[1] > '9')
				return NULL;
			errno = 0;
			index = strtoull(p + 1, &end, 10);
			if (errno || *end != ']')
				return NULL;
			cur = json_array_get(cur, (size_t)index);
			p = end + 1;
		} else {
			size_t n;

			if (*p == '.') {
				/* a separator, not at the start or doubled */
				if (p == path || p[1] == '.' || p[1] == '[' ||
				    !p[1])
					return NULL;
				p++;
			} else if (p != path) {
				return NULL; /* "a[0]b" */
			}
			n = strcspn(p, ".[");
			if (!json_is_object(cur) || n == 0)
				return NULL;
			cur = json_object_getn(cur, p, n);
			p += n;
		}
	}
	return *p ? NULL : cur;
}

const char *sdk_json_string(const json_t *root, const char *path,
			    const char *def)
{
	const char *s = json_string_value(sdk_json_get(root, path));

	return s ? s : def;
}

long long sdk_json_int(const json_t *root, const char *path, long long def)
{
	json_t *v = sdk_json_get(root, path);

	if (json_is_integer(v))
		return (long long)json_integer_value(v);
	if (json_is_real(v)) {
		double d = json_real_value(v);

		/* 2^63 is exactly representable; LLONG_MAX is not */
		if (d == floor(d) && d >= -9223372036854775808.0 &&
		    d < 9223372036854775808.0)
			return (long long)d;
	}
	return def;
}

int sdk_json_bool(const json_t *root, const char *path, int def)
{
	json_t *v = sdk_json_get(root, path);

	return json_is_boolean(v) ? json_is_true(v) : def;
}

char *sdk_json_dump(const json_t *value, size_t flags)
{
	char *text = value ? json_dumps(value, flags) : NULL;
	char *copy = sdk_xstrdup(text ? text : "null");

	/* jansson's allocator may not be ours: hand out our own copy */
	free(text);
	return copy;
}
