/*
 * sdk_buf.h - growing NUL-terminated buffers and allocation helpers for
 * plugins (part of the plugin SDK, libopsbot-sdk.a; see opsbot_sdk.h).
 *
 * Out of memory: every function here (and every SDK function that
 * allocates) writes "opsbot plugin: out of memory (N bytes)" to stderr and
 * calls abort().  A bot that cannot allocate a few bytes can do nothing
 * useful, and one policy is easier to reason about than NULL checks after
 * every call.  A size whose computation would overflow aborts the same way.
 */
#ifndef SDK_BUF_H
#define SDK_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growing string, always NUL-terminated once anything was added.  Zero
 * (SDK_BUF_INIT) is an empty buffer that owns nothing.  buf may move on
 * every add; len excludes the NUL.
 */
struct sdk_buf {
	char *buf;
	size_t len, alloc;
};

#define SDK_BUF_INIT                                                           \
	{                                                                      \
		NULL, 0, 0                                                     \
	}

/* Appends n bytes of s (which may hold NULs). */
void sdk_buf_add(struct sdk_buf *b, const char *s, size_t n);
/* Appends a NUL-terminated string. */
void sdk_buf_adds(struct sdk_buf *b, const char *s);
/* Appends printf-style text. */
void sdk_buf_addf(struct sdk_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void sdk_buf_vaddf(struct sdk_buf *b, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Empties the buffer and keeps its memory. */
void sdk_buf_reset(struct sdk_buf *b);
/* Frees the memory; the buffer is SDK_BUF_INIT again. */
void sdk_buf_release(struct sdk_buf *b);
/* The string: never NULL, "" when nothing was added.  Owned by b. */
const char *sdk_buf_str(const struct sdk_buf *b);
/* Hands the string to the caller (free() it); the buffer is empty. */
char *sdk_buf_detach(struct sdk_buf *b);

/* malloc() and friends that never return NULL (see the top).  A size of
   0 allocates 1 byte, so the result is always a valid pointer. */
void *sdk_xmalloc(size_t n);
/* Zeroed n * size bytes; an overflowing product aborts. */
void *sdk_xcalloc(size_t n, size_t size);
void *sdk_xrealloc(void *p, size_t n);
/* realloc() to n * size bytes; an overflowing product aborts. */
void *sdk_xreallocarray(void *p, size_t n, size_t size);
char *sdk_xstrdup(const char *s);
/* The first n bytes of s (which must be readable), NUL-terminated. */
char *sdk_xstrndup(const char *s, size_t n);
/* A new printf-style string; free() it. */
char *sdk_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* s copied, or NULL if s is NULL. */
char *sdk_xstrdup_or_null(const char *s);

#endif /* SDK_BUF_H */
