/*
 * sdk_parse.h - parsing the quantities people write in commands and
 * configuration (part of the plugin SDK): durations and sizes.  Both
 * return 0, or -1 with one line for humans appended to err (may be NULL)
 * that quotes the input and says what would be accepted.
 */
#ifndef SDK_PARSE_H
#define SDK_PARSE_H

#include <stdint.h>

#include "sdk_buf.h"

/*
 * A duration in milliseconds: "90" (seconds), "90s", "5m", "2h", "1d",
 * "250ms", "1.5h", and combinations from the larger unit to the smaller:
 * "1h30m", "1d 2h", "2m30s".  Units are ms, s, m, h and d; a bare number
 * is only allowed alone.  Decimals (at most 9 digits) are rounded to the
 * nearest ms.  Refused: empty text, negative values, a unit repeated or
 * out of order ("30m1h"), unknown units, anything over LLONG_MAX ms.
 */
int sdk_duration_parse(const char *text, long long *ms, struct sdk_buf *err);

/*
 * A size in bytes: "4096", "512K", "10G", "1.5T", "10 GB", "2GiB".
 * Units K, M, G, T, P, E are
 * powers of 1024 whichever way they are written (K, KB, KiB, any case):
 * what people mean by "10G" of disk or memory on these machines.  B alone
 * is bytes.  Decimals are allowed and the result is rounded down to a
 * whole byte.  Refused: empty text, negative values, unknown units,
 * anything over UINT64_MAX bytes.
 */
int sdk_size_parse(const char *text, uint64_t *bytes, struct sdk_buf *err);

#endif /* SDK_PARSE_H */
