/*
 * pmr.h - Packer's `-machine-readable` output (api-contracts.md section 6),
 * parsed as a stream: lines split on commas, each field unescaped
 * ("%!(PACKER_COMMA)", "\n", "\r"), and what one build's lines mean
 * (artifacts, errors, the newest say line, the verdict from the exit code
 * and the artifacts).  No host calls: the unit tests and the benchmark
 * link it alone.
 */
#ifndef PACKER_PMR_H
#define PACKER_PMR_H

#include <stddef.h>
#include <stdint.h>

#include "sdk_buf.h"

/* One parsed line; valid during the callback. */
struct pmr_line {
	int64_t timestamp;
	const char *target; /* "" for ui lines */
	const char *type;   /* "ui", "artifact", "error", ... */
	int nfields;	    /* data fields after the type */
	char **fields;	    /* unescaped, NUL-terminated */
	size_t raw_len;	    /* bytes of the line as read */
};

typedef void pmr_fn(const struct pmr_line *line, void *data);

/* A streaming parser: feed it bytes or lines, it calls fn per line. */
struct pmr {
	pmr_fn *fn;
	void *data;
	struct sdk_buf partial; /* a line not yet ended */
	char *work;		/* the line being split */
	size_t work_alloc;
	char **fv;
	int fv_alloc;
	size_t max_line;  /* longer lines are dropped (counted) */
	uint64_t lines;	  /* parsed */
	uint64_t ignored; /* not machine-readable (log lines, cut lines) */
	int dropping;	  /* the rest of an over-long line is skipped */
};

/* max_line 0: 1 MiB. */
void pmr_init(struct pmr *p, size_t max_line, pmr_fn *fn, void *data);
void pmr_free(struct pmr *p);
/* Bytes as read from a pipe or file: lines end at '\n'. */
void pmr_feed(struct pmr *p, const char *buf, size_t n);
/* The end of the stream: a last line without '\n' is parsed. */
void pmr_finish(struct pmr *p);
/*
 * One line without its newline, as the host's process API delivers it;
 * more = 1 when it was cut (the rest follows as further calls).
 */
void pmr_feed_line(struct pmr *p, const char *line, size_t n, int more);
/*
 * Parses one whole line (no newline).  Returns 0 and calls fn, or -1 for
 * a line that is not "<digits>,<target>,<type>[,...]" (ignored).
 */
int pmr_parse_line(struct pmr *p, const char *line, size_t n);

/* Unescapes s[0..n) in place; returns the new length (s NUL-terminated). */
size_t pmr_unescape(char *s, size_t n);

/* ------------------------------------------------------------------------ */
/* One build's outcome                                                       */

#define PMR_LAST_ERRORS 3

/* What one `packer build -only=<name>` said about that build. */
struct pmr_build {
	char *name;		  /* the build name asked for */
	int artifact_count;	  /* -1: no artifact-count line for name */
	int error_count;	  /* `error` lines with target name */
	struct sdk_buf artifacts; /* "File: /tmp/a.txt; Null" (cleaned) */
	char *last_errors[PMR_LAST_ERRORS]; /* newest last; ui,error and
					       error lines, cleaned */
	int nerrors;
	char *last_say; /* newest ui,say line, cleaned, or NULL */
	char *failure;	/* the first `error` line of the build, or NULL */
	int cancelled;	/* packer said it was interrupted */
	uint64_t ui_lines;
};

void pmr_build_init(struct pmr_build *b, const char *name);
void pmr_build_free(struct pmr_build *b);

/* What a line is to the chat: nothing, progress, or an error line. */
enum pmr_kind {
	PMR_NONE,
	PMR_SAY,     /* ui,say: a new step; b->last_say updated */
	PMR_MESSAGE, /* ui,message: output of a step */
	PMR_ERROR,   /* ui,error or error: b->last_errors updated (not
			necessarily a failure: provisioner stderr) */
	PMR_ARTIFACT,
};

/*
 * Takes one parsed line into b.  Returns its kind; *text (if not NULL)
 * is the line's cleaned one-line text for chat (owned by b, valid until
 * the next call) or NULL.
 */
enum pmr_kind pmr_build_note(struct pmr_build *b, const struct pmr_line *l,
			     const char **text);

enum pmr_verdict {
	PMR_OK,
	PMR_FAILED,  /* non-zero exit, or errors for the build */
	PMR_NOTHING, /* exit 0 but no artifact-count for the name: the
			-only matched no build */
};

/* The result: from the exit code and the artifacts, never from ui,error. */
enum pmr_verdict pmr_build_verdict(const struct pmr_build *b, int exit_code);

/* Cleans s into one line of at most max bytes (malloc'd). */
char *pmr_clean_line(const char *s, size_t max);

#endif /* PACKER_PMR_H */
