/*
 * buf.c - growing buffers and allocation that aborts on failure (see
 * sdk_buf.h for the policy).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sdk_buf.h"

static void *sdk_nomem(size_t n)
{
	fprintf(stderr, "opsbot plugin: out of memory (%zu bytes)\n", n);
	abort();
}

void *sdk_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	return p ? p : sdk_nomem(n);
}

void *sdk_xcalloc(size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return sdk_nomem(SIZE_MAX);
	p = calloc(n ? n : 1, size ? size : 1);
	return p ? p : sdk_nomem(n * size);
}

void *sdk_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	return q ? q : sdk_nomem(n);
}

void *sdk_xreallocarray(void *p, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return sdk_nomem(SIZE_MAX);
	return sdk_xrealloc(p, n * size);
}

char *sdk_xstrdup(const char *s)
{
	return sdk_xstrndup(s, strlen(s));
}

char *sdk_xstrndup(const char *s, size_t n)
{
	char *p;

	if (n == SIZE_MAX)
		return sdk_nomem(n);
	p = sdk_xmalloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

char *sdk_xstrdup_or_null(const char *s)
{
	return s ? sdk_xstrdup(s) : NULL;
}

char *sdk_xasprintf(const char *fmt, ...)
{
	struct sdk_buf b = SDK_BUF_INIT;
	va_list ap;

	va_start(ap, fmt);
	sdk_buf_vaddf(&b, fmt, ap);
	va_end(ap);
	return sdk_buf_detach(&b);
}

/* Room for extra more bytes and the NUL; doubling keeps adds amortised. */
static void sdk_buf_grow(struct sdk_buf *b, size_t extra)
{
	size_t need;

	if (extra > SIZE_MAX - b->len - 1)
		sdk_nomem(SIZE_MAX);
	need = b->len + extra + 1;
	if (need <= b->alloc)
		return;
	if (!b->alloc)
		b->alloc = 64;
	while (b->alloc < need)
		b->alloc = b->alloc > SIZE_MAX / 2 ? need : b->alloc * 2;
	b->buf = sdk_xrealloc(b->buf, b->alloc);
}

void sdk_buf_add(struct sdk_buf *b, const char *s, size_t n)
{
	sdk_buf_grow(b, n);
	if (n)
		memcpy(b->buf + b->len, s, n);
	b->len += n;
	b->buf[b->len] = '\0';
}

void sdk_buf_adds(struct sdk_buf *b, const char *s)
{
	sdk_buf_add(b, s, strlen(s));
}

void sdk_buf_vaddf(struct sdk_buf *b, const char *fmt, va_list ap)
{
	va_list copy;
	int n;

	va_copy(copy, ap);
	n = vsnprintf(NULL, 0, fmt, copy);
	va_end(copy);
	if (n < 0) {
		/* an encoding error: add nothing, but be a string */
		sdk_buf_grow(b, 0);
		b->buf[b->len] = '\0';
		return;
	}
	sdk_buf_grow(b, (size_t)n);
	vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
	b->len += (size_t)n;
}

void sdk_buf_addf(struct sdk_buf *b, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	sdk_buf_vaddf(b, fmt, ap);
	va_end(ap);
}

void sdk_buf_reset(struct sdk_buf *b)
{
	b->len = 0;
	if (b->buf)
		b->buf[0] = '\0';
}

void sdk_buf_release(struct sdk_buf *b)
{
	free(b->buf);
	b->buf = NULL;
	b->len = b->alloc = 0;
}

const char *sdk_buf_str(const struct sdk_buf *b)
{
	return b->buf ? b->buf : "";
}

char *sdk_buf_detach(struct sdk_buf *b)
{
	char *s = b->buf ? b->buf : sdk_xstrdup("");

	b->buf = NULL;
	b->len = b->alloc = 0;
	return s;
}
