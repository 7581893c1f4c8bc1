/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Reading mkimg artifacts (remote.h): the manifest and config push.c
 * writes, parsed as untrusted input, and the artifacts of an OCI layout
 * listed without copying anything.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkimg/oci.h"
#include "mkimg/remote.h"
#include "oci/oci_internal.h"
#include "remote/remote_internal.h"
#include "util/hex.h"
#include "util/io.h"

#define MANIFEST_TYPE "application/vnd.oci.image.manifest.v1+json"
#define REF_NAME "org.opencontainers.image.ref.name"

void mkimg_artifact_free(struct mkimg_artifact *a)
{
	if (!a)
		return;
	free(a->devices);
	free(a->records);
	free(a->extra);
	free(a->extra_ext);
	a->extra = NULL;
	a->extra_ext = NULL;
	a->nextra = 0;
	free(a->layout);
	free(a->source);
	free(a->diff_ids);
	a->devices = NULL;
	a->records = NULL;
	a->nrecords = 0;
	a->layout = a->source = NULL;
	a->diff_ids = NULL;
}

/* o[key] as an integer in [0, max]. */
static int get_u64(struct json_object *o, const char *key, uint64_t max, uint64_t *out,
		   const char *what, struct mkimg_err *err)
{
	struct json_object *v;
	int64_t x;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_int))
		return mkimg_err_set(err, -EINVAL, "%s: no integer %s", what, key);
	x = json_object_get_int64(v);
	if (x < 0 || (uint64_t)x > max)
		return mkimg_err_set(err, -EINVAL, "%s: %s out of range", what, key);
	*out = (uint64_t)x;
	return 0;
}

/* o[key] as a string (required). */
static int get_str(struct json_object *o, const char *key, const char **out, const char *what,
		   struct mkimg_err *err)
{
	int ret = oci_json_str(o, key, out, what, err);

	if (!ret && !*out)
		ret = mkimg_err_set(err, -EINVAL, "%s: no %s", what, key);
	return ret;
}

static int get_digest(struct json_object *o, const char *key, char out[72], const char *what,
		      struct mkimg_err *err)
{
	const char *s;
	int ret = get_str(o, key, &s, what, err);

	if (ret)
		return ret;
	if (oci_digest_validate(s, NULL))
		return mkimg_err_set(err, -EINVAL, "%s: %s is not a sha256 digest", what, key);
	snprintf(out, 72, "%s", s);
	return 0;
}

/* A descriptor of media type want. */
static int descriptor(struct json_object *d, const char *want, struct mkimg_artifact_blob *b,
		      const char *what, struct mkimg_err *err)
{
	const char *mt;
	int ret;

	if (!json_object_is_type(d, json_type_object))
		return mkimg_err_set(err, -EINVAL, "%s: not an object", what);
	ret = get_str(d, "mediaType", &mt, what, err);
	if (!ret && strcmp(mt, want))
		ret = mkimg_err_set(err, -EINVAL, "%s: media type is not %s", what, want);
	if (!ret)
		ret = get_digest(d, "digest", b->digest, what, err);
	if (!ret)
		ret = get_u64(d, "size", INT64_MAX, &b->size, what, err);
	return ret;
}

int mkimg_artifact_manifest(const void *buf, size_t len, struct mkimg_artifact *a,
			    struct mkimg_err *err)
{
	struct json_object *o, *v, *layers;
	const char *s;
	uint64_t sv;
	size_t i, n;
	int ret;

	mkimg_artifact_free(a);
	memset(a, 0, sizeof(*a));
	ret = oci_json_parse(buf, len, "manifest", &o, err);
	if (ret)
		return ret;
	a->manifest_bytes = len;
	ret = get_u64(o, "schemaVersion", 2, &sv, "manifest", err);
	if (!ret && sv != 2)
		ret = mkimg_err_set(err, -EINVAL, "manifest: schemaVersion is not 2");
	if (!ret)
		ret = oci_json_str(o, "mediaType", &s, "manifest", err);
	if (!ret && s && strcmp(s, MANIFEST_TYPE))
		ret = mkimg_err_set(err, -ENOMSG, "manifest: not an OCI image manifest");
	if (!ret)
		ret = oci_json_str(o, "artifactType", &s, "manifest", err);
	if (!ret && (!s || strcmp(s, MKIMG_ARTIFACT_TYPE)))
		ret = mkimg_err_set(err, -ENOMSG, "manifest: not an mkimg artifact "
				    "(artifactType is not " MKIMG_ARTIFACT_TYPE ")");
	if (ret)
		goto out;
	s = NULL;
	if (json_object_object_get_ex(o, "annotations", &v) && json_object_is_type(v, json_type_object))
		ret = oci_json_str(v, "io.mkimg.artifact.version", &s, "manifest annotations", err);
	if (!ret && !s)
		ret = mkimg_err_set(err, -EINVAL, "manifest: no io.mkimg.artifact.version");
	if (!ret && (strlen(s) > 6 || atoi(s) != MKIMG_ARTIFACT_VERSION ||
		     strspn(s, "0123456789") != strlen(s)))
		ret = mkimg_err_set(err, -EPROTONOSUPPORT,
				    "manifest: artifact version %.8s; this mkimg reads version %d", s,
				    MKIMG_ARTIFACT_VERSION);
	if (ret)
		goto out;
	a->version = MKIMG_ARTIFACT_VERSION;
	if (!json_object_object_get_ex(o, "config", &v)) {
		ret = mkimg_err_set(err, -EINVAL, "manifest: no config");
		goto out;
	}
	ret = descriptor(v, MKIMG_CONFIG_TYPE, &a->config, "manifest config", err);
	if (!ret && a->config.size > OCI_MAX_JSON)
		ret = mkimg_err_set(err, -EFBIG, "manifest config: larger than %u bytes", OCI_MAX_JSON);
	if (ret)
		goto out;
	if (!json_object_object_get_ex(o, "layers", &layers) ||
	    !json_object_is_type(layers, json_type_array) ||
	    !(n = json_object_array_length(layers))) {
		ret = mkimg_err_set(err, -EINVAL, "manifest: no layers");
		goto out;
	}
	if (n - 1 > OCI_MAX_LAYERS) {
		ret = mkimg_err_set(err, -E2BIG, "manifest: more than %u blobs", OCI_MAX_LAYERS);
		goto out;
	}
	ret = descriptor(json_object_array_get_idx(layers, 0), MKIMG_META_TYPE, &a->image,
			 "manifest layer 1", err);
	if (ret)
		goto out;
	a->devices = calloc(n, sizeof(*a->devices));
	a->records = calloc(n, sizeof(*a->records));
	if (!a->devices || !a->records) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	/* the devices, then the layer records (annotated with their diff_id) */
	for (i = 1; i < n && !ret; i++) {
		struct json_object *d = json_object_array_get_idx(layers, i), *an;
		const char *mt = NULL, *id = NULL;
		char what[48];

		snprintf(what, sizeof(what), "manifest layer %zu", i + 1);
		if (json_object_is_type(d, json_type_object))
			ret = oci_json_str(d, "mediaType", &mt, what, err);
		if (ret)
			break;
		if (mt && !strcmp(mt, MKIMG_RECORD_TYPE)) {
			struct mkimg_artifact_record *r = &a->records[a->nrecords];

			ret = descriptor(d, MKIMG_RECORD_TYPE, &r->blob, what, err);
			if (!ret && json_object_object_get_ex(d, "annotations", &an) &&
			    json_object_is_type(an, json_type_object))
				ret = oci_json_str(an, "io.mkimg.diff-id", &id, what, err);
			if (!ret && (!id || oci_digest_validate(id, NULL)))
				ret = mkimg_err_set(err, -EINVAL, "%s: a layer record without a "
						    "sha256 io.mkimg.diff-id", what);
			if (!ret && r->blob.size > OCI_MAX_RECORD)
				ret = mkimg_err_set(err, -EFBIG, "%s: a layer record larger than %llu "
						    "bytes", what, (unsigned long long)OCI_MAX_RECORD);
			if (!ret) {
				snprintf(r->diff_id, sizeof(r->diff_id), "%s", id);
				a->nrecords++;
			}
			continue;
		}
		if (a->nrecords) {
			ret = mkimg_err_set(err, -EINVAL, "%s: a blob after the layer records", what);
			break;
		}
		ret = descriptor(d, MKIMG_BLOB_TYPE, &a->devices[a->ndevices], what, err);
		if (!ret)
			a->ndevices++;
	}
out:
	json_object_put(o);
	return ret;
}

#define EXTRA_MAX (1u << 20)		/* extra files */
#define EXTRA_EXT_MAX (1u << 22)	/* their extents in all */

/* config.extraFiles: [{"sha256": HEX, "size": N, "extents": [[slot, lblk,
 * pblk, nblks], ...]}, ...], the files the layer records name that the
 * image does not hold, where they lie in the devices. */
static int extra_files(struct json_object *v, struct mkimg_artifact *a, struct mkimg_err *err)
{
	size_t n, i, j, total = 0, at = 0;

	if (!json_object_is_type(v, json_type_array))
		return mkimg_err_set(err, -EINVAL, "config: extraFiles is not an array");
	n = json_object_array_length(v);
	if (n > EXTRA_MAX)
		return mkimg_err_set(err, -E2BIG, "config: more than %u extraFiles", EXTRA_MAX);
	for (i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(v, i), *e;

		if (!json_object_is_type(f, json_type_object) ||
		    !json_object_object_get_ex(f, "extents", &e) ||
		    !json_object_is_type(e, json_type_array))
			return mkimg_err_set(err, -EINVAL, "config: extraFiles[%zu] has no extents", i);
		total += json_object_array_length(e);
		if (total > EXTRA_EXT_MAX)
			return mkimg_err_set(err, -E2BIG, "config: more than %u extents of extraFiles",
					     EXTRA_EXT_MAX);
	}
	a->extra = calloc(n ? n : 1, sizeof(*a->extra));
	a->extra_ext = calloc(total ? total : 1, sizeof(*a->extra_ext));
	if (!a->extra || !a->extra_ext)
		return mkimg_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		struct json_object *f = json_object_array_get_idx(v, i), *e, *h;
		struct bs_import_file *x = &a->extra[i];
		const char *hex = NULL;
		int ret = 0;

		if (json_object_object_get_ex(f, "sha256", &h) && json_object_is_type(h, json_type_string))
			hex = json_object_get_string(h);
		if (!hex || !util_is_hex64(hex))
			return mkimg_err_set(err, -EINVAL, "config: extraFiles[%zu]: no sha256", i);
		for (j = 0; j < 32; j++)
			x->sha256[j] = util_hex_digit(hex[2 * j], false) << 4 |
				       util_hex_digit(hex[2 * j + 1], false);
		ret = get_u64(f, "size", INT64_MAX, &x->size, "config extraFiles", err);
		if (ret)
			return ret;
		json_object_object_get_ex(f, "extents", &e);
		x->nextents = json_object_array_length(e);
		x->extents = a->extra_ext + at;
		for (j = 0; j < x->nextents; j++) {
			struct layout_extent *xe = a->extra_ext + at + j;
			struct json_object *q = json_object_array_get_idx(e, j);
			int64_t w[4];
			size_t k;

			if (!json_object_is_type(q, json_type_array) || json_object_array_length(q) != 4)
				return mkimg_err_set(err, -EINVAL, "config: extraFiles[%zu]: an extent is "
						     "not [slot, lblk, pblk, nblks]", i);
			for (k = 0; k < 4; k++) {
				struct json_object *c = json_object_array_get_idx(q, k);

				w[k] = json_object_is_type(c, json_type_int) ? json_object_get_int64(c) : -1;
				if (w[k] < 0 || (k != 1 && k != 2 && w[k] > UINT32_MAX))
					return mkimg_err_set(err, -EINVAL, "config: extraFiles[%zu]: an "
							     "extent out of range", i);
			}
			if (!w[0] || w[0] > a->ndevices)
				return mkimg_err_set(err, -EINVAL, "config: extraFiles[%zu]: an extent "
						     "names no device", i);
			*xe = (struct layout_extent){ .blob = w[0], .lblk = w[1], .pblk = w[2],
						      .nblks = w[3] };
		}
		at += x->nextents;
	}
	a->nextra = n;
	return 0;
}

static int dup_str(struct json_object *o, const char *key, char **out, struct mkimg_err *err)
{
	const char *s;
	int ret = get_str(o, key, &s, "config", err);

	if (ret)
		return ret;
	*out = strdup(s);
	return *out ? 0 : mkimg_err_set(err, -ENOMEM, "out of memory");
}

int mkimg_artifact_config(const void *buf, size_t len, struct mkimg_artifact *a,
			  struct mkimg_err *err)
{
	struct json_object *o, *v;
	char digest[72];
	const char *s;
	uint64_t x;
	size_t i, n;
	int ret;

	ret = oci_json_parse(buf, len, "config", &o, err);
	if (ret)
		return ret;
	ret = get_u64(o, "mkimgArtifact", INT32_MAX, &x, "config", err);
	if (!ret && x != (uint64_t)a->version)
		ret = mkimg_err_set(err, -EPROTONOSUPPORT, "config: artifact version %llu, not %d",
				    (unsigned long long)x, a->version);
	if (!ret)
		ret = get_digest(o, "image", digest, "config", err);
	if (!ret && strcmp(digest, a->image.digest))
		ret = mkimg_err_set(err, -EINVAL, "config: another image than the manifest's");
	if (!ret)
		ret = get_u64(o, "blockSize", 65536, &x, "config", err);
	if (!ret && (x < 512 || (x & (x - 1))))
		ret = mkimg_err_set(err, -EINVAL, "config: blockSize is not a power of 2 from 512");
	if (ret)
		goto out;
	a->block_size = x;
	ret = get_str(o, "fingerprints", &s, "config", err);
	if (!ret && strcmp(s, "sha256") && strcmp(s, "none"))
		ret = mkimg_err_set(err, -EINVAL, "config: fingerprints neither sha256 nor none");
	if (ret)
		goto out;
	a->fingerprints = !strcmp(s, "sha256");
	ret = dup_str(o, "layout", &a->layout, err);
	if (!ret)
		ret = dup_str(o, "source", &a->source, err);
	if (!ret)
		ret = get_u64(o, "files", INT64_MAX, &a->files, "config", err);
	if (!ret)
		ret = get_u64(o, "dataBytes", INT64_MAX, &a->data_bytes, "config", err);
	if (ret)
		goto out;
	if (!json_object_object_get_ex(o, "devices", &v) || !json_object_is_type(v, json_type_array) ||
	    json_object_array_length(v) != a->ndevices) {
		ret = mkimg_err_set(err, -EINVAL, "config: devices do not match the manifest's blobs");
		goto out;
	}
	for (i = 0; i < a->ndevices && !ret; i++) {
		struct json_object *d = json_object_array_get_idx(v, i);

		if (!json_object_is_type(d, json_type_object))
			ret = mkimg_err_set(err, -EINVAL, "config: device %zu is not an object", i + 1);
		if (!ret)
			ret = get_digest(d, "digest", digest, "config device", err);
		if (!ret)
			ret = get_u64(d, "size", INT64_MAX, &x, "config device", err);
		if (!ret && (strcmp(digest, a->devices[i].digest) || x != a->devices[i].size))
			ret = mkimg_err_set(err, -EINVAL,
					    "config: device %zu is not the manifest's blob %zu", i + 1,
					    i + 2);
	}
	if (ret)
		goto out;
	if (!json_object_object_get_ex(o, "diffIds", &v) || !json_object_is_type(v, json_type_array)) {
		ret = mkimg_err_set(err, -EINVAL, "config: no diffIds");
		goto out;
	}
	n = json_object_array_length(v);
	if (n > OCI_MAX_LAYERS) {
		ret = mkimg_err_set(err, -E2BIG, "config: more than %u diffIds", OCI_MAX_LAYERS);
		goto out;
	}
	a->diff_ids = calloc(n ? n : 1, sizeof(*a->diff_ids));
	if (!a->diff_ids) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct json_object *d = json_object_array_get_idx(v, i);

		s = json_object_is_type(d, json_type_string) ? json_object_get_string(d) : NULL;
		if (!s || oci_digest_validate(s, NULL)) {
			ret = mkimg_err_set(err, -EINVAL, "config: diffIds[%zu] is not a sha256 digest", i);
			goto out;
		}
		snprintf(a->diff_ids[i], sizeof(a->diff_ids[i]), "%s", s);
	}
	a->nlayers = n;
	if (!ret && json_object_object_get_ex(o, "extraFiles", &v))
		ret = extra_files(v, a, err);
	/* each layer record is of one of the image's layers, once */
	for (i = 0; !ret && i < a->nrecords; i++) {
		size_t k;

		for (k = 0; k < n && strcmp(a->diff_ids[k], a->records[i].diff_id); k++)
			;
		if (k == n)
			ret = mkimg_err_set(err, -EINVAL, "manifest: a layer record of %s, which is "
					    "not a layer of the image", a->records[i].diff_id);
		for (k = 0; !ret && k < i; k++)
			if (!strcmp(a->records[k].diff_id, a->records[i].diff_id))
				ret = mkimg_err_set(err, -EINVAL, "manifest: two layer records of "
						    "%s", a->records[i].diff_id);
	}
out:
	json_object_put(o);
	return ret;
}

/* ---- listing an OCI layout ---- */

/* A blob of the layout, read whole and checked against its descriptor. */
static int read_blob(int bfd, const char *dir, const struct mkimg_artifact_blob *b, uint8_t **out,
		     struct mkimg_err *err)
{
	const char *hex = b->digest + 7;
	struct stat sb;
	char got[72];
	uint8_t *buf;
	int fd, ret;

	if (b->size > OCI_MAX_JSON)
		return mkimg_err_set(err, -EFBIG, "%s/blobs/sha256/%.64s: larger than %u bytes", dir,
				     hex, OCI_MAX_JSON);
	fd = openat(bfd, hex, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return mkimg_err_errno(err, -errno, "%s/blobs/sha256/%.64s", dir, hex);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != b->size) {
		close(fd);
		return mkimg_err_set(err, -EIO, "%s/blobs/sha256/%.64s: not a regular file of the "
				     "%llu bytes of its descriptor", dir, hex,
				     (unsigned long long)b->size);
	}
	buf = malloc(b->size + 1);
	ret = buf ? util_pread_all(fd, buf, b->size, 0) : -ENOMEM;
	close(fd);
	if (ret) {
		free(buf);
		return mkimg_err_errno(err, ret, "%s/blobs/sha256/%.64s: reading %llu bytes", dir,
				       hex, (unsigned long long)b->size);
	}
	oci_sha256_digest(buf, b->size, got);
	if (strcmp(got, b->digest)) {
		free(buf);
		return mkimg_err_set(err, -EIO, "%s/blobs/sha256/%.64s: its bytes do not have that "
				     "digest", dir, hex);
	}
	*out = buf;
	return 0;
}

static int read_artifact(int bfd, const char *dir, struct json_object *d,
			 struct mkimg_artifact *a, struct mkimg_err *err)
{
	struct mkimg_artifact_blob m;
	uint8_t *buf = NULL;
	int ret = descriptor(d, MANIFEST_TYPE, &m, "index.json entry", err);

	if (!ret)
		ret = read_blob(bfd, dir, &m, &buf, err);
	if (!ret)
		ret = mkimg_artifact_manifest(buf, m.size, a, err);
	free(buf);
	buf = NULL;
	if (ret)
		return ret;
	snprintf(a->manifest, sizeof(a->manifest), "%s", m.digest);
	ret = read_blob(bfd, dir, &a->config, &buf, err);
	if (!ret)
		ret = mkimg_artifact_config(buf, a->config.size, a, err);
	free(buf);
	return ret;
}

static int list_oci(const char *ref, const char *dir, const char *tag,
		    struct mkimg_artifact **out, size_t *n, struct mkimg_err *err)
{
	struct mkimg_artifact *v = NULL;
	struct json_object *idx = NULL, *list;
	size_t i, len, cnt = 0;
	int dfd = -1, bfd = -1, ret = 0;

	(void)ref;
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dfd < 0) {
		ret = mkimg_err_errno(err, -errno, "%s", dir);
		goto out;
	}
	bfd = openat(dfd, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (bfd < 0) {
		ret = mkimg_err_errno(err, -errno, "%s/blobs/sha256", dir);
		goto out;
	}
	ret = ocidir_index_read(dfd, dir, &idx, err);
	if (ret)
		goto out;
	json_object_object_get_ex(idx, "manifests", &list);
	len = json_object_array_length(list);
	v = calloc(len ? len : 1, sizeof(*v));
	if (!v) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < len && !ret; i++) {
		struct json_object *d = json_object_array_get_idx(list, i), *an, *x;
		const char *name = NULL, *at = NULL;

		if (!json_object_is_type(d, json_type_object))
			continue;
		if (json_object_object_get_ex(d, "annotations", &an) &&
		    json_object_object_get_ex(an, REF_NAME, &x) && json_object_is_type(x, json_type_string))
			name = json_object_get_string(x);
		if (json_object_object_get_ex(d, "artifactType", &x) && json_object_is_type(x, json_type_string))
			at = json_object_get_string(x);
		if (!name || (tag && strcmp(name, tag)))
			continue;
		if (!tag && at && strcmp(at, MKIMG_ARTIFACT_TYPE))
			continue;	/* another kind of artifact */
		mkimg_artifact_free(&v[cnt]);
		ret = read_artifact(bfd, dir, d, &v[cnt], err);
		if (ret && !tag && !at) {
			/* not said to be ours: an image, or broken; not listed */
			mkimg_artifact_free(&v[cnt]);
			mkimg_err_clear(err);
			ret = 0;
			continue;
		}
		snprintf(v[cnt].tag, sizeof(v[cnt].tag), "%s", name);
		cnt++;
		if (ret)
			mkimg_err_wrap(err, ret, "%s:%s", dir, name);
	}
	if (!ret && tag && !cnt)
		ret = mkimg_err_set(err, -ENOENT, "%s: no tag %s", dir, tag);
out:
	if (ret) {
		for (i = 0; i < cnt; i++)
			mkimg_artifact_free(&v[i]);
		free(v);
	} else {
		*out = v;
		*n = cnt;
	}
	json_object_put(idx);
	if (bfd >= 0)
		close(bfd);
	if (dfd >= 0)
		close(dfd);
	return ret;
}

int registry_artifact(struct registry *rg, const char *ref, bool follow,
		      struct mkimg_artifact *a, struct mkimg_err *err)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	char digest[72], other[72];
	int ret = registry_get_manifest(rg, ref, &buf, &len, digest, err);

	if (!ret)
		ret = mkimg_artifact_manifest(buf, len, a, err);
	free(buf);
	buf = NULL;
	if (ret == -ENOMSG && follow) {
		/* an ordinary image: the mkimg artifact made of it, if one refers to it */
		mkimg_artifact_free(a);
		mkimg_err_clear(err);
		ret = registry_referrer(rg, digest, other, err);
		return ret ? ret : registry_artifact(rg, other, false, a, err);
	}
	if (ret)
		return ret;
	snprintf(a->manifest, sizeof(a->manifest), "%s", digest);
	ret = registry_get_small(rg, a->config.digest, a->config.size, &buf, err);
	if (!ret)
		ret = mkimg_artifact_config(buf, a->config.size, a, err);
	free(buf);
	return ret;
}

static int list_registry(const struct remote_ref *r, const struct mkimg_registry_opts *o,
			 struct mkimg_artifact **out, size_t *n, struct mkimg_err *err)
{
	struct registry *rg = NULL;
	struct mkimg_artifact *v = NULL;
	char **tags = NULL, *one[1];
	size_t i, nt = 0, cnt = 0;
	bool all = !r->tag && !r->digest[0];
	int ret = registry_open(r, o, false, &rg, err);

	if (ret)
		return ret;
	if (all) {
		ret = registry_tags(rg, &tags, &nt, err);
	} else {
		one[0] = r->digest[0] ? (char *)r->digest : r->tag;
		nt = 1;
	}
	if (!ret && !(v = calloc(nt ? nt : 1, sizeof(*v))))
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
	for (i = 0; !ret && i < nt; i++) {
		const char *t = all ? tags[i] : one[0];

		ret = registry_artifact(rg, t, !all, &v[cnt], err);
		if (ret == -ENOMSG && all) {
			/* an ordinary image, or another kind of artifact */
			mkimg_artifact_free(&v[cnt]);
			mkimg_err_clear(err);
			ret = 0;
			continue;
		}
		if (r->tag || all)
			snprintf(v[cnt].tag, sizeof(v[cnt].tag), "%s", t);
		cnt++;
		if (ret)
			mkimg_err_wrap(err, ret, "%s:%s", registry_name(rg), t);
	}
	for (i = 0; all && i < nt; i++)
		free(tags[i]);
	free(tags);
	registry_close(rg);
	if (ret) {
		for (i = 0; i < cnt; i++)
			mkimg_artifact_free(&v[i]);
		free(v);
		return ret;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int mkimg_remote_list(const char *ref, const struct mkimg_registry_opts *o,
		      struct mkimg_artifact **out, size_t *n, struct mkimg_err *err)
{
	struct remote_ref r;
	int ret;

	*out = NULL;
	*n = 0;
	ret = remote_parse(ref, &r, err);
	if (ret)
		return ret;
	if (r.kind == REMOTE_OCI)
		ret = list_oci(ref, r.dir, r.tag, out, n, err);
	else
		ret = list_registry(&r, o, out, n, err);
	remote_ref_free(&r);
	return ret;
}
