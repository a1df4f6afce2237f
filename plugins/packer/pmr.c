/*
 * pmr.c - Packer's machine-readable output: the streaming line parser and
 * one build's outcome (see pmr.h).
 */
#include "pmr.h"
#include "sdk_text.h"

#include <stdlib.h>
#include <string.h>

#define DEFAULT_MAX_LINE (1024 * 1024)
#define CHAT_TEXT_MAX 300
#define ARTIFACTS_MAX 400

void pmr_init(struct pmr *p, size_t max_line, pmr_fn *fn, void *data)
{
	memset(p, 0, sizeof(*p));
	p->fn = fn;
	p->data = data;
	p->max_line = max_line ? max_line : DEFAULT_MAX_LINE;
}

void pmr_free(struct pmr *p)
{
	sdk_buf_release(&p->partial);
	free(p->work);
	free(p->fv);
	p->work = NULL;
	p->fv = NULL;
}

size_t pmr_unescape(char *s, size_t n)
{
	static const char comma[] = "%!(PACKER_COMMA)";
	size_t i = 0, o = 0;

	while (i < n) {
		char c = s[i];

		if (c == '%' && n - i >= sizeof(comma) - 1 &&
		    !memcmp(s + i, comma, sizeof(comma) - 1)) {
			s[o++] = ',';
			i += sizeof(comma) - 1;
		} else if (c == '\\' && i + 1 < n &&
			   (s[i + 1] == 'n' || s[i + 1] == 'r')) {
			s[o++] = s[i + 1] == 'n' ? '\n' : '\r';
			i += 2;
		} else {
			s[o++] = c;
			i++;
		}
	}
	s[o] = '\0';
	return o;
}

int pmr_parse_line(struct pmr *p, const char *line, size_t n)
{
	struct pmr_line l;
	size_t i = 0;
	int64_t ts = 0;
	int nf = 0;
	char *s, *end;

	/* "<digits>," or it is not ours (packer's own log lines). */
	while (i < n && line[i] >= '0' && line[i] <= '9' && i < 19)
		ts = ts * 10 + (line[i++] - '0');
	if (i == 0 || i >= n || line[i] != ',') {
		p->ignored++;
		return -1;
	}
	if (n + 1 > p->work_alloc) {
		p->work_alloc = n + 1 > 256 ? n + 1 : 256;
		free(p->work);
		p->work = sdk_xmalloc(p->work_alloc);
	}
	memcpy(p->work, line + i + 1, n - i - 1);
	s = p->work;
	end = s + (n - i - 1);
	*end = '\0';
	/* Split on every comma: target, type, data... */
	for (;;) {
		char *c = memchr(s, ',', (size_t)(end - s));

		if (nf >= p->fv_alloc) {
			p->fv_alloc = p->fv_alloc ? p->fv_alloc * 2 : 16;
			p->fv = sdk_xreallocarray(p->fv, (size_t)p->fv_alloc,
						  sizeof(*p->fv));
		}
		p->fv[nf++] = s;
		if (!c)
			break;
		*c = '\0';
		s = c + 1;
	}
	if (nf < 2) {
		p->ignored++;
		return -1;
	}
	for (int k = 0; k < nf; k++)
		if (strpbrk(p->fv[k], "%\\"))
			pmr_unescape(p->fv[k], strlen(p->fv[k]));
	l.timestamp = ts;
	l.target = p->fv[0];
	l.type = p->fv[1];
	l.nfields = nf - 2;
	l.fields = p->fv + 2;
	l.raw_len = n;
	p->lines++;
	if (p->fn)
		p->fn(&l, p->data);
	return 0;
}

void pmr_feed_line(struct pmr *p, const char *line, size_t n, int more)
{
	if (p->dropping) {
		if (!more)
			p->dropping = 0;
		return;
	}
	if (!more && !p->partial.len) {
		if (n <= p->max_line)
			pmr_parse_line(p, line, n);
		else
			p->ignored++;
		return;
	}
	if (p->partial.len + n > p->max_line) {
		/* Too long to be a line anyone needs: skip to its end. */
		sdk_buf_reset(&p->partial);
		p->ignored++;
		p->dropping = more;
		return;
	}
	sdk_buf_add(&p->partial, line, n);
	if (!more) {
		pmr_parse_line(p, p->partial.buf, p->partial.len);
		sdk_buf_reset(&p->partial);
	}
}

void pmr_feed(struct pmr *p, const char *buf, size_t n)
{
	while (n) {
		const char *nl = memchr(buf, '\n', n);
		size_t len = nl ? (size_t)(nl - buf) : n;

		if (len && buf[len - 1] == '\r' && nl)
			len--; /* CRLF from a Windows-side log */
		pmr_feed_line(p, buf, len, nl == NULL);
		if (!nl)
			return;
		n -= (size_t)(nl - buf) + 1;
		buf = nl + 1;
	}
}

void pmr_finish(struct pmr *p)
{
	if (p->partial.len && !p->dropping)
		pmr_parse_line(p, p->partial.buf, p->partial.len);
	sdk_buf_reset(&p->partial);
	p->dropping = 0;
}

/* ---- one build ---- */

char *pmr_clean_line(const char *s, size_t max)
{
	return sdk_text_clean_str(s, SDK_TEXT_SQUEEZE, max);
}

void pmr_build_init(struct pmr_build *b, const char *name)
{
	memset(b, 0, sizeof(*b));
	b->name = sdk_xstrdup(name ? name : "");
	b->artifact_count = -1;
}

void pmr_build_free(struct pmr_build *b)
{
	free(b->name);
	sdk_buf_release(&b->artifacts);
	for (int i = 0; i < b->nerrors; i++)
		free(b->last_errors[i]);
	free(b->last_say);
	free(b->failure);
	memset(b, 0, sizeof(*b));
}

static const char *add_error(struct pmr_build *b, const char *text)
{
	char *t = pmr_clean_line(text, CHAT_TEXT_MAX);

	if (!*t) {
		free(t);
		return NULL;
	}
	if (b->nerrors == PMR_LAST_ERRORS) {
		free(b->last_errors[0]);
		memmove(b->last_errors, b->last_errors + 1,
			sizeof(b->last_errors[0]) * (PMR_LAST_ERRORS - 1));
		b->nerrors--;
	}
	b->last_errors[b->nerrors++] = t;
	return t;
}

static void add_artifact_text(struct pmr_build *b, const char *text)
{
	char *t;

	if (b->artifacts.len >= ARTIFACTS_MAX)
		return;
	t = pmr_clean_line(text, ARTIFACTS_MAX - b->artifacts.len);
	if (*t) {
		if (b->artifacts.len)
			sdk_buf_adds(&b->artifacts, "; ");
		sdk_buf_adds(&b->artifacts, t);
	}
	free(t);
}

enum pmr_kind pmr_build_note(struct pmr_build *b, const struct pmr_line *l,
			     const char **text)
{
	const char *t = NULL;
	enum pmr_kind kind = PMR_NONE;

	if (text)
		*text = NULL;
	if (!strcmp(l->type, "ui") && l->nfields >= 2) {
		const char *what = l->fields[0], *msg = l->fields[1];

		b->ui_lines++;
		if (!strcmp(what, "say")) {
			char *c = pmr_clean_line(msg, CHAT_TEXT_MAX);

			if (strstr(msg, "Cleanly cancelled builds after being "
					"interrupted"))
				b->cancelled = 1;
			if (!*c) {
				free(c);
				return PMR_NONE;
			}
			free(b->last_say);
			b->last_say = c;
			t = c;
			kind = PMR_SAY;
		} else if (!strcmp(what, "message")) {
			kind = PMR_MESSAGE;
		} else if (!strcmp(what, "error")) {
			if (strstr(msg, "Cancelling build after receiving "
					"interrupt"))
				b->cancelled = 1;
			t = add_error(b, msg);
			kind = t ? PMR_ERROR : PMR_NONE;
		}
	} else if (!strcmp(l->type, "error")) {
		/* "<name>,error,<message>": the build's own failure. */
		if (!*b->name || !strcmp(l->target, b->name)) {
			b->error_count++;
			if (!b->failure && l->nfields >= 1)
				b->failure =
				    pmr_clean_line(l->fields[0], CHAT_TEXT_MAX);
		}
		if (l->nfields >= 1) {
			t = add_error(b, l->fields[0]);
			kind = t ? PMR_ERROR : PMR_NONE;
		}
	} else if (!strcmp(l->type, "artifact-count")) {
		if (!strcmp(l->target, b->name) && l->nfields >= 1)
			b->artifact_count = (int)strtol(l->fields[0], NULL, 10);
		kind = PMR_ARTIFACT;
	} else if (!strcmp(l->type, "artifact")) {
		/* artifact,<i>,string,<text> / ,nil */
		if (!strcmp(l->target, b->name) && l->nfields >= 3 &&
		    !strcmp(l->fields[1], "string"))
			add_artifact_text(b, l->fields[2]);
		kind = PMR_ARTIFACT;
	}
	if (text)
		*text = t;
	return kind;
}

enum pmr_verdict pmr_build_verdict(const struct pmr_build *b, int exit_code)
{
	if (exit_code != 0 || b->error_count > 0)
		return PMR_FAILED;
	if (b->artifact_count < 0)
		return PMR_NOTHING;
	return PMR_OK;
}
