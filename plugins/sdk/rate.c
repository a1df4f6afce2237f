/*
 * rate.c - jitter, backoff and the token bucket (see sdk_rate.h).
 */
#include <time.h>
#include <unistd.h>

#include "sdk_rate.h"

uint32_t sdk_random(uint32_t *state)
{
	uint32_t x = *state ? *state : 0x9e3779b9u;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	*state = x;
	return x;
}

uint32_t sdk_random_seed(void)
{
	struct timespec ts;
	uint32_t seed;

	clock_gettime(CLOCK_REALTIME, &ts);
	seed = (uint32_t)ts.tv_sec * 1000003u ^ (uint32_t)ts.tv_nsec ^
	       (uint32_t)getpid() * 2654435761u;
	return seed ? seed : 1;
}

long sdk_backoff_ms(int attempt, long base_ms, long cap_ms, uint32_t *rng)
{
	long d = base_ms > 0 ? base_ms : 1;
	uint64_t half, r;

	if (cap_ms < 1)
		cap_ms = 1;
	/* doubling stops at the cap, so d never overflows */
	for (int i = 0; i < attempt && d < cap_ms; i++)
		d = d > cap_ms / 2 ? cap_ms : d * 2;
	if (d > cap_ms)
		d = cap_ms;
	if (d < 2)
		return d;
	half = (uint64_t)(d / 2);
	if (half < UINT32_MAX)
		return d / 2 + (long)(sdk_random(rng) % (uint32_t)(half + 1));
	/* a cap beyond 2^32 ms: two draws */
	r = (uint64_t)sdk_random(rng) << 32 | sdk_random(rng);
	return d / 2 + (long)(r % (half + 1));
}

void sdk_bucket_init(struct sdk_bucket *b, double per_second, double burst,
		     int64_t now_ms)
{
	*b = (struct sdk_bucket){0};
	b->refilled_at = now_ms;
	if (!(per_second > 0) || !(burst > 0))
		return;
	b->burst = burst < 1 ? 1 : burst;
	b->tokens = b->burst;
	b->per_ms = per_second / 1000.0;
}

static long sdk_bucket_wait(struct sdk_bucket *b, int64_t now_ms)
{
	if (b->paused_until > now_ms)
		return (long)(b->paused_until - now_ms);
	if (b->per_ms <= 0)
		return 0;
	/* a clock that went back refills nothing */
	if (now_ms > b->refilled_at)
		b->tokens += (double)(now_ms - b->refilled_at) * b->per_ms;
	if (b->tokens > b->burst)
		b->tokens = b->burst;
	b->refilled_at = now_ms;
	if (b->tokens >= 1.0)
		return 0;
	return (long)((1.0 - b->tokens) / b->per_ms) + 1;
}

long sdk_bucket_next_ms(struct sdk_bucket *b, int64_t now_ms)
{
	return sdk_bucket_wait(b, now_ms);
}

long sdk_bucket_take(struct sdk_bucket *b, int64_t now_ms)
{
	long wait = sdk_bucket_wait(b, now_ms);

	if (wait == 0 && b->per_ms > 0)
		b->tokens -= 1.0;
	return wait;
}

void sdk_bucket_pause(struct sdk_bucket *b, int64_t until_ms)
{
	if (until_ms > b->paused_until)
		b->paused_until = until_ms;
}
