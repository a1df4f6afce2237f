/*
 * test_registrar_text.c - the registrar's pure text helpers: templates,
 * header lookup, e-mail normalisation and scrubbing, encodings, error
 * bodies, Retry-After and backoff, A1 notation.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/registrar/registrar.h"
#include "../lib/check_main.h"
#include "../lib/fakehost.h"

static char *hdrs[] = {"Timestamp", "Name",	    " Email ",
		       "Title",	    "Organization", "upstream-registrar"};
static char *vals[] = {"2026-01-01", "Ada <Lovelace>",	"ADA@Example.org",
		       "Engineer",   "Analytical & Co", ""};
static const struct reg_record rec = {6, hdrs, vals};

static char *render_record(const char *tpl, const struct reg_record *r,
			   enum reg_tpl_mode mode, int *rc)
{
	struct sdk_buf out = SDK_BUF_INIT, err = SDK_BUF_INIT;

	*rc = reg_template_render(tpl, r, mode, &out, &err);
	if (*rc < 0) {
		sdk_buf_release(&out);
		return sdk_buf_detach(&err);
	}
	sdk_buf_release(&err);
	return sdk_buf_detach(&out);
}

static char *render(const char *tpl, int html, int *rc)
{
	return render_record(tpl, &rec, html ? REG_TPL_HTML : REG_TPL_TEXT, rc);
}

START_TEST(test_template_title)
{
	int rc;
	char *s = render("{Name}, {Title} @ {Organization}", 0, &rc);

	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(s, "Ada <Lovelace>, Engineer @ Analytical & Co");
	free(s);
}
END_TEST

START_TEST(test_template_html_and_braces)
{
	int rc;
	char *s =
	    render("<p>{{literal}} {Name} from {organization}</p>", 1, &rc);

	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(s, "<p>{literal} Ada &lt;Lovelace&gt; from "
			    "Analytical &amp; Co</p>");
	free(s);
}
END_TEST

START_TEST(test_template_errors)
{
	int rc;
	char *s = render("Hello {Nickname}", 0, &rc);

	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(s, "no column \"Nickname\""));
	free(s);
	s = render("Hello {Name", 0, &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(s, "unclosed"));
	free(s);
	s = render("a } b", 0, &rc);
	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(s, "a } b");
	free(s);
	s = render("{Name, {Title}", 0, &rc);
	ck_assert_int_eq(rc, -1);
	ck_assert_ptr_nonnull(strstr(s, "unclosed"));
	free(s);
}
END_TEST

START_TEST(test_template_check)
{
	struct sdk_buf err = SDK_BUF_INIT;

	ck_assert_int_eq(reg_template_check("{Name}, {{x}} {Any Column}", &err),
			 0);
	ck_assert_int_eq(reg_template_check("}} a } b", &err), 0);
	ck_assert_int_eq(reg_template_check("Hi {Name", &err), -1);
	ck_assert_ptr_nonnull(strstr(sdk_buf_str(&err), "unclosed"));
	sdk_buf_reset(&err);
	ck_assert_int_eq(reg_template_check("{Name, {Title}", &err), -1);
	sdk_buf_reset(&err);
	ck_assert_int_eq(reg_template_check("{Na\nme}", &err), -1);
	sdk_buf_reset(&err);
	ck_assert_int_eq(reg_template_check("Hi {}", &err), -1);
	ck_assert_ptr_nonnull(strstr(sdk_buf_str(&err), "names no column"));
	sdk_buf_release(&err);
}
END_TEST

START_TEST(test_header_find)
{
	ck_assert_int_eq(reg_header_find(hdrs, 6, "Email"), 2);
	ck_assert_int_eq(reg_header_find(hdrs, 6, "UPSTREAM-REGISTRAR"), 5);
	ck_assert_int_eq(reg_header_find(hdrs, 6, "Name"), 1);
	ck_assert_int_eq(reg_header_find(hdrs, 6, "Phone"), -1);
	ck_assert_str_eq(reg_record_get(&rec, "email"), "ADA@Example.org");
}
END_TEST

START_TEST(test_email_normalise)
{
	char out[64];

	ck_assert_int_eq(
	    reg_email_normalise("  Ada@Example.ORG ", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "ada@example.org");
	ck_assert_int_eq(
	    reg_email_normalise("Ada L <ADA@x.org>", out, sizeof(out)), 0);
	ck_assert_str_eq(out, "ada@x.org");
	ck_assert_int_eq(reg_email_normalise("mailto:b@y.io", out, sizeof(out)),
			 0);
	ck_assert_str_eq(out, "b@y.io");
	ck_assert_int_eq(reg_email_normalise("", out, sizeof(out)), -1);
	ck_assert_int_eq(reg_email_normalise("no-at.org", out, sizeof(out)),
			 -1);
	ck_assert_int_eq(reg_email_normalise("a@b", out, sizeof(out)), -1);
	ck_assert_int_eq(reg_email_normalise("a b@c.org", out, sizeof(out)),
			 -1);
	ck_assert_int_eq(
	    reg_email_normalise("a@b.org, c@d.org", out, sizeof(out)), -1);
	ck_assert_int_eq(reg_email_normalise("a@@b.org", out, sizeof(out)), -1);
}
END_TEST

START_TEST(test_scrub_emails)
{
	char *s = reg_scrub_emails("mailgun: to ada@x.org rejected; @home "
				   "and bob.smith+tag@mail.example.com.");

	ck_assert_str_eq(s, "mailgun: to <e-mail> rejected; @home and "
			    "<e-mail>");
	free(s);
}
END_TEST

START_TEST(test_encodings)
{
	struct sdk_buf b = SDK_BUF_INIT;
	struct fakehost *host = fakehost_new();
	const struct opsbot_api *api = fakehost_api(host);

	sdk_form_add(&b, api, "o:tag", "a b&c=d/é");
	sdk_form_add(&b, api, "to", "x@y.z");
	ck_assert_str_eq(sdk_buf_str(&b),
			 "o%3Atag=a%20b%26c%3Dd%2F%C3%A9&to=x%40y.z");
	sdk_buf_reset(&b);
	reg_base64url(&b, (const unsigned char *)"\xfb\xff\xfe", 3);
	ck_assert_str_eq(sdk_buf_str(&b), "-__-");
	sdk_buf_reset(&b);
	reg_base64url(&b, (const unsigned char *)"ab", 2);
	ck_assert_str_eq(sdk_buf_str(&b), "YWI");
	sdk_buf_reset(&b);
	reg_base64url(&b, (const unsigned char *)"a", 1);
	ck_assert_str_eq(sdk_buf_str(&b), "YQ");
	sdk_buf_release(&b);
	fakehost_free(host);
}
END_TEST

START_TEST(test_error_cause)
{
	char *s;

	s = sdk_http_error_cause("{\"error\":{\"code\":403,\"message\":\"The "
				 "caller does not have permission\",\"status\":"
				 "\"PERMISSION_DENIED\"}}");
	ck_assert_str_eq(s, "The caller does not have permission");
	free(s);
	s = sdk_http_error_cause(
	    "{\"error\":\"invalid_grant\",\"error_description"
	    "\":\"Invalid JWT Signature.\"}");
	ck_assert_str_eq(s, "Invalid JWT Signature.");
	free(s);
	s = sdk_http_error_cause("{\"message\": \"Domain not found: x.org\"}");
	ck_assert_str_eq(s, "Domain not found: x.org");
	free(s);
	s = sdk_http_error_cause("{\"error\":\"API_TOKEN_LIMIT_EXCEEDED\","
				 "\"message\":\"Rate limit exceeded\"}");
	ck_assert_str_eq(s, "Rate limit exceeded");
	free(s);
	s = sdk_http_error_cause("invalid value for idList\n");
	ck_assert_str_eq(s, "invalid value for idList");
	free(s);
	s = sdk_http_error_cause("Forbidden");
	ck_assert_str_eq(s, "Forbidden");
	free(s);
	s = sdk_http_error_cause("<html><body>bad gateway</body></html>");
	ck_assert_str_eq(s, "unexpected html answer");
	free(s);
	s = sdk_http_error_cause("{\"id\": \"trunc");
	ck_assert_str_eq(s, "{\"id\": \"trunc");
	free(s);
	{
		/* cut at 200 bytes, never inside a character: "a" and 120
		   two-byte characters put byte 200 inside one */
		char body[512];
		size_t n;

		n = (size_t)snprintf(body, sizeof(body), "{\"message\":\"a");
		for (int i = 0; i < 120; i++, n += 2)
			memcpy(body + n, "\xc3\xa9", 2);
		snprintf(body + n, sizeof(body) - n, "\"}");
		s = sdk_http_error_cause(body);
		ck_assert_int_eq(strlen(s), 199);
		ck_assert_int_eq(sdk_utf8_valid(s, strlen(s), NULL), 1);
		free(s);
	}
}
END_TEST

START_TEST(test_retry_after)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT = 784111777 */
	ck_assert_int_eq(sdk_http_retry_after_ms("3", 0), 3000);
	ck_assert_int_eq(sdk_http_retry_after_ms(" 0 ", 0), 0);
	ck_assert_int_eq(
	    sdk_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111770),
	    7000);
	ck_assert_int_eq(
	    sdk_http_retry_after_ms("Sun, 06 Nov 1994 08:49:37 GMT", 784111800),
	    0);
	ck_assert_int_eq(sdk_http_retry_after_ms(NULL, 0), -1);
	ck_assert_int_eq(sdk_http_retry_after_ms("soon", 0), -1);
	ck_assert_int_eq(sdk_http_retry_after_ms("5x", 0), -1);
	ck_assert_int_eq(sdk_http_retry_after_ms("999999", 0), 86400000);
}
END_TEST

START_TEST(test_backoff)
{
	uint32_t rng = 42;

	for (int attempt = 0; attempt < 12; attempt++) {
		long d = 1000;

		for (int i = 0; i < attempt && d < 30000; i++)
			d *= 2;
		if (d > 30000)
			d = 30000;
		for (int k = 0; k < 100; k++) {
			long b = sdk_backoff_ms(attempt, 1000, 30000, &rng);

			ck_assert_int_ge(b, d / 2);
			ck_assert_int_le(b, d);
		}
	}
}
END_TEST

START_TEST(test_a1)
{
	struct sdk_buf b = SDK_BUF_INIT;
	char col[8];

	reg_a1_column(0, col);
	ck_assert_str_eq(col, "A");
	reg_a1_column(25, col);
	ck_assert_str_eq(col, "Z");
	reg_a1_column(26, col);
	ck_assert_str_eq(col, "AA");
	reg_a1_column(701, col);
	ck_assert_str_eq(col, "ZZ");
	reg_a1_column(702, col);
	ck_assert_str_eq(col, "AAA");
	reg_a1_tab(&b, "Form Responses 1");
	ck_assert_str_eq(sdk_buf_str(&b), "'Form Responses 1'");
	sdk_buf_reset(&b);
	reg_a1_tab(&b, "Bob's");
	ck_assert_str_eq(sdk_buf_str(&b), "'Bob''s'");
	sdk_buf_release(&b);
}
END_TEST

START_TEST(test_record_json)
{
	struct reg_record back;
	char *json = reg_record_to_json(&rec);

	ck_assert_int_eq(reg_record_from_json(json, &back), 0);
	ck_assert_int_eq(back.ncols, 6);
	ck_assert_str_eq(back.headers[4], "Organization");
	ck_assert_str_eq(back.values[1], "Ada <Lovelace>");
	reg_record_free(&back);
	free(json);
	ck_assert_int_eq(reg_record_from_json("{", &back), -1);
}
END_TEST

START_TEST(test_fold)
{
	static const char *const cases[][2] = {
	    {"Émile  Zola ", "emile zola"},
	    {"ÉMILE", "emile"},
	    {"Ann Ünal", "ann unal"},
	    {"Łukasz Żółć", "lukasz zolc"},
	    {"Straße", "strasse"},
	    {"Øyvind Æsir", "oyvind aesir"},
	    {"Þór ÿ", "thor y"},
	    {"İlkay Ğ ĳ Œ", "ilkay g ij oe"},
	    {"ΑΘΗΝΑ Ω", "αθηνα ω"},
	    {"ЖЁЛТЫЙ Ѐ", "жёлтый ѐ"},
	    {"2×3", "2×3"},
	    {"\xff\xfe bad", "\xff\xfe bad"},
	    {"  ", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *f = reg_fold(cases[i][0]);

		ck_assert_str_eq(f, cases[i][1]);
		free(f);
	}
}
END_TEST

START_TEST(test_utf8_valid)
{
	size_t bad = 99;

	ck_assert_int_eq(sdk_utf8_valid("Émile 𝄞 ok", 13, &bad), 1);
	ck_assert_int_eq(sdk_utf8_valid("caf\xe9 latin-1", 14, &bad), 0);
	ck_assert_int_eq(bad, 3);
	/* a sequence cut at the end, an overlong one, a surrogate, NUL */
	ck_assert_int_eq(sdk_utf8_valid("ab\xc3", 3, &bad), 0);
	ck_assert_int_eq(bad, 2);
	ck_assert_int_eq(sdk_utf8_valid("\xc0\xaf", 2, &bad), 0);
	ck_assert_int_eq(sdk_utf8_valid("\xed\xa0\x80", 3, &bad), 0);
	ck_assert_int_eq(sdk_utf8_valid("a\0b", 3, &bad), 0);
	ck_assert_int_eq(bad, 1);
	ck_assert_int_eq(sdk_utf8_valid("", 0, NULL), 1);
}
END_TEST

/* A subject or a card name is one line whatever the cell held; a body
   keeps a paragraph answer's line breaks. */
START_TEST(test_template_line_mode)
{
	char *h[] = {"Name", "Experience"};
	char *v[] = {"Eve\nPRIVMSG #x :INJECTED", "ten years\nof C"};
	const struct reg_record r = {2, h, v};
	int rc;
	char *s = render_record("Welcome, {Name}!", &r, REG_TPL_LINE, &rc);

	ck_assert_int_eq(rc, 0);
	ck_assert_str_eq(s, "Welcome, Eve PRIVMSG #x :INJECTED!");
	free(s);
	s = render_record("{Experience}", &r, REG_TPL_TEXT, &rc);
	ck_assert_str_eq(s, "ten years\nof C");
	free(s);
}
END_TEST

/* What a cell may hold once read: no CR, controls, IRC formatting or
   direction overrides; line breaks only where kept; bounded. */
START_TEST(test_clean_cell_and_line)
{
	char *big = malloc(REG_CELL_MAX * 2 + 1), *s;

	s = reg_clean_cell("a\r\nb\x02"
			   "c\x03"
			   "04d\x0f\x16\x1f\xe2\x80\xae"
			   "e\x7f\tf");
	ck_assert_str_eq(s, "a\nbcde f");
	free(s);
	s = reg_clean_line(" Eve\r\nPRIVMSG  #x ", REG_NAME_MAX);
	ck_assert_str_eq(s, "Eve PRIVMSG #x");
	free(s);
	memset(big, 'x', REG_CELL_MAX * 2);
	big[REG_CELL_MAX * 2] = '\0';
	s = reg_clean_cell(big);
	ck_assert_uint_le(strlen(s), REG_CELL_MAX);
	ck_assert_str_eq(s + strlen(s) - 3, "\xe2\x80\xa6");
	free(s);
	s = reg_clean_line(big, 40);
	ck_assert_uint_eq(strlen(s), 40);
	free(s);
	free(big);
}
END_TEST

/* The announcement's promise: up to per_line items a line, at most
   max_lines lines of at most line_max bytes, whole items, a count. */
START_TEST(test_pack_lines)
{
	char *items[17], *lines[3];
	int nlines, left;

	for (int i = 0; i < 17; i++)
		items[i] = sdk_xasprintf("Student %03d (student)", i);
	left = reg_pack_lines(items, 17, 15, 3, 361, lines, &nlines);
	ck_assert_int_eq(nlines, 2);
	ck_assert_int_eq(left, 0);
	ck_assert_ptr_nonnull(strstr(lines[0], "Student 014 (student)"));
	ck_assert_ptr_null(strstr(lines[0], "Student 015"));
	for (int i = 0; i < nlines; i++)
		free(lines[i]);
	/* long entries: lines end on whole entries, within the bytes */
	for (int i = 0; i < 17; i++) {
		free(items[i]);
		items[i] = sdk_xasprintf("%0*d (student)", 40, i);
	}
	left = reg_pack_lines(items, 17, 15, 3, 200, lines, &nlines);
	ck_assert_int_eq(nlines, 3);
	ck_assert_int_eq(left, 17 - 3 * 3);
	for (int i = 0; i < nlines; i++) {
		ck_assert_uint_le(strlen(lines[i]), 200);
		ck_assert_str_eq(lines[i] + strlen(lines[i]) - 10,
				 " (student)");
		free(lines[i]);
	}
	left = reg_pack_lines(items, 0, 15, 3, 200, lines, &nlines);
	ck_assert_int_eq(nlines, 0);
	ck_assert_int_eq(left, 0);
	for (int i = 0; i < 17; i++)
		free(items[i]);
}
END_TEST

/* One line per sync: the newest cause first, a repeated cause once, a
   count for what did not fit (it is in the log). */
START_TEST(test_summary_line)
{
	const char *google =
	    "429 Quota exceeded for quota metric 'Read requests' and limit "
	    "'Read requests per minute per user' of service "
	    "'sheets.googleapis.com' for consumer 'project_number:1'.; "
	    "sheets quota exceeded, retried at the next sync";
	char *errors[4], *s;

	errors[0] = sdk_xasprintf("sheets: student sheet read: %s", google);
	errors[1] = sdk_xasprintf("sheets: mentor sheet read: %s", google);
	errors[2] = sdk_xstrdup("mailgun: 403 Sandbox subdomains are for "
				"test purposes only; check mailgun_domain");
	s = reg_summary_line("sync done in 1.0 s: 2 rows", errors, 3, "", 380);
	ck_assert_uint_le(strlen(s), 380);
	ck_assert_ptr_nonnull(strstr(s, "rows; mailgun: 403 Sandbox"));
	ck_assert_ptr_nonnull(strstr(s, "Quota exceeded"));
	ck_assert_ptr_null(
	    strstr(strstr(s, "Quota exceeded") + 1, "Quota exceeded"));
	ck_assert_ptr_nonnull(
	    strstr(s, "; sheets: student sheet read: the same"));
	ck_assert_ptr_null(strchr(s, '\n'));
	free(s);
	/* too many for one line: a count, never a cut inside the count */
	errors[3] = sdk_xstrdup("trello: 401 invalid token; check "
				"trello_key and trello_token");
	s = reg_summary_line("sync done", errors, 4, "a note", 120);
	ck_assert_uint_le(strlen(s), 120);
	ck_assert_ptr_nonnull(strstr(s, "sync done; trello: 401"));
	ck_assert_ptr_nonnull(strstr(s, "more in the log"));
	free(s);
	s = reg_summary_line("sync done", errors, 0, "a note", 120);
	ck_assert_str_eq(s, "sync done; note: a note");
	free(s);
	for (int i = 0; i < 4; i++)
		free(errors[i]);
}
END_TEST

static Suite *registrar_text_suite(void)
{
	Suite *s = suite_create("registrar_text");
	TCase *tc = tcase_create("text");

	tcase_add_test(tc, test_template_title);
	tcase_add_test(tc, test_template_html_and_braces);
	tcase_add_test(tc, test_template_errors);
	tcase_add_test(tc, test_template_check);
	tcase_add_test(tc, test_header_find);
	tcase_add_test(tc, test_email_normalise);
	tcase_add_test(tc, test_scrub_emails);
	tcase_add_test(tc, test_encodings);
	tcase_add_test(tc, test_error_cause);
	tcase_add_test(tc, test_retry_after);
	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_a1);
	tcase_add_test(tc, test_record_json);
	tcase_add_test(tc, test_fold);
	tcase_add_test(tc, test_utf8_valid);
	tcase_add_test(tc, test_template_line_mode);
	tcase_add_test(tc, test_clean_cell_and_line);
	tcase_add_test(tc, test_pack_lines);
	tcase_add_test(tc, test_summary_line);
	suite_add_tcase(s, tc);
	return s;
}

CHECK_MAIN(registrar_text_suite)
