/*
 * parse_bench.c - the packer plugin's machine-readable parser on a big
 * file: `gen FILE N` writes N lines shaped like packer 1.6.6's output
 * (ui say/message/error with escaped commas and newlines, artifacts);
 * `parse FILE` feeds the file in 64 KiB reads to the parser, with each
 * line also taken by one build's bookkeeping (pmr_build_note, as the
 * plugin does), and prints "lines seconds".  bench/packer/run compares
 * it with `wc -l` on the same file in the same run.
 */
#include "../../plugins/packer/pmr.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static int gen(const char *path, long n)
{
	FILE *f = fopen(path, "w");

	if (!f)
		return 1;
	for (long i = 0; i < n; i++) {
		long t = 1795611812 + i / 1000;

		switch (i % 6) {
		case 0:
			fprintf(f, "%ld,,ui,say,==> qemu: Running local shell "
				   "script: /tmp/packer-shell%ld\n",
				t, i);
			break;
		case 1:
			fprintf(f, "%ld,,ui,message,    qemu: step "
				   "%ld%%!(PACKER_COMMA) with a comma and "
				   "some words of output\n",
				t, i);
			break;
		case 2:
			fprintf(f, "%ld,,ui,message,    qemu: Get:%ld "
				   "http://deb.debian.org/debian bookworm/main "
				   "amd64 libc6 amd64 2.36-9 [2757 kB]\n",
				t, i);
			break;
		case 3:
			fprintf(f, "%ld,,ui,error,==> qemu: warning %ld on "
				   "stderr\\nsecond line\n",
				t, i);
			break;
		case 4:
			fprintf(f, "%ld,,ui,say,    qemu: Waiting for SSH to "
				   "become available (%ld)...\n",
				t, i);
			break;
		default:
			fprintf(f, "%ld,qemu,artifact,0,string,VM files in "
				   "directory: output-qemu-%ld\n",
				t, i);
		}
	}
	return fclose(f) ? 1 : 0;
}

static void on_line(const struct pmr_line *l, void *data)
{
	pmr_build_note(data, l, NULL);
}

static int parse(const char *path)
{
	static char buf[65536];
	struct timespec a, b;
	struct pmr p;
	struct pmr_build build;
	FILE *f = fopen(path, "rb");
	size_t n;

	if (!f)
		return 1;
	pmr_build_init(&build, "qemu");
	pmr_init(&p, 0, on_line, &build);
	clock_gettime(CLOCK_MONOTONIC, &a);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		pmr_feed(&p, buf, n);
	pmr_finish(&p);
	clock_gettime(CLOCK_MONOTONIC, &b);
	fclose(f);
	printf("%llu %.6f\n", (unsigned long long)p.lines,
	       (double)(b.tv_sec - a.tv_sec) +
		   (double)(b.tv_nsec - a.tv_nsec) / 1e9);
	pmr_free(&p);
	pmr_build_free(&build);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "gen"))
		return gen(argv[2], strtol(argv[3], NULL, 10));
	if (argc == 3 && !strcmp(argv[1], "parse"))
		return parse(argv[2]);
	fprintf(stderr, "usage: parse_bench gen FILE N | parse FILE\n");
	return 2;
}
