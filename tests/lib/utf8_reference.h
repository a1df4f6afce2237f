/*
 * utf8_reference.h - a UTF-8 validity check for tests and fuzzers, written
 * independently of the decoder in host/irc_message.c so that each can
 * catch the other's mistakes: decode by the bit patterns first, then
 * reject overlong forms, surrogates and values above U+10FFFF.
 * Header-only so that any test or fuzzer can use it without build rules.
 */
#ifndef UTF8_REFERENCE_H
#define UTF8_REFERENCE_H

#include <stddef.h>

/* 1 if the len bytes at s are well-formed UTF-8 (RFC 3629), else 0. */
static inline int utf8_reference_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned long cp = p[i];
		size_t more, k;

		if (cp < 0x80) {
			i++;
			continue;
		}
		if ((cp & 0xe0) == 0xc0) {
			more = 1;
			cp &= 0x1f;
		} else if ((cp & 0xf0) == 0xe0) {
			more = 2;
			cp &= 0x0f;
		} else if ((cp & 0xf8) == 0xf0) {
			more = 3;
			cp &= 0x07;
		} else {
			return 0;
		}
		if (len - i <= more)
			return 0;
		for (k = 1; k <= more; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((more == 1 && cp < 0x80) || (more == 2 && cp < 0x800) ||
		    (more == 3 && cp < 0x10000) || cp > 0x10ffff ||
		    (cp >= 0xd800 && cp <= 0xdfff))
			return 0;
		i += more + 1;
	}
	return 1;
}

#endif /* UTF8_REFERENCE_H */
