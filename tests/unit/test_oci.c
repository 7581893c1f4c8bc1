/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for oci/: paths, digests, media types, layouts, streams, tar
 * entries and applying layers. Fixtures are built in the test. */
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
	size_t len;

	return oci_path_normalize(in, strlen(in), flags, out, &len, err, 256);
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
	char err[256];
	const char *good = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

	assert_int_equal(oci_digest_validate(good, err, sizeof(err)), 0);
	assert_int_equal(oci_digest_validate("sha512:abcd", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unsupported digest algorithm"));
	assert_int_equal(oci_digest_validate("sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
					     err, sizeof(err)), -EINVAL);
	assert_int_equal(oci_digest_validate("sha256:../../../../etc/passwd", err, sizeof(err)), -EINVAL);
	assert_int_equal(oci_digest_validate("sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef/",
					     err, sizeof(err)), -EINVAL);
	assert_int_equal(oci_digest_validate("nocolon", err, sizeof(err)), -EINVAL);
	assert_int_equal(oci_digest_validate(NULL, err, sizeof(err)), -EINVAL);
}

static void test_media_types(void **state)
{
	enum oci_compression c;
	char err[256];

	assert_int_equal(oci_layer_media_type("application/vnd.oci.image.layer.v1.tar", &c, err, 256), 0);
	assert_int_equal(c, OCI_COMP_NONE);
	assert_int_equal(oci_layer_media_type("application/vnd.oci.image.layer.v1.tar+gzip", &c, err, 256), 0);
	assert_int_equal(c, OCI_COMP_GZIP);
	assert_int_equal(oci_layer_media_type("application/vnd.oci.image.layer.v1.tar+zstd", &c, err, 256), 0);
	assert_int_equal(c, OCI_COMP_ZSTD);
	assert_int_equal(oci_layer_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip", &c, err, 256), 0);
	assert_int_equal(c, OCI_COMP_GZIP);
	assert_int_equal(oci_layer_media_type("application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
					      &c, err, 256), -ENOTSUP);
	assert_non_null(strstr(err, "non-distributable"));
	assert_int_equal(oci_layer_media_type("application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
					      &c, err, 256), -ENOTSUP);
	assert_non_null(strstr(err, "non-distributable"));
	assert_int_equal(oci_layer_media_type("application/vnd.oci.image.layer.v1.tar+gzip+encrypted",
					      &c, err, 256), -ENOTSUP);
	assert_non_null(strstr(err, "encrypted"));
	assert_int_equal(oci_layer_media_type("text/plain", &c, err, 256), -ENOTSUP);
	assert_non_null(strstr(err, "unsupported layer media type"));

	assert_int_equal(oci_detect_compression("\x1f\x8b\x08", 3), OCI_COMP_GZIP);
	assert_int_equal(oci_detect_compression("\x28\xb5\x2f\xfd", 4), OCI_COMP_ZSTD);
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
	char js[2048], err[512];

	fixture_dir(&f, "single");
	make_image(&f, "linux", "arm64", f.diff_id);
	snprintf(js, sizeof(js),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"digest\":\"%s\",\"size\":%zu}]}", f.manifest, f.manifest_len);
	write_index(&f, js);
	/* exactly one manifest, no selector: taken whatever its platform */
	assert_int_equal(oci_image_open(f.dir, NULL, &img, err, sizeof(err)), 0);
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

		assert_int_equal(oci_image_open(f.dir, &sel, &img, err, sizeof(err)), -ENOENT);
		assert_non_null(strstr(err, "platform linux/amd64"));
		sel.arch = "arm64";
		assert_int_equal(oci_image_open(f.dir, &sel, &img, err, sizeof(err)), 0);
		oci_image_free(img);
	}
	/* by digest */
	{
		struct oci_selector sel = { .ref = f.manifest };

		assert_int_equal(oci_image_open(f.dir, &sel, &img, err, sizeof(err)), 0);
		oci_image_free(img);
		sel.ref = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
		assert_int_equal(oci_image_open(f.dir, &sel, &img, err, sizeof(err)), -ENOENT);
		sel.ref = "sha256:../../x";
		assert_int_equal(oci_image_open(f.dir, &sel, &img, err, sizeof(err)), -EINVAL);
	}
	fixture_free(&f);
}

static void test_layout_tags_nested(void **state)
{
	struct fixture f;
	struct oci_image *img;
	char js[4096], err[512], amd[OCI_DIGEST_LEN + 1], arm[OCI_DIGEST_LEN + 1];
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
	assert_int_equal(oci_image_open(f.dir, &sel, &img, err, sizeof(err)), 0);
	assert_string_equal(img->manifest_digest, amd);
	oci_image_free(img);
	sel.arch = "arm64";
	sel.os = "linux";
	assert_int_equal(oci_image_open(f.dir, &sel, &img, err, sizeof(err)), 0);
	assert_string_equal(img->manifest_digest, arm);
	oci_image_free(img);
	/* a tag for one manifest: taken without a platform */
	sel = (struct oci_selector){ .ref = "armonly" };
	assert_int_equal(oci_image_open(f.dir, &sel, &img, err, sizeof(err)), 0);
	assert_string_equal(img->manifest_digest, arm);
	oci_image_free(img);
	sel = (struct oci_selector){ .ref = "armonly", .os = "linux", .arch = "s390x" };
	assert_int_equal(oci_image_open(f.dir, &sel, &img, err, sizeof(err)), -ENOENT);
	sel = (struct oci_selector){ .ref = "nope" };
	assert_int_equal(oci_image_open(f.dir, &sel, &img, err, sizeof(err)), -ENOENT);
	assert_non_null(strstr(err, "no image \"nope\""));
	/* no selector, two manifests reachable: linux/amd64 */
	assert_int_equal(oci_image_open(f.dir, NULL, &img, err, sizeof(err)), 0);
	assert_string_equal(img->manifest_digest, amd);
	oci_image_free(img);
	fixture_free(&f);
}

static void test_layout_hostile(void **state)
{
	struct fixture f;
	struct oci_image *img;
	char js[4096], err[512], self[OCI_DIGEST_LEN + 1];
	char p[512];
	int i;

	fixture_dir(&f, "hostile");
	/* not JSON */
	write_index(&f, "{\"schemaVersion\": 2, \"manifests\": [ {\"digest\": \"sha256:");
	assert_int_equal(oci_image_open(f.dir, NULL, &img, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "not JSON"));
	/* a digest with a path in it */
	write_index(&f, "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"sha256:../../../etc/passwd\",\"size\":1}]}");
	assert_int_equal(oci_image_open(f.dir, NULL, &img, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "invalid digest"));
	write_index(&f, "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"md5:abc\",\"size\":1}]}");
	assert_int_equal(oci_image_open(f.dir, NULL, &img, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "unsupported digest algorithm"));
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
	assert_int_equal(oci_image_open(f.dir, NULL, &img, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "digest mismatch"));
	/* size mismatch */
	make_image(&f, "linux", "amd64", f.diff_id);
	snprintf(js, sizeof(js), "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"%s\",\"size\":%zu}]}",
		 f.manifest, f.manifest_len + 1);
	write_index(&f, js);
	assert_int_equal(oci_image_open(f.dir, NULL, &img, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "size mismatch"));
	/* diff_id count mismatch */
	{
		struct oci_image *m;
		const char *man =
			"{\"schemaVersion\":2,\"config\":{\"digest\":\"sha256:0000000000000000000000000000000000000000000000000000000000000000\",\"size\":1},"
			"\"layers\":[]}";

		assert_int_equal(oci_parse_manifest(man, strlen(man), &m, err, sizeof(err)), 0);
		assert_int_equal(oci_parse_config("{\"rootfs\":{\"diff_ids\":[\"sha256:0000000000000000000000000000000000000000000000000000000000000000\"]}}",
						  113, m, err, sizeof(err)), -EINVAL);
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
		assert_int_equal(oci_parse_manifest(man, strlen(man), &m, err, sizeof(err)), -ENOTSUP);
		assert_non_null(strstr(err, "encrypted"));
		/* Docker schema 1 */
		snprintf(man, sizeof(man), "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+prettyjws\"}");
		assert_int_equal(oci_parse_manifest(man, strlen(man), &m, err, sizeof(err)), -ENOTSUP);
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
		assert_int_equal(oci_parse_manifest(b.p, b.len, &m, err, sizeof(err)), -E2BIG);
		assert_non_null(strstr(err, "10000"));
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
		assert_int_equal(oci_image_open(f.dir, NULL, &img, err, sizeof(err)), -ELOOP);
		assert_non_null(strstr(err, "nested"));
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
		assert_int_equal(oci_image_open(f.dir, NULL, &img, err, sizeof(err)), -EFBIG);
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
	struct oci_stream *s;
	const void *b;
	ssize_t n;
	int ret;

	ret = oci_stream_open(&p, &s, err, errlen);
	if (ret)
		return ret;
	do
		n = oci_stream_read(s, &b);
	while (n > 0);
	ret = n < 0 ? (int)n : oci_stream_finish(s, NULL, NULL);
	if (outbytes)
		*outbytes = oci_stream_bytes_out(s);
	oci_stream_free(s);
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
		struct oci_stream *s;

		assert_int_equal(oci_stream_open(&sp, &s, err, sizeof(err)), -EINVAL);
		assert_non_null(strstr(err, "size mismatch"));
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
	struct oci_tar *t;
	const struct oci_entry *e;
	int ret;

	*nentries = 0;
	ret = oci_tar_open(mem_read, &m, 0, &t, err, errlen);
	if (ret)
		return ret;
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
	assert_int_equal(oci_tar_open(mem_read, &m, 0, &t, err, sizeof(err)), 0);
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
	ret = oci_tar_open(bigpax_read, bp, 0, &t, err, sizeof(err));
	if (ret == 0) {
		ret = oci_tar_next(t, &e);
		oci_tar_close(t);
	}
	assert_true(ret < 0);
	assert_true(strlen(err) > 0);
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
	assert_int_equal(layout_tree_new(&p, &v->t), 0);
	snprintf(path, sizeof(path), "%s/data-XXXXXX", tmpdir);
	v->fd = mkstemp(path);
	assert_true(v->fd >= 0);
	unlink(path);
	sp.fd = v->fd;
	sp.start_blk = 1;
	sp.blkszbits = 12;
	sp.tree = v->t;
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
	struct oci_tar *t;
	int ret;

	ret = oci_tar_open(mem_read, &m, 0, &t, err, errlen);
	if (ret)
		return ret;
	ret = oci_apply_layer(v->a, v->t, v->sink, t, NULL, err, errlen);
	if (!ret)
		ret = oci_tar_drain(t);
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
	assert_int_equal(layout_tree_new(&p, &t2), 0);
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
	assert_int_equal(layout_tree_new(&p, &t2), 0);
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
		cmocka_unit_test(test_layout_hostile),
		cmocka_unit_test(test_streams),
		cmocka_unit_test(test_tar_entries),
		cmocka_unit_test(test_tar_pax_1g),
		cmocka_unit_test(test_apply_flatten),
		cmocka_unit_test(test_apply_hostile),
		cmocka_unit_test(test_apply_per_layer),
		cmocka_unit_test(test_apply_per_layer_lower_link),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
