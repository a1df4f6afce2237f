/*
 * test_irc_split_property.c - gate G4, outbound safety: a million random
 * texts (ASCII, 2-4 byte UTF-8, combining marks, emoji, CR, LF, NUL,
 * \x01, U+2028, invalid UTF-8) go through irc_text_split() with the
 * budget a PRIVMSG to #channel leaves after the worst-case relay prefix,
 * and every chunk through irc_message_format().  Nothing may reach the
 * wire with CR, LF or NUL in it, or longer than 512 bytes once the server
 * has added its prefix; valid UTF-8 in gives valid UTF-8 out; and the
 * chunks put together are the text without CR, LF, NUL and \x01.
 *
 * The seed is fixed so a failure can be replayed; OPSBOT_SEED=<number>
 * tries another.  The figures are printed either way.
 */
#include "irc_message.h"
#include "../lib/check_main.h"
#include "../lib/utf8_reference.h"

#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_COUNT 1000000
#define DEFAULT_SEED UINT64_C(0x6f7073626f74) /* "opsbot" */

/* ":" nick(30) "!" user(10) "@" host(63) " ": what the server prepends. */
#define RELAY_PREFIX_MAX (1 + 30 + 1 + 10 + 1 + 63 + 1)
#define TARGET "#channel"
#define COMMAND_OVERHEAD (sizeof("PRIVMSG " TARGET " :") - 1)
#define BUDGET (IRC_LINE_MAX - 2 - RELAY_PREFIX_MAX - COMMAND_OVERHEAD)

#define TEXT_MAX 3200

struct figures {
	uint64_t texts, valid_texts, split_texts, cut_texts, chunks, bytes;
	size_t longest_wire_line; /* prefix + line + CRLF */
	/* Each of these must stay 0. */
	uint64_t bad_char_lines, long_lines, empty_or_oversize_chunks;
	uint64_t invalid_chunks, refused_chunks, reparse_mismatches;
	uint64_t concat_mismatches;
};

struct split_check {
	struct figures *fig;
	int text_valid;
	char *concat;
	size_t concat_len;
	int chunks;
};

/* splitmix64: small, fast, and the same on every machine. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

/* A number in [0, n): multiply and shift, as a division costs more than
 * the rest of the generator. */
static uint32_t below(uint64_t *state, uint32_t n)
{
	return (uint32_t)(((next_random(state) >> 32) * n) >> 32);
}

static size_t put_code_point(char *out, uint32_t cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* Byte sequences that are not UTF-8, one of each kind. */
static const char *const invalid_pieces[] = {
    "\x80",		/* lone continuation */
    "\xbf",		/* lone continuation */
    "\xc3",		/* lead without continuation */
    "\xe2\x82",		/* truncated 3-byte */
    "\xf0\x9f\x98",	/* truncated 4-byte */
    "\xc0\x80",		/* overlong NUL */
    "\xc1\xbf",		/* overlong */
    "\xe0\x80\xaf",	/* overlong '/' */
    "\xed\xa0\x80",	/* surrogate U+D800 */
    "\xf4\x90\x80\x80", /* above U+10FFFF */
    "\xf5",		/* never valid */
    "\xff",		/* never valid */
    "\xfe\xfe",		/* never valid */
};

/*
 * One piece of text.  Weights favour plain words and spaces, so the
 * splitter's space rule gets exercised as well as its hard cuts.
 */
static size_t random_piece(uint64_t *rng, char *out, int allow_invalid,
			   int allow_breaks)
{
	uint32_t kind = below(rng, allow_invalid ? 100 : 93);
	const char *s;

	if (kind < 40) {
		/* a word of 1 to 8 printable bytes from one random number */
		uint64_t bits = next_random(rng);
		size_t n = 1 + (bits & 7), i;

		for (i = 0; i < n; i++) {
			bits >>= 7;
			out[i] = (char)(0x21 + (bits & 0x7f) % 0x5e);
		}
		return n;
	}
	if (kind < 50) {
		out[0] = ' ';
		return 1;
	}
	if (kind < 58)
		return put_code_point(out, 0x80 + below(rng, 0x780));
	if (kind < 66) {
		uint32_t cp = 0x800 + below(rng, 0x10000 - 0x800);

		if (cp >= 0xd800 && cp <= 0xdfff)
			cp = 0x2028; /* line separator, as text */
		return put_code_point(out, cp);
	}
	if (kind < 70)
		return put_code_point(out, 0x2028 + below(rng, 2));
	if (kind < 76) {
		/* emoji, or anywhere in the supplementary planes */
		if (below(rng, 2))
			return put_code_point(out, 0x1f300 + below(rng, 0x800));
		return put_code_point(out, 0x10000 + below(rng, 0x100000));
	}
	if (kind < 82) {
		static const uint32_t marks[] = {0x0301, 0x0308, 0x036f,
						 0x200d, 0xfe0f, 0x1f3fd,
						 0x20e3, 0xe0067};

		return put_code_point(out, marks[below(rng, 8)]);
	}
	if (kind < 86 && allow_breaks) {
		static const char *const breaks[] = {"\r", "\n", "\r\n",
						     "\n\n"};

		s = breaks[below(rng, 4)];
		memcpy(out, s, strlen(s));
		return strlen(s);
	}
	if (kind < 93) {
		/* NUL, \x01 and codes that are only formatting */
		static const char *const controls[] = {"\x01", "\x01\x01", "\t",
						       "\x03", "\x0f"};
		uint32_t pick = below(rng, 6);

		if (pick == 5) {
			out[0] = '\0';
			return 1;
		}
		s = controls[pick];
		memcpy(out, s, strlen(s));
		return strlen(s);
	}
	s = invalid_pieces[below(rng, sizeof(invalid_pieces) /
					  sizeof(invalid_pieces[0]))];
	memcpy(out, s, strlen(s));
	return strlen(s);
}

/*
 * Mostly chat-sized texts, some over one chunk, a few over several; half
 * of them may hold invalid UTF-8, half of them line breaks.
 */
static size_t random_text(uint64_t *rng, char *text)
{
	uint32_t size_kind = below(rng, 100);
	size_t target, len = 0;
	int allow_invalid = below(rng, 2);
	int allow_breaks = below(rng, 2);

	if (size_kind < 60)
		target = below(rng, 80);
	else if (size_kind < 90)
		target = 80 + below(rng, 520);
	else
		target = 600 + below(rng, 2400);
	while (len < target)
		len +=
		    random_piece(rng, text + len, allow_invalid, allow_breaks);
	return len;
}

static int check_chunk(const char *chunk, size_t len, void *data)
{
	struct split_check *check = data;
	struct figures *fig = check->fig;
	char param[IRC_LINE_MAX + 1];
	char line[IRC_INPUT_MAX + 1];
	const char *params[] = {TARGET, param};
	struct irc_message msg;
	size_t wire;
	int line_len;

	fig->chunks++;
	fig->bytes += len;
	check->chunks++;
	if (len == 0 || len > BUDGET) {
		fig->empty_or_oversize_chunks++;
		return 1;
	}
	if (check->text_valid && !utf8_reference_valid(chunk, len))
		fig->invalid_chunks++;
	memcpy(check->concat + check->concat_len, chunk, len);
	check->concat_len += len;

	/* A chunk with a NUL would be cut short here, and be caught by the
	 * comparison of the concatenation. */
	memcpy(param, chunk, len);
	param[len] = '\0';
	line_len = irc_message_format(line, sizeof(line), NULL, 0, "PRIVMSG", 2,
				      params);
	if (line_len < 0) {
		fig->refused_chunks++;
		return 0;
	}
	if (memchr(line, '\r', (size_t)line_len) ||
	    memchr(line, '\n', (size_t)line_len) ||
	    memchr(line, '\0', (size_t)line_len))
		fig->bad_char_lines++;
	wire = RELAY_PREFIX_MAX + (size_t)line_len + 2;
	if (wire > fig->longest_wire_line)
		fig->longest_wire_line = wire;
	if (wire > IRC_LINE_MAX)
		fig->long_lines++;
	/* What the server reads back must be the chunk, byte for byte. */
	if (irc_message_parse(line, (size_t)line_len, &msg) != IRC_PARSE_OK ||
	    msg.param_count != 2 || strcmp(msg.params[1], param) != 0)
		fig->reparse_mismatches++;
	return 0;
}

/*
 * The text as the splitter must deliver it, concatenated; *longest_line
 * gets the length of its longest line, to tell texts that needed a cut.
 */
static size_t sanitize(const char *text, size_t len, char *out,
		       size_t *longest_line)
{
	size_t i, n = 0, line = 0;

	*longest_line = 0;
	for (i = 0; i < len; i++) {
		char c = text[i];

		if (c == '\r' || c == '\n') {
			line = 0;
		} else if (c != '\0' && c != '\x01') {
			out[n++] = c;
			if (++line > *longest_line)
				*longest_line = line;
		}
	}
	return n;
}

static uint64_t seed_from_env(void)
{
	const char *env = getenv("OPSBOT_SEED");
	char *end;
	unsigned long long seed;

	if (!env || !*env)
		return DEFAULT_SEED;
	errno = 0;
	seed = strtoull(env, &end, 0);
	ck_assert_msg(errno == 0 && *end == '\0',
		      "OPSBOT_SEED=%s: not a number", env);
	return seed;
}

START_TEST(split_property)
{
	static char text[TEXT_MAX + 8], expected[TEXT_MAX + 8];
	static char concat[TEXT_MAX + 8];
	struct figures fig;
	uint64_t seed = seed_from_env(), rng = seed;
	long i;

	memset(&fig, 0, sizeof(fig));
	for (i = 0; i < TEXT_COUNT; i++) {
		struct split_check check = {&fig, 0, concat, 0, 0};
		size_t len = random_text(&rng, text);
		size_t longest_line;
		size_t expected_len =
		    sanitize(text, len, expected, &longest_line);
		int delivered;

		fig.texts++;
		check.text_valid = utf8_reference_valid(text, len);
		fig.valid_texts += (uint64_t)check.text_valid;
		delivered =
		    irc_text_split(text, len, BUDGET, check_chunk, &check);
		if (delivered != check.chunks ||
		    check.concat_len != expected_len ||
		    memcmp(concat, expected, expected_len) != 0)
			fig.concat_mismatches++;
		if (check.chunks > 1)
			fig.split_texts++;
		if (longest_line > BUDGET)
			fig.cut_texts++;
	}

	printf("split property: seed %" PRIu64 ", budget %zu bytes "
	       "(512 - 2 - %d prefix - %zu command)\n",
	       seed, (size_t)BUDGET, RELAY_PREFIX_MAX,
	       (size_t)COMMAND_OVERHEAD);
	printf("  %" PRIu64 " texts: %" PRIu64 " valid UTF-8, %" PRIu64
	       " giving several chunks, %" PRIu64
	       " with a line over the budget; %" PRIu64 " chunks, %" PRIu64
	       " bytes\n",
	       fig.texts, fig.valid_texts, fig.split_texts, fig.cut_texts,
	       fig.chunks, fig.bytes);
	printf("  longest line on the wire: %zu bytes with prefix and CRLF\n",
	       fig.longest_wire_line);
	printf("  lines with CR/LF/NUL %" PRIu64 ", over 512 bytes %" PRIu64
	       ", empty or oversize chunks %" PRIu64
	       ", invalid UTF-8 chunks from valid text %" PRIu64
	       ", chunks refused by the serializer %" PRIu64
	       ", lines read back differently %" PRIu64
	       ", concatenation mismatches %" PRIu64 "\n",
	       fig.bad_char_lines, fig.long_lines, fig.empty_or_oversize_chunks,
	       fig.invalid_chunks, fig.refused_chunks, fig.reparse_mismatches,
	       fig.concat_mismatches);

	ck_assert_uint_eq(fig.texts, TEXT_COUNT);
	ck_assert_uint_eq(fig.bad_char_lines, 0);
	ck_assert_uint_eq(fig.long_lines, 0);
	ck_assert_uint_eq(fig.empty_or_oversize_chunks, 0);
	ck_assert_uint_eq(fig.invalid_chunks, 0);
	ck_assert_uint_eq(fig.refused_chunks, 0);
	ck_assert_uint_eq(fig.reparse_mismatches, 0);
	ck_assert_uint_eq(fig.concat_mismatches, 0);
	ck_assert_uint_le(fig.longest_wire_line, IRC_LINE_MAX);
	/* The generator must reach the cases that matter. */
	ck_assert_uint_gt(fig.valid_texts, TEXT_COUNT / 4);
	ck_assert_uint_gt(fig.cut_texts, TEXT_COUNT / 20);
}
END_TEST

static Suite *irc_split_property_suite(void)
{
	Suite *s = suite_create("irc_split_property");
	TCase *tc = tcase_create("g4");

	/* About 2 s at -O2; sanitizers and valgrind are many times slower. */
	tcase_set_timeout(tc, 1800);
	tcase_add_test(tc, split_property);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(irc_split_property_suite)
