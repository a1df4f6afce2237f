/*
 * parse.c - durations and sizes (see sdk_parse.h).  Integer arithmetic
 * only, every product checked: a configuration value must never wrap
 * into a small number.
 */
#include <ctype.h>
#include <limits.h>
#include <string.h>
#include <strings.h>

#include "sdk_parse.h"

/* How much of a hostile input is quoted back in a message. */
#define SDK_QUOTE "\"%.40s%s\""
#define SDK_QUOTE_ARGS(s) (s), strlen(s) > 40 ? "..." : ""

/* A decimal number: whole part and up to max_frac decimals. */
struct sdk_number {
	uint64_t whole;
	uint64_t frac; /* the decimals as an integer */
	int frac_digits;
};

/* Parses digits[.digits] at *p; 0, or -1 (no digits, too many, overflow). */
static int sdk_number_parse(const char **p, struct sdk_number *n, int max_frac,
			    const char **why)
{
	const char *s = *p;
	int digits = 0;

	*n = (struct sdk_number){0, 0, 0};
	for (; isdigit((unsigned char)*s); s++, digits++) {
		unsigned d = (unsigned)(*s - '0');

		if (n->whole > (UINT64_MAX - d) / 10) {
			*why = "too large";
			return -1;
		}
		n->whole = n->whole * 10 + d;
	}
	if (*s == '.') {
		s++;
		for (; isdigit((unsigned char)*s); s++, digits++) {
			if (n->frac_digits == max_frac) {
				*why = "too many decimals";
				return -1;
			}
			n->frac = n->frac * 10 + (uint64_t)(*s - '0');
			n->frac_digits++;
		}
	}
	if (!digits) {
		*why = "not a number";
		return -1;
	}
	*p = s;
	return 0;
}

/* n * mult, rounded down (round: to nearest); -1 on overflow. */
static int sdk_number_scale(const struct sdk_number *n, uint64_t mult,
			    int round, uint64_t *out)
{
	unsigned __int128 frac = (unsigned __int128)n->frac * mult;
	uint64_t pow = 1, whole;

	for (int i = 0; i < n->frac_digits; i++)
		pow *= 10;
	frac = (frac + (round ? pow / 2 : 0)) / pow;
	if (mult && n->whole > UINT64_MAX / mult)
		return -1;
	whole = n->whole * mult;
	if (frac > UINT64_MAX - whole)
		return -1;
	*out = whole + (uint64_t)frac;
	return 0;
}

static const char *sdk_skip_blanks(const char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	return s;
}

/* The input without its surrounding blanks is empty? */
static int sdk_blank(const char *s)
{
	return *sdk_skip_blanks(s) == '\0';
}

static const struct {
	const char *name;
	uint64_t ms;
} sdk_duration_units[] = {
    /* longest names first: "ms" before "m" */
    {"ms", 1}, {"d", 86400000}, {"h", 3600000}, {"m", 60000}, {"s", 1000},
};

int sdk_duration_parse(const char *text, long long *ms, struct sdk_buf *err)
{
	const char *p, *why = NULL;
	uint64_t total = 0, last_unit = 0;
	int groups = 0;

	if (!text || sdk_blank(text)) {
		if (err)
			sdk_buf_adds(err, "empty duration; write e.g. 90s, 5m "
					  "or 1h30m");
		return -1;
	}
	p = sdk_skip_blanks(text);
	while (*p) {
		struct sdk_number n;
		uint64_t unit = 0, part;
		size_t len = 0;

		if (*p == '-') {
			why = "a duration cannot be negative";
			goto fail;
		}
		if (sdk_number_parse(&p, &n, 9, &why) < 0)
			goto fail;
		for (size_t i = 0; i < sizeof(sdk_duration_units) /
					   sizeof(sdk_duration_units[0]);
		     i++) {
			len = strlen(sdk_duration_units[i].name);
			if (strncmp(p, sdk_duration_units[i].name, len) == 0 &&
			    !isalpha((unsigned char)p[len])) {
				unit = sdk_duration_units[i].ms;
				break;
			}
		}
		if (!unit && sdk_blank(p) && groups == 0) {
			unit = 1000; /* "90": seconds */
			len = 0;
		} else if (!unit) {
			why = isalpha((unsigned char)*p)
				  ? "unknown unit; use ms, s, m, h or d"
				  : "a number needs a unit (ms, s, m, h or d) "
				    "when it is not alone";
			goto fail;
		}
		if (last_unit && unit >= last_unit) {
			why = "units go from the larger to the smaller, each "
			      "once (1h30m)";
			goto fail;
		}
		if (sdk_number_scale(&n, unit, 1, &part) < 0 ||
		    part > (uint64_t)LLONG_MAX - total) {
			why = "too large";
			goto fail;
		}
		total += part;
		last_unit = unit;
		groups++;
		p = sdk_skip_blanks(p + len);
	}
	*ms = (long long)total;
	return 0;
fail:
	if (err)
		sdk_buf_addf(err, "bad duration " SDK_QUOTE ": %s",
			     SDK_QUOTE_ARGS(text), why);
	return -1;
}

static const char sdk_size_units[] = "KMGTPE";

int sdk_size_parse(const char *text, uint64_t *bytes, struct sdk_buf *err)
{
	const char *p, *why = NULL, *u;
	struct sdk_number n;
	uint64_t mult = 1;

	if (!text || sdk_blank(text)) {
		if (err)
			sdk_buf_adds(err, "empty size; write e.g. 4096, 512M "
					  "or 10G");
		return -1;
	}
	p = sdk_skip_blanks(text);
	if (*p == '-') {
		why = "a size cannot be negative";
		goto fail;
	}
	if (sdk_number_parse(&p, &n, 18, &why) < 0)
		goto fail;
	p = sdk_skip_blanks(p);
	u = *p ? strchr(sdk_size_units, toupper((unsigned char)*p)) : NULL;
	if (u) {
		for (const char *k = sdk_size_units; k <= u; k++)
			mult *= 1024;
		p++;
		if (*p == 'i' || *p == 'I')
			p++;
		if (*p == 'b' || *p == 'B')
			p++;
		else if (p[-1] == 'i' || p[-1] == 'I')
			p--; /* "Ki" alone is not a unit */
	} else if (*p == 'b' || *p == 'B') {
		p++;
	}
	if (!sdk_blank(p)) {
		why = "unknown unit; use K, M, G, T, P or E (powers of 1024), "
		      "with or without B or iB";
		goto fail;
	}
	if (sdk_number_scale(&n, mult, 0, bytes) < 0) {
		why = "too large";
		goto fail;
	}
	return 0;
fail:
	if (err)
		sdk_buf_addf(err, "bad size " SDK_QUOTE ": %s",
			     SDK_QUOTE_ARGS(text), why);
	return -1;
}
