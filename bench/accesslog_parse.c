/*
** accesslog_parse: how fast em_logfmt_parse reads a log, without storage.
**
** Maps the file, splits it into lines with memchr and parses each one, then
** prints lines/s, MB/s, the page views and the skip reasons. It measures the
** parser alone; `emma import-log` adds sessions and storage on top and is
** what bench/ compares with GoAccess.
**
**   cc -O2 -D_GNU_SOURCE -Isrc -o build/bench/accesslog_parse bench/accesslog_parse.c \
**      src/track/accesslog.c src/core/alloc.c
**   build/bench/accesslog_parse FILE [FORMAT]      (FORMAT defaults to combined)
*/
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "track/accesslog.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: accesslog_parse FILE [FORMAT]\n");
		return 2;
	}
	char err[256];
	em_logfmt *f;
	if (em_logfmt_compile(argc > 2 ? argv[2] : "combined", &f, err, sizeof err)) {
		fprintf(stderr, "accesslog_parse: %s\n", err);
		return 2;
	}
	int fd = open(argv[1], O_RDONLY);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		perror(argv[1]);
		return 1;
	}
	size_t size = (size_t)st.st_size;
	const char *data = size ? mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0) : "";
	if (data == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	/* Touch every page first so that the timing is the parser's, not the disk's. */
	volatile unsigned char sink = 0;
	for (size_t i = 0; i < size; i += 4096)
		sink ^= (unsigned char)data[i];

	unsigned long long lines = 0, ok = 0, views = 0, skipped[EM_LOGSKIP__COUNT] = {0};
	int64_t last_ts = 0;
	double t0 = now_s();
	const char *p = data, *e = data + size;
	while (p < e) {
		const char *nl = memchr(p, '\n', (size_t)(e - p));
		const char *le = nl ? nl : e;
		em_logline l;
		lines++;
		if (em_logfmt_parse(f, p, (size_t)(le - p), &l, NULL, 0) == 0) {
			ok++;
			views += (unsigned long long)em_logfmt_is_pageview(&l);
			last_ts = l.ts_ms;
		} else {
			skipped[l.skip]++;
		}
		p = le + 1;
	}
	double dt = now_s() - t0;
	printf("%llu lines in %.3f s: %.0f lines/s, %.0f MB/s; %llu ok, %llu page views, last ts %lld\n",
	       lines, dt, (double)lines / dt, (double)size / dt / 1e6, ok, views, (long long)last_ts);
	for (int i = 1; i < EM_LOGSKIP__COUNT; i++)
		if (skipped[i])
			printf("  skipped %s: %llu\n", em_logfmt_skip_key(i), skipped[i]);
	em_logfmt_free(f);
	return 0;
}
