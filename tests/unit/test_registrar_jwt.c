/*
 * test_registrar_jwt.c - the service-account JWT: a key pair made at test
 * time, the key file parsed, the JWT built and its RS256 signature checked
 * with the public half; plus the client's rate limiter.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "../../plugins/registrar/registrar.h"
#include "../lib/check_main.h"

static EVP_PKEY *pkey;
static char *key_json;

static char *pem_of(EVP_PKEY *k)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data, *out;
	long n;

	ck_assert_int_eq(
	    PEM_write_bio_PrivateKey(bio, k, NULL, NULL, 0, NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	/* The BIO's memory is not NUL-terminated: copy exactly n bytes. */
	out = malloc((size_t)n + 1);
	memcpy(out, data, (size_t)n);
	out[n] = '\0';
	BIO_free(bio);
	return out;
}

static void setup(void)
{
	char *pem;
	json_t *obj;

	pkey = EVP_RSA_gen(2048);
	ck_assert_ptr_nonnull(pkey);
	pem = pem_of(pkey);
	obj = json_pack("{ssssssssss}", "type", "service_account",
			"client_email", "bot@p.iam.gserviceaccount.com",
			"private_key", pem, "private_key_id", "kid1",
			"token_uri", "http://127.0.0.1:1/token");
	key_json = json_dumps(obj, 0);
	json_decref(obj);
	free(pem);
}

static void teardown(void)
{
	EVP_PKEY_free(pkey);
	free(key_json);
}

static size_t b64url_decode(const char *in, size_t n, unsigned char *out)
{
	size_t o = 0;
	unsigned v = 0;
	int bits = 0;

	for (size_t i = 0; i < n; i++) {
		const char *alpha = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnop"
				    "qrstuvwxyz0123456789-_";
		const char *p = strchr(alpha, in[i]);

		ck_assert_ptr_nonnull(p);
		v = (v << 6) | (unsigned)(p - alpha);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (unsigned char)(v >> bits);
		}
	}
	return o;
}

START_TEST(test_jwt_signature_verifies)
{
	struct reg_google_key key;
	struct sdk_buf err = SDK_BUF_INIT, jwt = SDK_BUF_INIT;
	const char *s, *dot1, *dot2;
	unsigned char buf[1024], sig[512];
	size_t n, siglen;
	json_t *claims, *header;
	EVP_MD_CTX *ctx;

	ck_assert_int_eq(reg_google_key_parse(key_json, &key, &err), 0);
	ck_assert_int_eq(reg_jwt_build(&key,
				       "https://www.googleapis.com/"
				       "auth/spreadsheets",
				       1700000000, &jwt, &err),
			 0);
	s = sdk_buf_str(&jwt);
	ck_assert_ptr_null(strchr(s, '='));
	dot1 = strchr(s, '.');
	dot2 = strchr(dot1 + 1, '.');
	ck_assert_ptr_nonnull(dot2);

	n = b64url_decode(s, (size_t)(dot1 - s), buf);
	header = json_loadb((const char *)buf, n, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(header, "alg")),
			 "RS256");
	ck_assert_str_eq(json_string_value(json_object_get(header, "kid")),
			 "kid1");
	json_decref(header);
	n = b64url_decode(dot1 + 1, (size_t)(dot2 - dot1 - 1), buf);
	claims = json_loadb((const char *)buf, n, 0, NULL);
	ck_assert_str_eq(json_string_value(json_object_get(claims, "iss")),
			 "bot@p.iam.gserviceaccount.com");
	ck_assert_str_eq(json_string_value(json_object_get(claims, "aud")),
			 "http://127.0.0.1:1/token");
	ck_assert_int_eq(json_integer_value(json_object_get(claims, "exp")) -
			     json_integer_value(json_object_get(claims, "iat")),
			 3600);
	json_decref(claims);

	siglen = b64url_decode(dot2 + 1, strlen(dot2 + 1), sig);
	ck_assert_int_eq(siglen, 256);
	ctx = EVP_MD_CTX_new();
	ck_assert_int_eq(
	    EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey), 1);
	ck_assert_int_eq(EVP_DigestVerify(ctx, sig, siglen,
					  (const unsigned char *)s,
					  (size_t)(dot2 - s)),
			 1);
	/* a changed claim no longer verifies */
	EVP_MD_CTX_reset(ctx);
	EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey);
	ck_assert_int_ne(EVP_DigestVerify(ctx, sig, siglen,
					  (const unsigned char *)s,
					  (size_t)(dot2 - s - 1)),
			 1);
	EVP_MD_CTX_free(ctx);
	reg_google_key_free(&key);
	sdk_buf_release(&jwt);
	sdk_buf_release(&err);
}
END_TEST

START_TEST(test_key_errors)
{
	struct reg_google_key key;
	struct sdk_buf err = SDK_BUF_INIT, jwt = SDK_BUF_INIT;

	ck_assert_int_eq(reg_google_key_parse("{nope", &key, &err), -1);
	ck_assert_ptr_nonnull(strstr(sdk_buf_str(&err), "not json"));
	sdk_buf_reset(&err);
	ck_assert_int_eq(
	    reg_google_key_parse("{\"client_email\":\"a\"}", &key, &err), -1);
	ck_assert_ptr_nonnull(strstr(sdk_buf_str(&err), "private_key"));
	sdk_buf_reset(&err);
	ck_assert_int_eq(
	    reg_google_key_parse("{\"client_email\":\"a\",\"private_key\":"
				 "\"garbage\",\"token_uri\":\"http://x\"}",
				 &key, &err),
	    0);
	ck_assert_int_eq(reg_jwt_build(&key, "s", 1, &jwt, &err), -1);
	ck_assert_ptr_nonnull(strstr(sdk_buf_str(&err), "cannot read"));
	reg_google_key_free(&key);
	sdk_buf_release(&jwt);
	sdk_buf_release(&err);
}
END_TEST

/* A token is renewed at 80 % of its life, at most 5 minutes early: a
   fixed margin renewed a 120-second token before every call. */
START_TEST(test_token_refresh_margin)
{
	ck_assert_int_eq(reg_token_refresh_at(1000, 3600),
			 1000 + 3600000 - 300000);
	ck_assert_int_eq(reg_token_refresh_at(1000, 120), 1000 + 96000);
	ck_assert_int_eq(reg_token_refresh_at(0, 1000), 800000);
	ck_assert_int_eq(reg_token_refresh_at(0, 1500), 1200000);
	ck_assert_int_gt(reg_token_refresh_at(0, 1), 0);
}
END_TEST

START_TEST(test_limiter)
{
	struct sdk_bucket l;

	/* 10 per 10 s: a burst of 10, then one per second */
	sdk_bucket_init(&l, 1.0, 10, 0);
	for (int i = 0; i < 10; i++)
		ck_assert_int_eq(sdk_bucket_take(&l, 0), 0);
	ck_assert_int_gt(sdk_bucket_take(&l, 0), 900);
	ck_assert_int_le(sdk_bucket_take(&l, 0), 1001);
	ck_assert_int_eq(sdk_bucket_take(&l, 1000), 0);
	ck_assert_int_gt(sdk_bucket_take(&l, 1000), 0);
	/* a 429 pauses the service whatever the bucket says */
	sdk_bucket_pause(&l, 5000);
	ck_assert_int_eq(sdk_bucket_take(&l, 4000), 1000);
	/* no limit configured */
	sdk_bucket_init(&l, 0, 0, 0);
	for (int i = 0; i < 1000; i++)
		ck_assert_int_eq(sdk_bucket_take(&l, 0), 0);
}
END_TEST

static Suite *registrar_jwt_suite(void)
{
	Suite *s = suite_create("registrar_jwt");
	TCase *tc = tcase_create("jwt");

	/* one key pair for the case: RSA key generation is slow */
	tcase_add_unchecked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_jwt_signature_verifies);
	tcase_add_test(tc, test_key_errors);
	tcase_add_test(tc, test_limiter);
	tcase_add_test(tc, test_token_refresh_margin);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(registrar_jwt_suite)
