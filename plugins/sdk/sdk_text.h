/*
 * sdk_text.h - UTF-8 and cleaning of untrusted outside text (part of the
 * plugin SDK).  Sheet cells, job names, commit messages, error bodies:
 * whatever comes from outside is cleaned once where it enters, before it
 * reaches chat, mail headers, cards or pages (design decision 11).
 */
#ifndef SDK_TEXT_H
#define SDK_TEXT_H

#include <stddef.h>
#include <stdint.h>

#include "sdk_buf.h"

/*
 * Decodes one UTF-8 sequence of s[0..n): returns its length (1 to 4) and
 * sets *cp, or returns 0 for anything invalid: a stray continuation byte,
 * a sequence cut by n, an overlong form, a surrogate, above U+10FFFF.
 */
int sdk_utf8_decode(const char *s, size_t n, uint32_t *cp);
/* Appends cp (<= U+10FFFF, not a surrogate) as UTF-8. */
void sdk_utf8_encode(struct sdk_buf *b, uint32_t cp);
/*
 * 1 if s[0..n) is valid UTF-8 without NUL; otherwise 0, and *bad (if not
 * NULL) is the offset of the first bad byte.
 */
int sdk_utf8_valid(const char *s, size_t n, size_t *bad);
/*
 * The longest prefix of s[0..len) of at most max bytes that does not end
 * inside a UTF-8 sequence (invalid bytes count as one character each).
 */
size_t sdk_utf8_cut(const char *s, size_t len, size_t max);

enum sdk_text_flags {
	/* LF stays (CR LF and a lone CR become LF); default: a space */
	SDK_TEXT_KEEP_NEWLINES = 1 << 0,
	/* TAB stays; default: a space */
	SDK_TEXT_KEEP_TABS = 1 << 1,
	/* CR, LF and TAB are removed instead of becoming spaces (unless
	   kept by the flags above) */
	SDK_TEXT_DROP_BREAKS = 1 << 2,
	/* runs of spaces become one; spaces at both ends go */
	SDK_TEXT_SQUEEZE = 1 << 3,
	/* a cut text ends without the "…" */
	SDK_TEXT_NO_ELLIPSIS = 1 << 4,
};

/*
 * Appends a cleaned copy of s[0..n) to out:
 *  - invalid UTF-8 becomes U+FFFD (one per bad byte), so the result is
 *    always valid UTF-8;
 *  - IRC formatting goes: \x02 bold, \x03 colour with its "fg[,bg]"
 *    digits, \x04 hex colour with its "RRGGBB[,RRGGBB]", \x0f reset,
 *    \x11 monospace, \x16 reverse, \x1d italic, \x1e strike, \x1f
 *    underline;
 *  - other control characters go: C0 (NUL included), DEL and C1
 *    (U+0080..U+009F); CR, LF and TAB as the flags say;
 *  - invisible direction controls go, so outside text cannot reorder
 *    what is shown around it: U+202A..U+202E (embeddings, overrides),
 *    U+2066..U+2069 (isolates), U+200E, U+200F and U+061C (marks);
 *  - then, if max_bytes > 0 and the text is longer, it is cut on a
 *    character boundary so that it fits in max_bytes together with a
 *    final "…" (3 bytes; without SDK_TEXT_NO_ELLIPSIS).
 * Returns the number of bytes appended.
 */
size_t sdk_text_clean(struct sdk_buf *out, const char *s, size_t n,
		      unsigned flags, size_t max_bytes);
/* The same for a NUL-terminated string (NULL: ""); free() the result. */
char *sdk_text_clean_str(const char *s, unsigned flags, size_t max_bytes);

/* 1 if cp is one of the direction controls removed above. */
int sdk_text_is_bidi_control(uint32_t cp);

#endif /* SDK_TEXT_H */
