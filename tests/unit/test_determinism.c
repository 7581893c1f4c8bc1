/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Determinism that can see order dependence: the same entries added to two
 * trees in different orders (inodes created, names linked, xattrs set,
 * devices used), each tree with its own sink and output, give
 * byte-identical images. File data goes through each sink in the same
 * order (the order of the data is the stream's, and decides where it
 * lies); everything the tree is told may come in any order.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "mkimg/blobstore.h"
#include "mkimg/layout.h"

enum kind { K_DIR, K_FILE, K_LINK, K_HARD, K_FIFO, K_CHR };

struct entry {
	const char *parent;	/* "" for the root */
	const char *name;
	enum kind kind;
	size_t size;		/* K_FILE: bytes; K_HARD: index of the target */
	uint32_t seed;
	int nxattrs;
};

/* Files first in data order (index = data order); hard links name a file. */
static const struct entry entries[] = {
	{ "", "etc", K_DIR, 0, 0, 1 },
	{ "", "usr", K_DIR, 0, 0, 0 },
	{ "usr", "bin", K_DIR, 0, 0, 0 },
	{ "usr", "lib", K_DIR, 0, 0, 2 },
	{ "etc", "passwd", K_FILE, 1234, 1, 0 },
	{ "etc", "big", K_FILE, 5 * BS_HOLE_UNIT + 77, 2, 3 },
	{ "usr/bin", "sh", K_FILE, 70000, 3, 1 },
	{ "usr/bin", "dup", K_FILE, 70000, 3, 0 },	/* same bytes as sh */
	{ "usr/lib", "empty", K_FILE, 0, 4, 0 },
	{ "usr/lib", "tail", K_FILE, 4096 + 100, 5, 0 },
	{ "", "zero", K_FILE, 3 * BS_HOLE_UNIT, 0, 0 },	/* all holes */
	{ "usr/bin", "bash", K_LINK, 0, 0, 0 },
	{ "usr/lib", "sh.hard", K_HARD, 6, 0, 0 },
	{ "", "fifo", K_FIFO, 0, 0, 1 },
	{ "", "null", K_CHR, 0, 0, 0 },
};
#define NENT (sizeof(entries) / sizeof(entries[0]))

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	if (!seed) {
		memset(p, 0, n);
		return;
	}
	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = seed >> 16;
	}
}

struct built {
	struct layout_inode *ino[NENT];
	struct layout_filedata fd[NENT];
	struct layout_extent *ext[NENT];
};

/* Streams every file's data through the sink, in entry order. */
static void write_data(struct layout_tree *t, struct bs_sink *s, struct built *b)
{
	uint8_t *buf = malloc(6 * BS_HOLE_UNIT);
	size_t i;

	assert_non_null(buf);
	for (i = 0; i < NENT; i++) {
		const struct entry *e = &entries[i];
		struct layout_filedata fd;

		if (e->kind != K_FILE)
			continue;
		fill(buf, e->size, e->seed);
		assert_int_equal(bs_file_begin(s, t ? 4000 : 0), 0);
		assert_int_equal(bs_file_write(s, buf, e->size / 2), 0);
		assert_int_equal(bs_file_write(s, buf + e->size / 2, e->size - e->size / 2), 0);
		assert_int_equal(bs_file_end(s, &fd), 0);
		b->fd[i] = fd;
		b->ext[i] = calloc(fd.nextents + 1, sizeof(*fd.extents));
		assert_non_null(b->ext[i]);
		if (fd.nextents)
			memcpy(b->ext[i], fd.extents, fd.nextents * sizeof(*fd.extents));
		b->fd[i].extents = b->ext[i];
	}
	free(buf);
}

static struct layout_inode *dir_of(struct layout_tree *t, const struct built *b,
				   const char *parent)
{
	size_t i;

	if (!*parent)
		return layout_tree_root(t);
	for (i = 0; i < NENT; i++) {
		char path[64];

		if (entries[i].kind != K_DIR)
			continue;
		snprintf(path, sizeof(path), "%s%s%s", entries[i].parent,
			 *entries[i].parent ? "/" : "", entries[i].name);
		if (!strcmp(path, parent))
			return b->ino[i];
	}
	fail_msg("no directory %s", parent);
	return NULL;
}

static void set_xattrs(struct layout_tree *t, struct layout_inode *ino, int n, bool reverse)
{
	static const char *const names[] = { "user.a", "trusted.b", "security.c" };
	int k;

	for (k = 0; k < n; k++) {
		int j = reverse ? n - 1 - k : k;
		char val[16];

		snprintf(val, sizeof(val), "v%d", j);
		assert_int_equal(layout_inode_set_xattr(t, ino, names[j], val, strlen(val)), 0);
	}
}

/* Creates the inodes in order[] and links them, parents before children
 * (a directory's entries are linked once it exists, in the given order). */
static void add_entries(struct layout_tree *t, struct built *b, const size_t *order,
			bool reverse_xattrs, bool bump)
{
	size_t k, i;
	bool done[NENT] = { false };
	size_t left = NENT;

	while (left) {
		for (k = 0; k < NENT; k++) {
			const struct entry *e;
			struct layout_attr a = { .mtime = 1600000000 + (int64_t)order[k],
						 .uid = (uint32_t)order[k] };
			struct layout_inode *dir = NULL, *ino;
			size_t d;
			bool ready = true;

			i = order[k];
			e = &entries[i];
			a.mtime += bump && i == NENT - 1;
			if (done[i])
				continue;
			if (*e->parent) {	/* the parent directory must be linked */
				for (d = 0; d < NENT; d++) {
					char path[64];

					if (entries[d].kind != K_DIR)
						continue;
					snprintf(path, sizeof(path), "%s%s%s", entries[d].parent,
						 *entries[d].parent ? "/" : "", entries[d].name);
					if (!strcmp(path, e->parent) && !done[d])
						ready = false;
				}
			}
			if (e->kind == K_HARD && !done[e->size])
				ready = false;
			if (!ready)
				continue;
			dir = dir_of(t, b, e->parent);
			switch (e->kind) {
			case K_DIR:
				a.mode = 040755;
				break;
			case K_FILE:
				a.mode = 0100644;
				break;
			case K_LINK:
				a.mode = 0120777;
				break;
			case K_FIFO:
				a.mode = 010644;
				break;
			case K_CHR:
				a.mode = 020666;
				a.rdev_major = 1;
				a.rdev_minor = 3;
				break;
			case K_HARD:
				break;
			}
			if (e->kind == K_HARD) {
				ino = b->ino[e->size];
			} else {
				assert_int_equal(layout_inode_new(t, &a, &ino), 0);
				set_xattrs(t, ino, e->nxattrs, reverse_xattrs);
				if (e->kind == K_FILE)
					assert_int_equal(layout_inode_set_data(t, ino, &b->fd[i]), 0);
				if (e->kind == K_LINK)
					assert_int_equal(layout_inode_set_symlink(t, ino, "sh", 2), 0);
			}
			b->ino[i] = ino;
			assert_int_equal(layout_dir_link(t, dir, e->name, strlen(e->name), ino), 0);
			done[i] = true;
			left--;
		}
	}
}

static void free_built(struct built *b)
{
	size_t i;

	for (i = 0; i < NENT; i++)
		free(b->ext[i]);
}

static uint8_t *read_all(int fd, size_t *len)
{
	struct stat sb;
	uint8_t *p;

	assert_int_equal(fstat(fd, &sb), 0);
	*len = sb.st_size;
	p = malloc(*len + 1);
	assert_non_null(p);
	assert_int_equal(pread(fd, p, *len, 0), (ssize_t)*len);
	return p;
}

/*
 * A self-contained image (data in the image, inline tails), or with blob
 * set, data in a blob (device 1, fingerprints, 512-byte blocks, as a
 * store's). Returns the image bytes; *blob the blob's.
 */
static uint8_t *build(const size_t *order, bool reverse_xattrs, bool blob, bool bump,
		      size_t *len, uint8_t **blobbytes, size_t *bloblen)
{
	struct layout_params p;
	struct layout_tree *t;
	struct mkimg_err terr = MKIMG_ERR_INIT;
	struct layout_result res;
	struct bs_sink *s;
	struct built b = { 0 };
	int img = memfd_create("img", 0), bfd = -1;
	uint64_t end;
	uint8_t sha[32];
	uint8_t *out;
	struct layout_blob lb = { .tag = "" };
	struct layout_data data = { .tail_fd = -1 };

	assert_true(img >= 0);
	layout_params_preset(&p);
	p.fixed_time = false;
	if (blob) {
		p.blkszbits = 9;
		p.fingerprint = true;
		p.inline_data = false;
	}
	assert_int_equal(layout_tree_new(&p, &terr, &t), 0);
	if (blob) {
		struct bs_sink_params sp = { .blkszbits = 9, .blob = 1, .hash_target = true };

		bfd = memfd_create("blob", 0);
		assert_true(bfd >= 0);
		sp.fd = bfd;
		assert_int_equal(bs_sink_new(&sp, &s), 0);
		write_data(NULL, s, &b);
		assert_int_equal(bs_sink_finish(s, &end, sha, NULL), 0);
		bs_hex(sha, lb.tag);
		lb.blocks = end;
		data.blobs = &lb;
		data.nblobs = 1;
	} else {
		struct bs_sink_params sp = { .fd = img, .start_blk = layout_tree_data_start(t),
					     .blkszbits = p.blkszbits, .blob = 0,
					     .inline_tails = true };

		assert_int_equal(bs_sink_new(&sp, &s), 0);
		write_data(t, s, &b);
		assert_int_equal(bs_sink_finish(s, &end, NULL, NULL), 0);
		layout_tree_set_data_end(t, end);
	}
	add_entries(t, &b, order, reverse_xattrs, bump);
	data.tail_fd = bs_sink_tail_fd(s);
	if (layout_write(t, img, &data, &res))
		fail_msg("layout_write: %s", mkimg_err_msg(&terr));
	out = read_all(img, len);
	if (blob) {
		*blobbytes = read_all(bfd, bloblen);
		close(bfd);
	}
	bs_sink_free(s);
	layout_tree_free(t);
	free_built(&b);
	close(img);
	return out;
}

static void shuffle(size_t *v, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++)
		v[i] = i;
	for (i = n - 1; i > 0; i--) {
		size_t j, x;

		seed = seed * 1103515245u + 12345u;
		j = (seed >> 8) % (i + 1);
		x = v[i];

		v[i] = v[j];
		v[j] = x;
	}
}

static void same_bytes_in_any_order(bool blob)
{
	size_t fwd[NENT], other[NENT], len0, len1, blen0 = 0, blen1 = 0, i;
	uint8_t *a, *b, *ba = NULL, *bb = NULL;
	uint32_t seed;

	for (i = 0; i < NENT; i++)
		fwd[i] = i;
	a = build(fwd, false, blob, false, &len0, &ba, &blen0);
	assert_true(len0 > 0);
	/* the reverse order, and shuffles; xattrs the other way round too */
	for (seed = 0; seed < 6; seed++) {
		if (!seed)
			for (i = 0; i < NENT; i++)
				other[i] = NENT - 1 - i;
		else
			shuffle(other, NENT, seed);
		b = build(other, seed % 2 == 0, blob, false, &len1, &bb, &blen1);
		assert_int_equal(len1, len0);
		if (memcmp(a, b, len0)) {
			for (i = 0; i < len0 && a[i] == b[i]; i++)
				;
			fail_msg("order %u: images differ from byte %zu", seed, i);
		}
		if (blob) {
			assert_int_equal(blen1, blen0);
			assert_memory_equal(ba, bb, blen0);
			free(bb);
		}
		free(b);
	}
	free(ba);
	free(a);
}

static void test_self_contained(void **state)
{
	(void)state;
	same_bytes_in_any_order(false);
}

static void test_blob(void **state)
{
	(void)state;
	same_bytes_in_any_order(true);
}

/* The comparison can fail: the same entries, one mtime a second later,
 * added in another order, do not give the same bytes. */
static void test_difference_is_seen(void **state)
{
	size_t fwd[NENT], rev[NENT], len0, len1, i;
	uint8_t *a, *b;

	(void)state;
	for (i = 0; i < NENT; i++) {
		fwd[i] = i;
		rev[i] = NENT - 1 - i;
	}
	a = build(fwd, false, false, false, &len0, NULL, NULL);
	b = build(rev, false, false, true, &len1, NULL, NULL);
	assert_true(len0 != len1 || memcmp(a, b, len0));
	free(b);
	free(a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_self_contained),
		cmocka_unit_test(test_blob),
		cmocka_unit_test(test_difference_is_seen),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
