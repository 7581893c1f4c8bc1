/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the EROFS encoder (layout/). */
#include <errno.h>
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
#include <xxhash.h>
#include <cmocka.h>

#include "layout_internal.h"

/* ---- CRC32C ---- */

static void test_crc32c_vector(void **state)
{
	/* CRC-32C check value of "123456789" is 0xE3069283 with final
	 * inversion; EROFS stores it without, i.e. the complement. */
	assert_int_equal(layout_crc32c(~0u, "123456789", 9), ~0xE3069283u);
	assert_int_equal(layout_crc32c(~0u, "", 0), ~0u);
}

/* ---- directories ---- */

static void test_dirent_packing(void **state)
{
	struct layout_dirent_src e[3] = {
		{ ".", 1, EROFS_FT_DIR, 40 },
		{ "..", 2, EROFS_FT_DIR, 40 },
		{ "abc", 3, EROFS_FT_REG_FILE, 77 },
	};
	uint8_t buf[4096] = { 0 };

	assert_int_equal(layout_dirblk_count(e, 3, 4096), 3);
	assert_int_equal(layout_dir_size(e, 3, 4096), 3 * 12 + 1 + 2 + 3);
	layout_dir_encode(e, 3, 4096, buf);
	assert_int_equal(get_le64(buf), 40);
	assert_int_equal(get_le16(buf + 8), 36);	/* first name after 3 dirents */
	assert_int_equal(get_le16(buf + 12 + 8), 37);
	assert_int_equal(get_le16(buf + 24 + 8), 39);
	assert_int_equal(buf[24 + 10], EROFS_FT_REG_FILE);
	assert_int_equal(get_le64(buf + 24), 77);
	assert_memory_equal(buf + 36, "...abc", 6);
	assert_int_equal(buf[42], 0);
}

static void test_dirent_block_split(void **state)
{
	/* 255-byte names: 12 + 255 = 267 bytes each, 15 fit in 4096 */
	static char names[40][255];
	struct layout_dirent_src e[40];
	int i;

	for (i = 0; i < 40; i++) {
		memset(names[i], 'a', 255);
		names[i][254] = 'A' + i;
		e[i] = (struct layout_dirent_src){ names[i], 255, EROFS_FT_REG_FILE, i };
	}
	assert_int_equal(layout_dirblk_count(e, 40, 4096), 15);
	/* two full blocks, then 10 entries in the last one */
	assert_int_equal(layout_dir_size(e, 40, 4096), 2 * 4096 + 10 * 267);
	assert_int_equal(layout_dirblk_count(e, 40, 512), 1);
}

static void test_name_order(void **state)
{
	assert_true(layout_name_cmp("a", 1, "b", 1) < 0);
	assert_true(layout_name_cmp("a", 1, "ab", 2) < 0);
	/* unsigned bytes: 0xc3 sorts after 'z' */
	assert_true(layout_name_cmp("\xc3", 1, "z", 1) > 0);
	assert_true(layout_name_cmp("!", 1, ".", 1) < 0);
}

/* ---- inodes ---- */

static void test_inode_choice(void **state)
{
	struct layout_inode_fields f = { .mtime = 100, .mtime_nsec = 5, .uid = 0, .gid = 0,
					 .nlink = 1, .size = 10 };

	assert_true(layout_inode_fits_compact(&f, 100, 5));
	assert_false(layout_inode_fits_compact(&f, 100, 6));	/* nsec differs */
	assert_false(layout_inode_fits_compact(&f, 99, 5));	/* mtime differs */
	f.uid = 65536;
	assert_false(layout_inode_fits_compact(&f, 100, 5));
	f.uid = 0;
	f.size = 1ull << 32;
	assert_false(layout_inode_fits_compact(&f, 100, 5));
	f.size = 10;
	f.nlink = 70000;
	assert_false(layout_inode_fits_compact(&f, 100, 5));
}

static void test_inode_encode(void **state)
{
	struct layout_inode_fields f = {
		.format = EROFS_INODE_CHUNK_BASED << 1, .xattr_icount = 3, .mode = S_IFREG | 0644,
		.nlink = 3, .size = 5ull << 30, .i_u = 0x25, .ino = 7, .uid = 100000,
		.gid = 7, .mtime = -12345, .mtime_nsec = 999999999,
	};
	uint8_t b[64];

	assert_int_equal(layout_inode_encode(&f, true, 0, b), 64);
	assert_int_equal(get_le16(b), (EROFS_INODE_CHUNK_BASED << 1) | 1);
	assert_int_equal(get_le16(b + 2), 3);
	assert_int_equal(get_le16(b + 4), S_IFREG | 0644);
	assert_int_equal(get_le64(b + 8), 5ull << 30);
	assert_int_equal(get_le32(b + 16), 0x25);
	assert_int_equal(get_le32(b + 20), 7);
	assert_int_equal(get_le32(b + 24), 100000);
	assert_int_equal(get_le32(b + 28), 7);
	assert_int_equal((int64_t)get_le64(b + 32), -12345);
	assert_int_equal(get_le32(b + 40), 999999999);
	assert_int_equal(get_le32(b + 44), 3);

	f.size = 10;
	f.uid = 5;
	f.mtime = 1000;
	assert_int_equal(layout_inode_encode(&f, false, 1000, b), 32);
	assert_int_equal(get_le16(b), EROFS_INODE_CHUNK_BASED << 1);
	assert_int_equal(get_le16(b + 6), 3);		/* nlink */
	assert_int_equal(get_le32(b + 8), 10);
	assert_int_equal(get_le32(b + 12), 0);		/* mtime - epoch */
	assert_int_equal(get_le16(b + 24), 5);
}

static void test_rdev(void **state)
{
	assert_int_equal(layout_encode_rdev(8, 1), 0x801);
	assert_int_equal(layout_encode_rdev(300, 1000), (1000 & 0xff) | (300 << 8) |
							   ((1000 & ~0xffu) << 12));
}

/* ---- chunks ---- */

static void test_chunk_index(void **state)
{
	uint8_t b[8];

	layout_chunk_index_encode(b, 3, 0x12345678);
	assert_int_equal(get_le16(b), 0);
	assert_int_equal(get_le16(b + 2), 3);
	assert_int_equal(get_le32(b + 4), 0x12345678);
	layout_chunk_index_encode(b, 3, UINT64_MAX);
	assert_int_equal(get_le16(b + 2), 0);
	assert_int_equal(get_le32(b + 4), EROFS_NULL_ADDR);
}

static void test_chunk_size(void **state)
{
	struct layout_extent one = { .lblk = 0, .pblk = 9, .nblks = 300, .blob = 1 };
	struct layout_extent two[2] = {
		{ .lblk = 0, .pblk = 0, .nblks = 16, .blob = 1 },
		{ .lblk = 32, .pblk = 16, .nblks = 16, .blob = 1 },
	};
	struct layout_extent odd[2] = {
		{ .lblk = 0, .pblk = 0, .nblks = 3, .blob = 1 },
		{ .lblk = 3, .pblk = 100, .nblks = 5, .blob = 2 },
	};

	/* one contiguous run: one chunk covering the file (512 >= 300) */
	assert_int_equal(layout_chunk_blkbits(&one, 1, 300), 9);
	/* a hole at [16, 32): chunks of 16 blocks */
	assert_int_equal(layout_chunk_blkbits(two, 2, 48), 4);
	/* a boundary at block 3: single-block chunks */
	assert_int_equal(layout_chunk_blkbits(odd, 2, 8), 0);
	/* a fully sparse file: one hole chunk */
	assert_int_equal(layout_chunk_blkbits(NULL, 0, 1000), 10);
}

/* ---- xattrs ---- */

static void test_xattr_body(void **state)
{
	struct layout_params p;
	struct layout_tree *t;
	struct layout_inode *ino;
	struct layout_attr a = { .mode = S_IFREG | 0644 };
	struct layout_xattr_prefixes px = { .fingerprint_id = -1 };
	uint8_t buf[256];
	uint32_t size, filter;

	layout_params_preset(&p);
	assert_int_equal(layout_tree_new(&p, NULL, &t), 0);
	assert_int_equal(layout_inode_new(t, &a, &ino), 0);
	assert_int_equal(layout_inode_set_xattr(t, ino, "user.foo", "bar", 3), 0);
	assert_int_equal(layout_inode_set_xattr(t, ino, "trusted.overlay.opaque", "y", 1), 0);
	/* refused names */
	assert_int_equal(layout_inode_set_xattr(t, ino, LAYOUT_FINGERPRINT_NAME, "x", 1), -EINVAL);
	assert_int_equal(layout_inode_set_xattr(t, ino, "os2.foo", "x", 1), -EINVAL);
	assert_int_equal(layout_inode_set_xattr(t, ino, "user.", "x", 1), -EINVAL);

	size = layout_xattr_body_size(&px, ino, false);
	/* 12 header + (4+3+3 -> 12) + (4+14+1 -> 20) */
	assert_int_equal(size, 12 + 12 + 20);
	assert_int_equal(layout_xattr_icount(size), 1 + (size - 12) / 4);
	layout_xattr_body_encode(&px, ino, NULL, buf);
	/* canonical order: user (1) before trusted (4) */
	assert_int_equal(buf[12], 3);
	assert_int_equal(buf[13], EROFS_XATTR_INDEX_USER);
	assert_int_equal(get_le16(buf + 14), 3);
	assert_memory_equal(buf + 16, "foobar", 6);
	assert_int_equal(buf[24], 14);
	assert_int_equal(buf[25], EROFS_XATTR_INDEX_TRUSTED);
	assert_memory_equal(buf + 28, "overlay.opaquey", 15);
	/* the filter has a 0 bit exactly where present names hash */
	filter = get_le32(buf);
	assert_int_equal(filter & (1u << (XXH32("foo", 3, EROFS_XATTR_FILTER_SEED + 1) & 31)), 0);
	assert_int_equal(filter & (1u << (XXH32("overlay.opaque", 14,
						 EROFS_XATTR_FILTER_SEED + 4) & 31)), 0);
	assert_true(__builtin_popcount(~filter) <= 2);

	/* with long prefixes: trusted.overlay. and the fingerprint */
	px.pfx[0] = (struct layout_xprefix){ LAYOUT_FINGERPRINT_NAME, 0, LAYOUT_FINGERPRINT_NAME };
	px.pfx[1] = (struct layout_xprefix){ "trusted.overlay.", 4, "overlay." };
	px.count = 2;
	px.fingerprint_id = 0;
	{
		uint8_t fp[32];

		memset(fp, 0xab, sizeof(fp));
		size = layout_xattr_body_size(&px, ino, true);
		/* fingerprint: 4 + 39 -> 44; opaque via prefix: 4+6+1 -> 12 */
		assert_int_equal(size, 12 + 12 + 12 + 44);
		layout_xattr_body_encode(&px, ino, fp, buf);
		/* order by index: user(1), 0x80 fingerprint, 0x81 overlay */
		assert_int_equal(buf[13], 1);
		assert_int_equal(buf[24], 0);		/* empty suffix */
		assert_int_equal(buf[25], 0x80);
		assert_int_equal(get_le16(buf + 26), 39);
		assert_memory_equal(buf + 28, "sha256:", 7);
		assert_memory_equal(buf + 35, fp, 32);
		assert_int_equal(buf[68], 6);
		assert_int_equal(buf[69], 0x81);
		assert_memory_equal(buf + 72, "opaquey", 7);
		filter = get_le32(buf);
		assert_int_equal(filter & (1u << (XXH32(LAYOUT_FINGERPRINT_NAME,
						       strlen(LAYOUT_FINGERPRINT_NAME),
						       EROFS_XATTR_FILTER_SEED) & 31)), 0);
	}
	assert_int_equal(layout_xattr_prefix_table_size(&px), 24 + 12);
	layout_xattr_prefix_table_encode(&px, buf);
	assert_int_equal(get_le16(buf), 1 + 20);
	assert_int_equal(buf[2], 0);
	assert_memory_equal(buf + 3, LAYOUT_FINGERPRINT_NAME, 20);
	assert_int_equal(get_le16(buf + 24), 1 + 8);
	assert_int_equal(buf[26], 4);
	layout_tree_free(t);
}

/* ---- tree ---- */

static void test_tree_names(void **state)
{
	struct layout_params p;
	struct layout_tree *t;
	struct layout_inode *root, *f, *d, *g, *out;
	struct layout_attr fa = { .mode = S_IFREG | 0644 }, da = { .mode = S_IFDIR | 0755 };
	char longname[257];

	layout_params_preset(&p);
	assert_int_equal(layout_tree_new(&p, NULL, &t), 0);
	root = layout_tree_root(t);
	assert_int_equal(layout_inode_new(t, &fa, &f), 0);
	assert_int_equal(layout_dir_link(t, root, "f", 1, f), 0);
	assert_int_equal(layout_dir_link(t, root, "f", 1, f), -EEXIST);
	assert_int_equal(layout_dir_link(t, root, "hl", 2, f), 0);
	assert_int_equal(layout_inode_nlink(f), 2);
	memset(longname, 'x', sizeof(longname));
	assert_int_equal(layout_dir_link(t, root, longname, 256, f), -ENAMETOOLONG);
	assert_int_equal(layout_dir_link(t, root, longname, 255, f), 0);
	assert_int_equal(layout_dir_link(t, root, "a/b", 3, f), -EINVAL);
	assert_int_equal(layout_dir_link(t, root, "..", 2, f), -EINVAL);
	assert_int_equal(layout_dir_link(t, f, "x", 1, f), -ENOTDIR);

	assert_int_equal(layout_inode_new(t, &da, &d), 0);
	assert_int_equal(layout_dir_link(t, root, "d", 1, d), 0);
	assert_int_equal(layout_dir_link(t, root, "d2", 2, d), -EMLINK);
	assert_int_equal(layout_inode_new(t, &fa, &g), 0);
	assert_int_equal(layout_dir_link(t, d, "g", 1, g), 0);
	assert_int_equal(layout_dir_link(t, d, "f", 1, f), 0);
	assert_int_equal(layout_inode_nlink(f), 4);

	assert_int_equal(layout_dir_lookup(t, d, "g", 1, &out), 0);
	assert_ptr_equal(out, g);
	/* removing d removes its subtree and drops f's link inside it */
	assert_int_equal(layout_dir_unlink(t, root, "d", 1), 0);
	assert_int_equal(layout_dir_lookup(t, root, "d", 1, &out), -ENOENT);
	assert_int_equal(layout_inode_nlink(f), 3);
	assert_int_equal(layout_dir_unlink(t, root, "nope", 4), -ENOENT);
	layout_tree_free(t);
}

/* Builds a tree of `n` files in one directory plus a few others. */
static struct layout_tree *sample_tree(int n, bool fingerprint)
{
	struct layout_params p;
	struct layout_tree *t;
	struct layout_inode *root, *ino, *sub;
	struct layout_attr fa = { .mode = S_IFREG | 0600, .mtime = 1700000000 };
	struct layout_attr da = { .mode = S_IFDIR | 0755, .mtime = 1700000000 };
	struct layout_attr la = { .mode = S_IFLNK | 0777, .mtime = 5, .mtime_nsec = 7 };
	struct layout_filedata fd = { .size = 0 };
	char name[32];
	int i;

	layout_params_preset(&p);
	p.fingerprint = fingerprint;
	assert_int_equal(layout_tree_new(&p, NULL, &t), 0);
	root = layout_tree_root(t);
	assert_int_equal(layout_inode_set_attr(t, root, &da), 0);
	assert_int_equal(layout_inode_new(t, &da, &sub), 0);
	assert_int_equal(layout_dir_link(t, root, "sub", 3, sub), 0);
	for (i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "file-%06d", (i * 7919) % n);
		assert_int_equal(layout_inode_new(t, &fa, &ino), 0);
		assert_int_equal(layout_inode_set_data(t, ino, &fd), 0);
		assert_int_equal(layout_dir_link(t, sub, name, strlen(name), ino), 0);
	}
	assert_int_equal(layout_inode_new(t, &la, &ino), 0);
	assert_int_equal(layout_inode_set_symlink(t, ino, "sub/file-000001", 15), 0);
	assert_int_equal(layout_dir_link(t, root, "link", 4, ino), 0);
	return t;
}

static uint8_t *write_image_with(struct layout_tree *t, const struct layout_data *d,
				 size_t *len, struct layout_result *res)
{
	int fd = memfd_create("img", 0);
	struct stat st;
	uint8_t *buf;

	assert_true(fd >= 0);
	assert_int_equal(layout_write(t, fd, d, res), 0);
	assert_int_equal(fstat(fd, &st), 0);
	buf = malloc(st.st_size);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, st.st_size, 0), st.st_size);
	close(fd);
	*len = st.st_size;
	return buf;
}

static uint8_t *write_image(struct layout_tree *t, size_t *len, struct layout_result *res)
{
	return write_image_with(t, NULL, len, res);
}

static void test_write_superblock(void **state)
{
	struct layout_tree *t = sample_tree(2000, false);
	struct layout_result res;
	size_t len, len2;
	uint8_t *img = write_image(t, &len, &res), *img2, *sb, blk0[4096 - 1024];
	uint64_t rootnid, meta;

	sb = img + 1024;
	assert_int_equal(get_le32(sb), EROFS_SUPER_MAGIC);
	assert_int_equal(sb[12], 12);
	assert_int_equal(get_le64(sb + 16), res.inodes);
	assert_int_equal(res.inodes, 2000 + 3);
	assert_int_equal((uint64_t)get_le32(sb + 36) * 4096, len);
	/* the checksum covers block 0 from byte 1024 with the field zeroed */
	memcpy(blk0, sb, sizeof(blk0));
	put_le32(blk0 + 4, 0);
	assert_int_equal(get_le32(sb + 4), layout_crc32c(~0u, blk0, sizeof(blk0)));
	/* epoch is the most common mtime: the 2001 files and dirs */
	assert_int_equal(get_le64(sb + 24), 1700000000);
	/* root inode: a directory, compact, nid in 16 bits */
	rootnid = get_le16(sb + 14);
	meta = get_le32(sb + 40);
	{
		uint8_t *ri = img + meta * 4096 + rootnid * 32;

		assert_true(S_ISDIR(get_le16(ri + 4)));
		assert_int_equal(get_le16(ri) & 1, 0);
		assert_int_equal(get_le16(ri + 6), 3);	/* nlink: 2 + "sub" */
	}
	assert_int_equal(res.extended_inodes, 1);	/* the symlink's mtime differs */

	/* deterministic: the same tree gives the same bytes */
	img2 = write_image(t, &len2, &res);
	assert_int_equal(len, len2);
	assert_memory_equal(img, img2, len);
	free(img);
	free(img2);
	layout_tree_free(t);
}

static void test_write_fingerprint_flags(void **state)
{
	struct layout_tree *t = sample_tree(3, true);
	struct layout_inode *ino, *root = layout_tree_root(t);
	struct layout_attr fa = { .mode = S_IFREG | 0644 };
	struct layout_extent e = { .lblk = 0, .pblk = 0, .nblks = 1, .blob = 1 };
	struct layout_filedata fd = { .size = 100, .nextents = 1, .extents = &e };
	struct layout_blob blob = { .tag = "ab", .blocks = 1 };
	struct layout_data d = { .blobs = &blob, .nblobs = 1, .tail_fd = -1 };
	struct layout_result res;
	size_t len;
	uint8_t *img;

	memset(fd.sha256, 0x11, 32);
	assert_int_equal(layout_inode_new(t, &fa, &ino), 0);
	assert_int_equal(layout_inode_set_data(t, ino, &fd), 0);
	assert_int_equal(layout_dir_link(t, root, "data", 4, ino), 0);
	img = write_image_with(t, &d, &len, &res);
	assert_int_equal(res.fingerprints, 1);	/* empty files get none */
	assert_int_equal(res.chunk_inodes, 1);
	assert_true(get_le32(img + 1024 + 8) & EROFS_FEATURE_COMPAT_ISHARE_XATTRS);
	assert_true(get_le32(img + 1024 + 80) & EROFS_FEATURE_INCOMPAT_DEVICE_TABLE);
	assert_true(get_le32(img + 1024 + 80) & EROFS_FEATURE_INCOMPAT_CHUNKED_FILE);
	assert_true(get_le32(img + 1024 + 80) & EROFS_FEATURE_INCOMPAT_XATTR_PREFIXES);
	assert_int_equal(get_le16(img + 1024 + 86), 1);		/* extra_devices */
	assert_int_equal(img[1024 + 105], 0);			/* ishare prefix id */
	assert_int_equal(img[1024 + 91], 1);			/* prefix count */
	/* device slot: tag, blocks, uniaddr after the primary */
	assert_memory_equal(img + 1152, "ab\0", 3);
	assert_int_equal(get_le32(img + 1152 + 64), 1);
	assert_int_equal(get_le32(img + 1152 + 68), get_le32(img + 1024 + 36));
	free(img);
	layout_tree_free(t);
}

/* Adds a file whose extents name the given blobs (one block each). */
static struct layout_inode *file_on(struct layout_tree *t, const char *name,
				    struct layout_extent *e, uint32_t n)
{
	struct layout_attr fa = { .mode = S_IFREG | 0644 };
	struct layout_filedata fd = { .size = (uint64_t)n * 4096, .nextents = n, .extents = e };
	struct layout_inode *ino;

	memset(fd.sha256, name[0], 32);
	assert_int_equal(layout_inode_new(t, &fa, &ino), 0);
	assert_int_equal(layout_inode_set_data(t, ino, &fd), 0);
	assert_int_equal(layout_dir_link(t, layout_tree_root(t), name, strlen(name), ino), 0);
	return ino;
}

/*
 * The encoder's device table: exactly the blobs extents reference, in
 * blob-number order, and chunk indexes naming those slots.
 */
static void test_write_device_slots(void **state)
{
	struct layout_blob blobs[4] = {
		{ .tag = "one", .blocks = 8 }, { .tag = "two", .blocks = 8 },
		{ .tag = "three", .blocks = 8 }, { .tag = "four", .blocks = 8 },
	};
	struct layout_data d = { .blobs = blobs, .nblobs = 4, .tail_fd = -1 };
	struct layout_extent a[2] = {
		{ .lblk = 0, .pblk = 5, .nblks = 1, .blob = 4 },
		{ .lblk = 1, .pblk = 2, .nblks = 1, .blob = 2 },
	};
	struct layout_extent b[1] = { { .lblk = 0, .pblk = 7, .nblks = 1, .blob = 4 } };
	struct layout_extent past[1] = { { .lblk = 0, .pblk = 8, .nblks = 1, .blob = 1 } };
	struct layout_extent unknown[1] = { { .lblk = 0, .pblk = 0, .nblks = 1, .blob = 5 } };
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct layout_params p;
	struct layout_tree *t;
	struct layout_result res;
	const uint32_t *slots;
	uint32_t nslots;
	size_t len, i;
	uint8_t *img;
	int fd;

	layout_params_preset(&p);
	assert_int_equal(layout_tree_new(&p, &err, &t), 0);
	file_on(t, "a", a, 2);
	file_on(t, "b", b, 1);
	img = write_image_with(t, &d, &len, &res);
	assert_int_equal(res.devices, 2);
	assert_int_equal(get_le16(img + 1024 + 86), 2);		/* extra_devices */
	assert_memory_equal(img + 1152, "two\0", 4);		/* slot 1: blob 2 */
	assert_memory_equal(img + 1152 + 128, "four\0", 5);	/* slot 2: blob 4 */
	layout_tree_devices(t, &slots, &nslots);
	assert_int_equal(nslots, 2);
	assert_int_equal(slots[0], 2);
	assert_int_equal(slots[1], 4);
	/* file a's chunk index: block 0 on slot 2 (blob 4), block 1 on slot 1 */
	for (i = 0; i + 16 <= len; i += 8)
		if (get_le16(img + i + 2) == 2 && get_le32(img + i + 4) == 5 &&
		    get_le16(img + i + 10) == 1 && get_le32(img + i + 12) == 2)
			break;
	assert_true(i + 16 <= len);
	free(img);

	/* the same tree without its blobs, or with an extent past a blob */
	fd = memfd_create("img", 0);
	assert_true(fd >= 0);
	assert_int_equal(layout_write(t, fd, NULL, &res), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&err), "unknown blob 4"));
	mkimg_err_clear(&err);
	file_on(t, "c", past, 1);
	assert_int_equal(layout_write(t, fd, &d, &res), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&err), "past the end of blob 1 (one)"));
	mkimg_err_clear(&err);
	file_on(t, "d", unknown, 1);
	blobs[0].blocks = 9;
	assert_int_equal(layout_write(t, fd, &d, &res), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&err), "unknown blob 5"));
	close(fd);
	layout_tree_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc32c_vector),
		cmocka_unit_test(test_dirent_packing),
		cmocka_unit_test(test_dirent_block_split),
		cmocka_unit_test(test_name_order),
		cmocka_unit_test(test_inode_choice),
		cmocka_unit_test(test_inode_encode),
		cmocka_unit_test(test_rdev),
		cmocka_unit_test(test_chunk_index),
		cmocka_unit_test(test_chunk_size),
		cmocka_unit_test(test_xattr_body),
		cmocka_unit_test(test_tree_names),
		cmocka_unit_test(test_write_superblock),
		cmocka_unit_test(test_write_fingerprint_flags),
		cmocka_unit_test(test_write_device_slots),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
