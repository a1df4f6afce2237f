/*
 * text.c - UTF-8 helpers and the cleaner for untrusted text (see
 * sdk_text.h).
 */
#include <string.h>

#include "sdk_text.h"

int sdk_utf8_decode(const char *s, size_t n, uint32_t *cp)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len;

	if (!n)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if ((p[0] & 0xE0) == 0xC0) {
		*cp = p[0] & 0x1F;
		len = 2;
	} else if ((p[0] & 0xF0) == 0xE0) {
		*cp = p[0] & 0x0F;
		len = 3;
	} else if ((p[0] & 0xF8) == 0xF0) {
		*cp = p[0] & 0x07;
		len = 4;
	} else {
		return 0;
	}
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		*cp = (*cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 2 && *cp < 0x80) || (len == 3 && *cp < 0x800) ||
	    (len == 4 && (*cp < 0x10000 || *cp > 0x10FFFF)) ||
	    (*cp >= 0xD800 && *cp <= 0xDFFF))
		return 0;
	return (int)len;
}

void sdk_utf8_encode(struct sdk_buf *b, uint32_t cp)
{
	char out[4];

	if (cp < 0x80) {
		out[0] = (char)cp;
		sdk_buf_add(b, out, 1);
	} else if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		sdk_buf_add(b, out, 2);
	} else if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		sdk_buf_add(b, out, 3);
	} else {
		out[0] = (char)(0xF0 | (cp >> 18));
		out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[3] = (char)(0x80 | (cp & 0x3F));
		sdk_buf_add(b, out, 4);
	}
}

int sdk_utf8_valid(const char *s, size_t n, size_t *bad)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		int len = sdk_utf8_decode(s + i, n - i, &cp);

		if (!len || cp == 0) {
			if (bad)
				*bad = i;
			return 0;
		}
		i += (size_t)len;
	}
	return 1;
}

size_t sdk_utf8_cut(const char *s, size_t len, size_t max)
{
	size_t i = 0;

	if (len <= max)
		return len;
	while (i < max) {
		uint32_t cp;
		int n = sdk_utf8_decode(s + i, len - i, &cp);

		if (!n)
			n = 1; /* an invalid byte is a character of its own */
		if (i + (size_t)n > max)
			break;
		i += (size_t)n;
	}
	return i;
}

int sdk_text_is_bidi_control(uint32_t cp)
{
	return (cp >= 0x202A && cp <= 0x202E) ||
	       (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E || cp == 0x200F ||
	       cp == 0x061C;
}

/* The state of one cleaning pass. */
struct sdk_cleaner {
	struct sdk_buf *out;
	size_t start;
	unsigned flags;
	int space; /* SQUEEZE: a space waits for a character after it */
};

static void sdk_clean_emit(struct sdk_cleaner *c, const char *s, size_t n)
{
	if (c->space && c->out->len > c->start)
		sdk_buf_add(c->out, " ", 1);
	c->space = 0;
	sdk_buf_add(c->out, s, n);
}

static void sdk_clean_space(struct sdk_cleaner *c)
{
	if (c->flags & SDK_TEXT_SQUEEZE)
		c->space = 1;
	else
		sdk_buf_add(c->out, " ", 1);
}

/* A CR, LF or TAB that is not kept: a space, or nothing. */
static void sdk_clean_break(struct sdk_cleaner *c)
{
	if (!(c->flags & SDK_TEXT_DROP_BREAKS))
		sdk_clean_space(c);
}

static int sdk_is_hex(char ch)
{
	return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') ||
	       (ch >= 'A' && ch <= 'F');
}

static int sdk_is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/*
 * Skips the parameters of a colour code at s[i]: up to width characters
 * of the kind, then optionally ',' and as many again.  Returns the new i.
 */
static size_t sdk_skip_colour(const char *s, size_t n, size_t i, int width,
			      int (*is_kind)(char))
{
	int k = 0;

	while (i < n && k < width && is_kind(s[i]))
		i++, k++;
	if (k && i + 1 < n && s[i] == ',' && is_kind(s[i + 1])) {
		i++;
		for (k = 0; i < n && k < width && is_kind(s[i]); k++)
			i++;
	}
	return i;
}

/* Handles one ASCII byte at s[i]; returns the index after it. */
static size_t sdk_clean_ascii(struct sdk_cleaner *c, const char *s, size_t n,
			      size_t i)
{
	char ch = s[i++];

	switch (ch) {
	case '\x03':
		return sdk_skip_colour(s, n, i, 2, sdk_is_digit);
	case '\x04':
		return sdk_skip_colour(s, n, i, 6, sdk_is_hex);
	case '\r':
		if (i < n && s[i] == '\n')
			i++; /* CR LF is one line break */
			     /* fall through */
	case '\n':
		if (c->flags & SDK_TEXT_KEEP_NEWLINES) {
			c->space = 0; /* no blanks kept at a line's end */
			sdk_buf_add(c->out, "\n", 1);
		} else {
			sdk_clean_break(c);
		}
		return i;
	case '\t':
		if (c->flags & SDK_TEXT_KEEP_TABS)
			sdk_clean_emit(c, "\t", 1);
		else
			sdk_clean_break(c);
		return i;
	case ' ':
		sdk_clean_space(c);
		return i;
	default:
		/* C0 (and the formatting codes among them), DEL */
		if ((unsigned char)ch >= 0x20 && ch != 0x7F)
			sdk_clean_emit(c, &ch, 1);
		return i;
	}
}

size_t sdk_text_clean(struct sdk_buf *out, const char *s, size_t n,
		      unsigned flags, size_t max_bytes)
{
	struct sdk_cleaner c = {out, out->len, flags, 0};
	size_t i = 0, len, keep;
	int ellipsis = !(flags & SDK_TEXT_NO_ELLIPSIS) && max_bytes >= 3;

	sdk_buf_add(out, "", 0);
	/* once past max_bytes the rest cannot matter: it is cut anyway */
	while (i < n && (!max_bytes || out->len - c.start <= max_bytes)) {
		uint32_t cp;
		int seq;

		if ((unsigned char)s[i] < 0x80) {
			i = sdk_clean_ascii(&c, s, n, i);
			continue;
		}
		seq = sdk_utf8_decode(s + i, n - i, &cp);
		if (!seq) {
			sdk_clean_emit(&c, "\xEF\xBF\xBD", 3); /* U+FFFD */
			i++;
			continue;
		}
		if (!(cp >= 0x80 && cp <= 0x9F) &&
		    !sdk_text_is_bidi_control(cp))
			sdk_clean_emit(&c, s + i, (size_t)seq);
		i += (size_t)seq;
	}
	len = out->len - c.start;
	if (max_bytes && len > max_bytes) {
		keep = sdk_utf8_cut(out->buf + c.start, len,
				    max_bytes - (ellipsis ? 3 : 0));
		while ((flags & SDK_TEXT_SQUEEZE) && keep &&
		       out->buf[c.start + keep - 1] == ' ')
			keep--;
		out->len = c.start + keep;
		out->buf[out->len] = '\0';
		if (ellipsis)
			sdk_buf_add(out, "\xE2\x80\xA6", 3); /* … */
	}
	return out->len - c.start;
}

char *sdk_text_clean_str(const char *s, unsigned flags, size_t max_bytes)
{
	struct sdk_buf b = SDK_BUF_INIT;

	if (!s)
		s = "";
	sdk_text_clean(&b, s, strlen(s), flags, max_bytes);
	return sdk_buf_detach(&b);
}
