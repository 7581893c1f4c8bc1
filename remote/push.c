/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg push (remote.h): a store image as an OCI artifact.
 *
 * The store image's files are opened under the store's shared lock (gc
 * takes it exclusive), so what is pushed is what the registry named at
 * that moment even if gc runs later; each blob is hashed as it is copied
 * and refused unless its bytes have its name. Then the config and the
 * manifest, and last the tag: a reader of the destination sees the
 * artifact whole or not at all.
 */
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore/store_internal.h"
#include "mkimg/oci.h"
#include "mkimg/remote.h"
#include "oci/oci_internal.h"
#include "remote/remote_internal.h"
#include "util/hex.h"
#include "util/io.h"

#define LAYOUT_NAME "erofs-chunked"	/* uncompressed chunk indexes, blobs as devices */

/* A layer record of the image (open_records). */
struct record {
	char diff_id[72];
	char hex[65];
	uint64_t size;
	int fd;
};

static bool alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

bool mkimg_tag_valid(const char *tag)
{
	const char *p = tag;
	size_t len = strlen(tag);

	if (!len || len > MKIMG_TAG_MAX)
		return false;
	for (;;) {
		/* component: alnum (separator alnum)* */
		if (!alnum(*p))
			return false;
		while (alnum(*p))
			p++;
		if (!*p)
			return true;
		if (*p == '/') {
			p++;
			continue;
		}
		if (p[0] == '-' && p[1] == '-')
			p += 2;
		else if (strchr("-._:@+", *p))
			p++;
		else
			return false;
	}
}

/* The hex digest a store blob path ends in. */
static const char *path_hex(const char *path)
{
	const char *b = strrchr(path, '/');
	size_t i;

	b = b ? b + 1 : path;
	if (strlen(b) != 64)
		return NULL;
	for (i = 0; i < 64; i++)
		if (!strchr("0123456789abcdef", b[i]))
			return NULL;
	return b;
}

static struct json_object *descriptor(const char *media_type, const char *hex, uint64_t size)
{
	struct json_object *d = json_object_new_object();
	char digest[72];

	snprintf(digest, sizeof(digest), "sha256:%s", hex);
	json_object_object_add(d, "mediaType", json_object_new_string(media_type));
	json_object_object_add(d, "digest", json_object_new_string(digest));
	json_object_object_add(d, "size", json_object_new_int64((int64_t)size));
	return d;
}

static const char *to_json(struct json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
						 JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* The config: what a puller checks before it fetches anything. */
static struct json_object *config_json(struct json_object *extra, const struct bs_image_info *ii,
				       const struct layout_params *lp, char (*hex)[65])
{
	struct json_object *c = json_object_new_object(), *devs, *ids;
	char digest[72];
	uint32_t i;

	snprintf(digest, sizeof(digest), "sha256:%s", ii->sha256);
	json_object_object_add(c, "mkimgArtifact", json_object_new_int(MKIMG_ARTIFACT_VERSION));
	json_object_object_add(c, "image", json_object_new_string(digest));
	json_object_object_add(c, "blockSize", json_object_new_int(1 << lp->blkszbits));
	json_object_object_add(c, "fingerprints",
			       json_object_new_string(lp->fingerprint ? "sha256" : "none"));
	json_object_object_add(c, "layout", json_object_new_string(LAYOUT_NAME));
	devs = json_object_new_array();
	for (i = 0; i < ii->ndevices; i++) {
		struct json_object *d = json_object_new_object();

		snprintf(digest, sizeof(digest), "sha256:%s", hex[i]);
		json_object_object_add(d, "digest", json_object_new_string(digest));
		json_object_object_add(d, "size", json_object_new_int64((int64_t)ii->device_bytes[i]));
		json_object_array_add(devs, d);
	}
	json_object_object_add(c, "devices", devs);
	ids = json_object_new_array();
	for (i = 0; i < ii->nlayers; i++)
		json_object_array_add(ids, json_object_new_string(ii->layers[i]));
	json_object_object_add(c, "diffIds", ids);
	json_object_object_add(c, "source", json_object_new_string(ii->source ? ii->source : ""));
	json_object_object_add(c, "files", json_object_new_int64((int64_t)ii->files));
	json_object_object_add(c, "dataBytes", json_object_new_int64((int64_t)ii->logical_bytes));
	if (extra)
		json_object_object_add(c, "extraFiles", extra);
	return c;
}

static struct json_object *manifest_json(const struct bs_image_info *ii,
					 const struct layout_params *lp, char (*hex)[65],
					 const char *config_hex, size_t config_len,
					 uint64_t image_bytes, const struct record *recs, size_t nrecs,
					 struct json_object *subject)
{
	struct json_object *m = json_object_new_object(), *layers, *a;
	char v[32];
	uint32_t i;

	json_object_object_add(m, "schemaVersion", json_object_new_int(2));
	json_object_object_add(m, "mediaType",
			       json_object_new_string("application/vnd.oci.image.manifest.v1+json"));
	json_object_object_add(m, "artifactType", json_object_new_string(MKIMG_ARTIFACT_TYPE));
	json_object_object_add(m, "config", descriptor(MKIMG_CONFIG_TYPE, config_hex, config_len));
	layers = json_object_new_array();
	json_object_array_add(layers, descriptor(MKIMG_META_TYPE, ii->sha256, image_bytes));
	for (i = 0; i < ii->ndevices; i++) {
		struct json_object *d = descriptor(MKIMG_BLOB_TYPE, hex[i], ii->device_bytes[i]);
		struct json_object *da = json_object_new_object();

		snprintf(v, sizeof(v), "%u", i + 1);
		json_object_object_add(da, "io.mkimg.device", json_object_new_string(v));
		json_object_object_add(d, "annotations", da);
		json_object_array_add(layers, d);
	}
	for (i = 0; i < nrecs; i++) {	/* so a pull registers the image's layers */
		struct json_object *d = descriptor(MKIMG_RECORD_TYPE, recs[i].hex, recs[i].size);
		struct json_object *da = json_object_new_object();

		json_object_object_add(da, "io.mkimg.diff-id",
				       json_object_new_string(recs[i].diff_id));
		json_object_object_add(d, "annotations", da);
		json_object_array_add(layers, d);
	}
	json_object_object_add(m, "layers", layers);
	a = json_object_new_object();
	snprintf(v, sizeof(v), "%d", MKIMG_ARTIFACT_VERSION);
	json_object_object_add(a, "io.mkimg.artifact.version", json_object_new_string(v));
	snprintf(v, sizeof(v), "%d", 1 << lp->blkszbits);
	json_object_object_add(a, "io.mkimg.block-size", json_object_new_string(v));
	json_object_object_add(a, "io.mkimg.fingerprints",
			       json_object_new_string(lp->fingerprint ? "sha256" : "none"));
	json_object_object_add(a, "io.mkimg.layout", json_object_new_string(LAYOUT_NAME));
	json_object_object_add(a, "io.mkimg.source",
			       json_object_new_string(ii->source ? ii->source : ""));
	json_object_object_add(m, "annotations", a);
	if (subject)	/* the image it was made from (the referrers API finds it) */
		json_object_object_add(m, "subject", subject);
	return m;
}

/* Opens path, a regular file of want bytes (want: UINT64_MAX for any);
 * hex: a blob's, opened as the store opens them (an alternate's through
 * its link), or NULL. */
static int open_blob(const struct bs_store *st, const char *path, const char *hex, uint64_t want,
		     uint64_t *size, struct mkimg_err *err)
{
	struct stat sb;
	int fd = hex ? st_blob_open(st, hex) : open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return mkimg_err_errno(err, hex ? fd : -errno, "%s", path);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
	    (want != UINT64_MAX && (uint64_t)sb.st_size != want)) {
		close(fd);
		return mkimg_err_set(err, -EIO, "%s: not a regular file of the %llu bytes registered "
				     "(run mkimg fsck)", path, (unsigned long long)want);
	}
	*size = sb.st_size;
	return fd;
}

/* The layer records of the image's layers, opened and hashed (under the
 * store's lock): all of them, or none when one is missing (a pull
 * registers an image's layers only with every record). */
static size_t open_records(struct bs_store *st, const struct bs_image_info *ii,
			   struct record *v)
{
	uint8_t d[32];
	size_t i, k;

	for (i = 0; i < ii->nlayers; i++) {
		const char *id = ii->layers[i];
		char *path = strlen(id) == 71 && !strncmp(id, "sha256:", 7) ?
			     st_path(st, "layers", id + 7) : NULL;
		struct stat sb;

		v[i].fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
		free(path);
		if (v[i].fd < 0 || fstat(v[i].fd, &sb) < 0 || !S_ISREG(sb.st_mode) ||
		    util_sha256_fd(v[i].fd, d, &v[i].size))
			break;
		util_hex(d, 32, v[i].hex);
		snprintf(v[i].diff_id, sizeof(v[i].diff_id), "%s", id);
	}
	if (i == ii->nlayers)
		return i;
	for (k = 0; k <= i && k < ii->nlayers; k++)
		if (v[k].fd >= 0)
			close(v[k].fd);
	return 0;
}

/* ---- the files the layer records name that the image does not hold ---- */

struct extra {
	struct bs_store *st;
	uint8_t (*have)[40];	/* the image's files: sha256 and size, sorted */
	size_t nhave, cap;
	sqlite3_stmt *q;	/* SELECT extents FROM files */
	int64_t *blob_ids;	/* per device slot - 1 */
	uint32_t ndevices;
	struct json_object *list;
	uint8_t (*seen)[40];	/* extras listed */
	size_t nseen, seencap;
	bool incomplete;	/* a file lies outside the image's blobs */
	int err;
};

static void key40(uint8_t k[40], const uint8_t sha256[32], uint64_t size)
{
	int i;

	memcpy(k, sha256, 32);
	for (i = 0; i < 8; i++)
		k[32 + i] = size >> (56 - 8 * i);
}

static int cmp40(const void *a, const void *b)
{
	return memcmp(a, b, 40);
}

static int add40(uint8_t (**v)[40], size_t *n, size_t *cap, const uint8_t k[40])
{
	if (*n == *cap) {
		size_t c = *cap ? *cap * 2 : 256;
		uint8_t (*x)[40] = realloc(*v, sizeof(**v) * c);

		if (!x)
			return -ENOMEM;
		*v = x;
		*cap = c;
	}
	memcpy((*v)[(*n)++], k, 40);
	return 0;
}

static int image_file(void *ctx, const struct layout_read_file *f)
{
	struct extra *x = ctx;
	uint8_t k[40];

	if (!f->size || !f->has_fingerprint)
		return 0;
	key40(k, f->sha256, f->size);
	return add40(&x->have, &x->nhave, &x->cap, k);
}

static int record_file(void *ctx, const uint8_t sha256[32], uint64_t size)
{
	struct extra *x = ctx;
	struct json_object *f, *exts;
	const uint8_t *b;
	char hex[65];
	uint8_t k[40];
	size_t n, i;
	uint32_t slot;
	int rc;

	if (!size || x->incomplete)
		return 0;
	key40(k, sha256, size);
	if ((x->nhave && bsearch(k, x->have, x->nhave, 40, cmp40)) ||
	    (x->nseen && lfind(k, x->seen, &x->nseen, 40, cmp40)))
		return 0;
	sqlite3_bind_blob(x->q, 1, sha256, 32, SQLITE_STATIC);
	sqlite3_bind_int64(x->q, 2, (sqlite3_int64)size);
	rc = sqlite3_step(x->q);
	if (rc != SQLITE_ROW) {
		sqlite3_reset(x->q);
		x->incomplete = true;	/* no row: the record is not this store's to send */
		return rc == SQLITE_DONE ? 0 : (x->err = -EIO);
	}
	b = sqlite3_column_blob(x->q, 0);
	n = sqlite3_column_bytes(x->q, 0) / REG_EXTENT_SIZE;
	exts = json_object_new_array();
	for (i = 0; i < n && !x->incomplete; i++) {
		struct reg_extent e;
		struct json_object *a = json_object_new_array();

		reg_extent_unpack(b + i * REG_EXTENT_SIZE, &e);
		for (slot = 0; slot < x->ndevices && x->blob_ids[slot] != e.blob; slot++)
			;
		if (slot == x->ndevices)
			x->incomplete = true;	/* in a blob the image does not carry */
		json_object_array_add(a, json_object_new_int64(slot + 1));
		json_object_array_add(a, json_object_new_int64((int64_t)e.lblk));
		json_object_array_add(a, json_object_new_int64((int64_t)e.pblk));
		json_object_array_add(a, json_object_new_int64(e.nblks));
		json_object_array_add(exts, a);
	}
	sqlite3_reset(x->q);
	if (x->incomplete || add40(&x->seen, &x->nseen, &x->seencap, k)) {
		json_object_put(exts);
		return x->incomplete ? 0 : (x->err = -ENOMEM);
	}
	f = json_object_new_object();
	util_hex(sha256, 32, hex);
	json_object_object_add(f, "sha256", json_object_new_string(hex));
	json_object_object_add(f, "size", json_object_new_int64((int64_t)size));
	json_object_object_add(f, "extents", exts);
	json_object_array_add(x->list, f);
	return 0;
}

/* The config's extraFiles for the records: *out (NULL when there is none to
 * send); 1 when a file a record names is not in the image's blobs (the
 * records cannot be registered by a puller: none is sent). Under the
 * store's lock. */
static int extra_files(struct bs_store *st, const struct bs_image_info *ii, int imgfd,
		       uint64_t image_bytes, const struct record *recs, size_t nrecs,
		       struct json_object **out, struct mkimg_err *err)
{
	struct extra x = { .st = st, .ndevices = ii->ndevices };
	sqlite3_stmt *qb = NULL;
	uint8_t *buf = NULL;
	size_t i;
	int ret, mfd = -1;

	*out = NULL;
	if (!nrecs)
		return 0;
	if (image_bytes > LAYOUT_READ_MAX_IMAGE)
		return 1;
	buf = malloc(image_bytes ? image_bytes : 1);
	x.blob_ids = calloc(ii->ndevices ? ii->ndevices : 1, sizeof(*x.blob_ids));
	x.list = json_object_new_array();
	if (!buf || !x.blob_ids || !x.list) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = util_pread_all(imgfd, buf, image_bytes, 0);
	if (ret) {
		mkimg_err_errno(err, ret, "%s", ii->image);
		goto out;
	}
	ret = layout_read_walk(buf, image_bytes, NULL, image_file, &x, NULL, err);
	if (ret)
		goto out;
	if (x.nhave)
		qsort(x.have, x.nhave, 40, cmp40);
	ret = reg_prepare(st, "SELECT slot, blob FROM image_blobs WHERE image=?", &qb, err);
	if (!ret) {
		sqlite3_bind_text(qb, 1, ii->sha256, -1, SQLITE_STATIC);
		while (sqlite3_step(qb) == SQLITE_ROW) {
			int64_t slot = sqlite3_column_int64(qb, 0);

			if (slot >= 1 && slot <= ii->ndevices)
				x.blob_ids[slot - 1] = sqlite3_column_int64(qb, 1);
		}
	}
	if (!ret)
		ret = reg_prepare(st, "SELECT extents FROM files WHERE sha256=? AND size=?", &x.q,
				  err);
	for (i = 0; !ret && !x.incomplete && i < nrecs; i++) {
		uint64_t entries;

		mfd = memfd_create("mkimg-record", MFD_CLOEXEC);
		if (mfd < 0) {
			ret = mkimg_err_errno(err, -errno, "memfd_create");
			break;
		}
		if (st_zstd_copy(recs[i].fd, mfd, false) || lseek(mfd, 0, SEEK_SET) < 0 ||
		    oci_record_scan(NULL, mfd, recs[i].diff_id + 7, &entries, record_file, &x, NULL))
			x.incomplete = true;	/* not a record it can send */
		if (x.err)
			ret = mkimg_err_set(err, x.err, "reading the registry");
		close(mfd);
		mfd = -1;
	}
	if (!ret && x.incomplete)
		ret = 1;
	if (!ret && json_object_array_length(x.list)) {
		*out = x.list;
		x.list = NULL;
	}
out:
	sqlite3_finalize(qb);
	sqlite3_finalize(x.q);
	json_object_put(x.list);
	free(x.have);
	free(x.seen);
	free(x.blob_ids);
	free(buf);
	return ret;
}

struct push_progress {
	const struct mkimg_push_params *p;
	uint64_t done, total;
};

static void step(void *ctx, uint64_t n)
{
	struct push_progress *pp = ctx;

	pp->done += n;
	if (pp->p->progress && pp->done < pp->total)
		pp->p->progress(pp->p->progress_ctx, pp->done, pp->total);
}

int mkimg_push(struct bs_store *st, const char *name, const char *dest,
	       const struct mkimg_push_params *p, struct mkimg_push_result *r,
	       struct mkimg_err *err)
{
	struct mkimg_push_params none = { 0 };
	struct push_progress pp = { 0 };
	struct bs_image_info ii;
	struct layout_params lp;
	struct remote_ref ref;
	struct remote_dest dst = { 0 };
	struct json_object *cfg = NULL, *man = NULL, *subj = NULL, *extra = NULL;
	char subj_digest[72] = "";
	char (*hex)[65] = NULL, cfg_hex[65], man_digest[72];
	const char *tag = NULL, *s;
	int *fds = NULL, imgfd = -1, lock, ret;
	struct record *recs = NULL;
	size_t nrecs = 0;
	uint64_t image_bytes, sz;
	uint32_t i;

	if (!p)
		p = &none;
	pp.p = p;
	memset(r, 0, sizeof(*r));
	ret = remote_parse(dest, &ref, err);
	if (ret)
		return ret;
	if ((p->subject || p->nmount_from) && ref.kind != REMOTE_REGISTRY) {
		ret = mkimg_err_set(err, -EINVAL, "%s: %s needs a registry destination", dest,
				    p->subject ? "--subject" : "--mount-from");
		goto out;
	}
	tag = ref.tag ? ref.tag : name;
	if (ref.digest[0]) {
		ret = mkimg_err_set(err, -EINVAL, "%s: a push goes to a tag, not a digest", dest);
		goto out;
	}
	if (ref.kind == REMOTE_OCI ? !mkimg_tag_valid(tag) : !remote_tag_valid(tag)) {
		ret = mkimg_err_set(err, -EINVAL, "%s: not a valid %s tag%s", tag,
				    ref.kind == REMOTE_OCI ? "OCI" : "registry",
				    tag != name ? "" : ref.kind == REMOTE_OCI ?
				    "; give one: oci:DIR:TAG" : "; give one: docker://HOST/REPO:TAG");
		goto out;
	}
	snprintf(r->tag, sizeof(r->tag), "%s", tag);
	bs_store_layout_params(st, &lp);

	lock = st_lock(st, false, err);
	if (lock < 0) {
		ret = lock;
		goto out;
	}
	ret = bs_store_image(st, name, &ii, err);
	if (ret) {
		st_unlock(lock);
		goto out;
	}
	hex = calloc(ii.ndevices + 1, sizeof(*hex));
	fds = malloc(sizeof(*fds) * (ii.ndevices + 1));
	recs = calloc(ii.nlayers + 1, sizeof(*recs));
	if (!hex || !fds || !recs) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		st_unlock(lock);
		goto out_info;
	}
	for (i = 0; i < ii.ndevices; i++)
		fds[i] = -1;
	imgfd = ret = open_blob(st, ii.image, NULL, UINT64_MAX, &image_bytes, err);
	for (i = 0; ret >= 0 && i < ii.ndevices; i++) {
		const char *h = path_hex(ii.devices[i]);

		if (!h) {
			ret = mkimg_err_set(err, -EINVAL, "%s: not a blob of the store", ii.devices[i]);
			break;
		}
		memcpy(hex[i], h, 65);
		fds[i] = ret = open_blob(st, ii.devices[i], h, ii.device_bytes[i], &sz, err);
	}
	if (ret >= 0)
		nrecs = open_records(st, &ii, recs);
	if (ret >= 0 && nrecs) {
		int e = extra_files(st, &ii, imgfd, image_bytes, recs, nrecs, &extra, err);

		if (e < 0) {
			ret = e;
		} else if (e) {	/* records a puller could not register: none sent */
			for (i = 0; i < nrecs; i++)
				close(recs[i].fd);
			nrecs = 0;
		}
	}
	st_unlock(lock);
	if (ret < 0)
		goto out_fds;
	ret = 0;

	if (ref.kind == REMOTE_OCI)
		ret = ocidir_dest(ref.dir, p->durable, &dst, err);
	else
		ret = registry_dest(&ref, p->registry, p->mount_from, p->nmount_from, &dst, err);
	if (ret)
		goto out_fds;
	/* what is missing, for the progress */
	for (i = 0; i <= ii.ndevices && ret >= 0; i++) {
		const char *h = i < ii.ndevices ? hex[i] : ii.sha256;
		uint64_t size = i < ii.ndevices ? ii.device_bytes[i] : image_bytes;

		ret = dst.has(dst.d, h, size, err);
		if (!ret)
			pp.total += size;
	}
	if (ret < 0)
		goto out_fds;
	ret = 0;
	for (i = 0; i <= ii.ndevices && !ret; i++) {
		int fd = i < ii.ndevices ? fds[i] : imgfd;
		const char *h = i < ii.ndevices ? hex[i] : ii.sha256;
		uint64_t size = i < ii.ndevices ? ii.device_bytes[i] : image_bytes;

		ret = dst.put_fd(dst.d, h, fd, size, step, &pp, err);
		if (ret >= 0) {
			r->blobs++;
			r->bytes += size;
			r->copied += !ret;
			r->mounted += ret == 2;
			r->bytes_copied += ret ? 0 : size;
			ret = 0;
		}
	}
	for (i = 0; i < nrecs && !ret; i++) {
		ret = dst.put_fd(dst.d, recs[i].hex, recs[i].fd, recs[i].size, step, &pp, err);
		if (ret >= 0) {
			r->records++;
			ret = 0;
		}
	}
	if (ret)
		goto out_fds;

	cfg = config_json(extra, &ii, &lp, hex);
	extra = NULL;	/* the config's now */
	s = to_json(cfg);
	ret = s ? dst.put_bytes(dst.d, s, strlen(s), cfg_hex, err) : -ENOMEM;
	if (ret < 0)
		goto out_fds;
	if (p->subject) {
		ret = dst.subject(dst.d, p->subject, &subj, err);
		if (ret)
			goto out_fds;
		snprintf(subj_digest, sizeof(subj_digest), "%s",
			 json_object_get_string(json_object_object_get(subj, "digest")));
	}
	man = manifest_json(&ii, &lp, hex, cfg_hex, strlen(s), image_bytes, recs, nrecs, subj);
	subj = NULL;	/* the manifest's now */
	s = to_json(man);
	if (s)
		oci_sha256_digest(s, strlen(s), man_digest);
	ret = s ? dst.put_manifest(dst.d, s, strlen(s), man_digest + 7, tag, err) : -ENOMEM;
	if (!ret && p->subject)
		ret = dst.link(dst.d, subj_digest, man_digest, strlen(s), err);
	if (!ret)
		snprintf(r->manifest, sizeof(r->manifest), "%s", man_digest);
	if (!ret && p->progress)
		p->progress(p->progress_ctx, pp.total, pp.total);
out_fds:
	if (imgfd >= 0)
		close(imgfd);
	for (i = 0; fds && i < ii.ndevices; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	for (i = 0; i < nrecs; i++)
		close(recs[i].fd);
out_info:
	json_object_put(cfg);
	json_object_put(man);
	json_object_put(subj);
	json_object_put(extra);
	if (dst.close)
		dst.close(dst.d);
	free(fds);
	free(hex);
	free(recs);
	bs_image_info_free(&ii);
out:
	remote_ref_free(&ref);
	if (ret == -ENOMEM)
		mkimg_err_set(err, ret, "out of memory");
	return ret;
}
