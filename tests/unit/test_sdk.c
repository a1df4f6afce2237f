/*
 * test_sdk.c - the plugin SDK (plugins/sdk), part by part: buffers and
 * allocation, backoff and token buckets, JSON paths, durations and sizes,
 * UTF-8 and text cleaning, HTTP helpers, and the HTTP call queue on the
 * fake host's virtual time.  Hostile inputs throughout: overflowing sizes,
 * bad durations, malformed UTF-8, every bidi control, wrong JSON types.
 */
#include <check.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/check_main.h"
#include "../lib/fakehost.h"
#include "opsbot_sdk.h"

#include <openssl/hmac.h>
#include <openssl/sha.h>

/* ------------------------------------------------------------------------ */
/* SHA-256 and HMAC */

static const char *sha_hex(const void *data, size_t n)
{
	static char hex[2 * SDK_SHA256_LEN + 1];
	unsigned char md[SDK_SHA256_LEN];

	sdk_sha256(data, n, md);
	sdk_hex(md, sizeof(md), hex);
	return hex;
}

START_TEST(test_sha256_vectors)
{
	/* FIPS 180-4 examples, and lengths around the padding edges */
	ck_assert_str_eq(sha_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb924"
					 "27ae41e4649b934ca495991b7852b855");
	ck_assert_str_eq(sha_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223"
					    "b00361a396177a9cb410ff61f20015ad");
	ck_assert_str_eq(
	    sha_hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		    56),
	    "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}
END_TEST

START_TEST(test_sha256_and_hmac_match_openssl)
{
	unsigned char data[300], key[150], a[32], b[32];
	unsigned int blen;

	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (unsigned char)(i * 7 + 3);
	for (size_t i = 0; i < sizeof(key); i++)
		key[i] = (unsigned char)(i * 13 + 1);
	/* every length through three blocks; in pieces too */
	for (size_t n = 0; n <= 200; n++) {
		struct sdk_sha256 c;

		SHA256(data, n, b);
		sdk_sha256(data, n, a);
		ck_assert_msg(!memcmp(a, b, 32), "sha256 of %zu bytes", n);
		sdk_sha256_init(&c);
		sdk_sha256_update(&c, data, n / 3);
		sdk_sha256_update(&c, data + n / 3, n - n / 3);
		sdk_sha256_final(&c, a);
		ck_assert_msg(!memcmp(a, b, 32), "split sha256 of %zu", n);
	}
	/* keys shorter than, equal to and longer than a block (hashed) */
	for (size_t k = 0; k <= sizeof(key); k += 5) {
		HMAC(EVP_sha256(), key, (int)k, data, 100, b, &blen);
		sdk_hmac_sha256(key, k, data, 100, a);
		ck_assert_msg(blen == 32 && !memcmp(a, b, 32),
			      "hmac with a %zu-byte key", k);
	}
	/* RFC 4231 test case 2 */
	sdk_hmac_sha256("Jefe", 4, "what do ya want for nothing?", 28, a);
	{
		char hex[65];

		sdk_hex(a, 32, hex);
		ck_assert_str_eq(hex, "5bdcc146bf60754e6a042426089575c7"
				      "5a003f089d2739839dec58b964ec3843");
	}
	ck_assert_int_eq(sdk_mem_equal("abcd", "abcd", 4), 1);
	ck_assert_int_eq(sdk_mem_equal("abcd", "abce", 4), 0);
	ck_assert_int_eq(sdk_mem_equal("xbcd", "abcd", 4), 0);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Buffers and allocation */

START_TEST(test_buf)
{
	struct sdk_buf b = SDK_BUF_INIT;
	char *s;

	ck_assert_str_eq(sdk_buf_str(&b), "");
	sdk_buf_adds(&b, "abc");
	sdk_buf_add(&b, "d\0e", 3);
	ck_assert_uint_eq(b.len, 6);
	ck_assert_int_eq(memcmp(b.buf, "abcd\0e", 7), 0);
	sdk_buf_reset(&b);
	ck_assert_str_eq(sdk_buf_str(&b), "");
	for (int i = 0; i < 1000; i++)
		sdk_buf_addf(&b, "%04d", i);
	ck_assert_uint_eq(b.len, 4000);
	ck_assert_int_eq(strncmp(b.buf + 3996, "0999", 4), 0);
	ck_assert_uint_ge(b.alloc, b.len + 1);
	s = sdk_buf_detach(&b);
	ck_assert_ptr_null(b.buf);
	ck_assert_uint_eq(strlen(s), 4000);
	free(s);
	/* detaching nothing gives "", never NULL */
	s = sdk_buf_detach(&b);
	ck_assert_str_eq(s, "");
	free(s);
	sdk_buf_addf(&b, "%s", "");
	ck_assert_str_eq(sdk_buf_str(&b), "");
	sdk_buf_release(&b);
	ck_assert_uint_eq(b.alloc, 0);
}
END_TEST

START_TEST(test_alloc)
{
	char *s = sdk_xstrndup("hello", 3), *t;
	int *zero = sdk_xcalloc(4, sizeof(int));

	ck_assert_str_eq(s, "hel");
	t = sdk_xasprintf("%s-%d", s, 42);
	ck_assert_str_eq(t, "hel-42");
	ck_assert_ptr_null(sdk_xstrdup_or_null(NULL));
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(zero[i], 0);
	zero = sdk_xreallocarray(zero, 8, sizeof(int));
	free(zero);
	free(sdk_xmalloc(0)); /* a valid pointer, even for 0 */
	free(s);
	free(t);
}
END_TEST

/* An overflowing size aborts (before any allocator sees it). */
START_TEST(test_alloc_overflow_aborts)
{
	void *p = sdk_xcalloc(SIZE_MAX / 2, 4);

	free(p);
}
END_TEST

START_TEST(test_reallocarray_overflow_aborts)
{
	free(sdk_xreallocarray(NULL, SIZE_MAX / 8 + 1, 16));
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Backoff and token buckets */

START_TEST(test_backoff)
{
	static const struct {
		long base, cap;
	} cases[] = {{1000, 30000}, {100, 10000}, {0, 50},
		     {500, 100},    {1, 1},	  {LONG_MAX / 2, LONG_MAX}};
	uint32_t rng = 42, again = 42;

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		for (int attempt = 0; attempt < 70; attempt++) {
			long base = cases[c].base > 0 ? cases[c].base : 1;
			long d = base, cap = cases[c].cap;

			for (int i = 0; i < attempt && d < cap; i++)
				d = d > cap / 2 ? cap : d * 2;
			if (d > cap)
				d = cap;
			for (int k = 0; k < 20; k++) {
				long b = sdk_backoff_ms(attempt, cases[c].base,
							cap, &rng);

				ck_assert_int_ge(b, d / 2);
				ck_assert_int_le(b, d);
			}
		}
	}
	/* any attempt number, even absurd, stays within the cap */
	ck_assert_int_le(sdk_backoff_ms(INT_MAX, 1000, 60000, &rng), 60000);
	ck_assert_int_ge(sdk_backoff_ms(INT_MAX, 1000, 60000, &rng), 30000);
	ck_assert_int_eq(sdk_backoff_ms(-5, 1000, 60000, &rng) >= 500, 1);
	/* the caller's state makes it repeatable */
	rng = again = 7;
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(sdk_backoff_ms(3, 100, 10000, &rng),
				 sdk_backoff_ms(3, 100, 10000, &again));
	rng = 0;
	ck_assert_uint_ne(sdk_random(&rng), 0);
	ck_assert_uint_ne(sdk_random_seed(), 0);
}
END_TEST

START_TEST(test_bucket)
{
	struct sdk_bucket b;
	int refused = 0;

	/* 1 per second, a burst of 3 */
	sdk_bucket_init(&b, 1.0, 3, 0);
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(sdk_bucket_take(&b, 0), 0);
	ck_assert_int_eq(sdk_bucket_next_ms(&b, 0), 1001);
	/* a refused take takes nothing */
	ck_assert_int_eq(sdk_bucket_take(&b, 0), 1001);
	ck_assert_int_eq(sdk_bucket_take(&b, 500), 501);
	ck_assert_int_eq(sdk_bucket_next_ms(&b, 1000), 0);
	ck_assert_int_eq(sdk_bucket_next_ms(&b, 1000), 0); /* no take */
	ck_assert_int_eq(sdk_bucket_take(&b, 1000), 0);
	ck_assert_int_gt(sdk_bucket_take(&b, 1000), 0);
	/* a long idle time refills up to the burst only */
	for (int i = 0; i < 3; i++)
		ck_assert_int_eq(sdk_bucket_take(&b, 1000000), 0);
	ck_assert_int_gt(sdk_bucket_take(&b, 1000000), 0);
	/* a clock that goes back refills nothing */
	ck_assert_int_gt(sdk_bucket_take(&b, 0), 0);
	/* a pause holds everything, and only extends */
	sdk_bucket_init(&b, 0, 0, 0);
	ck_assert_int_eq(sdk_bucket_take(&b, 0), 0);
	sdk_bucket_pause(&b, 5000);
	sdk_bucket_pause(&b, 3000);
	ck_assert_int_eq(sdk_bucket_take(&b, 4000), 1000);
	ck_assert_int_eq(sdk_bucket_take(&b, 5000), 0);
	/* no limit: a hundred thousand takes */
	sdk_bucket_init(&b, -1, 10, 0);
	for (int i = 0; i < 100000; i++)
		refused += sdk_bucket_take(&b, 0) != 0;
	ck_assert_int_eq(refused, 0);
	/* a burst below one still lets one through */
	sdk_bucket_init(&b, 0.5, 0.1, 0);
	ck_assert_int_eq(sdk_bucket_take(&b, 0), 0);
	ck_assert_int_eq(sdk_bucket_take(&b, 0), 2001);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* JSON paths */

static const char json_doc[] =
    "{\"a\":{\"b\":[10,{\"c\":\"deep\"},true,3.0,3.5,null]},"
    "\"s\":\"text\",\"n\":-7,\"big\":9223372036854775807,"
    "\"f\":false,\"\":1,\"list\":[[1,2],[3]],\"dot.key\":1}";

START_TEST(test_json_paths)
{
	static const struct {
		const char *path;
		const char *dump; /* NULL: not found */
	} cases[] = {
	    {"", "{"},
	    {"s", "\"text\""},
	    {"a.b[0]", "10"},
	    {"a.b[1].c", "\"deep\""},
	    {"list[0][1]", "2"},
	    {"list[1][0]", "3"},
	    {"a.b[5]", "null"},
	    /* missing */
	    {"nope", NULL},
	    {"a.nope.c", NULL},
	    {"a.b[6]", NULL},
	    {"a.b[99999999999999999999999]", NULL},
	    {"list[1][1]", NULL},
	    /* wrong types: a key in an array, an index in an object */
	    {"a.b.c", NULL},
	    {"a[0]", NULL},
	    {"s.x", NULL},
	    {"s[0]", NULL},
	    /* malformed */
	    {".s", NULL},
	    {"s.", NULL},
	    {"a..b", NULL},
	    {"a.b[", NULL},
	    {"a.b[x]", NULL},
	    {"a.b[-1]", NULL},
	    {"a.b[1]c", NULL},
	    {"a.b[ 1]", NULL},
	    {"dot.key", NULL},
	};
	json_t *root = json_loads(json_doc, 0, NULL);

	ck_assert_ptr_nonnull(root);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *v = sdk_json_get(root, cases[i].path);

		if (!cases[i].dump) {
			ck_assert_msg(v == NULL, "%s: found", cases[i].path);
			continue;
		}
		ck_assert_msg(v != NULL, "%s: not found", cases[i].path);
		char *d = sdk_json_dump(v, JSON_COMPACT | JSON_ENCODE_ANY);

		ck_assert_msg(
		    strncmp(d, cases[i].dump, strlen(cases[i].dump)) == 0,
		    "%s: %s", cases[i].path, d);
		free(d);
	}
	ck_assert_ptr_null(sdk_json_get(NULL, "a"));
	ck_assert_ptr_null(sdk_json_get(root, NULL));
	json_decref(root);
}
END_TEST

START_TEST(test_json_typed)
{
	json_t *root = json_loads(json_doc, 0, NULL);

	ck_assert_str_eq(sdk_json_string(root, "a.b[1].c", "d"), "deep");
	ck_assert_str_eq(sdk_json_string(root, "n", "d"), "d");
	ck_assert_str_eq(sdk_json_string(root, "missing", "d"), "d");
	ck_assert_ptr_null(sdk_json_string(root, "a.b[5]", NULL));
	ck_assert_int_eq(sdk_json_int(root, "n", 0), -7);
	ck_assert_int_eq(sdk_json_int(root, "big", 0), LLONG_MAX);
	ck_assert_int_eq(sdk_json_int(root, "a.b[3]", 0), 3);	/* 3.0 */
	ck_assert_int_eq(sdk_json_int(root, "a.b[4]", -1), -1); /* 3.5 */
	ck_assert_int_eq(sdk_json_int(root, "s", -1), -1);
	ck_assert_int_eq(sdk_json_int(root, "a.b[2]", -1), -1); /* true */
	ck_assert_int_eq(sdk_json_int(root, "", -1), -1);
	ck_assert_int_eq(sdk_json_bool(root, "a.b[2]", 0), 1);
	ck_assert_int_eq(sdk_json_bool(root, "f", 1), 0);
	ck_assert_int_eq(sdk_json_bool(root, "n", 1), 1);
	ck_assert_int_eq(sdk_json_bool(root, "missing", 0), 0);
	json_decref(root);
	root = json_loads("[1e300]", 0, NULL);
	ck_assert_int_eq(sdk_json_int(root, "[0]", 5), 5);
	json_decref(root);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* Durations and sizes */

START_TEST(test_durations)
{
	static const struct {
		const char *text;
		long long ms; /* -1: refused */
		const char *why;
	} cases[] = {
	    {"90", 90000, NULL},
	    {"90s", 90000, NULL},
	    {"5m", 300000, NULL},
	    {"2h", 7200000, NULL},
	    {"1d", 86400000, NULL},
	    {"1h30m", 5400000, NULL},
	    {"1d 2h", 93600000, NULL},
	    {" 2m30s ", 150000, NULL},
	    {"250ms", 250, NULL},
	    {"1s500ms", 1500, NULL},
	    {"1.5h", 5400000, NULL},
	    {"0.0005s", 1, NULL}, /* rounded to the nearest ms */
	    {"0", 0, NULL},
	    {"106751991167d", 9223372036828800000LL, NULL},
	    {"", -1, "empty"},
	    {"   ", -1, "empty"},
	    {"-5s", -1, "negative"},
	    {"5x", -1, "unknown unit"},
	    {"5M", -1, "unknown unit"},
	    {"1h30", -1, "needs a unit"},
	    {"30m1h", -1, "larger to the smaller"},
	    {"1m1m", -1, "larger to the smaller"},
	    {"h", -1, "not a number"},
	    {"1.2.3s", -1, "unit"},
	    {"0x10s", -1, "unit"},
	    {"1.1234567891s", -1, "too many decimals"},
	    {"106751991168d", -1, "too large"},
	    {"9223372036854775808ms", -1, "too large"},
	    {"99999999999999999999999999s", -1, "too large"},
	    {"106751991167d23h", -1, "too large"},
	    {"1 h", -1, "needs a unit"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sdk_buf err = SDK_BUF_INIT;
		long long ms = -2;
		int rc = sdk_duration_parse(cases[i].text, &ms, &err);

		if (cases[i].ms >= 0) {
			ck_assert_msg(rc == 0, "%s: %s", cases[i].text,
				      sdk_buf_str(&err));
			ck_assert_msg(ms == cases[i].ms, "%s: %lld",
				      cases[i].text, ms);
		} else {
			ck_assert_msg(rc == -1, "%s: accepted as %lld",
				      cases[i].text, ms);
			ck_assert_msg(strstr(sdk_buf_str(&err), cases[i].why),
				      "%s: %s", cases[i].text,
				      sdk_buf_str(&err));
		}
		sdk_buf_release(&err);
	}
	{
		long long ms;

		ck_assert_int_eq(sdk_duration_parse(NULL, &ms, NULL), -1);
		ck_assert_int_eq(sdk_duration_parse("5q", &ms, NULL), -1);
	}
}
END_TEST

START_TEST(test_sizes)
{
	static const struct {
		const char *text;
		uint64_t bytes;
		const char *why; /* NULL: accepted */
	} cases[] = {
	    {"4096", 4096, NULL},
	    {"512M", 512ULL << 20, NULL},
	    {"10G", 10ULL << 30, NULL},
	    {"10g", 10ULL << 30, NULL},
	    {"10GB", 10ULL << 30, NULL},
	    {"10 GiB", 10ULL << 30, NULL},
	    {"10gib", 10ULL << 30, NULL},
	    {"1.5T", 3ULL << 39, NULL},
	    {"1K", 1024, NULL},
	    {"1KB", 1024, NULL},
	    {"0.1K", 102, NULL}, /* rounded down */
	    {"7B", 7, NULL},
	    {"15E", 15ULL << 60, NULL},
	    {"18446744073709551615", UINT64_MAX, NULL},
	    {"15.999999999999999999E", UINT64_MAX - 1, NULL},
	    {"15.9999999999999999999E", 0, "too many decimals"},
	    {"16E", 0, "too large"},
	    {"18446744073709551616", 0, "too large"},
	    {"16777216T", 0, "too large"},
	    {"99999999999999999999999P", 0, "too large"},
	    {"", 0, "empty"},
	    {"-1G", 0, "negative"},
	    {"10X", 0, "unknown unit"},
	    {"10Ki", 0, "unknown unit"},
	    {"10KiBs", 0, "unknown unit"},
	    {"1.2.3", 0, "unknown unit"},
	    {"0x10", 0, "unknown unit"},
	    {"G", 0, "not a number"},
	    {"1e9", 0, "unknown unit"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sdk_buf err = SDK_BUF_INIT;
		uint64_t bytes = 1;
		int rc = sdk_size_parse(cases[i].text, &bytes, &err);

		if (!cases[i].why) {
			ck_assert_msg(rc == 0, "%s: %s", cases[i].text,
				      sdk_buf_str(&err));
			ck_assert_msg(bytes == cases[i].bytes, "%s: %llu",
				      cases[i].text, (unsigned long long)bytes);
		} else {
			ck_assert_msg(rc == -1, "%s: accepted as %llu",
				      cases[i].text, (unsigned long long)bytes);
			ck_assert_msg(strstr(sdk_buf_str(&err), cases[i].why),
				      "%s: %s", cases[i].text,
				      sdk_buf_str(&err));
		}
		sdk_buf_release(&err);
	}
	/* a hostile input is quoted back cut, not whole */
	{
		struct sdk_buf err = SDK_BUF_INIT;
		char big[200];
		uint64_t bytes;

		memset(big, 'Z', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		ck_assert_int_eq(sdk_size_parse(big, &bytes, &err), -1);
		ck_assert_uint_lt(err.len, 150);
		sdk_buf_release(&err);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* UTF-8 and text cleaning */

START_TEST(test_utf8)
{
	static const struct {
		const char *s;
		int len; /* 0: invalid */
		uint32_t cp;
	} cases[] = {
	    {"A", 1, 'A'},
	    {"\xC3\xA9", 2, 0xE9},
	    {"\xE2\x80\xAE", 3, 0x202E},
	    {"\xF0\x9F\x98\x80", 4, 0x1F600},
	    {"\xF4\x8F\xBF\xBF", 4, 0x10FFFF},
	    {"\x80", 0, 0},		/* stray continuation */
	    {"\xC3", 0, 0},		/* cut */
	    {"\xC3(", 0, 0},		/* not a continuation */
	    {"\xC0\xAF", 0, 0},		/* overlong '/' */
	    {"\xE0\x80\xAF", 0, 0},	/* overlong */
	    {"\xED\xA0\x80", 0, 0},	/* surrogate */
	    {"\xF4\x90\x80\x80", 0, 0}, /* above U+10FFFF */
	    {"\xF8\x88\x80\x80\x80", 0, 0},
	    {"\xFF", 0, 0},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint32_t cp = 0;
		int n = sdk_utf8_decode(cases[i].s, strlen(cases[i].s), &cp);

		ck_assert_msg(n == cases[i].len, "case %zu: %d", i, n);
		if (n)
			ck_assert_uint_eq(cp, cases[i].cp);
	}
	{
		uint32_t cp;
		size_t bad = 99;

		/* the length bounds the decoder, not a NUL */
		ck_assert_int_eq(sdk_utf8_decode("\xC3\xA9", 1, &cp), 0);
		ck_assert_int_eq(sdk_utf8_decode("", 0, &cp), 0);
		ck_assert_int_eq(sdk_utf8_valid("ab\xC3\xA9", 4, NULL), 1);
		ck_assert_int_eq(sdk_utf8_valid("ab\xC3", 3, &bad), 0);
		ck_assert_uint_eq(bad, 2);
		ck_assert_int_eq(sdk_utf8_valid("a\0b", 3, &bad), 0);
		ck_assert_uint_eq(bad, 1);
	}
	/* cuts land on boundaries */
	ck_assert_uint_eq(sdk_utf8_cut("a\xC3\xA9z", 4, 2), 1);
	ck_assert_uint_eq(sdk_utf8_cut("a\xC3\xA9z", 4, 3), 3);
	ck_assert_uint_eq(sdk_utf8_cut("a\xC3\xA9z", 4, 10), 4);
	ck_assert_uint_eq(sdk_utf8_cut("\xF0\x9F\x98\x80", 4, 3), 0);
	ck_assert_uint_eq(sdk_utf8_cut("\xFF\xFF\xFF", 3, 2), 2);
	{
		struct sdk_buf b = SDK_BUF_INIT;

		sdk_utf8_encode(&b, 0x41);
		sdk_utf8_encode(&b, 0xE9);
		sdk_utf8_encode(&b, 0x20AC);
		sdk_utf8_encode(&b, 0x1F600);
		ck_assert_str_eq(sdk_buf_str(&b),
				 "A\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80");
		sdk_buf_release(&b);
	}
}
END_TEST

START_TEST(test_text_clean)
{
	static const struct {
		const char *in;
		unsigned flags;
		size_t max;
		const char *out;
	} cases[] = {
	    {"plain text", 0, 0, "plain text"},
	    /* C0, DEL, C1 */
	    {"a\x01"
	     "b\x7f"
	     "c\x1b[31md",
	     0, 0, "abc[31md"},
	    {"a\xC2\x85"
	     "b\xC2\x9F"
	     "c\xC2\xA0"
	     "d",
	     0, 0,
	     "abc\xC2\xA0"
	     "d"},
	    /* CR, LF, TAB by the flags */
	    {"a\r\nb\nc\rd\te", 0, 0, "a b c d e"},
	    {"a\r\nb\nc\rd\te", SDK_TEXT_KEEP_NEWLINES, 0, "a\nb\nc\nd e"},
	    {"a\r\nb\te", SDK_TEXT_KEEP_TABS, 0, "a b\te"},
	    {"a\r\nb\te", SDK_TEXT_DROP_BREAKS, 0, "abe"},
	    {"  a \t\n b  ", SDK_TEXT_SQUEEZE, 0, "a b"},
	    {"a  \nb", SDK_TEXT_SQUEEZE | SDK_TEXT_KEEP_NEWLINES, 0, "a\nb"},
	    /* IRC formatting, colours with their digits */
	    {"\x02"
	     "bold\x02 \x1funder\x1f \x1d"
	     "it\x1d \x1e"
	     "st\x1e \x11mono\x11 \x16rev\x16\x0f",
	     0, 0, "bold under it st mono rev"},
	    {"\x03"
	     "04red\x03 \x03"
	     "4,12x\x03 \x03"
	     "99,99,9 \x03,5",
	     0, 0, "red x ,9 ,5"},
	    {"\x03"
	     "123",
	     0, 0, "3"},
	    {"\x04"
	     "FF0000red\x04 \x04"
	     "00ff00,0000FFx",
	     0, 0, "red x"},
	    /* invalid UTF-8: one U+FFFD per bad byte */
	    {"a\xFF"
	     "b",
	     0, 0,
	     "a\xEF\xBF\xBD"
	     "b"},
	    {"\xC0\xAF", 0, 0, "\xEF\xBF\xBD\xEF\xBF\xBD"},
	    {"\xED\xA0\x80", 0, 0, "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},
	    {"cut\xE2\x80", 0, 0, "cut\xEF\xBF\xBD\xEF\xBF\xBD"},
	    /* length caps on a boundary, with or without the ellipsis */
	    {"abcdefghij", 0, 6, "abc\xE2\x80\xA6"},
	    {"abcdefghij", SDK_TEXT_NO_ELLIPSIS, 6, "abcdef"},
	    {"abcdef", 0, 6, "abcdef"},
	    {"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 0, 7,
	     "\xC3\xA9\xC3\xA9\xE2\x80\xA6"},
	    {"\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", SDK_TEXT_NO_ELLIPSIS, 5,
	     "\xC3\xA9\xC3\xA9"},
	    {"ab cd ef", SDK_TEXT_SQUEEZE, 7, "ab c\xE2\x80\xA6"},
	    {"ab   cdef", SDK_TEXT_SQUEEZE, 6, "ab\xE2\x80\xA6"},
	    {"abcdef", 0, 2, "ab"}, /* no room for "…" */
	    {"", 0, 5, ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *out = sdk_text_clean_str(cases[i].in, cases[i].flags,
					       cases[i].max);

		ck_assert_msg(strcmp(out, cases[i].out) == 0,
			      "case %zu: \"%s\"", i, out);
		ck_assert_int_eq(
		    sdk_utf8_valid(out, strlen(out), NULL) || !*out, 1);
		if (cases[i].max)
			ck_assert_uint_le(strlen(out), cases[i].max);
		free(out);
	}
	{
		char *empty = sdk_text_clean_str(NULL, 0, 0);

		ck_assert_str_eq(empty, "");
		free(empty);
	}
}
END_TEST

/* Every direction control goes, and nothing around it. */
START_TEST(test_text_clean_bidi)
{
	static const uint32_t bidi[] = {0x202A, 0x202B, 0x202C, 0x202D,
					0x202E, 0x2066, 0x2067, 0x2068,
					0x2069, 0x200E, 0x200F, 0x061C};
	static const uint32_t kept[] = {0x2029, 0x202F, 0x2065, 0x206A,
					0x200D, 0x0610, 0x061D};

	for (size_t i = 0; i < sizeof(bidi) / sizeof(bidi[0]); i++) {
		struct sdk_buf in = SDK_BUF_INIT, out = SDK_BUF_INIT;

		ck_assert_int_eq(sdk_text_is_bidi_control(bidi[i]), 1);
		sdk_buf_adds(&in, "evil");
		sdk_utf8_encode(&in, bidi[i]);
		sdk_buf_adds(&in, "txt.exe");
		sdk_text_clean(&out, in.buf, in.len, 0, 0);
		ck_assert_str_eq(sdk_buf_str(&out), "eviltxt.exe");
		sdk_buf_release(&in);
		sdk_buf_release(&out);
	}
	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++) {
		struct sdk_buf in = SDK_BUF_INIT, out = SDK_BUF_INIT;

		ck_assert_int_eq(sdk_text_is_bidi_control(kept[i]), 0);
		sdk_utf8_encode(&in, kept[i]);
		sdk_text_clean(&out, in.buf, in.len, 0, 0);
		ck_assert_str_eq(sdk_buf_str(&out), sdk_buf_str(&in));
		sdk_buf_release(&in);
		sdk_buf_release(&out);
	}
}
END_TEST

/* Random bytes: the result is always valid UTF-8 without controls. */
START_TEST(test_text_clean_fuzz)
{
	uint32_t rng = 1234;

	for (int round = 0; round < 2000; round++) {
		char in[64];
		size_t n = sdk_random(&rng) % sizeof(in);
		struct sdk_buf out = SDK_BUF_INIT;
		size_t max = sdk_random(&rng) % 40;

		for (size_t i = 0; i < n; i++)
			in[i] = (char)sdk_random(&rng);
		sdk_text_clean(&out, in, n, SDK_TEXT_SQUEEZE, max);
		ck_assert(!out.len || sdk_utf8_valid(out.buf, out.len, NULL));
		for (size_t i = 0; i < out.len; i++)
			ck_assert((unsigned char)out.buf[i] >= 0x20 &&
				  out.buf[i] != 0x7F);
		if (max)
			ck_assert_uint_le(out.len, max);
		sdk_buf_release(&out);
	}
}
END_TEST

/* ------------------------------------------------------------------------ */
/* HTTP helpers */

START_TEST(test_http_helpers)
{
	struct fakehost *host = fakehost_new();
	const struct opsbot_api *api = fakehost_api(host);
	struct sdk_buf b = SDK_BUF_INIT;
	char *s;

	sdk_url_encode(&b, api, "a b/é~");
	ck_assert_str_eq(sdk_buf_str(&b), "a%20b%2F%C3%A9~");
	sdk_buf_reset(&b);
	sdk_form_add(&b, api, "k", "v&w=");
	sdk_form_add(&b, api, "", "");
	ck_assert_str_eq(sdk_buf_str(&b), "k=v%26w%3D&=");
	sdk_buf_release(&b);
	fakehost_free(host);

	ck_assert_int_eq(sdk_http_retry_after_ms("3", 0), 3000);
	ck_assert_int_eq(sdk_http_retry_after_ms(" 0 ", 0), 0);
	ck_assert_int_eq(sdk_http_retry_after_ms("-1", 0), -1);
	ck_assert_int_eq(sdk_http_retry_after_ms("3 s", 0), -1);
	ck_assert_int_eq(sdk_http_retry_after_ms("99999999999999999999", 0),
			 86400000);
	ck_assert_int_eq(
	    sdk_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111770),
	    7000);
	ck_assert_int_eq(
	    sdk_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 0),
	    86400000);
	ck_assert_int_eq(
	    sdk_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 2e9), 0);
	ck_assert_int_eq(sdk_http_retry_after_ms("Sun, 06 Nov 1994", 0), -1);
	ck_assert_int_eq(sdk_http_retry_after_ms(NULL, 0), -1);

	s = sdk_http_error_cause("{\"error\":{\"message\":\"no\\u202eway\\n"
				 "x\"}}");
	ck_assert_str_eq(s, "noway x");
	free(s);
	s = sdk_http_error_cause("{\"error\":[1]}");
	ck_assert_str_eq(s, "unexpected json answer");
	free(s);
	s = sdk_http_error_cause("  <html>");
	ck_assert_str_eq(s, "unexpected html answer");
	free(s);
	s = sdk_http_error_cause("bad \x03"
				 "4gateway\r\nsecond line");
	ck_assert_str_eq(s, "bad gateway");
	free(s);
	s = sdk_http_error_cause(NULL);
	ck_assert_str_eq(s, "");
	free(s);
}
END_TEST

/* ------------------------------------------------------------------------ */
/* The HTTP call queue, on virtual time */

static struct fakehost *host;
static struct sdk_http_queue queue;
static struct fakehost_reply script[16];
static int nscript, served, inflight, max_inflight;
static char last_headers[512], last_method[16];

struct outcome {
	int calls; /* callbacks: must end at exactly 1 */
	enum sdk_http_outcome outcome;
	long code;
	int attempts, request_sent;
	char cause[256];
	int64_t at;
};

static void http_fn(const struct opsbot_http_request *req,
		    struct fakehost_reply *reply, void *data)
{
	last_headers[0] = '\0';
	for (const char *const *h = req->headers; h && *h; h++) {
		strncat(last_headers, *h,
			sizeof(last_headers) - strlen(last_headers) - 2);
		strncat(last_headers, "|",
			sizeof(last_headers) - strlen(last_headers) - 1);
	}
	snprintf(last_method, sizeof(last_method), "%s",
		 req->method ? req->method : "");
	if (served < nscript)
		*reply = script[served];
	if (!reply->delay_ms)
		reply->delay_ms = 100;
	served++;
	if (++inflight > max_inflight)
		max_inflight = inflight;
}

static void done_fn(const struct sdk_http_result *res, void *data)
{
	struct outcome *o = data;

	/* each attempt was counted in flight; only the last one ends here */
	inflight -= res->attempts;
	o->calls++;
	o->outcome = res->outcome;
	o->code = res->code;
	o->attempts = res->attempts;
	o->request_sent = res->request_sent;
	o->at = fakehost_now(host);
	ck_assert_ptr_nonnull(res->cause);
	ck_assert_ptr_nonnull(res->body);
	snprintf(o->cause, sizeof(o->cause), "%s", res->cause);
}

enum { SVC_A, SVC_B, SVC_LIMITED, SVC_NOT_SENT_5XX };

static void queue_setup(void)
{
	const struct sdk_http_options opts = {
	    .concurrency = 2,
	    .max_attempts = 3,
	    .backoff_base_ms = 100,
	    .backoff_max_ms = 10000,
	    .seed = 99,
	};
	const struct sdk_http_service services[] = {
	    {.name = "a", .flags = SDK_HTTP_SERVICE_CLOSE},
	    {.name = "b", .rate_limit_code = 420, .min_429_pause_ms = 3000},
	    {.name = "limited", .per_second = 1, .burst = 2},
	    {.name = "mail", .flags = SDK_HTTP_SERVICE_5XX_NOT_SENT},
	};

	host = fakehost_new();
	sdk_http_queue_init(&queue, fakehost_plugin(host), fakehost_api(host),
			    &opts);
	for (int i = 0; i < 4; i++)
		ck_assert_int_eq(sdk_http_service_add(&queue, &services[i]), i);
	fakehost_on_http(host, http_fn, NULL);
	memset(script, 0, sizeof(script));
	nscript = served = inflight = max_inflight = 0;
}

static void queue_teardown(void)
{
	fakehost_free(host);
}

static void call(int service, const char *method, unsigned flags,
		 struct outcome *o)
{
	struct sdk_http_call c = {
	    .service = service,
	    .method = method,
	    .url = "http://127.0.0.1:1/x?secret=1",
	    .body = method && strcmp(method, "GET") ? "a=b" : NULL,
	    .body_len = 3,
	    .flags = flags,
	};

	sdk_http_queue_add(&queue, &c, done_fn, o);
}

#define REPLY(...) ((struct fakehost_reply){__VA_ARGS__})

START_TEST(test_queue_ok)
{
	struct outcome a = {0}, b = {0};

	call(SVC_A, NULL, 0, &a);
	fakehost_run(host, 10000);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.outcome, SDK_HTTP_OK);
	ck_assert_int_eq(a.code, 200);
	ck_assert_int_eq(a.attempts, 1);
	ck_assert_str_eq(a.cause, "");
	ck_assert_str_eq(last_method, "GET");
	ck_assert_ptr_nonnull(strstr(last_headers, "Connection: close"));
	call(SVC_B, "POST", 0, &b);
	fakehost_run(host, 10000);
	ck_assert_int_eq(b.outcome, SDK_HTTP_OK);
	ck_assert_ptr_null(strstr(last_headers, "Connection: close"));
}
END_TEST

/* What is retried, and what comes back unknown or not sent. */
START_TEST(test_queue_outcomes)
{
	static const struct {
		const char *method;
		int service;
		unsigned flags;
		struct fakehost_reply first, second;
		enum sdk_http_outcome outcome;
		int served;
		const char *cause;
	} cases[] = {
	    /* not sent: retried, whatever the method */
	    {"POST",
	     SVC_A,
	     0,
	     {.status = OPSBOT_ERR, .error = "connection refused"},
	     {0},
	     SDK_HTTP_OK,
	     2,
	     ""},
	    /* a POST whose answer was lost: unknown, never repeated */
	    {"POST",
	     SVC_A,
	     0,
	     {.status = OPSBOT_ETIMEDOUT,
	      .error = "timed out",
	      .request_sent = 1},
	     {0},
	     SDK_HTTP_UNKNOWN,
	     1,
	     "timed out"},
	    /* the same for PUT, idempotent by its method: retried */
	    {"PUT",
	     SVC_A,
	     0,
	     {.status = OPSBOT_ETIMEDOUT,
	      .error = "timed out",
	      .request_sent = 1},
	     {0},
	     SDK_HTTP_OK,
	     2,
	     ""},
	    /* or a POST the caller says is idempotent */
	    {"POST",
	     SVC_A,
	     SDK_HTTP_IDEMPOTENT,
	     {.status = OPSBOT_ERR, .error = "reset", .request_sent = 1},
	     {0},
	     SDK_HTTP_OK,
	     2,
	     ""},
	    /* 5xx on a POST: unknown; on a GET or DELETE: retried */
	    {"POST",
	     SVC_A,
	     0,
	     {.code = 502, .body = "Bad Gateway", .request_sent = 1},
	     {0},
	     SDK_HTTP_UNKNOWN,
	     1,
	     "502 Bad Gateway"},
	    {"DELETE",
	     SVC_A,
	     0,
	     {.code = 502, .request_sent = 1},
	     {0},
	     SDK_HTTP_OK,
	     2,
	     ""},
	    /* a service whose 5xx means not sent, unless the call says */
	    {"POST",
	     SVC_NOT_SENT_5XX,
	     0,
	     {.code = 500, .request_sent = 1},
	     {0},
	     SDK_HTTP_OK,
	     2,
	     ""},
	    {"POST",
	     SVC_NOT_SENT_5XX,
	     SDK_HTTP_5XX_UNKNOWN,
	     {.code = 500, .request_sent = 1},
	     {0},
	     SDK_HTTP_UNKNOWN,
	     1,
	     "500"},
	    /* a refusal: failed, with the service's cause */
	    {"POST",
	     SVC_A,
	     0,
	     {.code = 400,
	      .body = "{\"message\":\"to is not an address\"}",
	      .request_sent = 1},
	     {0},
	     SDK_HTTP_FAILED,
	     1,
	     "400 to is not an address"},
	    {"GET",
	     SVC_A,
	     0,
	     {.code = 404, .request_sent = 1},
	     {0},
	     SDK_HTTP_FAILED,
	     1,
	     "404"},
	    /* 429, and the service's own rate-limit code: retried */
	    {"POST",
	     SVC_A,
	     0,
	     {.code = 429, .request_sent = 1},
	     {0},
	     SDK_HTTP_OK,
	     2,
	     ""},
	    {"POST",
	     SVC_B,
	     0,
	     {.code = 420, .request_sent = 1},
	     {0},
	     SDK_HTTP_OK,
	     2,
	     ""},
	    {"POST",
	     SVC_A,
	     0,
	     {.code = 420, .request_sent = 1},
	     {0},
	     SDK_HTTP_FAILED,
	     1,
	     "420"},
	    /* one attempt only when asked */
	    {"GET",
	     SVC_A,
	     SDK_HTTP_NO_RETRY,
	     {.status = OPSBOT_ERR, .error = "refused"},
	     {0},
	     SDK_HTTP_NOT_SENT,
	     1,
	     "refused"},
	    /* an error text from outside is cleaned */
	    {"GET",
	     SVC_A,
	     SDK_HTTP_NO_RETRY,
	     {.status = OPSBOT_ERR, .error = "evil\r\nPRIVMSG \xE2\x80\xAE"},
	     {0},
	     SDK_HTTP_NOT_SENT,
	     1,
	     "evil PRIVMSG"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct outcome o = {0};

		served = 0;
		script[0] = cases[i].first;
		if (!script[0].status && !script[0].code)
			script[0].code = 200;
		script[1] = cases[i].second;
		script[1].code = script[1].code ? script[1].code : 200;
		script[1].request_sent = 1;
		nscript = 2;
		call(cases[i].service, cases[i].method, cases[i].flags, &o);
		fakehost_run(host, 120000);
		ck_assert_msg(o.calls == 1, "case %zu: %d calls", i, o.calls);
		ck_assert_msg(o.outcome == cases[i].outcome,
			      "case %zu: outcome %d", i, o.outcome);
		ck_assert_msg(served == cases[i].served, "case %zu: served %d",
			      i, served);
		ck_assert_msg(strcmp(o.cause, cases[i].cause) == 0,
			      "case %zu: cause \"%s\"", i, o.cause);
		ck_assert_int_eq(o.attempts, cases[i].served);
	}
}
END_TEST

/* After max_attempts: not sent, safe to try again later. */
START_TEST(test_queue_exhausted)
{
	struct outcome o = {0}, p = {0};

	for (int i = 0; i < 6; i++)
		script[i] = REPLY(.status = OPSBOT_ERR, .error = "refused");
	nscript = 6;
	call(SVC_A, "POST", 0, &o);
	fakehost_run(host, 120000);
	ck_assert_int_eq(o.outcome, SDK_HTTP_NOT_SENT);
	ck_assert_int_eq(o.attempts, 3);
	ck_assert_int_eq(o.request_sent, 0);
	/* an idempotent call answered 503 each time: not sent too */
	for (int i = 0; i < 6; i++)
		script[i] = REPLY(.code = 503, .request_sent = 1);
	served = 0;
	call(SVC_A, "GET", 0, &p);
	fakehost_run(host, 120000);
	ck_assert_int_eq(p.outcome, SDK_HTTP_NOT_SENT);
	ck_assert_int_eq(p.request_sent, 1);
	ck_assert_int_eq(served, 3);
}
END_TEST

START_TEST(test_queue_retry_after)
{
	struct outcome a = {0}, b = {0}, c = {0}, d = {0};
	int64_t t0 = fakehost_now(host);
	char date[64];
	time_t when = time(NULL) + 5;
	struct tm tm;

	/* seconds: the service pauses, other services go on */
	script[0] = REPLY(.code = 429, .headers = {"Retry-After: 2", NULL},
			  .request_sent = 1);
	nscript = 1;
	call(SVC_A, "POST", 0, &a);
	fakehost_run(host, 150);
	call(SVC_A, "POST", 0, &b);
	call(SVC_B, "POST", 0, &c);
	fakehost_run(host, 20000);
	ck_assert_int_eq(a.outcome, SDK_HTTP_OK);
	ck_assert_int_ge(a.at - t0, 100 + 2000 + 100);
	ck_assert_int_le(a.at - t0, 100 + 2250 + 100);
	ck_assert_int_ge(b.at - t0, 100 + 2000 + 100);
	ck_assert_int_lt(c.at - t0, 400);
	/* an HTTP-date, against the wall clock */
	gmtime_r(&when, &tm);
	strftime(date, sizeof(date), "Retry-After: %a, %d %b %Y %H:%M:%S GMT",
		 &tm);
	served = 0;
	script[0] =
	    REPLY(.code = 503, .headers = {date, NULL}, .request_sent = 1);
	t0 = fakehost_now(host);
	call(SVC_A, "GET", 0, &d);
	fakehost_run(host, 20000);
	ck_assert_int_eq(d.outcome, SDK_HTTP_OK);
	ck_assert_int_ge(d.at - t0, 100 + 3000 + 100);
	ck_assert_int_le(d.at - t0, 100 + 5250 + 100);
}
END_TEST

/* The least pause after a 429 without Retry-After. */
START_TEST(test_queue_429_floor)
{
	struct outcome o = {0};
	int64_t t0 = fakehost_now(host);

	script[0] = REPLY(.code = 429, .request_sent = 1);
	nscript = 1;
	call(SVC_B, "POST", 0, &o);
	fakehost_run(host, 60000);
	ck_assert_int_eq(o.outcome, SDK_HTTP_OK);
	ck_assert_int_ge(o.at - t0, 100 + 3000 + 100);
	ck_assert_int_le(o.at - t0, 100 + 3300 + 100);
}
END_TEST

static long tick(struct opsbot_plugin *self, int status, void *data)
{
	return OPSBOT_TIMER_STOP;
}

/* A Retry-After beyond max_wait is not waited out. */
START_TEST(test_queue_long_retry_after)
{
	struct outcome a = {0}, b = {0}, c = {0}, d = {0};

	script[0] =
	    REPLY(.code = 420, .body = "{\"message\":\"slow down\"}",
		  .headers = {"Retry-After: 3600", NULL}, .request_sent = 1);
	nscript = 1;
	call(SVC_B, "POST", 0, &a);
	fakehost_run(host, 150);
	call(SVC_B, "POST", 0, &b);
	call(SVC_A, "POST", 0, &c);
	fakehost_run(host, 5000);
	ck_assert_int_eq(a.outcome, SDK_HTTP_NOT_SENT);
	ck_assert_str_eq(a.cause,
			 "420 slow down; paused for 3600 s, try again later");
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(b.outcome, SDK_HTTP_NOT_SENT);
	ck_assert_int_eq(b.attempts, 0);
	ck_assert_ptr_nonnull(strstr(b.cause, "more s after a rate limit"));
	ck_assert_int_eq(c.outcome, SDK_HTTP_OK);
	ck_assert_int_eq(served, 2);
	/* the pause ends */
	fakehost_api(host)->timer_start(fakehost_plugin(host), 3700 * 1000,
					tick, NULL);
	fakehost_run(host, 3700 * 1000);
	call(SVC_B, "POST", 0, &d);
	fakehost_run(host, 5000);
	ck_assert_int_eq(d.outcome, SDK_HTTP_OK);
}
END_TEST

START_TEST(test_queue_rate_limit)
{
	struct outcome o[4];
	int64_t t0 = fakehost_now(host);

	memset(o, 0, sizeof(o));
	queue.opts.concurrency = 8;
	/* 1 per second, a burst of 2 */
	for (int i = 0; i < 4; i++)
		call(SVC_LIMITED, NULL, 0, &o[i]);
	fakehost_run(host, 60000);
	ck_assert_int_eq(o[0].at - t0, 100);
	ck_assert_int_eq(o[1].at - t0, 100);
	ck_assert_int_ge(o[2].at - t0, 1000 + 100);
	ck_assert_int_le(o[2].at - t0, 1001 + 100);
	ck_assert_int_ge(o[3].at - t0, 2000 + 100);
	ck_assert_int_le(o[3].at - t0, 2002 + 100);
	/* a new limit: none */
	sdk_http_service_limit(&queue, SVC_LIMITED, 0, 0);
	memset(o, 0, sizeof(o));
	t0 = fakehost_now(host);
	for (int i = 0; i < 4; i++)
		call(SVC_LIMITED, NULL, 0, &o[i]);
	fakehost_run(host, 60000);
	ck_assert_int_eq(o[3].at - t0, 100);
}
END_TEST

START_TEST(test_queue_concurrency)
{
	struct outcome o[9];
	int64_t t0 = fakehost_now(host);

	memset(o, 0, sizeof(o));
	for (int i = 0; i < 9; i++)
		call(i % 2 ? SVC_A : SVC_B, NULL, 0, &o[i]);
	fakehost_run(host, 60000);
	ck_assert_int_eq(max_inflight, 2);
	for (int i = 0; i < 9; i++)
		ck_assert_int_eq(o[i].calls, 1);
	/* in order, two at a time: five rounds */
	ck_assert_int_eq(o[8].at - t0, 500);
}
END_TEST

static char sends[32];
static int refuse_send;

static int on_send(int sending, void *data)
{
	size_t n = strlen(sends);

	if (n + 1 < sizeof(sends))
		sends[n] = sending ? '1' : '0';
	return sending && refuse_send ? -1 : 0;
}

START_TEST(test_queue_on_send)
{
	struct outcome o = {0}, p = {0};
	struct sdk_http_call c = {
	    .service = SVC_A,
	    .method = "POST",
	    .url = "http://127.0.0.1:1/x",
	    .on_send = on_send,
	};

	sends[0] = '\0';
	refuse_send = 0;
	script[0] = REPLY(.code = 429, .request_sent = 1);
	script[1] = REPLY(.status = OPSBOT_ERR, .error = "refused");
	nscript = 2;
	sdk_http_queue_add(&queue, &c, done_fn, &o);
	fakehost_run(host, 60000);
	ck_assert_int_eq(o.outcome, SDK_HTTP_OK);
	ck_assert_str_eq(sends, "10101");
	/* refusing: nothing goes out */
	refuse_send = 1;
	served = 0;
	sdk_http_queue_add(&queue, &c, done_fn, &p);
	ck_assert_int_eq(p.calls, 1);
	ck_assert_int_eq(p.outcome, SDK_HTTP_SKIPPED);
	ck_assert_int_eq(served, 0);
}
END_TEST

START_TEST(test_queue_cancel_all)
{
	struct outcome o[4], late = {0};

	memset(o, 0, sizeof(o));
	for (int i = 0; i < 4; i++)
		call(SVC_A, NULL, 0, &o[i]);
	/* two in flight, two queued */
	sdk_http_queue_cancel_all(&queue);
	ck_assert_int_eq(o[2].calls, 1);
	ck_assert_int_eq(o[2].outcome, SDK_HTTP_CANCELLED);
	ck_assert_int_eq(o[3].outcome, SDK_HTTP_CANCELLED);
	/* closed: a new call ends at once */
	call(SVC_A, NULL, 0, &late);
	ck_assert_int_eq(late.calls, 1);
	ck_assert_int_eq(late.outcome, SDK_HTTP_CANCELLED);
	/* the host ends the requests in flight (the plugin unloads) */
	fakehost_cancel_all(host);
	fakehost_run(host, 1000);
	for (int i = 0; i < 4; i++) {
		ck_assert_int_eq(o[i].calls, 1);
		ck_assert_int_eq(o[i].outcome, SDK_HTTP_CANCELLED);
	}
	ck_assert_int_eq(served, 2);
}
END_TEST

/* The host cancelling a request or a timer closes the queue. */
START_TEST(test_queue_host_cancels)
{
	struct outcome a = {0}, b = {0}, c = {0};

	queue.opts.concurrency = 1;
	script[0] = REPLY(.code = 429, .headers = {"Retry-After: 5", NULL},
			  .request_sent = 1);
	nscript = 1;
	call(SVC_A, NULL, 0, &a);
	call(SVC_B, NULL, 0, &b);
	fakehost_run(host, 150); /* a waits on a timer, b is in flight */
	call(SVC_B, NULL, 0, &c);
	fakehost_cancel_all(host);
	fakehost_run(host, 1000);
	ck_assert_int_eq(a.calls, 1);
	ck_assert_int_eq(a.outcome, SDK_HTTP_CANCELLED);
	ck_assert_int_eq(b.calls, 1);
	ck_assert_int_eq(b.outcome, SDK_HTTP_CANCELLED);
	ck_assert_int_eq(c.calls, 1);
	ck_assert_int_eq(c.outcome, SDK_HTTP_CANCELLED);
	ck_assert_int_eq(served, 2);
}
END_TEST

static Suite *sdk_suite(void)
{
	Suite *s = suite_create("sdk");
	TCase *tc = tcase_create("parts");
	TCase *q = tcase_create("queue");

	tcase_add_test(tc, test_buf);
	tcase_add_test(tc, test_sha256_vectors);
	tcase_add_test(tc, test_sha256_and_hmac_match_openssl);
	tcase_add_test(tc, test_alloc);
	/* An expected abort needs a test process of its own: without fork
	 * (CK_FORK=no, as under valgrind) it would end the whole run. */
	if (!getenv("CK_FORK") || strcmp(getenv("CK_FORK"), "no")) {
		tcase_add_test_raise_signal(tc, test_alloc_overflow_aborts,
					    SIGABRT);
		tcase_add_test_raise_signal(
		    tc, test_reallocarray_overflow_aborts, SIGABRT);
	}
	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_bucket);
	tcase_add_test(tc, test_json_paths);
	tcase_add_test(tc, test_json_typed);
	tcase_add_test(tc, test_durations);
	tcase_add_test(tc, test_sizes);
	tcase_add_test(tc, test_utf8);
	tcase_add_test(tc, test_text_clean);
	tcase_add_test(tc, test_text_clean_bidi);
	tcase_add_test(tc, test_text_clean_fuzz);
	tcase_add_test(tc, test_http_helpers);
	suite_add_tcase(s, tc);

	tcase_add_checked_fixture(q, queue_setup, queue_teardown);
	tcase_add_test(q, test_queue_ok);
	tcase_add_test(q, test_queue_outcomes);
	tcase_add_test(q, test_queue_exhausted);
	tcase_add_test(q, test_queue_retry_after);
	tcase_add_test(q, test_queue_429_floor);
	tcase_add_test(q, test_queue_long_retry_after);
	tcase_add_test(q, test_queue_rate_limit);
	tcase_add_test(q, test_queue_concurrency);
	tcase_add_test(q, test_queue_on_send);
	tcase_add_test(q, test_queue_cancel_all);
	tcase_add_test(q, test_queue_host_cancels);
	suite_add_tcase(s, q);
	return s;
}

CHECK_MAIN(sdk_suite)
