/* SPDX-License-Identifier: Apache-2.0 */
/*
 * OCI image layouts: index.json (nested indexes, tags, digests,
 * platforms), manifests (OCI and Docker schema 2) and configs. Every blob
 * is read whole (at most OCI_MAX_JSON bytes) and checked against the
 * digest and size of its descriptor before it is parsed. Digests are
 * validated before they become path components.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/sha.h>

#include "mkimg/oci.h"
#include "oci_internal.h"
#include "util/hex.h"

#define MT_OCI_INDEX	"application/vnd.oci.image.index.v1+json"
#define MT_OCI_MANIFEST	"application/vnd.oci.image.manifest.v1+json"
#define MT_DOCKER_LIST	"application/vnd.docker.distribution.manifest.list.v2+json"
#define MT_DOCKER_V2	"application/vnd.docker.distribution.manifest.v2+json"
#define MT_DOCKER_V1	"application/vnd.docker.distribution.manifest.v1+json"
#define MT_DOCKER_V1S	"application/vnd.docker.distribution.manifest.v1+prettyjws"
#define ANN_REF_NAME	"org.opencontainers.image.ref.name"

/* A short, printable rendering of untrusted text for messages. */
void oci_shorten(const char *s, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; s[i] && o + 4 < outlen; i++) {
		unsigned char c = s[i];

		out[o++] = (c >= 0x20 && c < 0x7f) ? c : '?';
	}
	if (s[i] && outlen >= 4) {
		o = o > outlen - 4 ? outlen - 4 : o;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
}

const char *oci_compression_name(enum oci_compression c)
{
	switch (c) {
	case OCI_COMP_GZIP:
		return "gzip";
	case OCI_COMP_ZSTD:
		return "zstd";
	default:
		return "none";
	}
}

int oci_digest_validate(const char *s, struct mkimg_err *err)
{
	char sh[80];
	const char *colon;
	int i;

	if (!s)
		return mkimg_err_set(err, -EINVAL, "missing digest");
	colon = strchr(s, ':');
	if (!colon || colon == s) {
		oci_shorten(s, sh, sizeof(sh));
		return mkimg_err_set(err, -EINVAL, "invalid digest \"%s\"", sh);
	}
	if ((size_t)(colon - s) != 6 || memcmp(s, "sha256", 6)) {
		oci_shorten(s, sh, sizeof(sh));
		return mkimg_err_set(err, -EINVAL,
				     "unsupported digest algorithm in \"%s\" (only sha256)", sh);
	}
	for (i = 0; i < 64; i++) {
		char c = colon[1 + i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			break;
	}
	if (i != 64 || colon[65] != '\0') {
		oci_shorten(s, sh, sizeof(sh));
		return mkimg_err_set(err, -EINVAL,
				     "invalid digest \"%s\" (want sha256: and 64 lowercase hex digits)", sh);
	}
	return 0;
}

int oci_layer_media_type(const char *mt, enum oci_compression *c,
			 struct mkimg_err *err)
{
	static const struct {
		const char *mt;
		enum oci_compression c;
	} known[] = {
		{ "application/vnd.oci.image.layer.v1.tar", OCI_COMP_NONE },
		{ "application/vnd.oci.image.layer.v1.tar+gzip", OCI_COMP_GZIP },
		{ "application/vnd.oci.image.layer.v1.tar+zstd", OCI_COMP_ZSTD },
		{ "application/vnd.docker.image.rootfs.diff.tar.gzip", OCI_COMP_GZIP },
		{ "application/vnd.docker.image.rootfs.diff.tar", OCI_COMP_NONE },
	};
	char sh[160];
	size_t i;

	if (!mt)
		return mkimg_err_set(err, -EINVAL, "layer without a media type");
	for (i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (!strcmp(mt, known[i].mt)) {
			*c = known[i].c;
			return 0;
		}
	}
	oci_shorten(mt, sh, sizeof(sh));
	if (strstr(mt, "+encrypted"))
		return mkimg_err_set(err, -ENOTSUP,
				     "encrypted layers are not supported (media type %s)", sh);
	if (strstr(mt, "nondistributable") || strstr(mt, "foreign"))
		return mkimg_err_set(err, -ENOTSUP,
				     "non-distributable (foreign) layers are not supported (media type %s)", sh);
	return mkimg_err_set(err, -ENOTSUP, "unsupported layer media type %s", sh);
}

enum oci_compression oci_detect_compression(const void *buf, size_t len)
{
	const unsigned char *b = buf;

	if (len >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return OCI_COMP_GZIP;
	if (len >= 4 && b[0] == 0x28 && b[1] == 0xb5 && b[2] == 0x2f && b[3] == 0xfd)
		return OCI_COMP_ZSTD;
	/* a zstd skippable frame (magic 0x184D2A50..0x184D2A5F, LE) before
	 * the data, as zstd streams may start (libzstd skips it) */
	if (len >= 4 && (b[0] & 0xf0) == 0x50 && b[1] == 0x2a && b[2] == 0x4d && b[3] == 0x18)
		return OCI_COMP_ZSTD;
	return OCI_COMP_NONE;
}

int oci_blob_path(const char *dir, const char *digest, char *buf, size_t len)
{
	int n;

	if (oci_digest_validate(digest, NULL))
		return -EINVAL;
	n = snprintf(buf, len, "%s/blobs/sha256/%s", dir, digest + 7);
	if (n < 0 || (size_t)n >= len)
		return -ENAMETOOLONG;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* JSON helpers                                                           */
/* ---------------------------------------------------------------------- */

int oci_json_parse_value(const void *buf, size_t len, const char *what,
		   struct json_object **out, struct mkimg_err *err)
{
	struct json_tokener *tok;
	struct json_object *o;
	enum json_tokener_error je;

	if (len > OCI_MAX_JSON)
		return mkimg_err_set(err, -EFBIG, "%s: larger than %u bytes", what, OCI_MAX_JSON);
	if (len == 0)
		return mkimg_err_set(err, -EINVAL, "%s: empty", what);
	if (memchr(buf, '\0', len))
		return mkimg_err_set(err, -EINVAL, "%s: not JSON (NUL byte)", what);
	tok = json_tokener_new_ex(64);
	if (!tok)
		return -ENOMEM;
	o = json_tokener_parse_ex(tok, buf, (int)len);
	je = json_tokener_get_error(tok);
	if (o && je == json_tokener_success && json_tokener_get_parse_end(tok) < len) {
		/* Only whitespace may follow the value. */
		size_t i;

		for (i = json_tokener_get_parse_end(tok); i < len; i++) {
			char c = ((const char *)buf)[i];

			if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
				je = json_tokener_error_parse_unexpected;
				break;
			}
		}
	}
	if (!o || je != json_tokener_success) {
		json_object_put(o);
		json_tokener_free(tok);
		if (je == json_tokener_continue)
			return mkimg_err_set(err, -EINVAL, "%s: not JSON (truncated)", what);
		return mkimg_err_set(err, -EINVAL, "%s: not JSON (%s)", what,
				     je == json_tokener_success ? "trailing data" :
				     json_tokener_error_desc(je));
	}
	json_tokener_free(tok);
	*out = o;
	return 0;
}

int oci_json_parse(const void *buf, size_t len, const char *what,
		   struct json_object **out, struct mkimg_err *err)
{
	struct json_object *o;
	int ret;

	ret = oci_json_parse_value(buf, len, what, &o, err);
	if (ret)
		return ret;
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return mkimg_err_set(err, -EINVAL, "%s: not a JSON object", what);
	}
	*out = o;
	return 0;
}

int oci_json_str(struct json_object *o, const char *key, const char **out,
		 const char *what, struct mkimg_err *err)
{
	struct json_object *v;

	*out = NULL;
	if (!json_object_object_get_ex(o, key, &v) || json_object_is_type(v, json_type_null))
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return mkimg_err_set(err, -EINVAL, "%s: \"%s\" is not a string", what, key);
	*out = json_object_get_string(v);
	if (strlen(*out) != (size_t)json_object_get_string_len(v))
		return mkimg_err_set(err, -EINVAL, "%s: \"%s\" contains a NUL byte", what, key);
	return 0;
}

static int dup_str(const char *s, char **out)
{
	*out = NULL;
	if (!s)
		return 0;
	*out = strdup(s);
	return *out ? 0 : -ENOMEM;
}

/* A descriptor object: digest (validated), size, mediaType. */
static int parse_descriptor(struct json_object *o, const char *what, const char **mt,
			    char digest[OCI_DIGEST_LEN + 1], uint64_t *size,
			    struct mkimg_err *err)
{
	struct json_object *v;
	const char *d;
	int64_t sz;
	int ret;

	if (!json_object_is_type(o, json_type_object))
		return mkimg_err_set(err, -EINVAL, "%s: descriptor is not an object", what);
	ret = oci_json_str(o, "mediaType", mt, what, err);
	if (ret)
		return ret;
	ret = oci_json_str(o, "digest", &d, what, err);
	if (ret)
		return ret;
	if (!d)
		return mkimg_err_set(err, -EINVAL, "%s: descriptor without a digest", what);
	if (oci_digest_validate(d, err))
		return mkimg_err_wrap(err, -EINVAL, "%s", what);
	memcpy(digest, d, OCI_DIGEST_LEN + 1);
	if (!json_object_object_get_ex(o, "size", &v))
		return mkimg_err_set(err, -EINVAL, "%s: descriptor %s without a size", what, d);
	if (!json_object_is_type(v, json_type_int))
		return mkimg_err_set(err, -EINVAL, "%s: descriptor %s: size is not an integer", what, d);
	errno = 0;
	sz = json_object_get_int64(v);
	if (sz < 0 || errno == EINVAL ||
	    (sz == INT64_MAX && json_object_get_uint64(v) > (uint64_t)INT64_MAX))
		return mkimg_err_set(err, -EINVAL, "%s: descriptor %s: invalid size", what, d);
	*size = (uint64_t)sz;
	return 0;
}

static bool is_index_type(const char *mt)
{
	return mt && (!strcmp(mt, MT_OCI_INDEX) || !strcmp(mt, MT_DOCKER_LIST));
}

/* ---------------------------------------------------------------------- */
/* Index                                                                  */
/* ---------------------------------------------------------------------- */

void oci_descriptors_free(struct oci_descriptor *d, size_t n)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < n; i++) {
		free(d[i].media_type);
		free(d[i].ref_name);
		free(d[i].os);
		free(d[i].arch);
		free(d[i].variant);
	}
	free(d);
}

int oci_parse_index(const void *buf, size_t len, struct oci_descriptor **descs,
		    size_t *ndescs, struct mkimg_err *err)
{
	const char *what = "index";
	struct json_object *root, *arr, *v;
	struct oci_descriptor *d = NULL;
	const char *mt;
	size_t n, i;
	int ret;

	*descs = NULL;
	*ndescs = 0;
	ret = oci_json_parse(buf, len, what, &root, err);
	if (ret)
		return ret;
	if (!json_object_object_get_ex(root, "schemaVersion", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 2) {
		ret = mkimg_err_set(err, -EINVAL, "%s: schemaVersion is not 2", what);
		goto out;
	}
	ret = oci_json_str(root, "mediaType", &mt, what, err);
	if (ret)
		goto out;
	if (mt && !is_index_type(mt)) {
		char sh[120];

		oci_shorten(mt, sh, sizeof(sh));
		ret = mkimg_err_set(err, -EINVAL, "%s: unexpected media type %s", what, sh);
		goto out;
	}
	if (!json_object_object_get_ex(root, "manifests", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		ret = mkimg_err_set(err, -EINVAL, "%s: no \"manifests\" array", what);
		goto out;
	}
	n = json_object_array_length(arr);
	if (n > 100000) {
		ret = mkimg_err_set(err, -E2BIG, "%s: too many manifests (%zu)", what, n);
		goto out;
	}
	d = calloc(n ? n : 1, sizeof(*d));
	if (!d) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i), *p, *ann;
		const char *s;

		ret = parse_descriptor(e, what, &mt, d[i].digest, &d[i].size, err);
		if (ret)
			goto out;
		d[i].is_index = is_index_type(mt);
		ret = dup_str(mt, &d[i].media_type);
		if (ret)
			goto out;
		if (json_object_object_get_ex(e, "annotations", &ann) &&
		    json_object_is_type(ann, json_type_object)) {
			ret = oci_json_str(ann, ANN_REF_NAME, &s, what, err);
			if (!ret)
				ret = dup_str(s, &d[i].ref_name);
			if (ret)
				goto out;
		}
		if (json_object_object_get_ex(e, "platform", &p) &&
		    json_object_is_type(p, json_type_object)) {
			ret = oci_json_str(p, "os", &s, what, err);
			if (!ret)
				ret = dup_str(s, &d[i].os);
			if (!ret)
				ret = oci_json_str(p, "architecture", &s, what, err);
			if (!ret)
				ret = dup_str(s, &d[i].arch);
			if (!ret)
				ret = oci_json_str(p, "variant", &s, what, err);
			if (!ret)
				ret = dup_str(s, &d[i].variant);
			if (ret)
				goto out;
		}
	}
	*descs = d;
	*ndescs = n;
	d = NULL;
	ret = 0;
out:
	if (d)
		oci_descriptors_free(d, n);
	json_object_put(root);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Manifest and config                                                    */
/* ---------------------------------------------------------------------- */

void oci_image_free(struct oci_image *img)
{
	size_t i;

	if (!img)
		return;
	for (i = 0; i < img->nlayers; i++) {
		free(img->layers[i].media_type);
		free(img->layers[i].member);
	}
	free(img->layers);
	free(img->os);
	free(img->architecture);
	free(img->variant);
	free(img);
}

int oci_parse_manifest(const void *buf, size_t len, struct oci_image **out,
		       struct mkimg_err *err)
{
	const char *what = "manifest";
	struct json_object *root, *v, *arr;
	struct oci_image *img = NULL;
	const char *mt, *cmt;
	size_t n, i;
	char sh[120];
	int ret;

	*out = NULL;
	ret = oci_json_parse(buf, len, what, &root, err);
	if (ret)
		return ret;
	ret = oci_json_str(root, "mediaType", &mt, what, err);
	if (ret)
		goto out;
	if (mt && (!strcmp(mt, MT_DOCKER_V1) || !strcmp(mt, MT_DOCKER_V1S))) {
		ret = mkimg_err_set(err, -ENOTSUP, "%s: Docker schema 1 manifests are not supported", what);
		goto out;
	}
	if (!json_object_object_get_ex(root, "schemaVersion", &v) ||
	    !json_object_is_type(v, json_type_int) || json_object_get_int64(v) != 2) {
		ret = mkimg_err_set(err, -ENOTSUP, "%s: schemaVersion is not 2", what);
		goto out;
	}
	if (mt && strcmp(mt, MT_OCI_MANIFEST) && strcmp(mt, MT_DOCKER_V2)) {
		oci_shorten(mt, sh, sizeof(sh));
		ret = mkimg_err_set(err, -ENOTSUP, "%s: unsupported media type %s", what, sh);
		goto out;
	}
	img = calloc(1, sizeof(*img));
	if (!img) {
		ret = -ENOMEM;
		goto out;
	}
	if (!json_object_object_get_ex(root, "config", &v)) {
		ret = mkimg_err_set(err, -EINVAL, "%s: no config descriptor", what);
		goto out;
	}
	ret = parse_descriptor(v, "manifest config", &cmt, img->config_digest,
			       &img->config_size, err);
	if (ret)
		goto out;
	if (!json_object_object_get_ex(root, "layers", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		ret = mkimg_err_set(err, -EINVAL, "%s: no \"layers\" array", what);
		goto out;
	}
	n = json_object_array_length(arr);
	if (n > OCI_MAX_LAYERS) {
		ret = mkimg_err_set(err, -E2BIG, "%s: %zu layers (at most %d supported)",
				    what, n, OCI_MAX_LAYERS);
		goto out;
	}
	img->layers = calloc(n ? n : 1, sizeof(*img->layers));
	if (!img->layers) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct oci_layer *l = &img->layers[i];

		img->nlayers = i + 1;
		ret = parse_descriptor(json_object_array_get_idx(arr, i), "manifest layer",
				       &mt, l->digest, &l->size, err);
		if (ret)
			goto out;
		ret = oci_layer_media_type(mt, &l->comp, err);
		if (ret) {
			mkimg_err_wrap(err, ret, "layer %s", l->digest);
			goto out;
		}
		ret = dup_str(mt, &l->media_type);
		if (ret)
			goto out;
	}
	img->nlayers = n;
	*out = img;
	img = NULL;
	ret = 0;
out:
	oci_image_free(img);
	json_object_put(root);
	return ret;
}

int oci_parse_config(const void *buf, size_t len, struct oci_image *img,
		     struct mkimg_err *err)
{
	const char *what = "config";
	struct json_object *root, *rootfs, *arr;
	const char *s;
	size_t n, i;
	int ret;

	ret = oci_json_parse(buf, len, what, &root, err);
	if (ret)
		return ret;
	if (!json_object_object_get_ex(root, "rootfs", &rootfs) ||
	    !json_object_is_type(rootfs, json_type_object) ||
	    !json_object_object_get_ex(rootfs, "diff_ids", &arr) ||
	    !json_object_is_type(arr, json_type_array)) {
		ret = mkimg_err_set(err, -EINVAL, "%s: no rootfs.diff_ids array", what);
		goto out;
	}
	ret = oci_json_str(rootfs, "type", &s, what, err);
	if (ret)
		goto out;
	if (s && strcmp(s, "layers")) {
		ret = mkimg_err_set(err, -EINVAL, "%s: rootfs.type is not \"layers\"", what);
		goto out;
	}
	n = json_object_array_length(arr);
	if (n != img->nlayers) {
		ret = mkimg_err_set(err, -EINVAL,
				    "%s: %zu diff_ids for %zu layers in the manifest", what, n, img->nlayers);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct json_object *v = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(v, json_type_string)) {
			ret = mkimg_err_set(err, -EINVAL, "%s: diff_ids[%zu] is not a string", what, i);
			goto out;
		}
		s = json_object_get_string(v);
		if (oci_digest_validate(s, err)) {
			ret = mkimg_err_wrap(err, -EINVAL, "%s: diff_ids[%zu]", what, i);
			goto out;
		}
		memcpy(img->layers[i].diff_id, s, OCI_DIGEST_LEN + 1);
	}
	free(img->os);
	free(img->architecture);
	free(img->variant);
	img->os = img->architecture = img->variant = NULL;
	ret = oci_json_str(root, "os", &s, what, err);
	if (!ret)
		ret = dup_str(s, &img->os);
	if (!ret)
		ret = oci_json_str(root, "architecture", &s, what, err);
	if (!ret)
		ret = dup_str(s, &img->architecture);
	if (!ret)
		ret = oci_json_str(root, "variant", &s, what, err);
	if (!ret)
		ret = dup_str(s, &img->variant);
out:
	json_object_put(root);
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Reading blobs                                                          */
/* ---------------------------------------------------------------------- */

static int read_all(int fd, const char *what, size_t max, char **out, size_t *outlen,
		    struct mkimg_err *err)
{
	struct stat st;
	char *buf;
	size_t len = 0;

	if (fstat(fd, &st) < 0)
		return mkimg_err_set(err, -errno, "%s: %s", what, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return mkimg_err_set(err, -EINVAL, "%s: not a regular file", what);
	if ((uint64_t)st.st_size > max)
		return mkimg_err_set(err, -EFBIG, "%s: larger than %zu bytes", what, max);
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return -ENOMEM;
	while (len < (size_t)st.st_size + 1) {
		ssize_t r = read(fd, buf + len, (size_t)st.st_size + 1 - len);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			free(buf);
			return mkimg_err_set(err, -errno, "%s: %s", what, strerror(errno));
		}
		if (r == 0)
			break;
		len += r;
	}
	if (len != (size_t)st.st_size) {
		free(buf);
		return mkimg_err_set(err, -EIO, "%s: changed while read", what);
	}
	*out = buf;
	*outlen = len;
	return 0;
}

void oci_digest_format(const unsigned char md[32], char *out)
{
	memcpy(out, "sha256:", 7);
	util_hex(md, 32, out + 7);
}

void oci_sha256_digest(const void *buf, size_t len, char *out)
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	SHA256(buf, len, md);
	oci_digest_format(md, out);
}

/* Where a layout's blobs are: a directory or an archive of one. */
struct blob_src {
	int dirfd;
	struct oci_archive *ar;
};

/* Reads the blob of a (validated) descriptor and verifies it. */
static int read_blob(const struct blob_src *bs, const char *kind, const char *digest,
		     uint64_t size, char **out, size_t *outlen, struct mkimg_err *err)
{
	char path[80], what[120], got[OCI_DIGEST_LEN + 1];
	int fd, ret;

	snprintf(what, sizeof(what), "%s %.19s...", kind, digest);
	if (oci_digest_validate(digest, NULL))
		return mkimg_err_set(err, -EINVAL, "%s: invalid digest", kind);
	if (size > OCI_MAX_JSON)
		return mkimg_err_set(err, -EFBIG, "%s: descriptor size %llu is larger than %u bytes",
				     what, (unsigned long long)size, OCI_MAX_JSON);
	snprintf(path, sizeof(path), "blobs/sha256/%s", digest + 7);
	if (bs->ar) {
		ret = oci_archive_read(bs->ar, path, OCI_MAX_JSON, out, outlen, err);
		if (ret)
			return mkimg_err_wrap(err, ret, "%s", what);
	} else {
		fd = openat(bs->dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0)
			return mkimg_err_set(err, -errno, "%s: blob %s: %s", what, path,
					     strerror(errno));
		ret = read_all(fd, what, OCI_MAX_JSON, out, outlen, err);
		close(fd);
		if (ret)
			return ret;
	}
	if (*outlen != size) {
		ret = mkimg_err_set(err, -EINVAL, "%s: size mismatch: blob has %zu bytes, descriptor says %llu",
				    what, *outlen, (unsigned long long)size);
		goto fail;
	}
	oci_sha256_digest(*out, *outlen, got);
	if (strcmp(got, digest)) {
		ret = mkimg_err_set(err, -EINVAL, "%s %s: digest mismatch: got %s", kind, digest, got);
		goto fail;
	}
	return 0;
fail:
	free(*out);
	*out = NULL;
	return ret;
}

/* ---------------------------------------------------------------------- */
/* Selection                                                              */
/* ---------------------------------------------------------------------- */

struct cand {
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t size;
	char *os, *arch, *variant;	/* borrowed from descriptor lists */
	bool has_platform;
	size_t order;			/* position in the walk */
};

/* A descriptor the tag named directly (index or manifest). */
struct refhit {
	char digest[OCI_DIGEST_LEN + 1];
	size_t order;
};

struct select_ctx {
	struct blob_src src;
	const struct oci_selector *sel;
	bool ref_is_digest;
	bool ref_seen;
	struct cand *c;
	size_t nc, cap;
	struct refhit *hits;
	size_t nhits, hitcap;
	/* descriptor lists kept alive for the borrowed strings */
	struct oci_descriptor **lists;
	size_t *listlen;
	size_t nlists;
	struct mkimg_err *err;		/* the caller's */
	bool bad_index;			/* the failure is an index's own */
};

static int keep_list(struct select_ctx *x, struct oci_descriptor *d, size_t n)
{
	struct oci_descriptor **l;
	size_t *ll;

	l = realloc(x->lists, (x->nlists + 1) * sizeof(*l));
	if (!l)
		return -ENOMEM;
	x->lists = l;
	ll = realloc(x->listlen, (x->nlists + 1) * sizeof(*ll));
	if (!ll)
		return -ENOMEM;
	x->listlen = ll;
	x->lists[x->nlists] = d;
	x->listlen[x->nlists++] = n;
	return 0;
}

static bool ref_matches(const struct select_ctx *x, const struct oci_descriptor *d)
{
	const char *ref = x->sel ? x->sel->ref : NULL;

	if (!ref)
		return true;
	if (x->ref_is_digest)
		return !strcmp(d->digest, ref);
	return d->ref_name && !strcmp(d->ref_name, ref);
}

static int add_refhit(struct select_ctx *x, const char *digest)
{
	if (!x->sel || !x->sel->ref || x->ref_is_digest)
		return 0;
	if (x->nhits == x->hitcap) {
		size_t cap = x->hitcap ? x->hitcap * 2 : 8;
		struct refhit *h = realloc(x->hits, cap * sizeof(*h));

		if (!h)
			return -ENOMEM;
		x->hits = h;
		x->hitcap = cap;
	}
	snprintf(x->hits[x->nhits].digest, sizeof(x->hits[0].digest), "%s", digest);
	x->hits[x->nhits].order = x->nhits;
	x->nhits++;
	return 0;
}

static int walk_index(struct select_ctx *x, const char *buf, size_t len, int depth,
		      bool matched)
{
	struct oci_descriptor *d;
	size_t n, i;
	int ret;

	if (depth > OCI_MAX_INDEX_DEPTH) {
		x->bad_index = true;
		return mkimg_err_set(x->err, -ELOOP,
				     "index: nested more than %d levels deep", OCI_MAX_INDEX_DEPTH);
	}
	ret = oci_parse_index(buf, len, &d, &n, x->err);
	if (ret) {
		x->bad_index = true;
		return ret;
	}
	ret = keep_list(x, d, n);
	if (ret) {
		oci_descriptors_free(d, n);
		return ret;
	}
	for (i = 0; i < n; i++) {
		bool m = matched || ref_matches(x, &d[i]);

		if (m && !matched) {
			x->ref_seen = true;
			ret = add_refhit(x, d[i].digest);
			if (ret)
				return ret;
		}
		if (d[i].is_index) {
			char *sub;
			size_t sublen;

			/* Without a match, only look inside for nested refs. */
			ret = read_blob(&x->src, "index", d[i].digest, d[i].size,
					&sub, &sublen, x->err);
			if (ret)
				return ret;
			ret = walk_index(x, sub, sublen, depth + 1, m);
			free(sub);
			if (ret)
				return ret;
			continue;
		}
		if (!m)
			continue;
		if (d[i].media_type && strcmp(d[i].media_type, MT_OCI_MANIFEST) &&
		    strcmp(d[i].media_type, MT_DOCKER_V2))
			continue;	/* artifacts, attestations, schema 1... */
		if (x->nc == x->cap) {
			size_t cap = x->cap ? x->cap * 2 : 8;
			struct cand *c = realloc(x->c, cap * sizeof(*c));

			if (!c)
				return -ENOMEM;
			x->c = c;
			x->cap = cap;
		}
		memcpy(x->c[x->nc].digest, d[i].digest, sizeof(d[i].digest));
		x->c[x->nc].size = d[i].size;
		x->c[x->nc].os = d[i].os;
		x->c[x->nc].arch = d[i].arch;
		x->c[x->nc].variant = d[i].variant;
		x->c[x->nc].has_platform = d[i].os || d[i].arch;
		x->c[x->nc].order = x->nc;
		x->nc++;
	}
	return 0;
}

static bool platform_matches(const char *os, const char *arch, const char *variant,
			     const char *wos, const char *warch, const char *wvariant)
{
	if (!os || !arch || strcmp(os, wos) || strcmp(arch, warch))
		return false;
	if (wvariant && (!variant || strcmp(variant, wvariant)))
		return false;
	return true;
}

/* Manifest and config of a candidate, both verified. */
static int load_image(const struct blob_src *bs, const struct cand *c,
		      struct oci_image **out, struct mkimg_err *err)
{
	struct oci_image *img;
	char *buf;
	size_t len;
	int ret;

	*out = NULL;
	ret = read_blob(bs, "manifest", c->digest, c->size, &buf, &len, err);
	if (ret)
		return ret;
	ret = oci_parse_manifest(buf, len, &img, err);
	free(buf);
	if (ret)
		return mkimg_err_wrap(err, ret, "manifest %s", c->digest);
	memcpy(img->manifest_digest, c->digest, sizeof(c->digest));
	ret = read_blob(bs, "config", img->config_digest, img->config_size,
			&buf, &len, err);
	if (ret)
		goto fail;
	ret = oci_parse_config(buf, len, img, err);
	free(buf);
	if (ret) {
		mkimg_err_wrap(err, ret, "config %s", img->config_digest);
		goto fail;
	}
	*out = img;
	return 0;
fail:
	oci_image_free(img);
	return ret;
}

static int cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;
	int c = strcmp(x->digest, y->digest);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int hit_cmp(const void *a, const void *b)
{
	const struct refhit *x = a, *y = b;
	int c = strcmp(x->digest, y->digest);

	if (c)
		return c;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* "d1, d2, ..." of n digests into out (shortened with "..." if long). */
static void digest_list(const char *const *d, size_t n, char *out, size_t outlen)
{
	size_t i, o = 0;
	int w;

	out[0] = '\0';
	for (i = 0; i < n; i++) {
		w = snprintf(out + o, outlen - o, "%s%s", i ? ", " : "", d[i]);
		if (w < 0 || (size_t)w >= outlen - o) {
			if (outlen >= 4)
				memcpy(out + outlen - 4, "...", 4);
			return;
		}
		o += w;
	}
}

/* A tag naming more than one descriptor is refused, as umoci does ("tag
 * is ambiguous"): which one is meant is not for mkimg to guess. */
static int check_tag_unique(struct select_ctx *x, const char *dir)
{
	const char **d;
	char list[1024], sh[120];
	size_t i, n = 0;
	int ret;

	if (x->nhits < 2)
		return 0;
	qsort(x->hits, x->nhits, sizeof(*x->hits), hit_cmp);
	d = malloc(x->nhits * sizeof(*d));
	if (!d)
		return -ENOMEM;
	for (i = 0; i < x->nhits; i++)
		if (!n || strcmp(d[n - 1], x->hits[i].digest))
			d[n++] = x->hits[i].digest;
	ret = 0;
	if (n > 1) {
		digest_list(d, n, list, sizeof(list));
		oci_shorten(x->sel->ref, sh, sizeof(sh));
		ret = mkimg_err_set(x->err, -EINVAL,
				    "%s: tag \"%s\" is ambiguous, it names %zu descriptors "
				    "(select one by digest): %s", dir, sh, n, list);
	}
	free(d);
	return ret;
}

/*
 * The one manifest among the candidates: the only one when no platform is
 * asked for, else the only one for the platform (--platform, or linux/amd64;
 * a descriptor's platform, or the config's when the descriptor has none).
 * More than one distinct manifest that fits is refused, naming them; so is
 * a choice between manifests none of which declares a platform in the index
 * when no platform was asked for.
 */
static int select_platform(struct select_ctx *x, const char *dir, struct oci_image **out)
{
	const struct oci_selector *sel = x->sel;
	bool explicit_platform = sel->os || sel->arch, any_platform = false;
	const char *wos = sel->os ? sel->os : "linux";
	const char *warch = sel->arch ? sel->arch : "amd64";
	const char *wvar = sel->variant;
	struct oci_image *img = NULL, *gi;
	const char **match;
	char list[1024];
	size_t i, j, k, ndistinct = 0, nmatch = 0;
	int ret = 0;

	*out = NULL;
	qsort(x->c, x->nc, sizeof(*x->c), cand_cmp);
	for (i = 0; i < x->nc; i++) {
		if (!i || strcmp(x->c[i].digest, x->c[i - 1].digest))
			ndistinct++;
		any_platform |= x->c[i].has_platform;
	}
	if (!explicit_platform && ndistinct == 1)
		return load_image(&x->src, &x->c[0], out, x->err);
	match = malloc(ndistinct * sizeof(*match));
	if (!match)
		return -ENOMEM;
	if (!explicit_platform && !any_platform) {
		for (i = 0; i < x->nc; i++)
			if (!i || strcmp(x->c[i].digest, x->c[i - 1].digest))
				match[nmatch++] = x->c[i].digest;
		digest_list(match, nmatch, list, sizeof(list));
		ret = mkimg_err_set(x->err, -EINVAL,
				    "%s: %zu manifests and no platform in the index "
				    "(select one by tag, digest or --platform): %s", dir, nmatch, list);
		goto out;
	}
	for (i = 0; i < x->nc; i = j) {
		bool ok = false;

		for (j = i; j < x->nc && !strcmp(x->c[j].digest, x->c[i].digest); j++)
			if (x->c[j].has_platform &&
			    platform_matches(x->c[j].os, x->c[j].arch, x->c[j].variant,
					     wos, warch, wvar))
				ok = true;
		gi = NULL;
		for (k = i; k < j && !ok; k++) {
			if (x->c[k].has_platform)
				continue;
			/* No platform in the descriptor: the config's counts. */
			ret = load_image(&x->src, &x->c[k], &gi, x->err);
			if (ret)
				goto out;
			ok = platform_matches(gi->os, gi->architecture, gi->variant,
					      wos, warch, wvar);
			if (!ok) {
				oci_image_free(gi);
				gi = NULL;
			}
			break;
		}
		if (!ok)
			continue;
		match[nmatch++] = x->c[i].digest;
		if (!img && !gi) {
			ret = load_image(&x->src, &x->c[i], &gi, x->err);
			if (ret)
				goto out;
		}
		if (!img)
			img = gi;
		else
			oci_image_free(gi);
	}
	if (!nmatch) {
		ret = mkimg_err_set(x->err, -ENOENT,
				    "%s: no image for platform %s/%s%s%s",
				    dir, wos, warch, wvar ? "/" : "", wvar ? wvar : "");
		goto out;
	}
	if (nmatch > 1) {
		digest_list(match, nmatch, list, sizeof(list));
		ret = mkimg_err_set(x->err, -EINVAL,
				    "%s: %zu manifests for platform %s/%s%s%s "
				    "(select one by digest): %s", dir, nmatch, wos, warch,
				    wvar ? "/" : "", wvar ? wvar : "", list);
		goto out;
	}
	*out = img;
	img = NULL;
out:
	oci_image_free(img);
	free(match);
	return ret;
}

/* where: "OCI layout DIR" or "archive FILE", for messages. */
static int image_open(struct blob_src *src, const char *where,
		      const struct oci_selector *sel, struct oci_image **out,
		      struct mkimg_err *err)
{
	static const struct oci_selector nosel;
	struct select_ctx x = { .src = *src, .err = err };
	struct oci_image *img = NULL;
	char *buf = NULL;
	size_t len, i;
	int fd, ret;

	*out = NULL;
	if (!sel)
		sel = &nosel;
	x.sel = sel;
	if (sel->ref && !strncmp(sel->ref, "sha256:", 7)) {
		ret = oci_digest_validate(sel->ref, err);
		if (ret)
			return ret;
		x.ref_is_digest = true;
	}
	if (src->ar) {
		ret = oci_archive_read(src->ar, "index.json", OCI_MAX_JSON, &buf, &len, err);
		if (ret)
			goto out;
	} else {
		fd = openat(src->dirfd, "index.json", O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		if (fd < 0) {
			ret = mkimg_err_set(err, -errno, "%s: index.json: %s", where,
					    strerror(errno));
			goto out;
		}
		ret = read_all(fd, "index.json", OCI_MAX_JSON, &buf, &len, err);
		close(fd);
		if (ret) {
			mkimg_err_wrap(err, ret, "%s", where);
			goto out;
		}
	}
	ret = walk_index(&x, buf, len, 0, false);
	if (ret) {
		/* an index itself is wrong (not one of its blobs): say where */
		if (x.bad_index && err && err->code)
			mkimg_err_wrap(err, ret, "%s", where);
		goto out;
	}
	if (sel->ref && !x.ref_seen) {
		char sh[120];

		oci_shorten(sel->ref, sh, sizeof(sh));
		ret = mkimg_err_set(err, -ENOENT, "%s: no image \"%s\"", where, sh);
		goto out;
	}
	if (x.nc == 0) {
		ret = mkimg_err_set(err, -ENOENT, "%s: no image manifest%s", where,
				    sel->ref ? " for that reference" : "");
		goto out;
	}
	ret = check_tag_unique(&x, where);
	if (ret)
		goto out;
	ret = select_platform(&x, where, &img);
	if (ret)
		goto out;
	*out = img;
	img = NULL;
out:
	oci_image_free(img);
	free(buf);
	free(x.c);
	free(x.hits);
	for (i = 0; i < x.nlists; i++)
		oci_descriptors_free(x.lists[i], x.listlen[i]);
	free(x.lists);
	free(x.listlen);
	return ret;
}

int oci_image_open(const char *dir, const struct oci_selector *sel,
		   struct oci_image **out, struct mkimg_err *err)
{
	struct blob_src src = { .dirfd = -1 };
	char where[OCI_PATH_MAX + 16];
	int ret;

	*out = NULL;
	snprintf(where, sizeof(where), "OCI layout %s", dir);
	if (sel && sel->ref && !strncmp(sel->ref, "sha256:", 7)) {
		ret = oci_digest_validate(sel->ref, err);
		if (ret)
			return ret;
	}
	src.dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (src.dirfd < 0)
		return mkimg_err_set(err, -errno, "%s: %s", where, strerror(errno));
	ret = image_open(&src, where, sel, out, err);
	close(src.dirfd);
	return ret;
}

int oci_archive_image_open(struct oci_archive *a, const struct oci_selector *sel,
			   struct oci_image **out, struct mkimg_err *err)
{
	struct blob_src src = { .dirfd = -1, .ar = a };
	char where[OCI_PATH_MAX + 16];
	struct oci_image *img;
	size_t i;
	int ret;

	snprintf(where, sizeof(where), "archive %s", oci_archive_name(a));
	ret = image_open(&src, where, sel, out, err);
	if (ret)
		return ret;
	img = *out;
	for (i = 0; i < img->nlayers; i++) {
		if (asprintf(&img->layers[i].member, "blobs/sha256/%s",
			     img->layers[i].digest + 7) < 0) {
			img->layers[i].member = NULL;
			oci_image_free(img);
			*out = NULL;
			return mkimg_err_set(err, -ENOMEM, "out of memory");
		}
	}
	return 0;
}
