/*
 * sdk_rate.h - pacing for plugins (part of the plugin SDK): a small
 * random number generator for jitter, exponential backoff with jitter,
 * and a token bucket.  No clock is read here: the caller passes its
 * random state and the time in ms, so tests are deterministic.
 */
#ifndef SDK_RATE_H
#define SDK_RATE_H

#include <stdint.h>

/*
 * xorshift32: for jitter only, never for secrets.  state is the caller's;
 * 0 is replaced by a fixed non-zero value.
 */
uint32_t sdk_random(uint32_t *state);
/* A seed from the wall clock and the process id (non-zero). */
uint32_t sdk_random_seed(void);

/*
 * Exponential backoff with jitter: a random delay in [d/2, d] where
 * d = min(cap_ms, base_ms * 2^attempt); attempt counts from 0.  base_ms
 * below 1 counts as 1; a cap below the base makes every delay about the
 * cap.  Never overflows, whatever attempt is.
 */
long sdk_backoff_ms(int attempt, long base_ms, long cap_ms, uint32_t *rng);

/*
 * A token bucket: up to burst tokens, refilled at per_second tokens per
 * second; one request takes one token.  A pause (a server said "too many
 * requests") holds everything until its end, whatever the bucket holds.
 * Plain data: embed it, no cleanup.
 */
struct sdk_bucket {
	double tokens;
	double burst;
	double per_ms;	     /* 0: no limit */
	int64_t refilled_at; /* ms, the caller's clock */
	int64_t paused_until;
};

/*
 * Sets a bucket up full.  per_second <= 0 or burst <= 0: no limit (take
 * always succeeds unless paused).  A burst below 1 counts as 1.
 */
void sdk_bucket_init(struct sdk_bucket *b, double per_second, double burst,
		     int64_t now_ms);
/*
 * Takes a token if one is there: returns 0.  Otherwise takes nothing and
 * returns the ms until one will be (>= 1).
 */
long sdk_bucket_take(struct sdk_bucket *b, int64_t now_ms);
/* Like sdk_bucket_take() without taking: 0 if a take would succeed now. */
long sdk_bucket_next_ms(struct sdk_bucket *b, int64_t now_ms);
/* Holds every take until until_ms (a later pause only extends it). */
void sdk_bucket_pause(struct sdk_bucket *b, int64_t until_ms);

#endif /* SDK_RATE_H */
