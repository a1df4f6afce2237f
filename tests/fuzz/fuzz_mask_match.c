// fuzz-sources: host/irc_message.c
// fuzz-options: -max_len=512
/*
 * fuzz_mask_match.c - irc_mask_match() against a plain recursive matcher
 * written from the definition ('*' any run, '?' one byte, everything else
 * itself after case folding), memoised so that hostile masks stay fast.
 * The first byte picks the casemapping; the rest is "mask\0text".  Also
 * checks irc_casecmp() and irc_tolower() against the same folding.
 */
#include "irc_message.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SIDE_MAX 255

static void check(int ok)
{
	if (!ok)
		abort();
}

/* Small letters listed under their capitals, per casemapping. */
static int reference_fold(int c, enum irc_casemapping map)
{
	static const char capitals[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^";
	static const char smalls[] = "abcdefghijklmnopqrstuvwxyz{|}~";
	size_t count = map == IRC_CASEMAP_ASCII		   ? 26
		       : map == IRC_CASEMAP_STRICT_RFC1459 ? 29
							   : 30;
	const char *hit;

	if (c == 0)
		return 0;
	hit = memchr(capitals, c, count);
	return hit ? (unsigned char)smalls[hit - capitals] : c;
}

static const unsigned char *ref_mask, *ref_text;
static enum irc_casemapping ref_map;
static signed char memo[SIDE_MAX + 1][SIDE_MAX + 1];

static int reference_match(size_t m, size_t t)
{
	int result;

	if (memo[m][t] >= 0)
		return memo[m][t];
	if (ref_mask[m] == '\0')
		result = ref_text[t] == '\0';
	else if (ref_mask[m] == '*')
		result = reference_match(m + 1, t) ||
			 (ref_text[t] != '\0' && reference_match(m, t + 1));
	else if (ref_text[t] == '\0')
		result = 0;
	else if (ref_mask[m] == '?' || reference_fold(ref_mask[m], ref_map) ==
					   reference_fold(ref_text[t], ref_map))
		result = reference_match(m + 1, t + 1);
	else
		result = 0;
	memo[m][t] = (signed char)result;
	return result;
}

static int sign(int x)
{
	return (x > 0) - (x < 0);
}

static int reference_casecmp(const char *a, const char *b,
			     enum irc_casemapping map)
{
	size_t i = 0;

	while (reference_fold((unsigned char)a[i], map) ==
		   reference_fold((unsigned char)b[i], map) &&
	       a[i])
		i++;
	return sign(reference_fold((unsigned char)a[i], map) -
		    reference_fold((unsigned char)b[i], map));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int tolower_checked[3];
	char mask[SIDE_MAX + 1], text[SIDE_MAX + 1];
	const uint8_t *split;
	size_t mask_len, text_len;
	enum irc_casemapping map;
	int c;

	if (size < 1)
		return 0;
	map = (enum irc_casemapping)(data[0] % 3);
	data++;
	size--;
	split = memchr(data, '\0', size);
	mask_len = split ? (size_t)(split - data) : size;
	text_len = split ? size - mask_len - 1 : 0;
	if (mask_len > SIDE_MAX || text_len > SIDE_MAX)
		return 0;
	memcpy(mask, data, mask_len);
	mask[mask_len] = '\0';
	/* A further NUL just ends the text early. */
	if (split)
		memcpy(text, split + 1, text_len);
	text[text_len] = '\0';

	ref_mask = (const unsigned char *)mask;
	ref_text = (const unsigned char *)text;
	ref_map = map;
	/* Only the rows this mask can reach: a full reset would cost more
	 * than the matching. */
	memset(memo, -1, (mask_len + 1) * sizeof(memo[0]));
	check(irc_mask_match(mask, text, map) == reference_match(0, 0));

	check(sign(irc_casecmp(mask, text, map)) ==
	      reference_casecmp(mask, text, map));
	check(sign(irc_casecmp(text, mask, map)) ==
	      -sign(irc_casecmp(mask, text, map)));
	/* Without wildcards, a match is exactly case-insensitive equality. */
	if (!strpbrk(mask, "*?"))
		check(irc_mask_match(mask, text, map) ==
		      (irc_casecmp(mask, text, map) == 0));
	/* A text always matches itself as a mask once '*' and '?' in it
	 * stand for themselves, i.e. when it has none. */
	if (!strpbrk(text, "*?"))
		check(irc_mask_match(text, text, map) == 1);

	if (!tolower_checked[map]) {
		for (c = 0; c < 256; c++) {
			check(irc_tolower(c, map) == reference_fold(c, map));
			check(irc_tolower(irc_tolower(c, map), map) ==
			      irc_tolower(c, map));
		}
		tolower_checked[map] = 1;
	}
	return 0;
}
