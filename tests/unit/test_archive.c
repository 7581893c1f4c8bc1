/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Unit tests for oci/archive.c: the member index of oci-archive and
 * docker-archive tars, the images read from them, layer streams and blob
 * checks by offset, and hostile archives (each refused with one message).
 * Archives are built here, header by header.
 */
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

#include <openssl/sha.h>
#include <cmocka.h>

#include "mkimg/oci.h"

static char tmpdir[256];

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
	if (n)
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

/* One ustar header: name (< 100 bytes), type, size (the data is the
 * caller's), link target for links. */
static void tar_hdr(struct buf *b, const char *name, char type, uint64_t size,
		    const char *link)
{
	unsigned char h[512] = { 0 };
	unsigned int sum = 0;
	int i;

	snprintf((char *)h, 100, "%s", name);
	snprintf((char *)h + 100, 8, "%07o", type == '5' ? 0755 : 0644);
	snprintf((char *)h + 108, 8, "%07o", 0);
	snprintf((char *)h + 116, 8, "%07o", 0);
	snprintf((char *)h + 124, 12, "%011llo", (unsigned long long)size);
	snprintf((char *)h + 136, 12, "%011o", 1700000000);
	h[156] = (unsigned char)type;
	if (link)
		snprintf((char *)h + 157, 100, "%s", link);
	memcpy(h + 257, "ustar", 6);
	memcpy(h + 263, "00", 2);
	memset(h + 148, ' ', 8);
	for (i = 0; i < 512; i++)
		sum += h[i];
	snprintf((char *)h + 148, 8, "%06o", sum);
	buf_add(b, h, 512);
}

static void tar_pad(struct buf *b)
{
	static const unsigned char z[512];

	if (b->len % 512)
		buf_add(b, z, 512 - b->len % 512);
}

static void tar_file(struct buf *b, const char *name, const void *d, size_t n)
{
	tar_hdr(b, name, '0', n, NULL);
	buf_add(b, d, n);
	tar_pad(b);
}

/* A pax header for the next member. */
static void tar_pax(struct buf *b, const char *key, const char *val)
{
	char rec[1024];
	size_t n = strlen(key) + strlen(val) + 3, len = n;
	int w;

	/* the length counts its own digits */
	for (;;) {
		w = snprintf(rec, sizeof(rec), "%zu %s=%s\n", len, key, val);
		if ((size_t)w == len)
			break;
		len = n + (size_t)snprintf(NULL, 0, "%zu", len);
	}
	tar_hdr(b, "PaxHeaders/x", 'x', (uint64_t)w, NULL);
	buf_add(b, rec, (size_t)w);
	tar_pad(b);
}

static void tar_end(struct buf *b)
{
	static const unsigned char z[1024];

	buf_add(b, z, sizeof(z));
}

static char *write_file(const char *name, const void *d, size_t n)
{
	static char path[512];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, d, n), (ssize_t)n);
	close(fd);
	return path;
}

/* The message of opening d as an archive: NULL when it opens. */
static const char *open_msg(const struct buf *d, struct mkimg_err *err)
{
	struct oci_archive *a = NULL;
	int ret;

	mkimg_err_clear(err);
	ret = oci_archive_open(write_file("a.tar", d->p, d->len), &a, err);
	oci_archive_close(a);
	if (!ret)
		return NULL;
	assert_true(ret < 0);
	assert_int_equal(err->code, ret);
	assert_null(strchr(mkimg_err_msg(err), '\n'));
	return mkimg_err_msg(err);
}

static void assert_contains(const char *s, const char *sub)
{
	if (!s || !strstr(s, sub))
		fail_msg("\"%s\" does not contain \"%s\"", s ? s : "(null)", sub);
}

/* ---------------------------------------------------------------------- */
/* an OCI layout in a tar                                                 */
/* ---------------------------------------------------------------------- */

struct fixture {
	struct buf layer;		/* an uncompressed layer tar */
	char layer_d[OCI_DIGEST_LEN + 1];
	char config[512], manifest[1024], index[512];
	char config_d[OCI_DIGEST_LEN + 1], manifest_d[OCI_DIGEST_LEN + 1];
};

static void fixture_make(struct fixture *f)
{
	memset(f, 0, sizeof(*f));
	tar_file(&f->layer, "hello", "hello world\n", 12);
	tar_end(&f->layer);
	hexd(f->layer.p, f->layer.len, f->layer_d);
	snprintf(f->config, sizeof(f->config),
		 "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
		 "\"diff_ids\":[\"%s\"]}}", f->layer_d);
	hexd(f->config, strlen(f->config), f->config_d);
	snprintf(f->manifest, sizeof(f->manifest),
		 "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","
		 "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
		 "\"digest\":\"%s\",\"size\":%zu},\"layers\":[{\"mediaType\":"
		 "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"%s\",\"size\":%zu}]}",
		 f->config_d, strlen(f->config), f->layer_d, f->layer.len);
	hexd(f->manifest, strlen(f->manifest), f->manifest_d);
	snprintf(f->index, sizeof(f->index),
		 "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":"
		 "\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"%s\",\"size\":%zu,"
		 "\"annotations\":{\"org.opencontainers.image.ref.name\":\"v1\"}}]}",
		 f->manifest_d, strlen(f->manifest));
}

static void blob_name(char *out, size_t len, const char *digest)
{
	snprintf(out, len, "./blobs/sha256/%s", digest + 7);
}

/* The archive as `tar -cf - -C LAYOUT .` writes it; skip: a blob left
 * out ("config", "layer"); layer_as_link: the layer a symlink. */
static void oci_archive_build(const struct fixture *f, struct buf *b, const char *skip,
			      bool layer_as_link)
{
	char n[128];

	tar_hdr(b, "./", '5', 0, NULL);
	tar_file(b, "./oci-layout", "{\"imageLayoutVersion\":\"1.0.0\"}", 30);
	tar_file(b, "./index.json", f->index, strlen(f->index));
	tar_hdr(b, "./blobs/", '5', 0, NULL);
	tar_hdr(b, "./blobs/sha256/", '5', 0, NULL);
	blob_name(n, sizeof(n), f->manifest_d);
	tar_file(b, n, f->manifest, strlen(f->manifest));
	blob_name(n, sizeof(n), f->config_d);
	if (!skip || strcmp(skip, "config"))
		tar_file(b, n, f->config, strlen(f->config));
	blob_name(n, sizeof(n), f->layer_d);
	if (layer_as_link)
		tar_hdr(b, n, '2', 0, "/etc/passwd");
	else if (!skip || strcmp(skip, "layer"))
		tar_file(b, n, f->layer.p, f->layer.len);
	tar_end(b);
}

static void test_oci_archive(void **state)
{
	struct oci_selector sel = { .ref = "v1" };
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct oci_stream_params sp = { 0 };
	struct oci_archive *a;
	struct oci_image *img;
	struct oci_stream *s;
	struct fixture f;
	struct buf b = { 0 };
	char *path, *buf, diff[OCI_DIGEST_LEN + 1];
	uint64_t off, size;
	size_t len;

	(void)state;
	fixture_make(&f);
	oci_archive_build(&f, &b, NULL, false);
	path = strdup(write_file("oci.tar", b.p, b.len));
	assert_int_equal(oci_archive_open(path, &a, &err), 0);
	/* oci-layout, index.json, manifest, config, layer, blobs, blobs/sha256 */
	assert_int_equal(oci_archive_count(a), 7);
	assert_int_equal(oci_archive_read(a, "index.json", OCI_MAX_JSON, &buf, &len, &err), 0);
	assert_int_equal(len, strlen(f.index));
	assert_memory_equal(buf, f.index, len);
	free(buf);
	/* names are normalized on lookup too */
	assert_int_equal(oci_archive_member(a, ".//index.json", &off, &size, &err), 0);
	assert_int_equal(size, strlen(f.index));
	assert_int_equal(oci_archive_member(a, "blobs/sha256", &off, &size, &err), -EINVAL);
	assert_contains(mkimg_err_msg(&err), "is a directory, not a regular file");
	mkimg_err_clear(&err);
	assert_int_equal(oci_archive_read(a, "index.json", 10, &buf, &len, &err), -EFBIG);
	mkimg_err_clear(&err);

	assert_int_equal(oci_archive_image_open(a, &sel, &img, &err), 0);
	assert_string_equal(img->manifest_digest, f.manifest_d);
	assert_int_equal(img->nlayers, 1);
	assert_string_equal(img->layers[0].digest, f.layer_d);
	assert_string_equal(img->layers[0].diff_id, f.layer_d);
	assert_non_null(img->layers[0].member);
	assert_int_equal(oci_archive_member(a, img->layers[0].member, &off, &size, &err), 0);
	assert_int_equal(size, f.layer.len);
	assert_int_equal(off % 512, 0);

	/* the layer streamed by offset and length, digest and diff_id checked */
	sp.path = path;
	sp.name = "layer";
	sp.comp = OCI_COMP_NONE;
	sp.digest = img->layers[0].digest;
	sp.diff_id = img->layers[0].diff_id;
	sp.check_size = true;
	sp.size = img->layers[0].size;
	sp.range = true;
	sp.offset = off;
	sp.length = size;
	assert_int_equal(oci_stream_open(&sp, &s, &err), 0);
	assert_int_equal(oci_stream_finish(s, NULL, diff), 0);
	assert_string_equal(diff, f.layer_d);
	assert_int_equal(oci_stream_bytes_in(s), f.layer.len);
	oci_stream_free(s);
	/* one byte more: the next member's padding is not the blob */
	sp.length = size + 1;
	assert_int_equal(oci_stream_open(&sp, &s, &err), -EINVAL);
	assert_contains(mkimg_err_msg(&err), "size mismatch");
	mkimg_err_clear(&err);
	sp.check_size = false;
	sp.diff_id = NULL;
	assert_int_equal(oci_stream_open(&sp, &s, &err), 0);
	assert_int_equal(oci_stream_finish(s, NULL, NULL), -EINVAL);
	assert_contains(mkimg_err_msg(&err), "digest mismatch");
	oci_stream_free(s);
	mkimg_err_clear(&err);
	/* past the end of the file */
	sp.offset = b.len - 10;
	sp.length = 11;
	assert_int_equal(oci_stream_open(&sp, &s, &err), -EINVAL);
	assert_contains(mkimg_err_msg(&err), "past the end of the file");
	mkimg_err_clear(&err);

	{
		struct oci_blob_check *c;

		assert_int_equal(oci_blob_check_start_at(path, off, "layer", f.layer_d, size,
							 &c, &err), 0);
		assert_int_equal(oci_blob_check_finish(c, &err), 0);
		assert_int_equal(oci_blob_check_start_at(path, off + 512, "layer", f.layer_d,
							 size - 512, &c, &err), 0);
		assert_int_equal(oci_blob_check_finish(c, &err), -EINVAL);
		assert_contains(mkimg_err_msg(&err), "layer: digest mismatch");
		mkimg_err_clear(&err);
		assert_int_equal(oci_blob_check_start_at(path, b.len, "layer", f.layer_d, 1,
							 &c, &err), -EINVAL);
		assert_contains(mkimg_err_msg(&err), "past the end of the file");
		mkimg_err_clear(&err);
	}
	oci_image_free(img);

	sel.ref = "v2";
	assert_int_equal(oci_archive_image_open(a, &sel, &img, &err), -ENOENT);
	assert_contains(mkimg_err_msg(&err), "no image \"v2\"");
	mkimg_err_clear(&err);
	sel.ref = f.manifest_d;
	assert_int_equal(oci_archive_image_open(a, &sel, &img, &err), 0);
	oci_image_free(img);
	oci_archive_close(a);
	free(path);
	free(b.p);
	free(f.layer.p);
}

/* Layouts whose blobs are missing, links or wrong, in an archive. */
static void test_oci_archive_broken(void **state)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct oci_archive *a;
	struct oci_image *img;
	struct fixture f;
	struct buf b = { 0 };
	uint64_t off, size;

	(void)state;
	fixture_make(&f);
	oci_archive_build(&f, &b, "config", false);
	assert_int_equal(oci_archive_open(write_file("x.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_image_open(a, NULL, &img, &err), -ENOENT);
	assert_contains(mkimg_err_msg(&err), "no member \"blobs/sha256/");
	oci_archive_close(a);
	mkimg_err_clear(&err);
	b.len = 0;

	/* a missing layer: the image opens, its member is not there */
	oci_archive_build(&f, &b, "layer", false);
	assert_int_equal(oci_archive_open(write_file("x.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_image_open(a, NULL, &img, &err), 0);
	assert_int_equal(oci_archive_member(a, img->layers[0].member, &off, &size, &err),
			 -ENOENT);
	oci_image_free(img);
	oci_archive_close(a);
	mkimg_err_clear(&err);
	b.len = 0;

	/* a symlink in place of the layer blob */
	oci_archive_build(&f, &b, NULL, true);
	assert_int_equal(oci_archive_open(write_file("x.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_image_open(a, NULL, &img, &err), 0);
	assert_int_equal(oci_archive_member(a, img->layers[0].member, &off, &size, &err),
			 -EINVAL);
	assert_contains(mkimg_err_msg(&err), "is a symbolic link, not a regular file");
	oci_image_free(img);
	oci_archive_close(a);
	mkimg_err_clear(&err);
	b.len = 0;

	/* a manifest that is not what its digest says */
	f.manifest[strlen(f.manifest) - 2] = ' ';
	oci_archive_build(&f, &b, NULL, false);
	assert_int_equal(oci_archive_open(write_file("x.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_image_open(a, NULL, &img, &err), -EINVAL);
	assert_contains(mkimg_err_msg(&err), "digest mismatch");
	oci_archive_close(a);
	free(b.p);
	free(f.layer.p);
}

/* ---------------------------------------------------------------------- */
/* docker save                                                            */
/* ---------------------------------------------------------------------- */

static void docker_build(const struct fixture *f, struct buf *b, const char *manifest,
			 const char *config)
{
	char n[128];

	snprintf(n, sizeof(n), "%s.json", f->config_d + 7);
	tar_file(b, n, config ? config : f->config, strlen(config ? config : f->config));
	snprintf(n, sizeof(n), "%s/layer.tar", "0123abcd");
	tar_hdr(b, "0123abcd/", '5', 0, NULL);
	tar_file(b, n, f->layer.p, f->layer.len);
	tar_hdr(b, "link/layer.tar", '2', 0, "../0123abcd/layer.tar");
	tar_file(b, "manifest.json", manifest, strlen(manifest));
	tar_end(b);
}

static void test_docker_archive(void **state)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct oci_selector sel = { 0 };
	struct oci_archive *a;
	struct oci_image *img;
	struct fixture f;
	struct buf b = { 0 };
	char m[2048], two[4096];

	(void)state;
	fixture_make(&f);
	snprintf(m, sizeof(m), "[{\"Config\":\"%s.json\",\"RepoTags\":[\"docker.io/library/"
		 "hello:1\"],\"Layers\":[\"0123abcd/layer.tar\"]}]", f.config_d + 7);
	docker_build(&f, &b, m, NULL);
	assert_int_equal(oci_archive_open(write_file("d.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_docker_open(a, NULL, &img, &err), 0);
	assert_int_equal(img->nlayers, 1);
	assert_string_equal(img->config_digest, f.config_d);
	assert_string_equal(img->manifest_digest, "");
	/* uncompressed: its digest is the diff_id */
	assert_string_equal(img->layers[0].digest, f.layer_d);
	assert_int_equal(img->layers[0].comp, OCI_COMP_NONE);
	assert_int_equal(img->layers[0].size, f.layer.len);
	assert_string_equal(img->layers[0].member, "0123abcd/layer.tar");
	oci_image_free(img);
	sel.ref = "hello:1";
	assert_int_equal(oci_archive_docker_open(a, &sel, &img, &err), 0);
	oci_image_free(img);
	sel.ref = "docker.io/library/hello:1";
	assert_int_equal(oci_archive_docker_open(a, &sel, &img, &err), 0);
	oci_image_free(img);
	sel.ref = f.config_d;
	assert_int_equal(oci_archive_docker_open(a, &sel, &img, &err), 0);
	oci_image_free(img);
	sel.ref = "hello:2";
	assert_int_equal(oci_archive_docker_open(a, &sel, &img, &err), -ENOENT);
	assert_contains(mkimg_err_msg(&err), "no image \"hello:2\"");
	mkimg_err_clear(&err);
	sel.ref = NULL;
	sel.os = "linux";
	sel.arch = "arm64";
	assert_int_equal(oci_archive_docker_open(a, &sel, &img, &err), -ENOENT);
	assert_contains(mkimg_err_msg(&err), "no image for platform linux/arm64");
	mkimg_err_clear(&err);
	oci_archive_close(a);
	b.len = 0;

	/* two images and no choice */
	snprintf(two, sizeof(two), "[%.*s,{\"Config\":\"other.json\",\"Layers\":[]}]",
		 (int)strlen(m) - 2, m + 1);
	docker_build(&f, &b, two, NULL);
	assert_int_equal(oci_archive_open(write_file("d.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_docker_open(a, NULL, &img, &err), -EINVAL);
	assert_contains(mkimg_err_msg(&err), "2 images in manifest.json");
	oci_archive_close(a);
	mkimg_err_clear(&err);
	b.len = 0;

	/* a layer that is a symlink; a layer missing */
	snprintf(m, sizeof(m), "[{\"Config\":\"%s.json\",\"Layers\":[\"link/layer.tar\"]}]",
		 f.config_d + 7);
	docker_build(&f, &b, m, NULL);
	assert_int_equal(oci_archive_open(write_file("d.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_docker_open(a, NULL, &img, &err), -EINVAL);
	assert_contains(mkimg_err_msg(&err), "is a symbolic link");
	oci_archive_close(a);
	mkimg_err_clear(&err);
	b.len = 0;
	snprintf(m, sizeof(m), "[{\"Config\":\"%s.json\",\"Layers\":[\"nope.tar\"]}]",
		 f.config_d + 7);
	docker_build(&f, &b, m, NULL);
	assert_int_equal(oci_archive_open(write_file("d.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_docker_open(a, NULL, &img, &err), -ENOENT);
	assert_contains(mkimg_err_msg(&err), "no member \"nope.tar\"");
	oci_archive_close(a);
	mkimg_err_clear(&err);
	b.len = 0;

	/* a config that is not the one its name says; diff_ids miscounted */
	snprintf(m, sizeof(m), "[{\"Config\":\"%s.json\",\"Layers\":[\"0123abcd/layer.tar\"]}]",
		 f.config_d + 7);
	docker_build(&f, &b, m, "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}");
	assert_int_equal(oci_archive_open(write_file("d.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_docker_open(a, NULL, &img, &err), -EINVAL);
	assert_contains(mkimg_err_msg(&err), "digest mismatch");
	oci_archive_close(a);
	mkimg_err_clear(&err);
	b.len = 0;
	snprintf(m, sizeof(m), "[{\"Config\":\"c.json\",\"Layers\":[\"0123abcd/layer.tar\"]}]");
	docker_build(&f, &b, m, NULL);
	b.len -= 1024;	/* before the end blocks */
	tar_file(&b, "c.json", "{\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}", 42);
	tar_end(&b);
	assert_int_equal(oci_archive_open(write_file("d.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_docker_open(a, NULL, &img, &err), -EINVAL);
	assert_contains(mkimg_err_msg(&err), "0 diff_ids for 1 layers");
	oci_archive_close(a);
	mkimg_err_clear(&err);
	b.len = 0;

	/* docker save's newer form: blobs/sha256 names, a gzip layer */
	{
		static const unsigned char gz[] = { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 1, 2 };
		char gzd[OCI_DIGEST_LEN + 1], cn[OCI_DIGEST_LEN + 16], ln[OCI_DIGEST_LEN + 16];

		hexd(gz, sizeof(gz), gzd);
		snprintf(cn, sizeof(cn), "blobs/sha256/%.64s", f.config_d + 7);
		snprintf(ln, sizeof(ln), "blobs/sha256/%.64s", gzd + 7);
		snprintf(m, sizeof(m), "[{\"Config\":\"%s\",\"Layers\":[\"%s\"]}]", cn, ln);
		tar_file(&b, cn, f.config, strlen(f.config));
		tar_file(&b, ln, gz, sizeof(gz));
		tar_file(&b, "manifest.json", m, strlen(m));
		tar_end(&b);
		assert_int_equal(oci_archive_open(write_file("d.tar", b.p, b.len), &a, &err), 0);
		assert_int_equal(oci_archive_docker_open(a, NULL, &img, &err), 0);
		assert_string_equal(img->config_digest, f.config_d);
		assert_int_equal(img->layers[0].comp, OCI_COMP_GZIP);
		assert_string_equal(img->layers[0].digest, gzd);
		assert_string_equal(img->layers[0].diff_id, f.layer_d);
		assert_int_equal(img->layers[0].size, sizeof(gz));
		oci_image_free(img);
		oci_archive_close(a);
		b.len = 0;
		/* the same under a name that is no digest: nothing to verify it by */
		snprintf(m, sizeof(m), "[{\"Config\":\"%s\",\"Layers\":[\"l.tgz\"]}]", cn);
		tar_file(&b, cn, f.config, strlen(f.config));
		tar_file(&b, "l.tgz", gz, sizeof(gz));
		tar_file(&b, "manifest.json", m, strlen(m));
		tar_end(&b);
		assert_int_equal(oci_archive_open(write_file("d.tar", b.p, b.len), &a, &err), 0);
		assert_int_equal(oci_archive_docker_open(a, NULL, &img, &err), 0);
		assert_string_equal(img->layers[0].digest, "");
		oci_image_free(img);
		oci_archive_close(a);
		b.len = 0;
	}

	/* manifest.json not an array, empty */
	docker_build(&f, &b, "{}", NULL);
	assert_int_equal(oci_archive_open(write_file("d.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_docker_open(a, NULL, &img, &err), -EINVAL);
	assert_contains(mkimg_err_msg(&err), "manifest.json is not an array");
	oci_archive_close(a);
	mkimg_err_clear(&err);
	b.len = 0;
	docker_build(&f, &b, "[]", NULL);
	assert_int_equal(oci_archive_open(write_file("d.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_docker_open(a, NULL, &img, &err), -ENOENT);
	oci_archive_close(a);
	free(b.p);
	free(f.layer.p);
}

/* ---------------------------------------------------------------------- */
/* the index: formats and hostile archives                                */
/* ---------------------------------------------------------------------- */

static void test_index_formats(void **state)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct oci_archive *a;
	struct buf b = { 0 };
	char long_name[300], gnu[512];
	uint64_t off, size;
	char *buf;
	size_t len;

	(void)state;
	memset(long_name, 'n', 250);
	memcpy(long_name + 250, "/index.json", 12);
	/* a pax path and size */
	tar_pax(&b, "path", long_name);
	tar_file(&b, "short", "0123456789", 10);
	/* a GNU long name */
	snprintf(gnu, sizeof(gnu), "gnu/%s", long_name);
	tar_hdr(&b, "././@LongLink", 'L', strlen(gnu) + 1, NULL);
	buf_add(&b, gnu, strlen(gnu) + 1);
	tar_pad(&b);
	tar_file(&b, "cut", "abc", 3);
	/* a global pax header is skipped */
	tar_hdr(&b, "g", 'g', 11, NULL);
	buf_add(&b, "11 a=bcdef\n", 11);
	tar_pad(&b);
	tar_file(&b, "plain", "xyz", 3);
	/* no end blocks: the end of the file ends it */
	assert_null(open_msg(&b, &err));
	assert_int_equal(oci_archive_open(write_file("a.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_count(a), 3);
	assert_int_equal(oci_archive_read(a, long_name, 100, &buf, &len, &err), 0);
	assert_int_equal(len, 10);
	assert_memory_equal(buf, "0123456789", 10);
	free(buf);
	assert_int_equal(oci_archive_member(a, gnu, &off, &size, &err), 0);
	assert_int_equal(size, 3);
	assert_int_equal(oci_archive_member(a, "plain", &off, &size, &err), 0);
	assert_int_equal(oci_archive_member(a, "short", &off, &size, &err), -ENOENT);
	oci_archive_close(a);
	/* an empty file: no members */
	assert_int_equal(oci_archive_open(write_file("a.tar", "", 0), &a, &err), 0);
	assert_int_equal(oci_archive_count(a), 0);
	assert_int_equal(oci_archive_member(a, "index.json", &off, &size, &err), -ENOENT);
	oci_archive_close(a);
	free(b.p);
}

static void test_index_hostile(void **state)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct buf b = { 0 };
	char path[512];
	int fd;

	(void)state;
	/* data past the end of the file */
	tar_file(&b, "index.json", "{}", 2);
	tar_hdr(&b, "big", '0', 1ull << 40, NULL);
	buf_add(&b, "x", 1);
	assert_contains(open_msg(&b, &err), "past the end of the file");
	/* cut inside a member's data */
	b.len = 0;
	tar_file(&b, "a", "0123456789012345678901234567890123456789", 40);
	b.len -= 512 - 20;
	assert_contains(open_msg(&b, &err), "truncated");
	/* cut inside a header */
	b.len = 0;
	tar_file(&b, "a", "x", 1);
	tar_hdr(&b, "b", '0', 0, NULL);
	b.len -= 100;
	assert_contains(open_msg(&b, &err), "a header cut short");
	/* a bad checksum: not a tar */
	b.len = 0;
	tar_file(&b, "a", "x", 1);
	b.p[0] ^= 1;
	assert_contains(open_msg(&b, &err), "not a tar archive");
	/* duplicates, after normalization */
	b.len = 0;
	tar_file(&b, "./index.json", "{}", 2);
	tar_file(&b, "index.json", "[]", 2);
	assert_contains(open_msg(&b, &err), "member \"index.json\" appears twice");
	b.len = 0;
	tar_hdr(&b, "blobs/", '5', 0, NULL);
	tar_hdr(&b, "./blobs", '5', 0, NULL);
	assert_null(open_msg(&b, &err));	/* a directory twice is fine */
	/* ".." and absolute names */
	b.len = 0;
	tar_file(&b, "../index.json", "{}", 2);
	assert_contains(open_msg(&b, &err), "name with \"..\"");
	b.len = 0;
	tar_file(&b, "blobs/../../x", "{}", 2);
	assert_contains(open_msg(&b, &err), "name with \"..\"");
	b.len = 0;
	tar_file(&b, "/index.json", "{}", 2);
	assert_contains(open_msg(&b, &err), "absolute name");
	/* bad size fields, pax records */
	b.len = 0;
	tar_hdr(&b, "a", '0', 0, NULL);
	memcpy(b.p + 124, "99999999999", 11);
	{
		unsigned int sum = 0;
		int i;

		memset(b.p + 148, ' ', 8);
		for (i = 0; i < 512; i++)
			sum += b.p[i];
		snprintf((char *)b.p + 148, 8, "%06o", sum);
	}
	assert_contains(open_msg(&b, &err), "invalid size");
	b.len = 0;
	tar_hdr(&b, "p", 'x', 8, NULL);
	buf_add(&b, "9 path=\n", 8);
	tar_pad(&b);
	tar_file(&b, "a", "x", 1);
	assert_contains(open_msg(&b, &err), "malformed pax header record");
	b.len = 0;
	tar_pax(&b, "size", "-1");
	tar_file(&b, "a", "x", 1);
	assert_contains(open_msg(&b, &err), "pax size record is not a size");
	/* a huge pax header or long name: refused before it is read */
	b.len = 0;
	tar_hdr(&b, "p", 'x', OCI_ARCHIVE_MAX_PAX + 1, NULL);
	fd = open(write_file("big.tar", b.p, b.len), O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 512 + OCI_ARCHIVE_MAX_PAX + 1024), 0);
	close(fd);
	{
		struct oci_archive *a = NULL;

		snprintf(path, sizeof(path), "%s/big.tar", tmpdir);
		mkimg_err_clear(&err);
		assert_int_equal(oci_archive_open(path, &a, &err), -E2BIG);
		assert_contains(mkimg_err_msg(&err), "pax header at offset 0");
	}
	/* a huge metadata member: indexed, refused when read */
	b.len = 0;
	tar_hdr(&b, "index.json", '0', OCI_MAX_JSON + 1, NULL);
	fd = open(write_file("big.tar", b.p, b.len), O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 512 + OCI_MAX_JSON + 1024), 0);
	close(fd);
	{
		struct oci_archive *a = NULL;
		struct oci_image *img;

		mkimg_err_clear(&err);
		assert_int_equal(oci_archive_open(path, &a, &err), 0);
		assert_int_equal(oci_archive_image_open(a, NULL, &img, &err), -EFBIG);
		assert_contains(mkimg_err_msg(&err), "larger than");
		oci_archive_close(a);
	}
	/* not a regular file */
	{
		struct oci_archive *a = NULL;

		mkimg_err_clear(&err);
		assert_int_equal(oci_archive_open(tmpdir, &a, &err), -EINVAL);
		assert_contains(mkimg_err_msg(&err), "not a regular file");
		mkimg_err_clear(&err);
		snprintf(path, sizeof(path), "%s/none.tar", tmpdir);
		assert_int_equal(oci_archive_open(path, &a, &err), -ENOENT);
	}
	free(b.p);
}

/* Many members index in one pass; one more than the limit is refused. */
static void test_index_many(void **state)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct oci_archive *a;
	struct buf b = { 0 };
	uint64_t off, size;
	char n[32];
	int i;

	(void)state;
	for (i = 0; i <= OCI_ARCHIVE_MAX_MEMBERS; i++) {
		snprintf(n, sizeof(n), "m/%06d", i);
		tar_hdr(&b, n, '0', 0, NULL);
	}
	tar_end(&b);
	assert_contains(open_msg(&b, &err), "more than 100000 members");
	b.len -= 1024 + 512;
	tar_end(&b);
	assert_int_equal(oci_archive_open(write_file("a.tar", b.p, b.len), &a, &err), 0);
	assert_int_equal(oci_archive_count(a), OCI_ARCHIVE_MAX_MEMBERS);
	assert_int_equal(oci_archive_member(a, "m/054321", &off, &size, &err), 0);
	assert_int_equal(off, 54321ull * 512 + 512);
	oci_archive_close(a);
	free(b.p);
}

static int setup(void **state)
{
	const char *base = getenv("TMPDIR");

	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "%s/test_archive.XXXXXX", base ? base : "/tmp");
	return mkdtemp(tmpdir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[600];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oci_archive),
		cmocka_unit_test(test_oci_archive_broken),
		cmocka_unit_test(test_docker_archive),
		cmocka_unit_test(test_index_formats),
		cmocka_unit_test(test_index_hostile),
		cmocka_unit_test(test_index_many),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
