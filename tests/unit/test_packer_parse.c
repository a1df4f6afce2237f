/*
 * test_packer_parse.c - the packer plugin's pure parts: the machine-readable
 * parser (escaping, streaming at any chunk boundary, cut and over-long
 * lines, lines that are not machine-readable), one build's verdict on the
 * recorded outputs of Debian's packer 1.6.6 (tests/fixtures/packer), and
 * templates (names, paths that leave the folder, declared variables).
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../../plugins/packer/pmr.h"
#include "../../plugins/packer/tmpl.h"
#include "../lib/check_main.h"
#include "testutil.h"

/* Every parsed line as "target|type|f1|f2...\n". */
static void collect(const struct pmr_line *l, void *data)
{
	struct sdk_buf *b = data;

	sdk_buf_addf(b, "%s|%s", l->target, l->type);
	for (int i = 0; i < l->nfields; i++)
		sdk_buf_addf(b, "|%s", l->fields[i]);
	sdk_buf_adds(b, "\n");
}

static char *read_fixture(const char *name, size_t *len)
{
	const char *dir = getenv("OPSBOT_FIXTURES");
	char path[4096];
	FILE *f;
	char *data;
	long n;

	snprintf(path, sizeof(path), "%s/packer/%s",
		 dir ? dir : "tests/fixtures", name);
	f = fopen(path, "rb");
	ck_assert_msg(f != NULL, "cannot open %s (set OPSBOT_FIXTURES)", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	ck_assert_int_eq(fread(data, 1, (size_t)n, f), (size_t)n);
	data[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return data;
}

#define FIX(x) "local-debian-packer-1.6.6_" x ".machine-readable.txt"

START_TEST(test_unescape)
{
	char a[] = "step 1%!(PACKER_COMMA) with a comma";
	char b[] = "\\n==> Builds finished\\r\\nend";
	char c[] = "%!(PACKER_COMM cut, trailing \\";
	char d[] = "%!(PACKER_COMMA)%!(PACKER_COMMA)\\\\n";

	pmr_unescape(a, strlen(a));
	ck_assert_str_eq(a, "step 1, with a comma");
	pmr_unescape(b, strlen(b));
	ck_assert_str_eq(b, "\n==> Builds finished\r\nend");
	pmr_unescape(c, strlen(c));
	ck_assert_str_eq(c, "%!(PACKER_COMM cut, trailing \\");
	/* A backslash is not escaped by packer: "\\n" reads as "\" + LF. */
	pmr_unescape(d, strlen(d));
	ck_assert_str_eq(d, ",,\\\n");
}
END_TEST

START_TEST(test_lines_and_non_lines)
{
	struct sdk_buf out = SDK_BUF_INIT;
	struct pmr p;

	pmr_init(&p, 0, collect, &out);
	const char *first = "1795611812,,ui,say,hi%!(PACKER_COMMA) there";

	ck_assert_int_eq(pmr_parse_line(&p, first, strlen(first)), 0);
	ck_assert_int_eq(pmr_parse_line(&p,
					"waiting for all plugin processes "
					"to complete...",
					44),
			 -1);
	ck_assert_int_eq(pmr_parse_line(&p, ",,ui,say,x", 10), -1);
	ck_assert_int_eq(pmr_parse_line(&p, "12", 2), -1);
	ck_assert_int_eq(pmr_parse_line(&p, "12,only-target", 14), -1);
	ck_assert_int_eq(pmr_parse_line(&p, "12,t,version-prelease,", 22), 0);
	/* TABs stay raw */
	ck_assert_int_eq(pmr_parse_line(&p, "12,,ui,error,a\tb", 16), 0);
	ck_assert_str_eq(sdk_buf_str(&out), "|ui|say|hi, there\n"
					    "t|version-prelease|\n"
					    "|ui|error|a\tb\n");
	ck_assert_int_eq(p.lines, 3);
	ck_assert_int_eq(p.ignored, 4);
	pmr_free(&p);
	sdk_buf_release(&out);
}
END_TEST

/* Every chunking of a real output parses the same as the whole. */
START_TEST(test_stream_any_boundary)
{
	size_t len;
	char *data = read_fixture(FIX("build-two-file-builders"), &len);
	struct sdk_buf whole = SDK_BUF_INIT;
	struct pmr p;

	pmr_init(&p, 0, collect, &whole);
	pmr_feed(&p, data, len);
	pmr_finish(&p);
	ck_assert_int_eq(p.lines, 28);
	pmr_free(&p);
	for (size_t chunk = 1; chunk <= 13; chunk++) {
		struct sdk_buf got = SDK_BUF_INIT;

		pmr_init(&p, 0, collect, &got);
		for (size_t off = 0; off < len; off += chunk)
			pmr_feed(&p, data + off,
				 len - off < chunk ? len - off : chunk);
		pmr_finish(&p);
		ck_assert_str_eq(sdk_buf_str(&got), sdk_buf_str(&whole));
		pmr_free(&p);
		sdk_buf_release(&got);
	}
	ck_assert(strstr(sdk_buf_str(&whole),
			 "|ui|message|    tmpl-a: step 1, with a comma\n"));
	ck_assert(strstr(sdk_buf_str(&whole),
			 "tmpl-b|artifact|0|file|0|/tmp/pk/artifact-b.txt\n"));
	sdk_buf_release(&whole);
	free(data);
}
END_TEST

/* The host cuts lines at 16 KiB: the pieces are joined; a line over the
 * parser's cap is skipped whole and the next one parses. */
START_TEST(test_cut_and_long_lines)
{
	struct sdk_buf out = SDK_BUF_INIT;
	struct pmr p;
	char big[300];

	pmr_init(&p, 256, collect, &out);
	pmr_feed_line(&p, "5,,ui,say,first ", 16, 1);
	pmr_feed_line(&p, "half", 4, 1);
	pmr_feed_line(&p, " end", 4, 0);
	memset(big, 'x', sizeof(big));
	memcpy(big, "6,,ui,say,", 10);
	pmr_feed_line(&p, big, 200, 1);
	pmr_feed_line(&p, big + 200, 100, 1);
	pmr_feed_line(&p, "tail of the long one", 20, 0);
	pmr_feed_line(&p, "7,,ui,say,after", 15, 0);
	/* no newline at the end of the stream */
	pmr_feed(&p, "8,,ui,say,last", 14);
	pmr_finish(&p);
	ck_assert_str_eq(sdk_buf_str(&out), "|ui|say|first half end\n"
					    "|ui|say|after\n"
					    "|ui|say|last\n");
	ck_assert_int_eq(p.ignored, 1);
	pmr_free(&p);
	sdk_buf_release(&out);
}
END_TEST

struct verdict_case {
	const char *fixture, *name;
	int exit_code;
	enum pmr_verdict want;
	const char *want_text; /* in artifacts (OK) or failure/errors */
};

static void note_all(const struct pmr_line *l, void *data)
{
	pmr_build_note(data, l, NULL);
}

static enum pmr_verdict run_case(const struct verdict_case *c,
				 struct pmr_build *b)
{
	size_t len;
	char *data = read_fixture(c->fixture, &len);
	struct pmr p;

	pmr_build_init(b, c->name);
	pmr_init(&p, 0, note_all, b);
	pmr_feed(&p, data, len);
	pmr_finish(&p);
	pmr_free(&p);
	free(data);
	return pmr_build_verdict(b, c->exit_code);
}

START_TEST(test_verdicts_of_real_outputs)
{
	static const struct verdict_case cases[] = {
	    {FIX("build-two-file-builders"), "tmpl-a", 0, PMR_OK,
	     "Stored file: /tmp/pk/artifact-a.txt"},
	    {FIX("build-two-file-builders"), "tmpl-b", 0, PMR_OK,
	     "Stored file: /tmp/pk/artifact-b.txt"},
	    {FIX("build-only-tmpl-b"), "tmpl-b", 0, PMR_OK, "artifact-b.txt"},
	    /* -only=tmpl-b said nothing about tmpl-a */
	    {FIX("build-only-tmpl-b"), "tmpl-a", 0, PMR_NOTHING, NULL},
	    /* exit 0, nothing built: an error, never "ok" */
	    {FIX("build-only-unknown-name"), "doesnotexist", 0, PMR_NOTHING,
	     NULL},
	    {FIX("build-provisioner-failure"), "broken", 1, PMR_FAILED,
	     "Script exited with non-zero exit status: 3.Allowed exit codes "
	     "are: [0]"},
	    {FIX("build-template-syntax-error"), "x", 1, PMR_FAILED,
	     "Failed to parse template: Error parsing JSON: unexpected end "
	     "of JSON input At line 2, column 1"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct pmr_build b;
		enum pmr_verdict v = run_case(&cases[i], &b);

		ck_assert_msg(v == cases[i].want, "%s %s: verdict %d",
			      cases[i].fixture, cases[i].name, v);
		if (cases[i].want == PMR_OK)
			ck_assert_msg(strstr(sdk_buf_str(&b.artifacts),
					     cases[i].want_text),
				      "%s", sdk_buf_str(&b.artifacts));
		if (cases[i].want == PMR_FAILED) {
			const char *t = b.failure
					    ? b.failure
					    : b.last_errors[b.nerrors - 1];

			ck_assert_msg(strstr(t, cases[i].want_text), "%s", t);
			/* one line, whatever packer's message held */
			ck_assert(!strchr(t, '\n') && !strchr(t, '\r'));
		}
		pmr_build_free(&b);
	}
}
END_TEST

/* Provisioner stderr is ui,error in a build that succeeded. */
START_TEST(test_stderr_is_not_failure)
{
	const char *out =
	    "1,,ui,say,==> fil: Running local shell script: /tmp/x\n"
	    "1,,ui,error,==> fil: to stderr\n"
	    "2,,ui,say,Build 'fil' finished after 1 second.\n"
	    "2,fil,artifact-count,1\n"
	    "2,fil,artifact,0,string,Stored file: /tmp/out.txt\n"
	    "2,fil,artifact,0,end\n";
	struct pmr_build b;
	struct pmr p;

	pmr_build_init(&b, "fil");
	pmr_init(&p, 0, note_all, &b);
	pmr_feed(&p, out, strlen(out));
	pmr_finish(&p);
	ck_assert_int_eq(b.nerrors, 1);
	ck_assert_int_eq(pmr_build_verdict(&b, 0), PMR_OK);
	/* the same lines with exit code 1 fail */
	ck_assert_int_eq(pmr_build_verdict(&b, 1), PMR_FAILED);
	ck_assert_str_eq(b.last_say, "Build 'fil' finished after 1 second.");
	pmr_free(&p);
	pmr_build_free(&b);
}
END_TEST

START_TEST(test_cancel_lines)
{
	const char *out =
	    "1,,ui,error,Cancelling build after receiving interrupt\n"
	    "1,,ui,say,\\n==> Wait completed after 427 milliseconds\n"
	    "1,,ui,say,Cleanly cancelled builds after being interrupted.\n";
	struct pmr_build b;
	struct pmr p;
	const char *text;

	pmr_build_init(&b, "nul");
	pmr_init(&p, 0, note_all, &b);
	pmr_feed(&p, out, strlen(out));
	pmr_finish(&p);
	ck_assert(b.cancelled);
	ck_assert_int_eq(pmr_build_verdict(&b, 1), PMR_FAILED);
	pmr_free(&p);
	/* a say line of only "\n" is no progress */
	{
		char f0[] = "say", f1[] = "\n\n";
		char *fields[] = {f0, f1};
		struct pmr_line l = {1, "", "ui", 2, fields, 0};

		ck_assert_int_eq(pmr_build_note(&b, &l, &text), PMR_NONE);
		ck_assert_ptr_null(text);
	}
	pmr_build_free(&b);
}
END_TEST

/* ---- templates ---- */

static char *dir;

static void tmpl_setup(void)
{
	dir = test_make_dir("packer-tmpl");
}

static void tmpl_teardown(void)
{
	test_cleanup_dir(dir);
}

START_TEST(test_template_names)
{
	ck_assert(tmpl_name_valid("kallithea-ci"));
	ck_assert(tmpl_name_valid("a.b_c-1"));
	ck_assert(!tmpl_name_valid(""));
	ck_assert(!tmpl_name_valid(".hidden"));
	ck_assert(!tmpl_name_valid("../etc/passwd"));
	ck_assert(!tmpl_name_valid("a..b"));
	ck_assert(!tmpl_name_valid("a/b"));
	ck_assert(!tmpl_name_valid("-rf"));
	ck_assert(!tmpl_name_valid("a b"));
	ck_assert(!tmpl_name_valid(
	    "x234567890123456789012345678901234567890123456789012345678901234"
	    "5"));
}
END_TEST

START_TEST(test_template_paths)
{
	char *t = xasprintf("%s/templates", dir), *err = NULL, *p, *link;
	char *outside;

	ck_assert_int_eq(mkdir(t, 0700), 0);
	free(test_write_file(t, "one.json",
			     "{\"builders\":[{\"type\":\"null\"}]}"));
	free(test_write_file(dir, "secret.json", "{}"));
	p = xasprintf("%s/two", t);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(test_write_file(p, "template.json", "{\"builders\": []}"));
	free(p);
	/* the same name as a directory: listed once */
	p = xasprintf("%s/one", t);
	ck_assert_int_eq(mkdir(p, 0700), 0);
	free(test_write_file(p, "template.json", "{\"builders\": []}"));
	free(p);
	/* a var-file in the folder is no template */
	free(test_write_file(t, "vars.json", "{\"greeting\": \"x\"}"));
	/* a symlink in the folder pointing out of it */
	outside = xasprintf("%s/secret.json", dir);
	link = xasprintf("%s/evil.json", t);
	ck_assert_int_eq(symlink(outside, link), 0);

	p = tmpl_find(t, "one", &err);
	ck_assert_ptr_nonnull(p);
	ck_assert(strstr(p, "/templates/one.json"));
	free(p);
	p = tmpl_find(t, "two", &err);
	ck_assert_ptr_nonnull(p);
	ck_assert(strstr(p, "/templates/two/template.json"));
	free(p);
	ck_assert_ptr_null(tmpl_find(t, "evil", &err));
	ck_assert_msg(strstr(err, "outside"), "%s", err);
	free(err);
	err = NULL;
	ck_assert_ptr_null(tmpl_find(t, "../secret", &err));
	free(err);
	err = NULL;
	ck_assert_ptr_null(tmpl_find(t, "three", &err));
	ck_assert_str_eq(err, "no template 'three'");
	free(err);
	err = NULL;
	/* var files: inside only */
	ck_assert_ptr_null(tmpl_inside(t, "../secret.json", &err));
	ck_assert(strstr(err, "outside"));
	free(err);
	err = NULL;
	p = tmpl_inside(t, "one.json", &err);
	ck_assert_ptr_nonnull(p);
	free(p);
	{
		char **names;
		int n;

		ck_assert_int_eq(tmpl_list(t, &names, &n, &err), 0);
		ck_assert_int_eq(n, 2);
		ck_assert_str_eq(names[0], "one");
		ck_assert_str_eq(names[1], "two");
		for (int i = 0; i < n; i++)
			free(names[i]);
		free(names);
	}
	free(outside);
	free(link);
	free(t);
}
END_TEST

START_TEST(test_template_content)
{
	char *p = test_write_file(
	    dir, "t.json",
	    "{\"variables\": {\"greeting\": \"hi\", \"password\": \"\"},\n"
	    " \"sensitive-variables\": [\"password\", \"undeclared\"],\n"
	    " \"builders\": [{\"type\": \"qemu\"},\n"
	    "   {\"type\": \"file\", \"name\": \"f1\"}]}\n");
	char *bad = test_write_file(dir, "bad.json", "{\"builders\": [\n");
	char *err = NULL;
	struct tmpl t;
	const struct tmpl_var *v;

	ck_assert_int_eq(tmpl_load(p, &t, &err), 0);
	ck_assert_int_eq(t.nbuilds, 2);
	ck_assert_str_eq(t.builds[0].name, "qemu");
	ck_assert_str_eq(t.builds[1].name, "f1");
	ck_assert_str_eq(t.builds[1].type, "file");
	ck_assert_str_eq(t.dir, dir);
	ck_assert_ptr_nonnull(tmpl_build_find(&t, "f1"));
	ck_assert_ptr_null(tmpl_build_find(&t, "file"));
	v = tmpl_var_check(&t, "greeting=hello, world", &err);
	ck_assert_ptr_nonnull(v);
	ck_assert(!v->sensitive);
	v = tmpl_var_check(&t, "password=hunter2", &err);
	ck_assert(v && v->sensitive);
	ck_assert_ptr_null(tmpl_var_check(&t, "nope=1", &err));
	ck_assert_str_eq(err, "the template declares no variable 'nope'");
	free(err);
	err = NULL;
	ck_assert_ptr_null(tmpl_var_check(&t, "greeting=a\nb", &err));
	ck_assert(strstr(err, "control character"));
	free(err);
	err = NULL;
	/* the refusal never quotes the value */
	ck_assert_ptr_null(tmpl_var_check(&t, "password=sec\x01ret", &err));
	ck_assert(!strstr(err, "sec"));
	free(err);
	err = NULL;
	ck_assert_ptr_null(tmpl_var_check(&t, "=x", &err));
	free(err);
	err = NULL;
	ck_assert_ptr_null(tmpl_var_check(&t, "a/b=x", &err));
	free(err);
	err = NULL;
	tmpl_free(&t);
	ck_assert_int_eq(tmpl_load(bad, &t, &err), -1);
	ck_assert_msg(strstr(err, "syntax error at line 2"), "%s", err);
	free(err);
	free(p);
	free(bad);
}
END_TEST

static Suite *packer_parse_suite(void)
{
	Suite *s = suite_create("packer_parse");
	TCase *tc = tcase_create("parser");
	TCase *tt = tcase_create("templates");

	tcase_add_test(tc, test_unescape);
	tcase_add_test(tc, test_lines_and_non_lines);
	tcase_add_test(tc, test_stream_any_boundary);
	tcase_add_test(tc, test_cut_and_long_lines);
	tcase_add_test(tc, test_verdicts_of_real_outputs);
	tcase_add_test(tc, test_stderr_is_not_failure);
	tcase_add_test(tc, test_cancel_lines);
	suite_add_tcase(s, tc);
	tcase_add_checked_fixture(tt, tmpl_setup, tmpl_teardown);
	tcase_add_test(tt, test_template_names);
	tcase_add_test(tt, test_template_paths);
	tcase_add_test(tt, test_template_content);
	suite_add_tcase(s, tt);
	return s;
}

CHECK_MAIN(packer_parse_suite)
