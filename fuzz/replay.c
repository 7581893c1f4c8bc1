/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Replay driver for the fuzz targets when they are not built with libFuzzer:
 * feeds every file named on the command line, and every file of every
 * directory named there (not recursive, in name order), to
 * LLVMFuzzerTestOneInput once. Without arguments it replays the target's
 * corpus, $top_srcdir/fuzz/corpus/<program name>/ (as make check runs it).
 * A crash or a trap in the target is the failure; the exit status is 1
 * when an input cannot be read or the corpus holds no input.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path, size_t *n)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	ssize_t r;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf) {
		close(fd);
		return -1;
	}
	while (got < (size_t)st.st_size &&
	       (r = read(fd, buf + got, st.st_size - got)) > 0)
		got += r;
	close(fd);
	if (got != (size_t)st.st_size) {
		fprintf(stderr, "replay: %s: short read\n", path);
		free(buf);
		return -1;
	}
	/* an exact-size copy, so that reads past the end are caught */
	LLVMFuzzerTestOneInput(buf, got);
	free(buf);
	(*n)++;
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static int replay_path(const char *path, size_t *n)
{
	struct dirent **ents;
	struct stat st;
	char sub[4096];
	int i, cnt, rc = 0;

	if (stat(path, &st)) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path, n);
	cnt = scandir(path, &ents, NULL, by_name);
	if (cnt < 0) {
		fprintf(stderr, "replay: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (i = 0; i < cnt; i++) {
		if (ents[i]->d_name[0] != '.' &&
		    snprintf(sub, sizeof(sub), "%s/%s", path, ents[i]->d_name) < (int)sizeof(sub) &&
		    !stat(sub, &st) && S_ISREG(st.st_mode) && replay_file(sub, n))
			rc = -1;
		free(ents[i]);
	}
	free(ents);
	return rc;
}

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/'), *top;
	char corpus[4096];
	size_t n = 0;
	int i, rc = 0;

	name = name ? name + 1 : argv[0];
	if (argc < 2) {
		top = getenv("top_srcdir");
		snprintf(corpus, sizeof(corpus), "%s/fuzz/corpus/%s", top ? top : ".", name);
		rc = replay_path(corpus, &n);
	}
	for (i = 1; i < argc; i++)
		if (replay_path(argv[i], &n))
			rc = -1;
	printf("%s: %zu inputs replayed\n", name, n);
	return rc || !n;
}
