/*
 * test_scram.c - SASL SCRAM-SHA-256 (sasl_scram.c) against the vectors of
 * RFC 7677 section 3, and the ways a server can cheat: a wrong signature,
 * a nonce that does not extend ours, iteration counts out of bounds.
 */
#include "check_main.h"
#include "module.h"
#include "sasl_scram.h"
#include "testutil.h"
#include "tls_backend.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#define CNONCE "rOprNGfwEbeRWgbNEkqO"
#define SNONCE CNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define SERVER_FIRST "r=" SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define CLIENT_FINAL                                                           \
	"c=biws,r=" SNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define SERVER_FINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

static const struct tls_backend *tls(void)
{
	char *dir = test_build_path("modules"), *err = NULL;
	const struct tls_backend *b;

	setenv("OPSBOT_MODULE_DIR", dir, 1);
	free(dir);
	b = module_tls(&err);
	ck_assert_msg(b != NULL, "%s", err ? err : "");
	return b;
}

static struct scram *start_rfc(char **first)
{
	char *err = NULL;
	struct scram *s = scram_start(tls(), "user", "pencil", CNONCE, 4096,
				      600000, first, &err);

	ck_assert_msg(s != NULL, "%s", err ? err : "");
	return s;
}

START_TEST(rfc7677_vectors)
{
	char *first, *final, *err = NULL;
	struct scram *s = start_rfc(&first);

	ck_assert_str_eq(first, "n,,n=user,r=" CNONCE);
	ck_assert_int_eq(scram_client_final(s, SERVER_FIRST, &final, &err), 0);
	ck_assert_str_eq(final, CLIENT_FINAL);
	ck_assert_int_eq(scram_check_server_final(s, SERVER_FINAL, &err), 0);
	free(first);
	free(final);
	scram_free(s);
}
END_TEST

START_TEST(bad_server_signature_fails)
{
	char *first, *final, *err = NULL;
	struct scram *s = start_rfc(&first);

	ck_assert_int_eq(scram_client_final(s, SERVER_FIRST, &final, &err), 0);
	ck_assert_int_eq(
	    scram_check_server_final(
		s, "v=7rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", &err),
	    -1);
	ck_assert_msg(strstr(err, "signature"), "%s", err);
	free(err);
	err = NULL;
	/* No signature, or an error, is no success either. */
	ck_assert_int_eq(scram_check_server_final(s, "x=1", &err), -1);
	free(err);
	err = NULL;
	ck_assert_int_eq(scram_check_server_final(s, "e=invalid-proof", &err),
			 -1);
	ck_assert_msg(strstr(err, "invalid-proof"), "%s", err);
	free(err);
	free(first);
	free(final);
	scram_free(s);
}
END_TEST

START_TEST(malicious_server_first_is_refused)
{
	static const char *const bad[] = {
	    /* a nonce that does not extend ours */
	    "r=somethingelse,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	    /* ours, not extended */
	    "r=" CNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	    /* too few or too many iterations */
	    "r=" SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1",
	    "r=" SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4095",
	    "r=" SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=600001",
	    "r=" SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999999999999",
	    "r=" SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096x",
	    /* missing parts, a mandatory extension, a bad salt */
	    "r=" SNONCE ",i=4096",
	    "m=ext,r=" SNONCE ",s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
	    "r=" SNONCE ",s=!!!!,i=4096",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		char *first, *final = NULL, *err = NULL;
		struct scram *s = start_rfc(&first);

		ck_assert_msg(scram_client_final(s, bad[i], &final, &err) == -1,
			      "accepted %s", bad[i]);
		ck_assert(final == NULL && err != NULL);
		/* And no signature check can succeed after it. */
		free(err);
		err = NULL;
		ck_assert_int_eq(
		    scram_check_server_final(s, SERVER_FINAL, &err), -1);
		free(err);
		free(first);
		scram_free(s);
	}
}
END_TEST

START_TEST(random_nonce_and_escaped_name)
{
	char *a, *b, *err = NULL;
	struct scram *s1 =
	    scram_start(tls(), "a,b=c", "pw", NULL, 4096, 600000, &a, &err);
	struct scram *s2 =
	    scram_start(tls(), "a,b=c", "pw", NULL, 4096, 600000, &b, &err);

	ck_assert(s1 && s2);
	ck_assert(str_has_prefix(a, "n,,n=a=2Cb=3Dc,r="));
	ck_assert_int_ge(strlen(a), 17 + 32);
	ck_assert_str_ne(a, b);
	free(a);
	free(b);
	scram_free(s1);
	scram_free(s2);
}
END_TEST

static Suite *scram_suite(void)
{
	Suite *s = suite_create("scram");
	TCase *tc = tcase_create("scram");

	tcase_add_test(tc, rfc7677_vectors);
	tcase_add_test(tc, bad_server_signature_fails);
	tcase_add_test(tc, malicious_server_first_is_refused);
	tcase_add_test(tc, random_nonce_and_escaped_name);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(scram_suite)
