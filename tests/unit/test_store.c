/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the names journal (blobstore/names.c): round trips,
 * hostile lines, replay order. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "fixture.h"
#include <xxhash.h>

#include "mkimg/layout.h"
#include "names.h"

#define IMG "5653f58c512c30917e5d4b1611fa5b1fb16ad97c3816fc0040f974cc427acda2"
#define IMG2 "08ac8758f20a53123b8dd1f1ed1c6fc43e818e5db4e819112a6d9dd4b9ab6766"
#define DIFF "sha256:cdfc19bb708a1520f89e00e6ad251d4aa6e4c40e23c6a01836b9f91aabde1956"

static char *line_of(const struct names_entry *e, size_t *len)
{
	char *line = NULL;

	assert_int_equal(names_format(e, &line, len), 0);
	assert_true(*len > 0 && line[*len - 1] == '\n');
	assert_null(memchr(line, '\n', *len - 1));
	return line;
}

static void test_round_trip(void **state)
{
	char layers[2][72] = { DIFF, DIFF };
	struct names_entry e = { .add = true, .created = 1796159891, .nlayers = 2,
				 .layers = layers };
	struct names_entry p;
	size_t len;
	char *line;

	(void)state;
	snprintf(e.name, sizeof(e.name), "registry.example/app:1.0");
	memcpy(e.image, IMG, 65);
	/* a source no line may be forged with: spaces, newlines, '%', '=' */
	e.source = (char *)"/tmp/a b\nrm =registry.example/app:1.0 1 00000000\n%41=\x7f\xff";
	line = line_of(&e, &len);
	assert_int_equal(names_parse(line, len - 1, &p), 0);
	assert_true(p.add);
	assert_string_equal(p.name, e.name);
	assert_string_equal(p.image, IMG);
	assert_string_equal(p.source, e.source);
	assert_int_equal(p.created, e.created);
	assert_int_equal(p.nlayers, 2);
	assert_string_equal(p.layers[1], DIFF);
	names_entry_free(&p);
	free(line);

	memset(&e, 0, sizeof(e));
	snprintf(e.name, sizeof(e.name), "x");
	e.created = -5;
	line = line_of(&e, &len);
	assert_int_equal(names_parse(line, len - 1, &p), 0);
	assert_false(p.add);
	assert_string_equal(p.name, "x");
	assert_int_equal(p.created, -5);
	names_entry_free(&p);
	free(line);
}

static void test_refused_entries(void **state)
{
	char bad[1][72] = { "sha256:xyz" };
	struct names_entry e = { .add = true };
	size_t len;
	char *line;

	(void)state;
	assert_int_equal(names_format(&e, &line, &len), -EINVAL);	/* no name */
	snprintf(e.name, sizeof(e.name), "n");
	snprintf(e.image, sizeof(e.image), "ABC");
	assert_int_equal(names_format(&e, &line, &len), -EINVAL);	/* bad digest */
	memcpy(e.image, IMG, 65);
	e.nlayers = 1;
	e.layers = bad;
	assert_int_equal(names_format(&e, &line, &len), -EINVAL);	/* bad diff_id */
}

/* Every mutation of a good line must be refused (the check catches it). */
static void test_hostile_lines(void **state)
{
	static const char *const hostile[] = {
		"",
		"add",
		"add =n " IMG " 1 == 0 00000000",		/* wrong check */
		"rm =n 1",					/* no check */
		"rm n 1 00000000",				/* field without '=' */
		"del =n 1 00000000",
		"add =n " IMG " 1 = 5 00000000",		/* more layers than given */
	};
	struct names_entry e = { .add = true, .created = 7 };
	struct names_entry p;
	size_t len, i;
	char *line;

	(void)state;
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++)
		assert_int_equal(names_parse(hostile[i], strlen(hostile[i]), &p), -EINVAL);
	snprintf(e.name, sizeof(e.name), "n");
	memcpy(e.image, IMG, 65);
	e.source = (char *)"s";
	line = line_of(&e, &len);
	/* flip every byte in turn, truncate at every length */
	for (i = 0; i + 1 < len; i++) {
		char c = line[i];

		line[i] ^= 0x01;
		assert_int_equal(names_parse(line, len - 1, &p), -EINVAL);
		line[i] = c;
		assert_int_equal(names_parse(line, i, &p), -EINVAL);
	}
	/* a NUL or a newline inside */
	line[3] = '\0';
	assert_int_equal(names_parse(line, len - 1, &p), -EINVAL);
	line[3] = '\n';
	assert_int_equal(names_parse(line, len - 1, &p), -EINVAL);
	free(line);

	/* escapes: only what the writer escapes, two hex digits; with a right
	 * check, so only the escape can make the line fail */
	{
		static const char *const esc[] = { "=%4", "=%41", "=%zz", "=%00", "=%2", "=" };
		static const char *const good[] = { "=%25", "=%20x", "=%0A" };
		char buf[600];
		size_t k, n;

		for (k = 0; k < sizeof(esc) / sizeof(esc[0]); k++) {
			n = snprintf(buf, sizeof(buf), "rm %s 1", esc[k]);
			snprintf(buf + n, sizeof(buf) - n, " %08x", XXH32(buf, n, 0));
			assert_int_equal(names_parse(buf, strlen(buf), &p), -EINVAL);
		}
		for (k = 0; k < sizeof(good) / sizeof(good[0]); k++) {
			n = snprintf(buf, sizeof(buf), "rm %s 1", good[k]);
			snprintf(buf + n, sizeof(buf) - n, " %08x", XXH32(buf, n, 0));
			assert_int_equal(names_parse(buf, strlen(buf), &p), 0);
			names_entry_free(&p);
		}
	}
}

static void append(const char *dir, bool add, const char *name, const char *img)
{
	struct names_entry e = { .add = add, .created = 1 };
	struct mkimg_err err = MKIMG_ERR_INIT;

	snprintf(e.name, sizeof(e.name), "%s", name);
	if (img)
		memcpy(e.image, img, 65);
	assert_int_equal(names_append(dir, &e, true, fx_err(&err)), 0);
}

static void test_replay(void **state)
{
	char dir[] = "/tmp/mkimg-names-XXXXXX", path[64];
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct names_state s;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(names_replay(dir, &s, fx_err(&err)), 0);	/* no log */
	assert_int_equal(s.n, 0);
	names_state_free(&s);
	append(dir, true, "a", IMG);
	append(dir, true, "b", IMG);
	append(dir, true, "a", IMG2);	/* replaced */
	append(dir, false, "b", NULL);	/* removed */
	append(dir, true, "c", IMG);
	append(dir, false, "c", NULL);
	append(dir, true, "c", IMG2);	/* added again */
	snprintf(path, sizeof(path), "%s/%s", dir, NAMES_LOG);
	fd = open(path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	/* garbage, then a torn last line */
	assert_int_equal(write(fd, "junk\n", 5), 5);
	{
		static const char torn[] = "add =d " IMG " 1 = 0";

		assert_int_equal(write(fd, torn, strlen(torn)), (ssize_t)strlen(torn));
	}
	close(fd);
	assert_int_equal(names_replay(dir, &s, fx_err(&err)), 0);
	assert_int_equal(s.lines, 9);
	assert_int_equal(s.bad, 2);
	assert_int_equal(s.n, 2);
	assert_string_equal(s.v[0].name, "a");
	assert_string_equal(s.v[0].image, IMG2);
	assert_string_equal(s.v[1].name, "c");
	assert_string_equal(s.v[1].image, IMG2);
	assert_int_equal(s.nimages, 5);
	names_state_free(&s);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- the image reader (layout/read.c) over hostile bytes ---- */

struct seen {
	uint32_t files;
	uint64_t bytes;
	uint32_t extents;
};

static int count_file(void *ctx, const struct layout_read_file *f)
{
	struct seen *s = ctx;

	s->files++;
	s->bytes += f->size;
	s->extents += f->nextents;
	return 0;
}

/* A store-like image: dirs, files in device 1 (one sparse), a hard link. */
static uint8_t *make_image(size_t *len)
{
	struct mkimg_err terr = MKIMG_ERR_INIT;
	struct layout_attr da = { .mode = 040755 }, fa = { .mode = 0100644, .mtime = 5 };
	struct layout_extent ext[2] = {
		{ .lblk = 0, .pblk = 0, .nblks = 256, .blob = 1 },
		{ .lblk = 512, .pblk = 256, .nblks = 1, .blob = 1 },
	}, one = { .lblk = 0, .pblk = 299, .nblks = 1, .blob = 1 };
	struct layout_filedata fd = { .size = 512 * 512 + 100, .nextents = 2, .extents = ext };
	struct layout_inode *root, *d, *f, *g;
	struct layout_result res;
	struct layout_params p;
	struct layout_tree *t;
	struct layout_blob blob = { .tag = IMG, .blocks = 300 };
	struct layout_data data = { .blobs = &blob, .nblobs = 1, .tail_fd = -1 };
	char name[16];
	uint8_t *buf;
	int fdesc, i;
	FILE *tmp = tmpfile();

	assert_non_null(tmp);
	fdesc = fileno(tmp);
	layout_params_preset(&p);
	p.blkszbits = 9;
	p.fingerprint = true;
	p.inline_data = false;
	assert_int_equal(layout_tree_new(&p, &terr, &t), 0);
	root = layout_tree_root(t);
	assert_int_equal(layout_inode_new(t, &da, &d), 0);
	assert_int_equal(layout_dir_link(t, root, "dir", 3, d), 0);
	for (i = 0; i < 40; i++) {
		assert_int_equal(layout_inode_new(t, &fa, &f), 0);
		fd.sha256[0] = i;
		fd.size = i ? 512 * 512 + 100 : 1;
		fd.nextents = i ? 2 : 1;
		fd.extents = i ? ext : &one;
		assert_int_equal(layout_inode_set_data(t, f, &fd), 0);
		snprintf(name, sizeof(name), "f%02d", i);
		assert_int_equal(layout_dir_link(t, i % 2 ? d : root, name, strlen(name), f), 0);
		g = f;
	}
	assert_int_equal(layout_dir_link(t, root, "hard", 4, g), 0);
	if (layout_write(t, fdesc, &data, &res))
		fail_msg("layout_write: %s", mkimg_err_msg(&terr));
	layout_tree_free(t);
	*len = res.image_bytes;
	buf = malloc(*len);
	assert_non_null(buf);
	assert_int_equal(pread(fdesc, buf, *len, 0), (ssize_t)*len);
	fclose(tmp);
	return buf;
}

static void test_read_hostile(void **state)
{
	struct layout_read_stats st;
	struct layout_probe probe;
	struct seen s = { 0 };
	uint32_t seed = 1;
	struct mkimg_err err = MKIMG_ERR_INIT;
	size_t len, i;
	uint8_t *img = make_image(&len), *m;

	(void)state;
	assert_int_equal(layout_read_walk(img, len, &probe, count_file, &s, &st, &err), 0);
	assert_int_equal(s.files, 40);		/* the hard link once */
	assert_int_equal(st.files, 40);
	assert_int_equal(probe.ndevices, 1);
	assert_string_equal(probe.devices[0].tag, IMG);
	assert_int_equal(s.extents, 1 + 39 * 2);
	layout_probe_free(&probe);
	m = malloc(len);
	assert_non_null(m);
	/* every truncation, and random byte flips: an error or a walk, no crash */
	for (i = 0; i < len; i += 7) {
		int ret;

		mkimg_err_clear(&err);
		ret = layout_read_walk(img, i, NULL, count_file, &s, NULL, &err);
		assert_true(ret == 0 || ret == -EUCLEAN);
		/* a refused image says why */
		assert_true(ret == 0 ? !err.code : err.code == -EUCLEAN && err.msg[0]);
	}
	for (i = 0; i < 20000; i++) {
		size_t k, n = 1 + i % 4;
		int ret;

		memcpy(m, img, len);
		for (k = 0; k < n; k++) {
			seed = seed * 1103515245u + 12345u;
			m[(seed >> 8) % len] ^= 1u << (seed % 8);
		}
		mkimg_err_clear(&err);
		ret = layout_read_walk(m, len, NULL, count_file, &s, NULL, &err);
		assert_true(ret == 0 || ret == -EUCLEAN);
		assert_true(ret == 0 ? !err.code : err.code == -EUCLEAN && err.msg[0]);
	}
	free(m);
	free(img);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_refused_entries),
		cmocka_unit_test(test_hostile_lines),
		cmocka_unit_test(test_replay),
		cmocka_unit_test(test_read_hostile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
