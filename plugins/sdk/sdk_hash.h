/*
 * sdk_hash.h - SHA-256 and HMAC-SHA256 (FIPS 180-4, RFC 2104) for plugins
 * (part of the plugin SDK), self-contained: a plugin that hashes a token
 * or signs a link loads no crypto library for it.  Constant-time
 * comparison and hex for the results.
 */
#ifndef SDK_HASH_H
#define SDK_HASH_H

#include <stddef.h>
#include <stdint.h>

#define SDK_SHA256_LEN 32

struct sdk_sha256 {
	uint32_t h[8];
	uint64_t len; /* bytes hashed so far */
	unsigned char block[64];
	size_t fill;
};

void sdk_sha256_init(struct sdk_sha256 *c);
void sdk_sha256_update(struct sdk_sha256 *c, const void *data, size_t n);
void sdk_sha256_final(struct sdk_sha256 *c, unsigned char out[SDK_SHA256_LEN]);
/* One call. */
void sdk_sha256(const void *data, size_t n, unsigned char out[SDK_SHA256_LEN]);
void sdk_hmac_sha256(const void *key, size_t key_len, const void *data,
		     size_t n, unsigned char out[SDK_SHA256_LEN]);

/* 1 if the n bytes at a and b are equal; time independent of where
   they differ. */
int sdk_mem_equal(const void *a, const void *b, size_t n);
/* Lowercase hex of n bytes into out (2n + 1 bytes). */
void sdk_hex(const unsigned char *in, size_t n, char *out);

#endif /* SDK_HASH_H */
