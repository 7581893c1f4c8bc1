/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the data sink (blobstore/sink.c) and atomic publish. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
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

static void fill(uint8_t *p, size_t n, uint32_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		p[i] = seed >> 16;
	}
}

static struct bs_sink *new_sink(int fd, struct layout_tree *tree, bool hash)
{
	struct bs_sink_params p = { .fd = fd, .start_blk = 0, .blkszbits = 12, .blob = 1,
				    .hash_target = hash, .inline_tails = tree != NULL };
	struct bs_sink *s;

	assert_int_equal(bs_sink_new(&p, &s), 0);
	return s;
}

static void test_one_run_and_sha(void **state)
{
	int fd = memfd_create("blob", 0);
	struct bs_sink *s = new_sink(fd, NULL, true);
	struct layout_filedata out;
	uint8_t *data = malloc(300000), sha[32], tsha[32], *back;
	uint64_t end;
	struct bs_sink_stats st;

	fill(data, 300000, 1);
	assert_int_equal(bs_file_begin(s, 0), 0);
	/* odd-sized pieces */
	assert_int_equal(bs_file_write(s, data, 1), 0);
	assert_int_equal(bs_file_write(s, data + 1, 70000), 0);
	assert_int_equal(bs_file_write(s, data + 70001, 300000 - 70001), 0);
	assert_int_equal(bs_file_end(s, &out), 0);
	SHA256(data, 300000, sha);
	assert_memory_equal(out.sha256, sha, 32);
	assert_int_equal(out.size, 300000);
	assert_int_equal(out.nextents, 1);
	assert_int_equal(out.extents[0].lblk, 0);
	assert_int_equal(out.extents[0].pblk, 0);
	assert_int_equal(out.extents[0].nblks, (300000 + 4095) / 4096);
	assert_int_equal(out.extents[0].blob, 1);
	assert_false(out.has_tail);
	assert_int_equal(bs_sink_finish(s, &end, tsha, &st), 0);
	assert_int_equal(end, (300000 + 4095) / 4096);
	/* the blob holds the data, zero padded; its hash is the target hash */
	back = calloc(1, end * 4096);
	assert_int_equal(pread(fd, back, end * 4096, 0), end * 4096);
	assert_memory_equal(back, data, 300000);
	assert_int_equal(back[300000], 0);
	SHA256(back, end * 4096, sha);
	assert_memory_equal(tsha, sha, 32);
	assert_int_equal(st.files, 1);
	assert_int_equal(st.written_bytes, end * 4096);
	free(back);
	free(data);
	bs_sink_free(s);
	close(fd);
}

static void test_holes(void **state)
{
	int fd = memfd_create("blob", 0);
	struct bs_sink *s = new_sink(fd, NULL, false);
	struct layout_filedata out;
	uint8_t *data = calloc(1, 4 * BS_HOLE_UNIT);
	uint64_t end;

	/* data | zeros | zeros (from a source hole) | data */
	fill(data, BS_HOLE_UNIT, 2);
	fill(data + 3 * BS_HOLE_UNIT, 10, 3);
	assert_int_equal(bs_file_begin(s, 0), 0);
	assert_int_equal(bs_file_write(s, data, 2 * BS_HOLE_UNIT), 0);
	assert_int_equal(bs_file_hole(s, BS_HOLE_UNIT), 0);
	assert_int_equal(bs_file_write(s, data + 3 * BS_HOLE_UNIT, 10), 0);
	assert_int_equal(bs_file_end(s, &out), 0);
	assert_int_equal(out.size, 3 * BS_HOLE_UNIT + 10);
	assert_int_equal(out.nextents, 2);
	assert_int_equal(out.extents[0].lblk, 0);
	assert_int_equal(out.extents[0].nblks, BS_HOLE_UNIT / 4096);
	assert_int_equal(out.extents[1].lblk, 3 * BS_HOLE_UNIT / 4096);
	assert_int_equal(out.extents[1].pblk, BS_HOLE_UNIT / 4096);
	assert_int_equal(out.extents[1].nblks, 1);
	{
		uint8_t sha[32];

		SHA256(data, 3 * BS_HOLE_UNIT + 10, sha);
		assert_memory_equal(out.sha256, sha, 32);
	}
	assert_int_equal(bs_sink_finish(s, &end, NULL, NULL), 0);
	assert_int_equal(end, BS_HOLE_UNIT / 4096 + 1);
	free(data);
	bs_sink_free(s);
	close(fd);
}

static void test_dedup_rewinds(void **state)
{
	int fd = memfd_create("blob", 0);
	struct bs_sink *s = new_sink(fd, NULL, true);
	struct layout_filedata a, b, c;
	uint8_t data[20000], other[5000], tsha[32], sha[32], *back;
	struct layout_extent ea;
	uint64_t end;
	struct bs_sink_stats st;

	fill(data, sizeof(data), 4);
	fill(other, sizeof(other), 5);
	assert_int_equal(bs_file_begin(s, 0), 0);
	assert_int_equal(bs_file_write(s, data, sizeof(data)), 0);
	assert_int_equal(bs_file_end(s, &a), 0);
	ea = a.extents[0];
	assert_int_equal(bs_file_begin(s, 0), 0);
	assert_int_equal(bs_file_write(s, data, sizeof(data)), 0);
	assert_int_equal(bs_file_end(s, &b), 0);
	assert_int_equal(b.nextents, 1);
	assert_memory_equal(&b.extents[0], &ea, sizeof(ea));
	assert_int_equal(bs_file_begin(s, 0), 0);
	assert_int_equal(bs_file_write(s, other, sizeof(other)), 0);
	assert_int_equal(bs_file_end(s, &c), 0);
	/* the duplicate's blocks were given back: c follows a directly */
	assert_int_equal(c.extents[0].pblk, ea.nblks);
	assert_int_equal(bs_sink_finish(s, &end, tsha, &st), 0);
	assert_int_equal(st.dedup_files, 1);
	assert_int_equal(st.dedup_bytes, sizeof(data));
	assert_int_equal(end, 5 + 2);
	back = calloc(1, end * 4096);
	assert_int_equal(pread(fd, back, end * 4096, 0), end * 4096);
	SHA256(back, end * 4096, sha);
	assert_memory_equal(tsha, sha, 32);
	assert_memory_equal(back + 5 * 4096, other, sizeof(other));
	free(back);
	bs_sink_free(s);
	close(fd);
}

static void test_inline_tail(void **state)
{
	struct layout_params p;
	struct layout_tree *t;
	int fd = memfd_create("img", 0);
	struct bs_sink *s;
	struct layout_filedata out;
	uint8_t data[9000];
	struct bs_sink_params sp = { .fd = fd, .start_blk = 1, .blkszbits = 12, .blob = 0 };

	layout_params_preset(&p);
	assert_int_equal(layout_tree_new(&p, NULL, &t), 0);
	sp.inline_tails = true;
	assert_int_equal(bs_sink_new(&sp, &s), 0);
	fill(data, sizeof(data), 6);
	assert_int_equal(bs_file_begin(s, 2000), 0);
	assert_int_equal(bs_file_write(s, data, sizeof(data)), 0);
	assert_int_equal(bs_file_end(s, &out), 0);
	/* 2 full blocks stored, 808 tail bytes in the sink's tail file */
	assert_true(out.has_tail);
	assert_int_equal(out.tail_len, 9000 - 8192);
	{
		uint8_t back[808];

		assert_true(bs_sink_tail_fd(s) >= 0);
		assert_int_equal(pread(bs_sink_tail_fd(s), back, 808, out.tail_off), 808);
		assert_memory_equal(back, data + 8192, 808);
	}
	assert_int_equal(out.nextents, 1);
	assert_int_equal(out.extents[0].pblk, 1);
	assert_int_equal(out.extents[0].nblks, 2);
	/* a tail larger than allowed is stored as a padded block instead */
	assert_int_equal(bs_file_begin(s, 100), 0);
	assert_int_equal(bs_file_write(s, data + 1, 5000), 0);
	assert_int_equal(bs_file_end(s, &out), 0);
	assert_false(out.has_tail);
	assert_int_equal(out.extents[0].nblks, 2);
	bs_sink_free(s);
	layout_tree_free(t);
	close(fd);
}

/* One file: a data unit, a 64 KiB hole, more data, a tail of tail bytes. */
static void put_file(struct bs_sink *s, const uint8_t *data, uint32_t tail, uint32_t max_tail,
		     struct layout_filedata *out)
{
	assert_int_equal(bs_file_begin(s, max_tail), 0);
	assert_int_equal(bs_file_write(s, data, BS_HOLE_UNIT), 0);
	assert_int_equal(bs_file_hole(s, BS_HOLE_UNIT), 0);
	assert_int_equal(bs_file_write(s, data + BS_HOLE_UNIT, 3 * 4096 + tail), 0);
	assert_int_equal(bs_file_end(s, out), 0);
}

/* fast_keys: XXH3-128 keys, a hit only when the bytes are equal. */
static void test_fast_keys(void **state)
{
	struct layout_params p;
	struct layout_tree *t;
	int fd = memfd_create("img", 0);
	struct bs_sink *s;
	struct layout_filedata a, out;
	struct layout_extent ea[8];
	struct bs_sink_stats st;
	uint8_t *data = malloc(200000), *other = malloc(200000);
	struct bs_sink_params sp = { .fd = fd, .start_blk = 1, .blkszbits = 12, .blob = 0,
				     .fast_keys = true };
	uint64_t end;

	fill(data, 200000, 7);
	memcpy(other, data, 200000);
	other[BS_HOLE_UNIT + 5000] ^= 1;	/* one byte differs */
	layout_params_preset(&p);
	assert_int_equal(layout_tree_new(&p, NULL, &t), 0);
	sp.inline_tails = true;
	assert_int_equal(bs_sink_new(&sp, &s), 0);
	/* with an inline tail, then the same bytes again: found */
	put_file(s, data, 300, 2000, &a);
	assert_int_equal(a.nextents, 2);
	memcpy(ea, a.extents, sizeof(ea[0]) * a.nextents);
	put_file(s, data, 300, 2000, &out);
	assert_int_equal(out.nextents, 2);
	assert_memory_equal(out.extents, ea, sizeof(ea[0]) * 2);
	assert_int_equal(out.has_tail, a.has_tail);
	/* one byte differs: stored */
	put_file(s, other, 300, 2000, &out);
	assert_int_not_equal(out.extents[0].pblk, ea[0].pblk);
	/* a file that is still in the output buffer is compared from there */
	put_file(s, other, 300, 2000, &out);
	assert_int_equal(bs_sink_finish(s, &end, NULL, &st), 0);
	assert_int_equal(st.files, 4);
	assert_int_equal(st.dedup_files, 2);
	bs_sink_free(s);
	layout_tree_free(t);
	close(fd);
	free(data);
	free(other);
}

static void test_publish(void **state)
{
	char dir[] = "/tmp/mkimg-test-XXXXXX", path[64], buf[8];
	struct bs_tmpfile tf;
	struct stat st;
	int fd;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/out", dir);
	assert_int_equal(bs_tmpfile_open(path, &tf), 0);
	assert_int_equal(write(tf.fd, "abc", 3), 3);
	/* not visible under its final name before commit */
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(bs_tmpfile_commit(&tf, true), 0);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), 3);
	close(fd);
	/* abort leaves nothing behind */
	assert_int_equal(bs_tmpfile_open(path, &tf), 0);
	assert_int_equal(write(tf.fd, "zzzz", 4), 4);
	bs_tmpfile_abort(&tf);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_size, 3);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);	/* empty: no temp file left */
}

/* The blob set: numbers from 1, its bound refused with -ENOSPC. */
static void test_blobset(void **state)
{
	struct bs_blobset *set;
	struct layout_data d;
	uint32_t n;

	assert_int_equal(bs_blobset_new(65536, &set), -EINVAL);
	assert_int_equal(bs_blobset_new(3, &set), 0);
	assert_int_equal(bs_blobset_add(set, "", 0, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(bs_blobset_add(set, "b", 7, &n), 0);
	assert_int_equal(n, 2);
	assert_true(bs_blobset_room(set, 1));
	assert_false(bs_blobset_room(set, 2));
	assert_int_equal(bs_blobset_add(set, "c", 1, &n), 0);
	assert_int_equal(bs_blobset_add(set, "d", 1, &n), -ENOSPC);
	assert_int_equal(bs_blobset_count(set), 3);
	assert_int_equal(bs_blobset_set(set, 1, "aaaa", 12), 0);
	assert_int_equal(bs_blobset_set(set, 4, "x", 1), -ENOENT);
	{
		char long_tag[70];

		memset(long_tag, 'x', 65);
		long_tag[65] = '\0';
		assert_int_equal(bs_blobset_set(set, 2, long_tag, 1), -EINVAL);
	}
	bs_blobset_data(set, &d);
	assert_int_equal(d.nblobs, 3);
	assert_int_equal(d.tail_fd, -1);
	assert_string_equal(d.blobs[0].tag, "aaaa");
	assert_int_equal(d.blobs[0].blocks, 12);
	assert_string_equal(d.blobs[1].tag, "b");
	bs_blobset_free(set);
}

static int failing_find_file(void *ctx, const uint8_t sha256[32], uint64_t size,
			     struct layout_filedata *out)
{
	return mkimg_err_set(ctx, -EUCLEAN, "registry.db: a file row has bad extents");
}

/* A dedup hook's reason reaches the sink's error object, and sticks. */
static void test_hook_message(void **state)
{
	int fd = memfd_create("blob", 0);
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct bs_dedup_ops ops = { .find_file = failing_find_file };
	struct bs_sink_params sp = { .fd = fd, .blkszbits = 12, .blob = 1, .dedup = &ops,
				     .dedup_ctx = &err, .err = &err };
	struct layout_filedata out;
	struct bs_sink *s;

	assert_int_equal(bs_sink_new(&sp, &s), 0);
	assert_ptr_equal(bs_sink_err(s), &err);
	assert_int_equal(bs_file_begin(s, 0), 0);
	assert_int_equal(bs_file_write(s, "abc", 3), 0);
	assert_int_equal(bs_file_end(s, &out), -EUCLEAN);
	assert_string_equal(mkimg_err_msg(&err), "registry.db: a file row has bad extents");
	assert_int_equal(bs_file_begin(s, 0), -EUCLEAN);
	bs_sink_free(s);
	/* without an object of its own the sink keeps one */
	sp.dedup_ctx = NULL;
	sp.dedup = NULL;
	sp.err = NULL;
	assert_int_equal(bs_sink_new(&sp, &s), 0);
	assert_non_null(bs_sink_err(s));
	assert_int_equal(bs_sink_err(s)->code, 0);
	bs_sink_free(s);
	close(fd);
}

/*
 * The block output under load: 512-byte blocks from an odd start block (so
 * buffers begin inside pages), files crossing its 4 MiB buffers, and
 * duplicates given back after their blocks went to the writer (one larger
 * than every buffer in memory together). The target's hash must be that of
 * its bytes, and every file must read back from its extents.
 */
struct rfile {
	uint32_t seed;
	size_t size;
	struct layout_extent *ext;
	uint32_t next;
};

static size_t rsize(uint32_t *r)
{
	*r = *r * 1103515245u + 12345u;
	switch ((*r >> 16) % 8) {
	case 0: case 1: case 2:
		return 1 + (*r >> 8) % 5000;
	case 3: case 4: case 5:
		return 60000 + (*r >> 4) % 300000;
	default:
		return (3u << 20) + (*r >> 4) % (6u << 20);
	}
}

static void check_blocks(int fd, bool no_direct)
{
	const unsigned int bits = 9;
	const uint64_t start = 3;
	struct bs_sink_params p = { .fd = fd, .start_blk = start, .blkszbits = bits, .blob = 1,
				    .hash_target = true, .no_direct = no_direct };
	struct rfile files[48];
	size_t nfiles = 0, i, maxsize = 14u << 20;
	uint8_t *data = malloc(maxsize), *back = malloc(maxsize), tsha[32], sha[32];
	uint32_t r = 7, dups = 0;
	struct bs_sink_stats st;
	struct layout_filedata out;
	struct bs_sink *s;
	uint64_t end;
	SHA256_CTX c;

	assert_non_null(data);
	assert_non_null(back);
	assert_int_equal(bs_sink_new(&p, &s), 0);
	for (i = 0; i < 80; i++) {
		struct rfile f;
		size_t off, n;

		r = r * 1103515245u + 12345u;
		if (i == 40 || i == 41) {
			/* stored, then given back: ends inside a page */
			f = (struct rfile){ .seed = 1000, .size = maxsize - 1000 };
			dups += i == 41;
		} else if (nfiles && (r >> 16) % 4 == 0) {
			f = files[(r >> 8) % nfiles];	/* a duplicate */
			dups++;
		} else {
			f = (struct rfile){ .seed = (uint32_t)i + 1, .size = rsize(&r) };
		}
		fill(data, f.size, f.seed);
		assert_int_equal(bs_file_begin(s, 0), 0);
		for (off = 0; off < f.size; off += n) {
			r = r * 1103515245u + 12345u;
			n = 1 + (r >> 8) % (1u << 20);
			if (n > f.size - off)
				n = f.size - off;
			assert_int_equal(bs_file_write(s, data + off, n), 0);
		}
		assert_int_equal(bs_file_end(s, &out), 0);
		if (f.ext)
			continue;	/* a duplicate: its extents were checked as the original */
		f.next = out.nextents;
		f.ext = malloc(sizeof(*f.ext) * out.nextents);
		memcpy(f.ext, out.extents, sizeof(*f.ext) * out.nextents);
		if (nfiles < 48)
			files[nfiles++] = f;
		else
			free(f.ext);
	}
	assert_int_equal(bs_sink_finish(s, &end, tsha, &st), 0);
	assert_int_equal(st.dedup_files, dups);
	/* the hash is of the blob's blocks, and it holds every file */
	SHA256_Init(&c);
	for (i = start; i < end; i += maxsize >> bits) {
		size_t n = (end - i) << bits < maxsize ? (end - i) << bits : maxsize;

		assert_int_equal(pread(fd, back, n, i << bits), n);
		SHA256_Update(&c, back, n);
	}
	SHA256_Final(sha, &c);
	assert_memory_equal(tsha, sha, 32);
	assert_int_equal(lseek(fd, 0, SEEK_END), end << bits);
	for (i = 0; i < nfiles; i++) {
		uint32_t k;

		fill(data, files[i].size, files[i].seed);
		for (k = 0; k < files[i].next; k++) {
			const struct layout_extent *e = &files[i].ext[k];
			size_t at = e->lblk << bits, n = e->nblks << bits;

			if (at + n > files[i].size)
				n = files[i].size - at;
			assert_int_equal(pread(fd, back, n, e->pblk << bits), n);
			assert_memory_equal(back, data + at, n);
		}
		free(files[i].ext);
	}
	bs_sink_free(s);
	free(data);
	free(back);
}

static void test_block_output(void **state)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	(void)state;
	/* a disk file (O_DIRECT where it can), buffered, and memory */
	fd = open(tmp && *tmp ? tmp : "/var/tmp", O_TMPFILE | O_RDWR, 0600);
	assert_true(fd >= 0);
	check_blocks(fd, false);
	close(fd);
	fd = open(tmp && *tmp ? tmp : "/var/tmp", O_TMPFILE | O_RDWR, 0600);
	assert_true(fd >= 0);
	check_blocks(fd, true);
	close(fd);
	fd = memfd_create("blob", 0);
	check_blocks(fd, false);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_one_run_and_sha),
		cmocka_unit_test(test_holes),
		cmocka_unit_test(test_dedup_rewinds),
		cmocka_unit_test(test_block_output),
		cmocka_unit_test(test_inline_tail),
		cmocka_unit_test(test_fast_keys),
		cmocka_unit_test(test_blobset),
		cmocka_unit_test(test_hook_message),
		cmocka_unit_test(test_publish),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
