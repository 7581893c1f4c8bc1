/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for oci/: paths, digests, media types, layouts, streams, tar
 * entries, applying layers and layer records. Fixtures are built in the
 * test. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <isa-l/igzip_lib.h>
#include <openssl/sha.h>
#include <zstd.h>
#include <cmocka.h>

#include "mkimg/blobstore.h"
#include "mkimg/layout.h"
#include "mkimg/oci.h"

static char tmpdir[256];

/* e, cleared: for a call that must fill it anew. */
static struct mkimg_err *fresh(struct mkimg_err *e)
{
	mkimg_err_clear(e);
	return e;
}

/* For helpers that give a message back in a char buffer. */
static void err_copy(const struct mkimg_err *e, char *err, size_t errlen)
{
	if (e->code)
		snprintf(err, errlen, "%s", mkimg_err_msg(e));
}

/* ---------------------------------------------------------------------- */
/* helpers                                                                */
/* ---------------------------------------------------------------------- */

struct buf {
	unsigned char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *d, size_t n)
{
	if (b->len + n > b->cap) {
		b->cap = (b->len + n) * 2 + 1024;
		b->p = realloc(b->p, b->cap);
		assert_non_null(b->p);
	}
	memcpy(b->p + b->len, d, n);
	b->len += n;
}

static void hexd(const void *d, size_t n, char out[OCI_DIGEST_LEN + 1])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char md[32];
	int i;

	SHA256(d, n, md);
	memcpy(out, "sha256:", 7);
	for (i = 0; i < 32; i++) {
		out[7 + 2 * i] = hex[md[i] >> 4];
		out[8 + 2 * i] = hex[md[i] & 15];
	}
	out[OCI_DIGEST_LEN] = 0;
}

/* A tar (pax) built with libarchive in memory. */
struct tarb {
	struct archive *a;
	unsigned char *mem;
	size_t cap, used;
};

static void tar_begin(struct tarb *t)
{
	t->cap = 8 << 20;
	t->mem = malloc(t->cap);
	t->a = archive_write_new();
	assert_int_equal(archive_write_set_format_pax_restricted(t->a), ARCHIVE_OK);
	assert_int_equal(archive_write_open_memory(t->a, t->mem, t->cap, &t->used), ARCHIVE_OK);
}

static void tar_add(struct tarb *t, const char *path, unsigned int type, unsigned int perm,
		    const char *data, const char *link)
{
	struct archive_entry *e = archive_entry_new();
	size_t n = data ? strlen(data) : 0;

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm);
	archive_entry_set_mtime(e, 1700000000, 5);
	if (type == AE_IFREG)
		archive_entry_set_size(e, n);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	if (link && type == 0) {
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_hardlink(e, link);
	}
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	if (n)
		assert_int_equal(archive_write_data(t->a, data, n), (ssize_t)n);
	archive_entry_free(e);
}

static void tar_xattr(struct tarb *t, const char *path, const char *name, const char *val)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 0);
	archive_entry_xattr_add_entry(e, name, val, strlen(val));
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	archive_entry_free(e);
}

static void tar_end(struct tarb *t, struct buf *out)
{
	assert_int_equal(archive_write_close(t->a), ARCHIVE_OK);
	archive_write_free(t->a);
	memset(out, 0, sizeof(*out));
	buf_add(out, t->mem, t->used);
	free(t->mem);
}

static void gzip_buf(const struct buf *in, struct buf *out)
{
	struct isal_zstream z;

	memset(out, 0, sizeof(*out));
	out->cap = in->len + in->len / 2 + 1024;
	out->p = malloc(out->cap);
	isal_deflate_stateless_init(&z);
	z.gzip_flag = IGZIP_GZIP;
	z.next_in = in->p;
	z.avail_in = in->len;
	z.next_out = out->p;
	z.avail_out = out->cap;
	z.end_of_stream = 1;
	z.flush = NO_FLUSH;
	assert_int_equal(isal_deflate_stateless(&z), COMP_OK);
	out->len = z.total_out;
}

static void zstd_buf(const struct buf *in, struct buf *out)
{
	memset(out, 0, sizeof(*out));
	out->cap = ZSTD_compressBound(in->len);
	out->p = malloc(out->cap);
	out->len = ZSTD_compress(out->p, out->cap, in->p, in->len, 3);
	assert_false(ZSTD_isError(out->len));
}

static void write_file(const char *path, const void *d, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, d, n), (ssize_t)n);
	close(fd);
}

/* Writes a blob into tmpdir/blobs/sha256 and returns its digest. */
static void put_blob(const char *dir, const void *d, size_t n, char digest[OCI_DIGEST_LEN + 1])
{
	char path[512];

	hexd(d, n, digest);
	snprintf(path, sizeof(path), "%s/blobs/sha256/%s", dir, digest + 7);
	write_file(path, d, n);
}

static void put_blob_str(const char *dir, const char *s, char digest[OCI_DIGEST_LEN + 1])
{
	put_blob(dir, s, strlen(s), digest);
}

/* Reads a tar in memory and applies it (reader over a buffer). */
struct memrd {
	const unsigned char *p;
	size_t len, pos, chunk;
};

static ssize_t mem_read(void *ctx, const void **b)
{
	struct memrd *m = ctx;
	size_t n = m->len - m->pos;

	if (n > m->chunk)
		n = m->chunk;
	*b = m->p + m->pos;
	m->pos += n;
	return n;
}

/* ---------------------------------------------------------------------- */
/* paths, digests, media types                                            */
/* ---------------------------------------------------------------------- */

static int norm(const char *in, unsigned int flags, char *out, char *err)
{
	struct mkimg_err e = MKIMG_ERR_INIT;
	size_t len;
	int ret;

	ret = oci_path_normalize(in, strlen(in), flags, out, &len, &e);
	err_copy(&e, err, 256);
	return ret;
}

static void test_paths(void **state)
{
	char out[OCI_PATH_MAX + 1], err[256];
	char *big;

	assert_int_equal(norm("./a//b/", 0, out, err), 0);
	assert_string_equal(out, "a/b");
	assert_int_equal(norm("./", 0, out, err), 0);
	assert_string_equal(out, "");
	assert_int_equal(norm("a/./b/../c", 0, out, err), 0);
	assert_string_equal(out, "a/c");
	assert_int_equal(norm("../x", 0, out, err), -EINVAL);
	assert_non_null(strstr(err, "path escapes the image root"));
	assert_int_equal(norm("a/../../x", 0, out, err), -EINVAL);
	assert_non_null(strstr(err, "escapes"));
	assert_int_equal(norm("/abs/x", 0, out, err), -EINVAL);
	assert_non_null(strstr(err, "absolute"));
	assert_int_equal(norm("/abs/x", OCI_PATH_ALLOW_ABSOLUTE, out, err), 0);
	assert_string_equal(out, "abs/x");
	assert_int_equal(norm("/../x", OCI_PATH_ALLOW_ABSOLUTE, out, err), -EINVAL);
	assert_int_equal(norm("", 0, out, err), -EINVAL);
	assert_non_null(strstr(err, "empty"));

	big = malloc(10001);
	memset(big, 'n', 10000);
	big[10000] = 0;
	assert_int_equal(norm(big, 0, out, err), -ENAMETOOLONG);
	assert_true(strlen(err) < 200);
	big[256] = 0;
	assert_int_equal(norm(big, 0, out, err), -ENAMETOOLONG);
	assert_non_null(strstr(err, "255"));
	big[255] = 0;
	assert_int_equal(norm(big, 0, out, err), 0);
	free(big);
}

static void test_digests(void **state)
{
	struct mkimg_err e;
	const char *good = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	assert_int_equal(oci_digest_validate(good, fresh(&e)), 0);
	assert_int_equal(oci_digest_validate("sha512:abcd", fresh(&e)), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&e), "unsupported digest algorithm"));
	assert_int_equal(oci_digest_validate("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
					     fresh(&e)), -EINVAL);
	assert_int_equal(oci_digest_validate("sha256:../../../../etc/passwd", fresh(&e)), -EINVAL);
	assert_int_equal(oci_digest_validate("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/",
					     fresh(&e)), -EINVAL);
	assert_int_equal(oci_digest_validate("nocolon", fresh(&e)), -EINVAL);
	assert_int_equal(oci_digest_validate(NULL, fresh(&e)), -EINVAL);
}

static void test_media_types(void **state)
{
	enum oci_compression c;
	struct mkimg_err e;

	assert_int_equal(oci_layer_media_type("application/vnd.oci.image.layer.v1.tar", &c, fresh(&e)), 0);
	assert_int_equal(c, OCI_COMP_NONE);
	assert_int_equal(oci_layer_media_type("application/vnd.oci.image.layer.v1.tar+gzip", &c, fresh(&e)), 0);
	assert_int_equal(c, OCI_COMP_GZIP);
	assert_int_equal(oci_layer_media_type("application/vnd.oci.image.layer.v1.tar+zstd", &c, fresh(&e)), 0);
	assert_int_equal(c, OCI_COMP_ZSTD);
	assert_int_equal(oci_layer_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip", &c, fresh(&e)), 0);
	assert_int_equal(c, OCI_COMP_GZIP);
	assert_int_equal(oci_layer_media_type("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
					      &c, fresh(&e)), -ENOTSUP);
	assert_non_null(strstr(mkimg_err_msg(&e), "non-distributable"));
	assert_int_equal(oci_layer_media_type("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
					      &c, fresh(&e)), -ENOTSUP);
	assert_non_null(strstr(mkimg_err_msg(&e), "non-distributable"));
	assert_int_equal(oci_layer_media_type("application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
					      &c, fresh(&e)), -ENOTSUP);
	assert_non_null(strstr(mkimg_err_msg(&e), "encrypted"));
	assert_int_equal(oci_layer_media_type("text/plain", &c, fresh(&e)), -ENOTSUP);
	assert_non_null(strstr(mkimg_err_msg(&e), "unsupported layer media type"));

	assert_int_equal(oci_detect_compression("\x1f\x8b\x08", 3), OCI_COMP_GZIP);
	assert_int_equal(oci_detect_compression("\x28\xb5\x2f\xfd", 4), OCI_COMP_ZSTD);
	/* zstd skippable frames: 0x184D2A50..0x184D2A5F, little-endian */
	assert_int_equal(oci_detect_compression("\x50\x2a\x4d\x18", 4), OCI_COMP_ZSTD);
	assert_int_equal(oci_detect_compression("\x5f\x2a\x4d\x18", 4), OCI_COMP_ZSTD);
	assert_int_equal(oci_detect_compression("\x60\x2a\x4d\x18", 4), OCI_COMP_NONE);
	assert_int_equal(oci_detect_compression("\x50\x2a\x4d", 3), OCI_COMP_NONE);
	assert_int_equal(oci_detect_compression("ustar", 5), OCI_COMP_NONE);
	assert_int_equal(oci_detect_compression("", 0), OCI_COMP_NONE);
}

/* ---------------------------------------------------------------------- */
/* layouts                                                                */
/* ---------------------------------------------------------------------- */

struct fixture {
	char dir[300];
	char layer[OCI_DIGEST_LEN + 1], diff_id[OCI_DIGEST_LEN + 1];
	char manifest[OCI_DIGEST_LEN + 1], config[OCI_DIGEST_LEN + 1];
	size_t manifest_len;
	struct buf tar, blob;
};

static void make_layer(struct fixture *f)
{
	struct tarb t;

	tar_begin(&t);
	tar_add(&t, "d", AE_IFDIR, 0755, NULL, NULL);
	tar_add(&t, "d/f", AE_IFREG, 0644, "hello\n", NULL);
	tar_end(&t, &f->tar);
	gzip_buf(&f->tar, &f->blob);
	hexd(f->tar.p, f->tar.len, f->diff_id);
}

/* An image (manifest + config) for a platform; returns the manifest digest. */
static void make_image(struct fixture *f, const char *os, const char *arch, const char *diff_id)
{
	char js[4096], cfgd[OCI_DIGEST_LEN + 1];

	snprintf(js, sizeof(js),
		 "{\"architecture\":\"%s\",\"os\":\"%s\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
		 arch, os, diff_id);
	put_blob_str(f->dir, js, cfgd);
	memcpy(f->config, cfgd, sizeof(cfgd));
	/* the config size: recompute properly */
	{
		char cfg[4096];

		snprintf(cfg, sizeof(cfg),
			 "{\"architecture\":\"%s\",\"os\":\"%s\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"%s\"]}}",
			 arch, os, diff_id);
		snprintf(js, sizeof(js),
			 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
			 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
			 "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"%s\",\"size\":%zu}]}",
			 cfgd, strlen(cfg), f->layer, f->blob.len);
	}
	put_blob_str(f->dir, js, f->manifest);
	f->manifest_len = strlen(js);
}

static void fixture_dir(struct fixture *f, const char *name)
{
	char p[400];

	memset(f, 0, sizeof(*f));
	snprintf(f->dir, sizeof(f->dir), "%s/%s", tmpdir, name);
	mkdir(f->dir, 0755);
	snprintf(p, sizeof(p), "%s/blobs", f->dir);
	mkdir(p, 0755);
	snprintf(p, sizeof(p), "%s/blobs/sha256", f->dir);
	mkdir(p, 0755);
	make_layer(f);
	put_blob(f->dir, f->blob.p, f->blob.len, f->layer);
}

static void fixture_free(struct fixture *f)
{
	free(f->tar.p);
	free(f->blob.p);
}

static void write_index(struct fixture *f, const char *json)
{
	char p[400];

	snprintf(p, sizeof(p), "%s/index.json", f->dir);
	write_file(p, json, strlen(json));
}

static void test_layout_single(void **state)
{
	struct fixture f;
	struct oci_image *img;
	struct mkimg_err e;
	char js[2048];

	fixture_dir(&f, "single");
	make_image(&f, "linux", "arm64", f.diff_id);
	snprintf(js, sizeof(js),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"digest\":\"%s\",\"size\":%zu}]}", f.manifest, f.manifest_len);
	write_index(&f, js);
	/* exactly one manifest, no selector: taken whatever its platform */
	assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), 0);
	assert_int_equal(img->nlayers, 1);
	assert_string_equal(img->layers[0].digest, f.layer);
	assert_string_equal(img->layers[0].diff_id, f.diff_id);
	assert_int_equal(img->layers[0].comp, OCI_COMP_GZIP);
	assert_int_equal(img->layers[0].size, f.blob.len);
	assert_string_equal(img->manifest_digest, f.manifest);
	assert_string_equal(img->config_digest, f.config);
	assert_string_equal(img->architecture, "arm64");
	oci_image_free(img);
	/* an explicit platform is checked */
	{
		struct oci_selector sel = { .os = "linux", .arch = "amd64" };

		assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), -ENOENT);
		assert_non_null(strstr(mkimg_err_msg(&e), "platform linux/amd64"));
		sel.arch = "arm64";
		assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), 0);
		oci_image_free(img);
	}
	/* by digest */
	{
		struct oci_selector sel = { .ref = f.manifest };

		assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), 0);
		oci_image_free(img);
		sel.ref = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
		assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), -ENOENT);
		sel.ref = "sha256:../../x";
		assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), -EINVAL);
	}
	fixture_free(&f);
}

static void test_layout_tags_nested(void **state)
{
	struct fixture f;
	struct oci_image *img;
	struct mkimg_err e;
	char js[4096], amd[OCI_DIGEST_LEN + 1], arm[OCI_DIGEST_LEN + 1];
	char nested[OCI_DIGEST_LEN + 1];
	size_t amdlen, armlen;
	struct oci_selector sel = { .ref = "v1" };

	fixture_dir(&f, "nested");
	make_image(&f, "linux", "amd64", f.diff_id);
	memcpy(amd, f.manifest, sizeof(amd));
	amdlen = f.manifest_len;
	make_image(&f, "linux", "arm64", f.diff_id);
	memcpy(arm, f.manifest, sizeof(arm));
	armlen = f.manifest_len;
	/* a nested index with both platforms, tagged v1 at the top */
	snprintf(js, sizeof(js),
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
		 arm, armlen, amd, amdlen);
	put_blob_str(f.dir, js, nested);
	/* fix the nested size */
	{
		char idx[4096];

		snprintf(idx, sizeof(idx),
			 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":["
			 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
			 "\"platform\":{\"os\":\"linux\",\"architecture\":\"arm64\"}},"
			 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
			 "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
			 arm, armlen, amd, amdlen);
		snprintf(js, sizeof(js),
			 "{\"schemaVersion\":2,\"manifests\":["
			 "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
			 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
			 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
			 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"armonly\"}}]}",
			 nested, strlen(idx), arm, armlen);
	}
	write_index(&f, js);
	/* tag v1 -> nested index -> default platform linux/amd64 */
	assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), 0);
	assert_string_equal(img->manifest_digest, amd);
	oci_image_free(img);
	sel.arch = "arm64";
	sel.os = "linux";
	assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), 0);
	assert_string_equal(img->manifest_digest, arm);
	oci_image_free(img);
	/* a tag for one manifest: taken without a platform */
	sel = (struct oci_selector){ .ref = "armonly" };
	assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), 0);
	assert_string_equal(img->manifest_digest, arm);
	oci_image_free(img);
	sel = (struct oci_selector){ .ref = "armonly", .os = "linux", .arch = "s390x" };
	assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), -ENOENT);
	sel = (struct oci_selector){ .ref = "nope" };
	assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), -ENOENT);
	assert_non_null(strstr(mkimg_err_msg(&e), "no image \"nope\""));
	/* no selector, two manifests reachable: linux/amd64 */
	assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), 0);
	assert_string_equal(img->manifest_digest, amd);
	oci_image_free(img);
	fixture_free(&f);
}

/* case 14: ambiguous selections are refused, naming the candidates */
static void test_layout_ambiguous(void **state)
{
	static const char other_diff[] =
		"sha256:1111111111111111111111111111111111111111111111111111111111111111";
	struct fixture f;
	struct oci_image *img;
	struct mkimg_err e;
	char js[4096], a[OCI_DIGEST_LEN + 1], b[OCI_DIGEST_LEN + 1];
	size_t alen, blen;
	struct oci_selector sel = { .ref = "v1" };

	fixture_dir(&f, "ambiguous");
	make_image(&f, "linux", "amd64", f.diff_id);
	memcpy(a, f.manifest, sizeof(a));
	alen = f.manifest_len;
	make_image(&f, "linux", "amd64", other_diff);
	memcpy(b, f.manifest, sizeof(b));
	blen = f.manifest_len;
	assert_string_not_equal(a, b);

	/* two manifests with one tag */
	snprintf(js, sizeof(js),
		 "{\"schemaVersion\":2,\"manifests\":["
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}",
		 a, alen, b, blen);
	write_index(&f, js);
	img = NULL;
	assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), -EINVAL);
	assert_null(img);
	assert_non_null(strstr(mkimg_err_msg(&e), "tag \"v1\" is ambiguous"));
	assert_non_null(strstr(mkimg_err_msg(&e), a));
	assert_non_null(strstr(mkimg_err_msg(&e), b));
	assert_null(strchr(mkimg_err_msg(&e), '\n'));
	/* by digest, either is fine */
	sel.ref = b;
	assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), 0);
	assert_string_equal(img->manifest_digest, b);
	oci_image_free(img);

	/* two untagged manifests, no platform anywhere in the index, no selector */
	snprintf(js, sizeof(js),
		 "{\"schemaVersion\":2,\"manifests\":["
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu},"
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu}]}",
		 a, alen, b, blen);
	write_index(&f, js);
	img = NULL;
	assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), -EINVAL);
	assert_null(img);
	assert_non_null(strstr(mkimg_err_msg(&e), "2 manifests and no platform in the index"));
	assert_non_null(strstr(mkimg_err_msg(&e), a));
	assert_non_null(strstr(mkimg_err_msg(&e), b));
	/* both configs say linux/amd64: --platform does not tell them apart */
	sel = (struct oci_selector){ .os = "linux", .arch = "amd64" };
	assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&e), "2 manifests for platform linux/amd64"));
	assert_non_null(strstr(mkimg_err_msg(&e), a));
	assert_non_null(strstr(mkimg_err_msg(&e), b));

	/* an index with two manifests for one platform (default linux/amd64) */
	snprintf(js, sizeof(js),
		 "{\"schemaVersion\":2,\"manifests\":["
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}},"
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}",
		 a, alen, b, blen);
	write_index(&f, js);
	assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&e), "2 manifests for platform linux/amd64"));
	assert_non_null(strstr(mkimg_err_msg(&e), a));
	assert_non_null(strstr(mkimg_err_msg(&e), b));
	/* another platform is not ambiguous (nothing matches) */
	sel = (struct oci_selector){ .os = "linux", .arch = "arm64" };
	assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), -ENOENT);

	/* one manifest listed twice (two tags, or none) is one candidate */
	snprintf(js, sizeof(js),
		 "{\"schemaVersion\":2,\"manifests\":["
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}},"
		 "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu}]}",
		 a, alen, a, alen, a, alen);
	write_index(&f, js);
	sel = (struct oci_selector){ .ref = "v1" };
	assert_int_equal(oci_image_open(f.dir, &sel, &img, fresh(&e)), 0);
	assert_string_equal(img->manifest_digest, a);
	oci_image_free(img);
	assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), 0);
	assert_string_equal(img->manifest_digest, a);
	oci_image_free(img);
	fixture_free(&f);
}

static void test_layout_hostile(void **state)
{
	struct fixture f;
	struct oci_image *img;
	struct mkimg_err e;
	char js[4096], self[OCI_DIGEST_LEN + 1];
	char p[512];
	int i;

	fixture_dir(&f, "hostile");
	/* not JSON */
	write_index(&f, "{\"schemaVersion\": 2, \"manifests\": [ {\"digest\": \"sha256:");
	assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&e), "not JSON"));
	/* an index's own failure names the layout, and the code is kept */
	snprintf(p, sizeof(p), "OCI layout %s: index: not JSON", f.dir);
	assert_int_equal(strncmp(mkimg_err_msg(&e), p, strlen(p)), 0);
	assert_int_equal(e.code, -EINVAL);
	/* a digest with a path in it */
	write_index(&f, "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:../../../etc/passwd\",\"size\":1}]}");
	assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&e), "invalid digest"));
	write_index(&f, "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"md5:abc\",\"size\":1}]}");
	assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&e), "unsupported digest algorithm"));
	/* digest mismatch of a manifest */
	make_image(&f, "linux", "amd64", f.diff_id);
	snprintf(p, sizeof(p), "%s/blobs/sha256/%s", f.dir, f.manifest + 7);
	{
		char tampered[4096];
		int fd = open(p, O_RDONLY);
		ssize_t n = read(fd, tampered, sizeof(tampered));

		close(fd);
		tampered[n - 2] = ' ';
		write_file(p, tampered, n);
	}
	snprintf(js, sizeof(js), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
		 "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu}]}",
		 f.manifest, f.manifest_len);
	write_index(&f, js);
	assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&e), "digest mismatch"));
	/* a blob's failure names the blob, not the layout */
	assert_int_equal(strncmp(mkimg_err_msg(&e), "manifest sha256:", 16), 0);
	/* size mismatch */
	make_image(&f, "linux", "amd64", f.diff_id);
	snprintf(js, sizeof(js), "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\",\"size\":%zu}]}",
		 f.manifest, f.manifest_len + 1);
	write_index(&f, js);
	assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&e), "size mismatch"));
	/* diff_id count mismatch */
	{
		struct oci_image *m;
		const char *man =
			"{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"size\":1},"
			"\"layers\":[]}";

		assert_int_equal(oci_parse_manifest(man, strlen(man), &m, fresh(&e)), 0);
		assert_int_equal(oci_parse_config("{\"rootfs\":{\"diff_ids\":[\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]}}",
						  113, m, fresh(&e)), -EINVAL);
		oci_image_free(m);
	}
	/* unsupported layer media type in a manifest */
	{
		struct oci_image *m;
		char man[1024];

		snprintf(man, sizeof(man),
			 "{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\",\"size\":1},"
			 "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip+encrypted\",\"digest\":\"%s\",\"size\":3}]}",
			 f.layer, f.layer);
		assert_int_equal(oci_parse_manifest(man, strlen(man), &m, fresh(&e)), -ENOTSUP);
		assert_non_null(strstr(mkimg_err_msg(&e), "encrypted"));
		/* Docker schema 1 */
		snprintf(man, sizeof(man), "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+prettyjws\"}");
		assert_int_equal(oci_parse_manifest(man, strlen(man), &m, fresh(&e)), -ENOTSUP);
	}
	/* too many layers */
	{
		struct buf b = { 0 };
		struct oci_image *m;
		char l[256];

		snprintf(l, sizeof(l), "{\"schemaVersion\":2,\"config\":{\"digest\":\"%s\",\"size\":1},\"layers\":[", f.layer);
		buf_add(&b, l, strlen(l));
		for (i = 0; i < OCI_MAX_LAYERS + 1; i++) {
			snprintf(l, sizeof(l), "%s{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":3}",
				 i ? "," : "", f.layer);
			buf_add(&b, l, strlen(l));
		}
		buf_add(&b, "]}", 2);
		assert_int_equal(oci_parse_manifest(b.p, b.len, &m, fresh(&e)), -E2BIG);
		assert_non_null(strstr(mkimg_err_msg(&e), "10000"));
		free(b.p);
	}
	/* nesting deeper than 8: an index that includes itself is impossible
	 * (digest), so build a chain of 10 */
	{
		char child[OCI_DIGEST_LEN + 1];
		size_t childlen;

		make_image(&f, "linux", "amd64", f.diff_id);
		memcpy(child, f.manifest, sizeof(child));
		childlen = f.manifest_len;
		for (i = 0; i < 10; i++) {
			snprintf(js, sizeof(js), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"%s\",\"digest\":\"%s\",\"size\":%zu}]}",
				 i ? "application/vnd.oci.image.index.v1+json" : "application/vnd.oci.image.manifest.v1+json",
				 child, childlen);
			put_blob_str(f.dir, js, self);
			memcpy(child, self, sizeof(child));
			childlen = strlen(js);
		}
		snprintf(js, sizeof(js), "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"%s\",\"size\":%zu}]}",
			 child, childlen);
		write_index(&f, js);
		assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), -ELOOP);
		assert_non_null(strstr(mkimg_err_msg(&e), "nested"));
	}
	/* index.json larger than 16 MiB */
	{
		char *big = malloc(OCI_MAX_JSON + 2);

		memset(big, ' ', OCI_MAX_JSON + 1);
		big[OCI_MAX_JSON + 1] = 0;
		big[0] = '{';
		big[OCI_MAX_JSON] = '}';
		write_index(&f, big);
		free(big);
		assert_int_equal(oci_image_open(f.dir, NULL, &img, fresh(&e)), -EFBIG);
	}
	fixture_free(&f);
}

/* ---------------------------------------------------------------------- */
/* streams                                                                */
/* ---------------------------------------------------------------------- */

/* Streams a file, returning oci_stream_finish's result; err filled. */
static int stream_file(const char *path, bool detect, enum oci_compression comp,
		       const char *digest, const char *diff_id, char *err, size_t errlen,
		       uint64_t *outbytes)
{
	struct oci_stream_params p = {
		.path = path, .name = "layer", .detect = detect, .comp = comp,
		.digest = digest, .diff_id = diff_id,
	};
	struct mkimg_err se = MKIMG_ERR_INIT;
	struct oci_stream *s;
	const void *b;
	ssize_t n;
	int ret;

	ret = oci_stream_open(&p, &s, &se);
	if (ret) {
		err_copy(&se, err, errlen);
		return ret;
	}
	do
		n = oci_stream_read(s, &b);
	while (n > 0);
	ret = n < 0 ? (int)n : oci_stream_finish(s, NULL, NULL);
	if (outbytes)
		*outbytes = oci_stream_bytes_out(s);
	oci_stream_free(s);
	err_copy(&se, err, errlen);
	return ret;
}

static void test_streams(void **state)
{
	struct fixture f;
	struct buf z, two = { 0 };
	char p[400], err[512], dg[OCI_DIGEST_LEN + 1], bad[OCI_DIGEST_LEN + 1];
	uint64_t out;

	fixture_dir(&f, "streams");
	/* gzip, with digest and diff_id */
	snprintf(p, sizeof(p), "%s/l.gz", f.dir);
	write_file(p, f.blob.p, f.blob.len);
	assert_int_equal(stream_file(p, false, OCI_COMP_GZIP, f.layer, f.diff_id, err, sizeof(err), &out), 0);
	assert_int_equal(out, f.tar.len);
	assert_int_equal(stream_file(p, true, OCI_COMP_NONE, f.layer, f.diff_id, err, sizeof(err), NULL), 0);
	/* digest mismatch */
	memcpy(bad, f.layer, sizeof(bad));
	bad[10] = bad[10] == '0' ? '1' : '0';
	assert_int_equal(stream_file(p, false, OCI_COMP_GZIP, bad, NULL, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "digest mismatch: got sha256:"));
	assert_int_equal(stream_file(p, false, OCI_COMP_GZIP, NULL, bad, err, sizeof(err), NULL), -EINVAL);
	assert_non_null(strstr(err, "diff_id mismatch"));
	/* no_digests: the same bytes, empty digests; refused with digests */
	{
		struct oci_stream_params np = { .path = p, .name = "layer", .detect = true,
						.no_digests = true };
		char d1[OCI_DIGEST_LEN + 1] = "x", d2[OCI_DIGEST_LEN + 1] = "x";
		struct mkimg_err se = MKIMG_ERR_INIT;
		struct oci_stream *s;
		const void *b;
		ssize_t n;

		assert_int_equal(oci_stream_open(&np, &s, &se), 0);
		do
			n = oci_stream_read(s, &b);
		while (n > 0);
		assert_int_equal(n, 0);
		assert_int_equal(oci_stream_finish(s, d1, d2), 0);
		assert_string_equal(d1, "");
		assert_string_equal(d2, "");
		assert_int_equal(oci_stream_bytes_out(s), f.tar.len);
		oci_stream_free(s);
		np.digest = f.layer;
		assert_int_equal(oci_stream_open(&np, &s, &se), -EINVAL);
		assert_non_null(strstr(mkimg_err_msg(&se), "hashing turned off"));
	}
	/* multi-member gzip: two members give the tar twice */
	buf_add(&two, f.blob.p, f.blob.len);
	buf_add(&two, f.blob.p, f.blob.len);
	write_file(p, two.p, two.len);
	assert_int_equal(stream_file(p, true, OCI_COMP_NONE, NULL, NULL, err, sizeof(err), &out), 0);
	assert_int_equal(out, 2 * f.tar.len);
	free(two.p);
	/* truncated gzip: every cut is an error, none hangs */
	{
		size_t cuts[] = { 1, 5, 10, f.blob.len / 2, f.blob.len - 8, f.blob.len - 1 };
		size_t i;

		for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			write_file(p, f.blob.p, cuts[i]);
			err[0] = 0;
			assert_true(stream_file(p, false, OCI_COMP_GZIP, NULL, NULL, err, sizeof(err), NULL) < 0);
			assert_true(strlen(err) > 0);
		}
	}
	/* corrupt gzip */
	{
		unsigned char *c = malloc(f.blob.len);

		memcpy(c, f.blob.p, f.blob.len);
		c[f.blob.len / 2] ^= 0x55;
		write_file(p, c, f.blob.len);
		free(c);
		assert_true(stream_file(p, false, OCI_COMP_GZIP, NULL, NULL, err, sizeof(err), NULL) < 0);
	}
	/* trailing garbage after gzip */
	{
		struct buf g = { 0 };

		buf_add(&g, f.blob.p, f.blob.len);
		buf_add(&g, "garbage!", 8);
		write_file(p, g.p, g.len);
		free(g.p);
		assert_true(stream_file(p, false, OCI_COMP_GZIP, NULL, NULL, err, sizeof(err), NULL) < 0);
	}
	/* zstd */
	zstd_buf(&f.tar, &z);
	snprintf(p, sizeof(p), "%s/l.zst", f.dir);
	write_file(p, z.p, z.len);
	hexd(z.p, z.len, dg);
	assert_int_equal(stream_file(p, true, OCI_COMP_NONE, dg, f.diff_id, err, sizeof(err), &out), 0);
	assert_int_equal(out, f.tar.len);
	{
		size_t cuts[] = { 1, 4, 8, z.len / 2, z.len - 1 };
		size_t i;

		for (i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
			write_file(p, z.p, cuts[i]);
			err[0] = 0;
			assert_true(stream_file(p, false, OCI_COMP_ZSTD, NULL, NULL, err, sizeof(err), NULL) < 0);
			assert_true(strlen(err) > 0);
		}
	}
	free(z.p);
	/* plain tar */
	snprintf(p, sizeof(p), "%s/l.tar", f.dir);
	write_file(p, f.tar.p, f.tar.len);
	assert_int_equal(stream_file(p, true, OCI_COMP_NONE, f.diff_id, f.diff_id, err, sizeof(err), &out), 0);
	/* size check */
	{
		struct oci_stream_params sp = { .path = p, .name = "layer x", .check_size = true,
						.size = f.tar.len + 1 };
		struct mkimg_err se = MKIMG_ERR_INIT;
		struct oci_stream *s;

		assert_int_equal(oci_stream_open(&sp, &s, &se), -EINVAL);
		assert_non_null(strstr(mkimg_err_msg(&se), "size mismatch"));
	}
	/* missing file */
	snprintf(p, sizeof(p), "%s/nope", f.dir);
	assert_int_equal(stream_file(p, true, OCI_COMP_NONE, NULL, NULL, err, sizeof(err), NULL), -ENOENT);
	fixture_free(&f);
}

/* ---------------------------------------------------------------------- */
/* tar entries                                                            */
/* ---------------------------------------------------------------------- */

/* Reads every entry of a tar in memory; returns the first error or 0. */
static int read_all_entries(const void *p, size_t len, size_t chunk, char *err, size_t errlen,
			    size_t *nentries)
{
	struct memrd m = { .p = p, .len = len, .chunk = chunk };
	struct mkimg_err te = MKIMG_ERR_INIT;
	struct oci_tar *t;
	const struct oci_entry *e;
	int ret;

	*nentries = 0;
	ret = oci_tar_open(mem_read, &m, 0, &t, &te);
	if (ret) {
		err_copy(&te, err, errlen);
		return ret;
	}
	while ((ret = oci_tar_next(t, &e)) == 1) {
		const void *b;
		size_t l;
		uint64_t off;

		(*nentries)++;
		while ((ret = oci_tar_data(t, &b, &l, &off)) == 1)
			;
		if (ret < 0)
			break;
	}
	if (ret == 0)
		ret = oci_tar_drain(t);
	err_copy(&te, err, errlen);
	oci_tar_close(t);
	return ret;
}

static void test_tar_entries(void **state)
{
	struct tarb tb;
	struct buf tar;
	struct memrd m;
	struct oci_tar *t;
	const struct oci_entry *e;
	char err[512];
	const void *b;
	size_t l, n;
	uint64_t off;

	tar_begin(&tb);
	tar_add(&tb, "./", AE_IFDIR, 0755, NULL, NULL);
	tar_add(&tb, "./etc//passwd", AE_IFREG, 04755, "root\n", NULL);
	tar_add(&tb, "lnk", AE_IFLNK, 0777, NULL, "/etc/passwd");
	tar_add(&tb, "hl", 0, 0644, NULL, "./etc/passwd");
	tar_add(&tb, "fifo", AE_IFIFO, 0600, NULL, NULL);
	tar_xattr(&tb, "x", "user.k", "v");
	tar_end(&tb, &tar);

	m = (struct memrd){ .p = tar.p, .len = tar.len, .chunk = 100 };
	assert_int_equal(oci_tar_open(mem_read, &m, 0, &t, NULL), 0);
	assert_int_equal(oci_tar_next(t, &e), 1);
	assert_string_equal(e->path, "");
	assert_int_equal(e->type, OCI_ENTRY_DIR);
	assert_int_equal(oci_tar_next(t, &e), 1);
	assert_string_equal(e->path, "etc/passwd");
	assert_int_equal(e->type, OCI_ENTRY_REG);
	assert_int_equal(e->mode, 04755);
	assert_int_equal(e->size, 5);
	assert_int_equal(e->mtime, 1700000000);
	assert_int_equal(oci_tar_data(t, &b, &l, &off), 1);
	assert_int_equal(l, 5);
	assert_int_equal(off, 0);
	assert_memory_equal(b, "root\n", 5);
	assert_int_equal(oci_tar_data(t, &b, &l, &off), 0);
	assert_int_equal(oci_tar_next(t, &e), 1);
	assert_int_equal(e->type, OCI_ENTRY_SYMLINK);
	assert_string_equal(e->link, "/etc/passwd");
	assert_int_equal(oci_tar_next(t, &e), 1);
	assert_int_equal(e->type, OCI_ENTRY_HARDLINK);
	assert_string_equal(e->link, "etc/passwd");
	assert_int_equal(oci_tar_next(t, &e), 1);
	assert_int_equal(e->type, OCI_ENTRY_FIFO);
	assert_int_equal(oci_tar_next(t, &e), 1);
	assert_int_equal(e->nxattrs, 1);
	assert_string_equal(e->xattrs[0].name, "user.k");
	assert_int_equal(e->xattrs[0].len, 1);
	assert_int_equal(oci_tar_next(t, &e), 0);
	assert_int_equal(oci_tar_drain(t), 0);
	oci_tar_close(t);

	/* truncated tar: an error for every cut inside the data */
	assert_true(read_all_entries(tar.p, 512 + 3, 7, err, sizeof(err), &n) < 0);
	/* garbage after the end-of-archive marker */
	{
		struct buf g = { 0 };

		buf_add(&g, tar.p, tar.len);
		buf_add(&g, "trailing", 8);
		assert_int_equal(read_all_entries(g.p, g.len, 4096, err, sizeof(err), &n), -EINVAL);
		assert_non_null(strstr(err, "end-of-archive"));
		free(g.p);
	}
	free(tar.p);

	/* escaping names */
	{
		const char *bad[] = { "../x", "a/../../x", "/abs/x" };
		size_t i;

		for (i = 0; i < 3; i++) {
			tar_begin(&tb);
			tar_add(&tb, bad[i], AE_IFREG, 0644, "x", NULL);
			tar_end(&tb, &tar);
			assert_int_equal(read_all_entries(tar.p, tar.len, 4096, err, sizeof(err), &n), -EINVAL);
			free(tar.p);
		}
	}
	/* a 10 000-byte name */
	{
		char *big = malloc(10001);

		memset(big, 'n', 10000);
		big[10000] = 0;
		tar_begin(&tb);
		tar_add(&tb, big, AE_IFREG, 0644, "x", NULL);
		tar_end(&tb, &tar);
		assert_int_equal(read_all_entries(tar.p, tar.len, 4096, err, sizeof(err), &n), -ENAMETOOLONG);
		assert_true(strlen(err) < 300);
		free(tar.p);
		free(big);
	}
}

/* A pax header claiming 1 GiB: an error, no allocation of that size. */
static void ustar_hdr(unsigned char *h, const char *name, uint64_t size, char type)
{
	unsigned int sum = 0, i;

	memset(h, 0, 512);
	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", 1700000000);
	memset(h + 148, ' ', 8);
	h[156] = type;
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
}

/* A reader that produces a pax header of 1 GiB of records, then zeros. */
struct bigpax {
	unsigned char hdr[512];
	unsigned char chunk[65536];
	uint64_t pos, total;
};

static ssize_t bigpax_read(void *ctx, const void **b)
{
	struct bigpax *bp = ctx;

	if (bp->pos >= bp->total)
		return 0;
	if (bp->pos == 0) {
		*b = bp->hdr;
		bp->pos = 512;
		return 512;
	}
	*b = bp->chunk;
	bp->pos += sizeof(bp->chunk);
	return sizeof(bp->chunk);
}

static void test_tar_pax_1g(void **state)
{
	struct bigpax *bp = calloc(1, sizeof(*bp));
	struct mkimg_err te = MKIMG_ERR_INIT;
	struct oci_tar *t;
	const struct oci_entry *e;
	char err[512];
	int ret;
	size_t i;

	ustar_hdr(bp->hdr, "././@PaxHeader", 1ull << 30, 'x');
	/* records "30 path=aaaa...\n" repeated */
	for (i = 0; i + 30 <= sizeof(bp->chunk); i += 30)
		memcpy(bp->chunk + i, "30 path=aaaaaaaaaaaaaaaaaaaaa\n", 30);
	bp->total = 512 + (1ull << 30) + 4096;
	ret = oci_tar_open(bigpax_read, bp, 0, &t, &te);
	if (ret == 0) {
		ret = oci_tar_next(t, &e);
		oci_tar_close(t);
	}
	assert_true(ret < 0);
	assert_true(strlen(te.msg) > 0);
	/* and the short form from the e2e fixture */
	{
		unsigned char s[512 + 30 + 100];
		size_t n;

		ustar_hdr(s, "././@PaxHeader", 1ull << 30, 'x');
		memcpy(s + 512, "30 path=aaaaaaaaaaaaaaaaaaaaa\n", 30);
		memset(s + 542, 0, 100);
		assert_true(read_all_entries(s, sizeof(s), 4096, err, sizeof(err), &n) < 0);
	}
	free(bp);
}

/* ---------------------------------------------------------------------- */
/* applying                                                               */
/* ---------------------------------------------------------------------- */

/* case 10: trusted.overlay.* dropped and counted; xattrs sorted, of two
 * records of one name the later counts */
static void test_tar_overlay_xattrs(void **state)
{
	struct tarb tb;
	struct buf tar;
	struct memrd m;
	struct oci_tar *t;
	const struct oci_entry *e;
	struct archive_entry *ae;

	tar_begin(&tb);
	ae = archive_entry_new();
	archive_entry_set_pathname(ae, "d");
	archive_entry_set_filetype(ae, AE_IFDIR);
	archive_entry_set_perm(ae, 0755);
	archive_entry_xattr_add_entry(ae, "user.z", "1", 1);
	archive_entry_xattr_add_entry(ae, "trusted.overlay.opaque", "y", 1);
	archive_entry_xattr_add_entry(ae, "trusted.overlay.redirect", "/x", 2);
	archive_entry_xattr_add_entry(ae, "user.a", "2", 1);
	archive_entry_xattr_add_entry(ae, "trusted.ok", "3", 1);
	assert_int_equal(archive_write_header(tb.a, ae), ARCHIVE_OK);
	archive_entry_free(ae);
	tar_end(&tb, &tar);

	m = (struct memrd){ .p = tar.p, .len = tar.len, .chunk = 4096 };
	assert_int_equal(oci_tar_open(mem_read, &m, 0, &t, NULL), 0);
	assert_int_equal(oci_tar_next(t, &e), 1);
	assert_int_equal(e->dropped_xattrs, 2);
	assert_int_equal(e->nxattrs, 3);
	assert_string_equal(e->xattrs[0].name, "trusted.ok");
	assert_string_equal(e->xattrs[1].name, "user.a");
	assert_string_equal(e->xattrs[2].name, "user.z");
	assert_int_equal(oci_tar_next(t, &e), 0);
	oci_tar_close(t);
	free(tar.p);
}

/*
 * case 15: a layer that ends cleanly at an entry boundary (after a
 * complete entry's data, with or without its padding, with or without the
 * end-of-archive blocks; umoci 0.4.7 `insert` writes such layers) is
 * accepted; an end inside a header or inside file data is refused.
 */
static void test_tar_short_end(void **state)
{
	static const struct {
		size_t len;
		int entries;	/* accepted with this many entries, or -1 */
	} cut[] = {
		{ 100, -1 },	/* inside a's header */
		{ 512, -1 },	/* a's header, none of its data */
		{ 515, -1 },	/* inside a's data */
		{ 517, 1 },	/* a's data, no padding */
		{ 700, 1 },	/* inside a's padding */
		{ 1024, 1 },	/* a complete, no end-of-archive blocks */
		{ 1300, -1 },	/* inside b's header */
		{ 1536, -1 },	/* b's header, none of its data */
		{ 2000, -1 },	/* inside b's data */
		{ 2535, -1 },	/* one byte short of b's data */
		{ 2536, 2 },	/* b's data, no padding */
		{ 2537, 2 },	/* one byte of padding */
		{ 3072, 2 },	/* b complete */
		{ 3584, 2 },	/* one end-of-archive block */
		{ 4096, 2 },	/* both */
	};
	static const size_t chunks[] = { 1, 7, 512, 65536 };
	unsigned char *tar = calloc(1, 4096);
	char err[512];
	size_t i, j, n;
	int ret;

	ustar_hdr(tar, "a", 5, '0');
	memcpy(tar + 512, "hello", 5);
	ustar_hdr(tar + 1024, "b", 1000, '0');
	memset(tar + 1536, 'b', 1000);
	for (i = 0; i < sizeof(cut) / sizeof(cut[0]); i++) {
		for (j = 0; j < sizeof(chunks) / sizeof(chunks[0]); j++) {
			err[0] = 0;
			ret = read_all_entries(tar, cut[i].len, chunks[j], err, sizeof(err), &n);
			if (cut[i].entries < 0) {
				if (ret >= 0)
					fail_msg("cut at %zu (chunks of %zu): accepted", cut[i].len,
						 chunks[j]);
				assert_non_null(strstr(err, "tar: "));
				assert_null(strchr(err, '\n'));
			} else {
				if (ret)
					fail_msg("cut at %zu (chunks of %zu): %s", cut[i].len,
						 chunks[j], err);
				assert_int_equal(n, cut[i].entries);
			}
		}
	}
	free(tar);
}

struct env {
	struct layout_tree *t;
	struct bs_sink *sink;
	struct oci_applier *a;
	int fd;
};

static void env_new(struct env *v, enum oci_apply_mode mode, bool follow)
{
	struct layout_params p;
	struct bs_sink_params sp = { 0 };
	struct oci_apply_opts o = { .mode = mode, .follow_symlinks = follow };
	char path[300];

	layout_params_preset(&p);
	assert_int_equal(layout_tree_new(&p, NULL, &v->t), 0);
	snprintf(path, sizeof(path), "%s/data-XXXXXX", tmpdir);
	v->fd = mkstemp(path);
	assert_true(v->fd >= 0);
	unlink(path);
	sp.fd = v->fd;
	sp.start_blk = 1;
	sp.blkszbits = 12;
	sp.inline_tails = true;
	assert_int_equal(bs_sink_new(&sp, &v->sink), 0);
	assert_int_equal(oci_applier_new(&o, &v->a), 0);
}

static void env_free(struct env *v)
{
	bs_sink_free(v->sink);
	layout_tree_free(v->t);
	oci_applier_free(v->a);
	close(v->fd);
}

static int apply_tar(struct env *v, const struct buf *tar, char *err, size_t errlen)
{
	struct memrd m = { .p = tar->p, .len = tar->len, .chunk = 1000 };
	struct mkimg_err te = MKIMG_ERR_INIT;
	struct oci_tar *t;
	int ret;

	ret = oci_tar_open(mem_read, &m, 0, &t, &te);
	if (!ret)
		ret = oci_apply_layer(v->a, v->t, v->sink, t, NULL, &te);
	if (!ret)
		ret = oci_tar_drain(t);
	err_copy(&te, err, errlen);
	oci_tar_close(t);
	return ret;
}

static struct layout_inode *lookup(struct layout_tree *t, const char *path)
{
	struct layout_inode *cur = layout_tree_root(t);
	char *copy = strdup(path), *save = NULL, *c;

	for (c = strtok_r(copy, "/", &save); c && cur; c = strtok_r(NULL, "/", &save)) {
		struct layout_inode *next = NULL;

		if (layout_dir_lookup(t, cur, c, strlen(c), &next))
			next = NULL;
		cur = next;
	}
	free(copy);
	return cur;
}

static bool has_xattr(struct layout_inode *ino, const char *name, const char *val)
{
	size_t i, n = layout_inode_xattr_count(ino);

	for (i = 0; i < n; i++) {
		const char *nm;
		const void *v;
		size_t len;

		assert_int_equal(layout_inode_xattr_get(ino, i, &nm, &v, &len), 0);
		if (!strcmp(nm, name))
			return len == strlen(val) && !memcmp(v, val, len);
	}
	return false;
}

static void test_apply_flatten(void **state)
{
	struct env v;
	struct tarb tb;
	struct buf l1, l2;
	char err[512];
	struct layout_attr a;

	env_new(&v, OCI_APPLY_FLATTEN, false);
	tar_begin(&tb);
	tar_add(&tb, "w", AE_IFDIR, 0755, NULL, NULL);
	tar_add(&tb, "w/keep", AE_IFREG, 0644, "k", NULL);
	tar_add(&tb, "w/del", AE_IFREG, 0644, "d", NULL);
	tar_add(&tb, "o", AE_IFDIR, 0750, NULL, NULL);
	tar_add(&tb, "o/old", AE_IFREG, 0644, "old", NULL);
	tar_add(&tb, "o/sub", AE_IFDIR, 0755, NULL, NULL);
	tar_add(&tb, "o/sub/lower", AE_IFREG, 0644, "x", NULL);
	tar_add(&tb, "imp/a/b", AE_IFREG, 0600, "b", NULL);
	tar_add(&tb, "hl/a", AE_IFREG, 0644, "group", NULL);
	tar_add(&tb, "sl", AE_IFLNK, 0777, NULL, "w");
	tar_end(&tb, &l1);
	assert_int_equal(apply_tar(&v, &l1, err, sizeof(err)), 0);
	/* implicit parents: 0755 root:root */
	layout_inode_get_attr(lookup(v.t, "imp/a"), &a);
	assert_int_equal(a.mode, S_IFDIR | 0755);
	assert_int_equal(a.uid, 0);

	tar_begin(&tb);
	tar_add(&tb, "w/.wh.del", AE_IFREG, 0644, "", NULL);
	tar_add(&tb, "x", AE_IFREG, 0644, "x", NULL);
	tar_add(&tb, ".wh.x", AE_IFREG, 0644, "", NULL);	/* same layer: stays */
	tar_add(&tb, "o/new", AE_IFREG, 0644, "n", NULL);
	tar_add(&tb, "o/sub/upper", AE_IFREG, 0644, "u", NULL);
	tar_add(&tb, "o/.wh..wh..opq", AE_IFREG, 0644, "", NULL);
	tar_add(&tb, "o/after", AE_IFREG, 0644, "a", NULL);
	tar_add(&tb, "hl/b", 0, 0644, NULL, "hl/a");	/* across layers */
	tar_add(&tb, "sl", AE_IFDIR, 0700, NULL, NULL);	/* dir over symlink */
	tar_add(&tb, "w", AE_IFDIR, 0711, NULL, NULL);	/* dir over dir: merged */
	tar_end(&tb, &l2);
	assert_int_equal(apply_tar(&v, &l2, err, sizeof(err)), 0);
	assert_null(lookup(v.t, "w/del"));
	assert_non_null(lookup(v.t, "w/keep"));
	layout_inode_get_attr(lookup(v.t, "w"), &a);
	assert_int_equal(a.mode, S_IFDIR | 0711);
	assert_non_null(lookup(v.t, "x"));
	assert_null(lookup(v.t, "o/old"));
	assert_null(lookup(v.t, "o/sub/lower"));
	assert_non_null(lookup(v.t, "o/sub/upper"));
	assert_non_null(lookup(v.t, "o/new"));
	assert_non_null(lookup(v.t, "o/after"));
	assert_ptr_equal(lookup(v.t, "hl/a"), lookup(v.t, "hl/b"));
	assert_int_equal(layout_inode_nlink(lookup(v.t, "hl/a")), 2);
	assert_true(S_ISDIR(layout_inode_mode(lookup(v.t, "sl"))));
	assert_int_equal(layout_inode_data(lookup(v.t, "hl/a"))->size, 5);
	free(l1.p);
	free(l2.p);
	env_free(&v);
}

static int apply_one(enum oci_apply_mode mode, bool follow, void (*build)(struct tarb *),
		     char *err, size_t errlen, struct env *keep)
{
	struct env v;
	struct tarb tb;
	struct buf l;
	int ret;

	env_new(&v, mode, follow);
	tar_begin(&tb);
	build(&tb);
	tar_end(&tb, &l);
	ret = apply_tar(&v, &l, err, errlen);
	free(l.p);
	if (keep)
		*keep = v;
	else
		env_free(&v);
	return ret;
}

static void b_symlink_escape(struct tarb *tb)
{
	tar_add(tb, "a", AE_IFLNK, 0777, NULL, "/etc");
	tar_add(tb, "a/passwd", AE_IFREG, 0644, "pwned", NULL);
}

static void b_symlink_escape_rel(struct tarb *tb)
{
	tar_add(tb, "a", AE_IFLNK, 0777, NULL, "../../../../etc");
	tar_add(tb, "a/passwd", AE_IFREG, 0644, "pwned", NULL);
}

static void b_hardlink_missing(struct tarb *tb)
{
	tar_add(tb, "f", AE_IFREG, 0644, "x", NULL);
	tar_add(tb, "l", 0, 0644, NULL, "nonexistent");
}

static void b_fingerprint(struct tarb *tb)
{
	tar_xattr(tb, "f", "trusted.erofs.fingerprint.v1", "x");
}

static void b_fingerprint2(struct tarb *tb)
{
	tar_xattr(tb, "f", LAYOUT_FINGERPRINT_NAME, "x");
}

static void b_file_parent(struct tarb *tb)
{
	tar_add(tb, "f", AE_IFREG, 0644, "x", NULL);
	tar_add(tb, "f/g", AE_IFREG, 0644, "x", NULL);
}

static void b_loop(struct tarb *tb)
{
	tar_add(tb, "a", AE_IFLNK, 0777, NULL, "b");
	tar_add(tb, "b", AE_IFLNK, 0777, NULL, "a");
	tar_add(tb, "a/x", AE_IFREG, 0644, "x", NULL);
}

static void test_apply_hostile(void **state)
{
	char err[512];
	struct env v;

	assert_int_equal(apply_one(OCI_APPLY_FLATTEN, false, b_symlink_escape, err, sizeof(err), NULL), -ELOOP);
	assert_non_null(strstr(err, "a/passwd: path goes through the symlink a"));
	assert_int_equal(apply_one(OCI_APPLY_FLATTEN, false, b_symlink_escape_rel, err, sizeof(err), NULL), -ELOOP);
	assert_int_equal(apply_one(OCI_APPLY_FLATTEN, false, b_hardlink_missing, err, sizeof(err), NULL), -ENOENT);
	assert_non_null(strstr(err, "hard link to missing target"));
	assert_int_equal(apply_one(OCI_APPLY_PER_LAYER, false, b_hardlink_missing, err, sizeof(err), NULL), -ENOENT);
	assert_non_null(strstr(err, "hard link to missing target"));
	assert_true(apply_one(OCI_APPLY_FLATTEN, false, b_fingerprint2, err, sizeof(err), NULL) < 0);
	assert_non_null(strstr(err, "f: "));
	assert_true(apply_one(OCI_APPLY_FLATTEN, false, b_fingerprint, err, sizeof(err), NULL) < 0);
	assert_int_equal(apply_one(OCI_APPLY_FLATTEN, false, b_file_parent, err, sizeof(err), NULL), -ENOTDIR);

	/* securejoin-style: the link resolves inside the tree */
	assert_int_equal(apply_one(OCI_APPLY_FLATTEN, true, b_symlink_escape, err, sizeof(err), &v), 0);
	assert_non_null(lookup(v.t, "etc/passwd"));
	assert_true(S_ISLNK(layout_inode_mode(lookup(v.t, "a"))));
	env_free(&v);
	assert_int_equal(apply_one(OCI_APPLY_FLATTEN, true, b_symlink_escape_rel, err, sizeof(err), &v), 0);
	assert_non_null(lookup(v.t, "etc/passwd"));
	env_free(&v);
	assert_int_equal(apply_one(OCI_APPLY_FLATTEN, true, b_loop, err, sizeof(err), NULL), -ELOOP);
}

static void b_per_layer(struct tarb *tb)
{
	tar_add(tb, "d/.wh.gone", AE_IFREG, 0644, "", NULL);
	tar_add(tb, "o/.wh..wh..opq", AE_IFREG, 0644, "", NULL);
	tar_add(tb, "o/f", AE_IFREG, 0644, "f", NULL);
	tar_add(tb, ".wh.r", AE_IFREG, 0644, "", NULL);
	tar_add(tb, "r", AE_IFDIR, 0755, NULL, NULL);
	tar_add(tb, "r/new", AE_IFREG, 0644, "n", NULL);
	tar_add(tb, "o", AE_IFDIR, 0700, NULL, NULL);	/* after its marker */
}

static void test_apply_per_layer(void **state)
{
	char err[512];
	struct env v;
	struct layout_attr a;
	struct layout_inode *ino;

	assert_int_equal(apply_one(OCI_APPLY_PER_LAYER, false, b_per_layer, err, sizeof(err), &v), 0);
	ino = lookup(v.t, "d/gone");
	assert_non_null(ino);
	layout_inode_get_attr(ino, &a);
	assert_int_equal(a.mode, S_IFCHR);
	assert_int_equal(a.rdev_major, 0);
	assert_int_equal(a.rdev_minor, 0);
	assert_true(has_xattr(lookup(v.t, "d"), "trusted.overlay.origin", ""));
	assert_true(has_xattr(lookup(v.t, "o"), "trusted.overlay.opaque", "y"));
	layout_inode_get_attr(lookup(v.t, "o"), &a);
	assert_int_equal(a.mode, S_IFDIR | 0700);
	assert_non_null(lookup(v.t, "o/f"));
	/* a directory over a whiteout of the same layer hides the lower one */
	assert_true(S_ISDIR(layout_inode_mode(lookup(v.t, "r"))));
	assert_true(has_xattr(lookup(v.t, "r"), "trusted.overlay.opaque", "y"));
	assert_null(lookup(v.t, ".wh.r"));
	env_free(&v);
}

static int copy_cb(void *ctx, unsigned int layer, const struct layout_filedata *fd,
		   struct bs_sink *sink)
{
	*(unsigned int *)ctx = layer + 100;
	return bs_file_write(sink, "group", 5);
}

/* Per layer: a hard link to a file of a lower layer gets its own copy. */
static void test_apply_per_layer_lower_link(void **state)
{
	struct env v;
	struct tarb tb;
	struct buf l1, l2;
	char err[512];
	unsigned int seen = 0;
	struct oci_apply_opts o = { .mode = OCI_APPLY_PER_LAYER };
	struct layout_params p;
	struct layout_tree *t2;

	env_new(&v, OCI_APPLY_PER_LAYER, false);
	tar_begin(&tb);
	tar_add(&tb, "hl/a", AE_IFREG, 0644, "group", NULL);
	tar_end(&tb, &l1);
	tar_begin(&tb);
	tar_add(&tb, "hl/b", 0, 0644, NULL, "hl/a");
	tar_end(&tb, &l2);
	assert_int_equal(apply_tar(&v, &l1, err, sizeof(err)), 0);
	/* without a way to copy: a clear error */
	layout_params_preset(&p);
	assert_int_equal(layout_tree_new(&p, NULL, &t2), 0);
	{
		struct layout_tree *t1 = v.t;
		int ret;

		v.t = t2;
		ret = apply_tar(&v, &l2, err, sizeof(err));
		assert_int_equal(ret, -ENOTSUP);
		assert_non_null(strstr(err, "hl/b: per-layer image: hard link to a file of layer 0"));
		v.t = t1;
	}
	layout_tree_free(t2);
	oci_applier_free(v.a);
	/* with copy_lower */
	o.copy_lower = copy_cb;
	o.ctx = &seen;
	assert_int_equal(oci_applier_new(&o, &v.a), 0);
	assert_int_equal(apply_tar(&v, &l1, err, sizeof(err)), 0);
	assert_int_equal(layout_tree_new(&p, NULL, &t2), 0);
	{
		struct layout_tree *t1 = v.t;

		v.t = t2;
		assert_int_equal(apply_tar(&v, &l2, err, sizeof(err)), 0);
		assert_int_equal(seen, 100);
		assert_int_equal(layout_inode_data(lookup(t2, "hl/b"))->size, 5);
		v.t = t1;
	}
	layout_tree_free(t2);
	free(l1.p);
	free(l2.p);
	env_free(&v);
}

/* ---------------------------------------------------------------------- */
/* layer records                                                          */
/* ---------------------------------------------------------------------- */

/* Any tar entry: type AE_IF* (0 with link: a hard link). */
static void tar_any(struct tarb *t, const char *path, unsigned int type, unsigned int perm,
		    unsigned int uid, unsigned int rmaj, unsigned int rmin,
		    const void *data, size_t n, const char *link,
		    const char *xname, const void *xval, size_t xlen)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type ? type : AE_IFREG);
	archive_entry_set_perm(e, perm);
	archive_entry_set_uid(e, uid);
	archive_entry_set_gid(e, uid + 1);
	archive_entry_set_mtime(e, 1700000000 + uid, 123456789);
	if (type == AE_IFREG)
		archive_entry_set_size(e, n);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	if (type == 0)
		archive_entry_set_hardlink(e, link);
	if (type == AE_IFCHR || type == AE_IFBLK) {
		archive_entry_set_rdevmajor(e, rmaj);
		archive_entry_set_rdevminor(e, rmin);
	}
	if (xname)
		archive_entry_xattr_add_entry(e, xname, xval, xlen);
	assert_int_equal(archive_write_header(t->a, e), ARCHIVE_OK);
	if (type == AE_IFREG && n)
		assert_int_equal(archive_write_data(t->a, data, n), (ssize_t)n);
	archive_entry_free(e);
}

static void rec_layers(struct buf *l1, struct buf *l2)
{
	static const unsigned char cap[] = { 1, 0, 0, 2, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
					     0, 0, 0, 0 };
	struct tarb t;
	unsigned char *big = malloc(400000);
	size_t i;

	for (i = 0; i < 400000; i++)
		big[i] = (unsigned char)(i * 7 + (i >> 11));
	memset(big + 65536, 0, 2 * 65536);	/* an aligned hole */
	tar_begin(&t);
	tar_any(&t, ".", AE_IFDIR, 0751, 0, 0, 0, NULL, 0, NULL, NULL, NULL, 0);
	tar_any(&t, "etc", AE_IFDIR, 0755, 0, 0, 0, NULL, 0, NULL, "user.d", "dir", 3);
	tar_any(&t, "etc/passwd", AE_IFREG, 0644, 0, 0, 0, "root:x:0:0\n", 11, NULL, NULL, NULL, 0);
	tar_any(&t, "etc/empty", AE_IFREG, 0600, 5, 0, 0, NULL, 0, NULL, NULL, NULL, 0);
	tar_any(&t, "dup", AE_IFREG, 0644, 0, 0, 0, "root:x:0:0\n", 11, NULL, NULL, NULL, 0);
	tar_any(&t, "big", AE_IFREG, 0640, 7, 0, 0, big, 400000, NULL, NULL, NULL, 0);
	tar_any(&t, "bin/sh", AE_IFREG, 04755, 1000, 0, 0, "#!sh\n", 5, NULL,
		"security.capability", cap, sizeof(cap));
	tar_any(&t, "bin/ash", 0, 0755, 1000, 0, 0, NULL, 0, "bin/sh", NULL, NULL, 0);
	tar_any(&t, "lnk", AE_IFLNK, 0777, 0, 0, 0, NULL, 0, "etc/passwd", NULL, NULL, 0);
	tar_any(&t, "dev/null", AE_IFCHR, 0666, 0, 1, 3, NULL, 0, NULL, NULL, NULL, 0);
	tar_any(&t, "dev/sda", AE_IFBLK, 0660, 6, 8, 0, NULL, 0, NULL, NULL, NULL, 0);
	tar_any(&t, "fifo", AE_IFIFO, 0600, 0, 0, 0, NULL, 0, NULL, NULL, NULL, 0);
	tar_any(&t, "o/old", AE_IFREG, 0644, 0, 0, 0, "old", 3, NULL, "user.bin", "\0\1\2", 3);
	tar_any(&t, "gone", AE_IFREG, 0644, 0, 0, 0, "gone", 4, NULL, NULL, NULL, 0);
	tar_any(&t, "w/d", AE_IFDIR, 0700, 0, 0, 0, NULL, 0, NULL, NULL, NULL, 0);
	tar_end(&t, l1);
	tar_begin(&t);
	tar_any(&t, ".wh.gone", AE_IFREG, 0644, 0, 0, 0, NULL, 0, NULL, NULL, NULL, 0);
	tar_any(&t, "o/.wh..wh..opq", AE_IFREG, 0644, 0, 0, 0, NULL, 0, NULL, NULL, NULL, 0);
	tar_any(&t, "o/new", AE_IFREG, 0644, 0, 0, 0, "new", 3, NULL, NULL, NULL, 0);
	tar_any(&t, "w/.wh.d", AE_IFREG, 0644, 0, 0, 0, NULL, 0, NULL, NULL, NULL, 0);
	tar_any(&t, "w/d", AE_IFDIR, 0755, 0, 0, 0, NULL, 0, NULL, NULL, NULL, 0);
	tar_any(&t, ".wh..wh.plnk.x", AE_IFREG, 0644, 0, 0, 0, NULL, 0, NULL, NULL, NULL, 0);
	tar_any(&t, "etc/passwd", AE_IFREG, 0644, 0, 0, 0, "root:x:0:0:new\n", 15, NULL, NULL, NULL, 0);
	tar_any(&t, "hl2", 0, 0755, 1000, 0, 0, NULL, 0, "bin/sh", NULL, NULL, 0);
	tar_any(&t, "big2", AE_IFREG, 0640, 7, 0, 0, big, 400000, NULL, NULL, NULL, 0);
	tar_end(&t, l2);
	free(big);
}

struct rec_hook {
	struct oci_record_writer *w;
	unsigned int entries, files;
	int fail_at;			/* entry index, or -1 */
};

static int rec_hook_fn(void *ctx, const struct oci_entry *e, const struct layout_filedata *fd)
{
	struct rec_hook *h = ctx;

	if (fd) {
		assert_int_equal(e->type, OCI_ENTRY_REG);
		assert_int_equal(fd->size, e->size);
		if (e->sha256)
			assert_memory_equal(fd->sha256, e->sha256, 32);
		h->files++;
	}
	if ((int)h->entries++ == h->fail_at)
		return -ENOSPC;
	return h->w ? oci_record_entry_done(h->w, e, fd) : 0;
}

static int tmpfd(void)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/rec-XXXXXX", tmpdir);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static void fd_slurp(int fd, struct buf *b)
{
	char chunk[8192];
	ssize_t n;

	memset(b, 0, sizeof(*b));
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		buf_add(b, chunk, n);
	assert_int_equal(n, 0);
}

static struct bs_sink *rec_sink(int fd)
{
	struct bs_sink_params sp = { .fd = fd, .start_blk = 1, .blkszbits = 12, .blob = 1 };
	struct bs_sink *s;

	/* blob 1 of one set for every layer's tree: hard links to a lower
	 * layer's file share its extents; no inline tails (a tail is in the
	 * image of one layer) */
	assert_int_equal(bs_sink_new(&sp, &s), 0);
	return s;
}

/* Trees compared inode by inode; hard links must map consistently. */
struct tree_map {
	const struct layout_inode *a[256], *b[256];
	size_t n;
};

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

struct names {
	char *v[256];
	size_t n;
};

static int collect_cb(void *ctx, const char *name, size_t len, struct layout_inode *ino)
{
	struct names *nm = ctx;

	assert_true(nm->n < 256);
	nm->v[nm->n++] = strndup(name, len);
	return 0;
}

static void tree_cmp(struct layout_tree *ta, struct layout_inode *a,
		     struct layout_tree *tb, struct layout_inode *b, struct tree_map *m)
{
	struct layout_attr x, y;
	size_t i, j, nx;

	for (i = 0; i < m->n; i++) {
		if (m->a[i] == a) {
			assert_ptr_equal(m->b[i], b);
			return;
		}
	}
	assert_true(m->n < 256);
	m->a[m->n] = a;
	m->b[m->n++] = b;
	layout_inode_get_attr(a, &x);
	layout_inode_get_attr(b, &y);
	assert_int_equal(x.mode, y.mode);
	assert_int_equal(x.uid, y.uid);
	assert_int_equal(x.gid, y.gid);
	assert_int_equal(x.mtime, y.mtime);
	assert_int_equal(x.mtime_nsec, y.mtime_nsec);
	assert_int_equal(x.rdev_major, y.rdev_major);
	assert_int_equal(x.rdev_minor, y.rdev_minor);
	assert_int_equal(layout_inode_nlink(a), layout_inode_nlink(b));
	nx = layout_inode_xattr_count(a);
	assert_int_equal(nx, layout_inode_xattr_count(b));
	for (i = 0; i < nx; i++) {
		const char *na, *nb;
		const void *va, *vb;
		size_t la, lb;

		assert_int_equal(layout_inode_xattr_get(a, i, &na, &va, &la), 0);
		assert_int_equal(layout_inode_xattr_get(b, i, &nb, &vb, &lb), 0);
		assert_string_equal(na, nb);
		assert_int_equal(la, lb);
		assert_memory_equal(va, vb, la);
	}
	if (S_ISREG(x.mode)) {
		const struct layout_filedata *fa = layout_inode_data(a), *fb = layout_inode_data(b);

		assert_non_null(fa);
		assert_non_null(fb);
		assert_int_equal(fa->size, fb->size);
		assert_memory_equal(fa->sha256, fb->sha256, 32);
		assert_int_equal(fa->nextents, fb->nextents);
		if (fa->nextents)
			assert_memory_equal(fa->extents, fb->extents,
					    fa->nextents * sizeof(*fa->extents));
		assert_int_equal(fa->has_tail, fb->has_tail);
	}
	if (S_ISDIR(x.mode)) {
		struct names na = { .n = 0 }, nb = { .n = 0 };

		assert_int_equal(layout_dir_foreach(ta, a, collect_cb, &na), 0);
		assert_int_equal(layout_dir_foreach(tb, b, collect_cb, &nb), 0);
		assert_int_equal(na.n, nb.n);
		qsort(na.v, na.n, sizeof(na.v[0]), name_cmp);
		qsort(nb.v, nb.n, sizeof(nb.v[0]), name_cmp);
		for (j = 0; j < na.n; j++) {
			struct layout_inode *ca = NULL, *cb = NULL;

			assert_string_equal(na.v[j], nb.v[j]);
			assert_int_equal(layout_dir_lookup(ta, a, na.v[j], strlen(na.v[j]), &ca), 0);
			assert_int_equal(layout_dir_lookup(tb, b, nb.v[j], strlen(nb.v[j]), &cb), 0);
			tree_cmp(ta, ca, tb, cb, m);
		}
		for (j = 0; j < na.n; j++) {
			free(na.v[j]);
			free(nb.v[j]);
		}
	}
}

/* Both trees written as images (their data in blob 1, end_blk blocks):
 * the same bytes (this covers symlink targets too). */
static void image_cmp(struct layout_tree *ta, struct layout_tree *tb, uint64_t end_blk)
{
	int fa = tmpfd(), fb = tmpfd();
	struct layout_blob blob = { .tag = "data", .blocks = end_blk };
	struct layout_data d = { .blobs = &blob, .nblobs = 1, .tail_fd = -1 };
	struct layout_result ra, rb;
	struct buf ba, bb;

	assert_int_equal(layout_write(ta, fa, &d, &ra), 0);
	assert_int_equal(layout_write(tb, fb, &d, &rb), 0);
	fd_slurp(fa, &ba);
	fd_slurp(fb, &bb);
	assert_int_equal(ba.len, bb.len);
	assert_memory_equal(ba.p, bb.p, ba.len);
	free(ba.p);
	free(bb.p);
	close(fa);
	close(fb);
}

static int apply_record_fd(struct oci_applier *a, struct layout_tree *t, struct bs_sink *s,
			   int fd, const uint8_t *expect, struct oci_apply_stats *st,
			   char *err, size_t errlen)
{
	struct mkimg_err re = MKIMG_ERR_INIT;
	struct oci_record *r;
	struct oci_entry_src src;
	int ret;

	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	ret = oci_record_open(fd, "test", expect, &r, &re);
	if (!ret) {
		oci_record_source(r, &src);
		ret = oci_apply_source(a, t, s, &src, st, &re);
	}
	err_copy(&re, err, errlen);
	oci_record_close(r);
	return ret;
}

/* Apply two tars recording each layer, replay the records (recording
 * again) into new trees: the same trees, the same record bytes. */
static void record_roundtrip(enum oci_apply_mode mode)
{
	struct buf tar[2], rec[2], rec2[2];
	struct layout_params p;
	struct layout_tree *t1[2], *t2[2];
	struct rec_hook h1 = { .fail_at = -1 }, h2 = { .fail_at = -1 };
	struct oci_apply_opts o = { .mode = mode, .entry_done = rec_hook_fn };
	struct oci_applier *a1, *a2;
	struct oci_apply_stats st1 = { 0 }, st2 = { 0 };
	struct bs_sink *sink;
	uint8_t dg[2][32], dg2[2][32], rd[32];
	int dfd = tmpfd(), rfd[2], rfd2[2], i;
	bool per_layer = mode == OCI_APPLY_PER_LAYER;
	uint64_t end;
	char err[512];

	rec_layers(&tar[0], &tar[1]);
	layout_params_preset(&p);
	sink = rec_sink(dfd);
	o.ctx = &h1;
	assert_int_equal(oci_applier_new(&o, &a1), 0);
	o.ctx = &h2;
	assert_int_equal(oci_applier_new(&o, &a2), 0);
	for (i = 0; i < 2; i++) {
		if (i == 0 || per_layer) {
			assert_int_equal(layout_tree_new(&p, NULL, &t1[i]), 0);
			assert_int_equal(layout_tree_new(&p, NULL, &t2[i]), 0);
		} else {
			t1[i] = t1[0];
			t2[i] = t2[0];
		}
	}
	/* from the tars, recording */
	for (i = 0; i < 2; i++) {
		struct memrd m = { .p = tar[i].p, .len = tar[i].len, .chunk = 3000 };
		struct oci_tar *t;

		rfd[i] = tmpfd();
		assert_int_equal(oci_record_writer_open(rfd[i], "l", &h1.w, NULL), 0);
		assert_int_equal(oci_tar_open(mem_read, &m, 0, &t, NULL), 0);
		assert_int_equal(oci_apply_layer(a1, t1[i], sink, t, &st1, NULL), 0);
		assert_int_equal(oci_tar_drain(t), 0);
		oci_tar_close(t);
		assert_int_equal(oci_record_writer_finish(h1.w, dg[i]), 0);
		oci_record_writer_free(h1.w);
		fd_slurp(rfd[i], &rec[i]);
		SHA256(rec[i].p, rec[i].len, rd);
		assert_memory_equal(rd, dg[i], 32);
	}
	/* replayed from the records (data by digest), recording again */
	for (i = 0; i < 2; i++) {
		rfd2[i] = tmpfd();
		assert_int_equal(oci_record_writer_open(rfd2[i], "l", &h2.w, NULL), 0);
		assert_int_equal(apply_record_fd(a2, t2[i], sink, rfd[i], dg[i], &st2,
						 err, sizeof(err)), 0);
		assert_int_equal(oci_record_writer_finish(h2.w, dg2[i]), 0);
		oci_record_writer_free(h2.w);
		fd_slurp(rfd2[i], &rec2[i]);
		assert_int_equal(rec[i].len, rec2[i].len);
		assert_memory_equal(rec[i].p, rec2[i].p, rec[i].len);
		assert_memory_equal(dg[i], dg2[i], 32);
	}
	assert_int_equal(h1.entries, h2.entries);
	assert_int_equal(h1.files, h2.files);
	assert_true(h1.files >= 10);
	assert_memory_equal(&st1, &st2, sizeof(st1));
	assert_int_equal(st1.whiteouts, 3);
	assert_int_equal(st1.opaques, 1);
	assert_int_equal(st1.hardlinks, 2);
	assert_int_equal(bs_sink_finish(sink, &end, NULL, NULL), 0);
	for (i = 0; i < (per_layer ? 2 : 1); i++) {
		struct tree_map m = { .n = 0 };

		tree_cmp(t1[i], layout_tree_root(t1[i]), t2[i], layout_tree_root(t2[i]), &m);
		image_cmp(t1[i], t2[i], end);
	}
	/* what the layers did, as a sanity check of the fixture */
	assert_ptr_equal(lookup(t2[0], "bin/sh"), lookup(t2[0], "bin/ash"));
	assert_int_equal(layout_inode_data(lookup(t2[0], "big"))->size, 400000);
	if (per_layer) {
		assert_non_null(lookup(t2[1], "gone"));	/* whiteout device */
		assert_true(has_xattr(lookup(t2[1], "o"), "trusted.overlay.opaque", "y"));
		assert_non_null(lookup(t2[1], "hl2"));
	} else {
		assert_null(lookup(t2[0], "gone"));
		assert_null(lookup(t2[0], "o/old"));
		assert_ptr_equal(lookup(t2[0], "hl2"), lookup(t2[0], "bin/sh"));
		assert_int_equal(layout_inode_data(lookup(t2[0], "etc/passwd"))->size, 15);
	}
	for (i = 0; i < 2; i++) {
		if (i == 0 || per_layer) {
			layout_tree_free(t1[i]);
			layout_tree_free(t2[i]);
		}
		close(rfd[i]);
		close(rfd2[i]);
		free(tar[i].p);
		free(rec[i].p);
		free(rec2[i].p);
	}
	oci_applier_free(a1);
	oci_applier_free(a2);
	bs_sink_free(sink);
	close(dfd);
}

static void test_record_roundtrip(void **state)
{
	record_roundtrip(OCI_APPLY_FLATTEN);
	record_roundtrip(OCI_APPLY_PER_LAYER);
}

static int apply_tar_with(struct oci_applier *a, struct layout_tree *t, struct bs_sink *s,
			  const struct buf *tar, char *err, size_t errlen)
{
	struct memrd m = { .p = tar->p, .len = tar->len, .chunk = 1000 };
	struct mkimg_err te = MKIMG_ERR_INIT;
	struct oci_tar *ot;
	int ret;

	ret = oci_tar_open(mem_read, &m, 0, &ot, &te);
	if (!ret)
		ret = oci_apply_layer(a, t, s, ot, NULL, &te);
	if (!ret)
		ret = oci_tar_drain(ot);
	err_copy(&te, err, errlen);
	oci_tar_close(ot);
	return ret;
}

/* A record of layer 1 of the fixture, in memory. */
static void rec_bytes(struct buf *out, uint8_t digest[32])
{
	struct buf tar[2];
	struct layout_params p;
	struct layout_tree *t;
	struct rec_hook h = { .fail_at = -1 };
	struct oci_apply_opts o = { .entry_done = rec_hook_fn, .ctx = &h };
	struct oci_applier *a;
	struct bs_sink *sink;
	int dfd = tmpfd(), rfd = tmpfd();
	char err[512];

	rec_layers(&tar[0], &tar[1]);
	layout_params_preset(&p);
	assert_int_equal(layout_tree_new(&p, NULL, &t), 0);
	sink = rec_sink(dfd);
	assert_int_equal(oci_applier_new(&o, &a), 0);
	assert_int_equal(oci_record_writer_open(rfd, "l", &h.w, NULL), 0);
	assert_int_equal(apply_tar_with(a, t, sink, &tar[0], err, sizeof(err)), 0);
	assert_int_equal(oci_record_writer_finish(h.w, digest), 0);
	oci_record_writer_free(h.w);
	fd_slurp(rfd, out);
	oci_applier_free(a);
	bs_sink_free(sink);
	layout_tree_free(t);
	close(dfd);
	close(rfd);
	free(tar[0].p);
	free(tar[1].p);
}

static int read_record(const void *p, size_t len, size_t chunk, const uint8_t *expect,
		       char *err, size_t errlen, uint64_t *n)
{
	struct memrd m = { .p = p, .len = len, .chunk = chunk };
	struct mkimg_err re = MKIMG_ERR_INIT;
	struct oci_record *r;
	const struct oci_entry *e;
	int ret;

	*n = 0;
	err[0] = '\0';
	ret = oci_record_open_reader(mem_read, &m, "test", expect, &r, &re);
	if (ret) {
		err_copy(&re, err, errlen);
		return ret;
	}
	while ((ret = oci_record_next(r, &e)) == 1)
		(*n)++;
	/* sticky */
	if (ret < 0)
		assert_int_equal(oci_record_next(r, &e), ret);
	err_copy(&re, err, errlen);
	oci_record_close(r);
	return ret;
}

static void one_line_error(const char *err)
{
	assert_true(strlen(err) > 0);
	assert_null(strchr(err, '\n'));
	assert_true(!strncmp(err, "layer record test: ", 19));
}

static void test_record_corrupt(void **state)
{
	struct buf r, g = { 0 };
	uint8_t dg[32], bad[32];
	char err[512];
	uint64_t n, all;
	size_t i;
	int ret;

	rec_bytes(&r, dg);
	assert_int_equal(read_record(r.p, r.len, 7, dg, err, sizeof(err), &all), 0);
	assert_int_equal(all, 15);
	assert_int_equal(read_record(r.p, r.len, 1 << 20, NULL, err, sizeof(err), &n), 0);
	/* every truncation */
	for (i = 0; i < r.len; i++) {
		ret = read_record(r.p, i, 5, NULL, err, sizeof(err), &n);
		assert_int_equal(ret, -EINVAL);
		one_line_error(err);
		if (i > 16)
			assert_non_null(strstr(err, "truncated"));
	}
	/* every single-bit flip */
	buf_add(&g, r.p, r.len);
	for (i = 0; i < r.len; i++) {
		g.p[i] ^= 1u << (i % 8);
		ret = read_record(g.p, g.len, 64, NULL, err, sizeof(err), &n);
		assert_true(ret < 0);
		one_line_error(err);
		g.p[i] ^= 1u << (i % 8);
	}
	/* a flip in a file's size is caught by the checksum at the end */
	/* trailing bytes */
	buf_add(&g, "", 1);
	assert_int_equal(read_record(g.p, g.len, 64, NULL, err, sizeof(err), &n), -EINVAL);
	assert_non_null(strstr(err, "data after the trailer"));
	g.len--;
	/* another record's digest */
	memcpy(bad, dg, 32);
	bad[0] ^= 1;
	assert_int_equal(read_record(g.p, g.len, 64, bad, err, sizeof(err), &n), -EINVAL);
	assert_non_null(strstr(err, "digest mismatch"));
	/* header */
	g.p[0] = 'X';
	assert_int_equal(read_record(g.p, g.len, 64, NULL, err, sizeof(err), &n), -EINVAL);
	assert_non_null(strstr(err, "not a layer record"));
	g.p[0] = r.p[0];
	g.p[8] = 2;
	assert_int_equal(read_record(g.p, g.len, 64, NULL, err, sizeof(err), &n), -ENOTSUP);
	assert_non_null(strstr(err, "unsupported version 2"));
	g.p[8] = r.p[8];
	assert_int_equal(read_record(g.p, 0, 64, NULL, err, sizeof(err), &n), -EINVAL);
	assert_non_null(strstr(err, "empty file"));
	/* a tar is not a record */
	{
		struct buf tar[2];

		rec_layers(&tar[0], &tar[1]);
		assert_int_equal(read_record(tar[0].p, tar[0].len, 512, NULL, err, sizeof(err), &n),
				 -EINVAL);
		assert_non_null(strstr(err, "not a layer record"));
		free(tar[0].p);
		free(tar[1].p);
	}
	free(g.p);
	free(r.p);
}

/* Hand-made records with a correct checksum: the reader's own checks. */
static void put_le(struct buf *b, uint64_t v, int n)
{
	unsigned char c[8];
	int i;

	for (i = 0; i < n; i++)
		c[i] = v >> (8 * i);
	buf_add(b, c, n);
}

struct raw_ent {
	unsigned int type, flags;
	uint32_t mode, rmaj;
	uint64_t size;
	const unsigned char *sha;
	const char *path;
	size_t pathlen;
	const char *link;
	size_t linklen;
	uint32_t nx;			/* claimed xattr count */
	const char *xname;		/* one xattr if set */
	int64_t lenfix;			/* added to the body length */
};

static void raw_entry(struct buf *b, const struct raw_ent *e)
{
	struct buf body = { 0 };

	put_le(&body, e->type, 1);
	put_le(&body, e->flags, 1);
	put_le(&body, 0, 2);
	put_le(&body, e->mode, 4);
	put_le(&body, 0, 4);
	put_le(&body, 0, 4);
	put_le(&body, 1700000000, 8);
	put_le(&body, 0, 4);
	put_le(&body, e->rmaj, 4);
	put_le(&body, 0, 4);
	put_le(&body, e->size, 8);
	if (e->sha)
		buf_add(&body, e->sha, 32);
	put_le(&body, e->pathlen, 4);
	buf_add(&body, e->path, e->pathlen);
	buf_add(&body, "", 1);
	put_le(&body, e->linklen, 4);
	if (e->linklen)
		buf_add(&body, e->link, e->linklen);
	buf_add(&body, "", 1);
	put_le(&body, e->nx, 4);
	if (e->xname) {
		put_le(&body, strlen(e->xname), 2);
		buf_add(&body, e->xname, strlen(e->xname) + 1);
		put_le(&body, 1, 4);
		buf_add(&body, "v", 1);
	}
	buf_add(b, "E", 1);
	put_le(b, body.len + e->lenfix, 4);
	buf_add(b, body.p, body.len);
	free(body.p);
}

static void raw_record(struct buf *b, const struct raw_ent *e, size_t n, uint64_t count)
{
	unsigned char md[32];
	size_t i;

	memset(b, 0, sizeof(*b));
	buf_add(b, "mkimg-lr", 8);
	put_le(b, 1, 4);
	put_le(b, 0, 4);
	for (i = 0; i < n; i++)
		raw_entry(b, &e[i]);
	buf_add(b, "Z", 1);
	put_le(b, count, 8);
	SHA256(b->p, b->len, md);
	buf_add(b, md, 32);
}

static int raw_read(const struct raw_ent *e, char *err, size_t errlen)
{
	struct buf b;
	uint64_t n;
	int ret;

	raw_record(&b, e, 1, 1);
	ret = read_record(b.p, b.len, 3, NULL, err, errlen, &n);
	free(b.p);
	return ret;
}

static void test_record_hostile(void **state)
{
	static const unsigned char zero_sha[32];
	struct raw_ent ok = { .type = OCI_ENTRY_REG, .mode = 0644, .path = "a/b", .pathlen = 3 };
	struct raw_ent e;
	char err[512];
	struct buf b;
	uint64_t n;

	assert_int_equal(raw_read(&ok, err, sizeof(err)), 0);
	e = ok;
	e.path = "../x";
	e.pathlen = 4;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "escapes"));
	e.path = "/x";
	e.pathlen = 2;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	e.path = "a//b";
	e.pathlen = 4;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not normalized"));
	e.path = "a\0b";
	e.pathlen = 3;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "entry 0: path not NUL-terminated or with a NUL inside"));
	{
		char *longp = malloc(OCI_PATH_MAX + 2);

		memset(longp, 'p', OCI_PATH_MAX + 1);
		e.path = longp;
		e.pathlen = OCI_PATH_MAX + 1;
		assert_int_equal(raw_read(&e, err, sizeof(err)), -ENAMETOOLONG);
		assert_non_null(strstr(err, "entry 0: path of 4097 bytes (max 4096)"));
		free(longp);
	}
	e = ok;
	e.pathlen = 0;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "the root must be a directory"));
	e = ok;
	e.type = 9;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid entry type 9"));
	e = ok;
	e.flags = 0x80;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	e = ok;
	e.mode = 0170644;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid mode"));
	e = ok;
	e.rmaj = 1;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "device numbers"));
	e = ok;
	e.flags = 1;
	e.sha = zero_sha;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "an empty file with the digest of data"));
	e.type = OCI_ENTRY_DIR;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "digest on a non-file"));
	e = ok;
	e.type = OCI_ENTRY_HARDLINK;
	e.link = "";
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "hard link to the root"));
	e.link = "x/../../y";
	e.linklen = 9;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "hard link target"));
	e.type = OCI_ENTRY_SYMLINK;
	e.link = "a\0b";
	e.linklen = 3;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "entry 0 (a/b): link target not NUL-terminated"));
	e = ok;
	e.link = "x";
	e.linklen = 1;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "link target on a non-link"));
	e = ok;
	e.nx = 0xffffffffu;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid xattr count"));
	e = ok;
	e.nx = 1;
	e.xname = "user.x";
	assert_int_equal(raw_read(&e, err, sizeof(err)), 0);
	/* the reader refuses what the writer refuses: overlayfs metadata */
	e.xname = "trusted.overlay.opaque";
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "xattr trusted.overlay.opaque is overlayfs metadata"));
	e.xname = "";
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "xattr name of 0 bytes"));
	e = ok;
	e.lenfix = 1;	/* claims a byte more than the body: eats the trailer tag */
	assert_true(raw_read(&e, err, sizeof(err)) < 0);
	e.lenfix = -1;
	assert_int_equal(raw_read(&e, err, sizeof(err)), -EINVAL);
	/* an absurd length: refused before any allocation */
	raw_record(&b, &ok, 1, 1);
	b.p[17] = 0xff;
	b.p[18] = 0xff;
	b.p[19] = 0xff;
	b.p[20] = 0xff;
	assert_int_equal(read_record(b.p, b.len, 64, NULL, err, sizeof(err), &n), -EINVAL);
	assert_non_null(strstr(err, "invalid length"));
	free(b.p);
	/* the trailer's count */
	raw_record(&b, &ok, 1, 2);
	assert_int_equal(read_record(b.p, b.len, 64, NULL, err, sizeof(err), &n), -EINVAL);
	assert_non_null(strstr(err, "trailer counts 2 entries"));
	free(b.p);
	/* a bad tag */
	raw_record(&b, &ok, 1, 1);
	b.p[16] = 'Q';
	assert_int_equal(read_record(b.p, b.len, 64, NULL, err, sizeof(err), &n), -EINVAL);
	assert_non_null(strstr(err, "invalid tag"));
	free(b.p);
	/* a file without a digest and with a size reads, but gives no data */
	{
		struct raw_ent f = ok;
		struct mkimg_err re = MKIMG_ERR_INIT;
		struct oci_record *r;
		struct oci_entry_src src;
		struct env v;
		struct memrd m;

		f.size = 5;
		raw_record(&b, &f, 1, 1);
		m = (struct memrd){ .p = b.p, .len = b.len, .chunk = 64 };
		env_new(&v, OCI_APPLY_FLATTEN, false);
		assert_int_equal(oci_record_open_reader(mem_read, &m, "test", NULL, &r, &re), 0);
		oci_record_source(r, &src);
		assert_int_equal(oci_apply_source(v.a, v.t, v.sink, &src, NULL, &re), -EINVAL);
		assert_non_null(strstr(mkimg_err_msg(&re), "a regular file without a digest"));
		oci_record_close(r);
		env_free(&v);
		free(b.p);
	}
}

/* Many entries: written and read back as a stream. */
static void test_record_many(void **state)
{
	static const uint8_t empty[32] = {
		0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4, 0xc8,
		0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
		0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
	};
	struct oci_record_writer *w;
	struct oci_record *r;
	const struct oci_entry *e;
	struct oci_entry in = { .type = OCI_ENTRY_REG, .mode = 0644 };
	struct mkimg_err re = MKIMG_ERR_INIT;
	char path[32];
	uint8_t dg[32], dg2[32];
	int fd = tmpfd(), ret;
	uint64_t i, n = 0;

	assert_int_equal(oci_record_writer_open(fd, "many", &w, &re), 0);
	for (i = 0; i < 200000; i++) {
		in.pathlen = snprintf(path, sizeof(path), "d%llu/f%llu",
				      (unsigned long long)(i % 100), (unsigned long long)i);
		in.path = path;
		in.mtime = (int64_t)i - 100000;
		assert_int_equal(oci_record_write(w, &in, empty), 0);
	}
	assert_int_equal(oci_record_writer_finish(w, dg), 0);
	oci_record_writer_free(w);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	assert_int_equal(oci_record_open(fd, "many", dg, &r, &re), 0);
	while ((ret = oci_record_next(r, &e)) == 1) {
		assert_int_equal(e->mtime, (int64_t)n - 100000);
		assert_memory_equal(e->sha256, empty, 32);
		n++;
	}
	assert_int_equal(ret, 0);
	assert_int_equal(n, 200000);
	assert_int_equal(oci_record_count(r), 200000);
	assert_int_equal(oci_record_digest(r, dg2), 0);
	assert_memory_equal(dg, dg2, 32);
	assert_int_equal(oci_record_next(r, &e), 0);
	oci_record_close(r);
	close(fd);
}

/* The writer refuses what a reader would; the hook can stop the apply;
 * replays need the data in the store. */
static void test_record_writer_errors(void **state)
{
	struct oci_record_writer *w;
	struct oci_entry e = { .path = "a", .pathlen = 1, .type = OCI_ENTRY_DIR, .mode = 0755 };
	struct oci_xattr x = { .name = "user.x", .value = "v", .len = 70000 };
	struct mkimg_err we;
	char err[512];
	int fd = tmpfd(), ret;
	uint8_t dg[32];

	assert_int_equal(oci_record_writer_open(fd, "w", &w, fresh(&we)), 0);
	assert_int_equal(oci_record_write(w, &e, NULL), 0);
	e.type = 42;
	assert_int_equal(oci_record_write(w, &e, NULL), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&we), "layer record w: entry 1 (a): invalid entry type 42"));
	e.type = OCI_ENTRY_DIR;
	assert_int_equal(oci_record_write(w, &e, NULL), -EINVAL);	/* sticky */
	assert_int_equal(oci_record_writer_finish(w, dg), -EINVAL);
	oci_record_writer_free(w);

	assert_int_equal(oci_record_writer_open(fd, "w", &w, fresh(&we)), 0);
	e.path = "a/../b";
	e.pathlen = 6;
	assert_int_equal(oci_record_write(w, &e, NULL), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&we), "not normalized"));
	oci_record_writer_free(w);
	assert_int_equal(oci_record_writer_open(fd, "w", &w, fresh(&we)), 0);
	e.path = "a";
	e.pathlen = 1;
	e.nxattrs = 1;
	e.xattrs = &x;
	assert_int_equal(oci_record_write(w, &e, NULL), -E2BIG);
	oci_record_writer_free(w);
	/* case 10: no record carries overlayfs metadata */
	assert_int_equal(oci_record_writer_open(fd, "w", &w, fresh(&we)), 0);
	x = (struct oci_xattr){ .name = "trusted.overlay.opaque", .value = "y", .len = 1 };
	assert_int_equal(oci_record_write(w, &e, NULL), -EINVAL);
	assert_non_null(strstr(mkimg_err_msg(&we), "overlayfs metadata"));
	oci_record_writer_free(w);
	close(fd);

	/* a full disk: the message names the record */
	fd = open("/dev/full", O_WRONLY);
	if (fd >= 0) {
		assert_int_equal(oci_record_writer_open(fd, "full", &w, fresh(&we)), 0);
		e.nxattrs = 0;
		assert_int_equal(oci_record_write(w, &e, NULL), 0);
		assert_int_equal(oci_record_writer_finish(w, dg), -ENOSPC);
		assert_non_null(strstr(mkimg_err_msg(&we), "layer record full: write: "));
		oci_record_writer_free(w);
		close(fd);
	}

	/* the hook stops the apply at the third entry */
	{
		struct buf tar[2];
		struct rec_hook h = { .fail_at = 2 };
		struct oci_apply_opts o = { .entry_done = rec_hook_fn, .ctx = &h };
		struct env v;

		rec_layers(&tar[0], &tar[1]);
		env_new(&v, OCI_APPLY_FLATTEN, false);
		oci_applier_free(v.a);
		assert_int_equal(oci_applier_new(&o, &v.a), 0);
		ret = apply_tar(&v, &tar[0], err, sizeof(err));
		assert_int_equal(ret, -ENOSPC);
		assert_int_equal(h.entries, 3);
		assert_non_null(strstr(err, "etc/passwd: "));
		env_free(&v);
		free(tar[0].p);
		free(tar[1].p);
	}

	/* data the store does not have */
	{
		struct buf r;
		struct env v;
		struct mkimg_err re = MKIMG_ERR_INIT;
		struct oci_record *rd;
		struct oci_entry_src src;
		struct memrd m;

		rec_bytes(&r, dg);
		env_new(&v, OCI_APPLY_FLATTEN, false);
		m = (struct memrd){ .p = r.p, .len = r.len, .chunk = 100 };
		assert_int_equal(oci_record_open_reader(mem_read, &m, "test", dg, &rd, &re), 0);
		oci_record_source(rd, &src);
		assert_int_equal(oci_apply_source(v.a, v.t, v.sink, &src, NULL, &re), -ENOENT);
		assert_non_null(strstr(mkimg_err_msg(&re),
				       "etc/passwd: layer record refers to data missing from the store"));
		oci_record_close(rd);
		env_free(&v);
		free(r.p);
	}
}

static int setup(void **state)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_oci-XXXXXX");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[400];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_paths),
		cmocka_unit_test(test_digests),
		cmocka_unit_test(test_media_types),
		cmocka_unit_test(test_layout_single),
		cmocka_unit_test(test_layout_tags_nested),
		cmocka_unit_test(test_layout_ambiguous),
		cmocka_unit_test(test_layout_hostile),
		cmocka_unit_test(test_streams),
		cmocka_unit_test(test_tar_entries),
		cmocka_unit_test(test_tar_short_end),
		cmocka_unit_test(test_tar_overlay_xattrs),
		cmocka_unit_test(test_tar_pax_1g),
		cmocka_unit_test(test_apply_flatten),
		cmocka_unit_test(test_apply_hostile),
		cmocka_unit_test(test_apply_per_layer),
		cmocka_unit_test(test_apply_per_layer_lower_link),
		cmocka_unit_test(test_record_roundtrip),
		cmocka_unit_test(test_record_corrupt),
		cmocka_unit_test(test_record_hostile),
		cmocka_unit_test(test_record_many),
		cmocka_unit_test(test_record_writer_errors),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
