/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg pull (remote.h): an mkimg artifact into a store.
 *
 * From an OCI layout, the manifest and config are read and checked in
 * place (mkimg_remote_list); the store then imports the metadata image and
 * the blobs it lacks straight from the layout's files. From a registry,
 * the manifest and config are fetched and checked (registry_artifact);
 * the metadata image and each blob the store lacks are downloaded into
 * the store's tmp/pull-<hex>, hashed while written and refused unless they
 * have their digest and size, then imported. A download holds an flock on
 * its file, so two pulls of one blob do not write it at once, and the
 * second finds it whole; an interrupted download stays, and the next pull
 * hashes what is there and asks for the rest (a Range request). Either way
 * bs_store_import checks every byte it takes again, and registers nothing
 * unless all of it checks out.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <errno.h>
#include <fcntl.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blobstore/store_internal.h"
#include "mkimg/oci.h"
#include "mkimg/remote.h"
#include "util/hex.h"
#include "util/io.h"
#include "remote/remote_internal.h"

#define PATH_MAX_PULL 4096

/* blobs/sha256/<hex of digest> of the layout, a regular file of size. */
static int open_blob(int bfd, const char *dir, const struct mkimg_artifact_blob *b,
		     struct mkimg_err *err)
{
	struct stat sb;
	int fd = openat(bfd, b->digest + 7, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0)
		return mkimg_err_errno(err, -errno, "%s/blobs/sha256/%.64s", dir, b->digest + 7);
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != b->size) {
		close(fd);
		return mkimg_err_set(err, -EIO, "%s/blobs/sha256/%.64s: not a regular file of the "
				     "%llu bytes of its descriptor", dir, b->digest + 7,
				     (unsigned long long)b->size);
	}
	return fd;
}

/* The artifact must be of this store's format. */
static int check_format(struct bs_store *st, const struct mkimg_artifact *a, const char *ref,
			struct mkimg_err *err)
{
	struct layout_params lp;

	bs_store_layout_params(st, &lp);
	if (a->block_size != 1u << lp.blkszbits || strcmp(a->layout, "erofs-chunked") ||
	    a->fingerprints != lp.fingerprint)
		return mkimg_err_set(err, -EPROTONOSUPPORT, "%s: an image of %u-byte blocks, layout "
				     "%s, fingerprints %s; this store's are %u, erofs-chunked, %s", ref,
				     a->block_size, a->layout, a->fingerprints ? "on" : "off",
				     1u << lp.blkszbits, lp.fingerprint ? "on" : "off");
	return 0;
}

struct fetch {
	struct bs_store *st;
	struct registry *rg;
	const struct mkimg_pull_params *p;
	uint64_t done, total, fetched;
	struct download {
		char path[PATH_MAX_PULL];
		int fd;			/* owned by the import's parameters */
	} *dl;				/* one per blob, made before the downloads */
	size_t ndl;
};

/* One download: hashed and written in order (from 0 again when the
 * registry sends the whole blob for a range). */
struct dl {
	struct fetch *f;
	int fd;
	uint64_t pos;
	SHA256_CTX c;
	struct mkimg_err *err;
	const char *path;
};

static int dl_piece(void *ctx, uint64_t at, const void *p, size_t n)
{
	struct dl *d = ctx;
	int ret;

	if (at != d->pos) {	/* the whole blob after all */
		if (at || ftruncate(d->fd, 0) < 0)
			return mkimg_err_set(d->err, -EIO, "%s: a piece out of order", d->path);
		SHA256_Init(&d->c);
		d->f->done -= d->pos < d->f->done ? d->pos : d->f->done;
		d->pos = 0;
	}
	ret = util_pwrite_all(d->fd, p, n, at);
	if (ret)
		return mkimg_err_errno(d->err, ret, "%s", d->path);
	SHA256_Update(&d->c, p, n);
	d->pos += n;
	d->f->done += n;
	d->f->fetched += n;
	if (d->f->p->progress && d->f->done < d->f->total)
		d->f->p->progress(d->f->p->progress_ctx, d->f->done, d->f->total);
	return 0;
}

/* Hashes what an earlier download left in fd (have bytes). */
static int dl_resume(struct dl *d, uint64_t have)
{
	uint8_t *buf = malloc(1u << 20);
	uint64_t off = 0;
	int ret = 0;

	if (!buf)
		return mkimg_err_set(d->err, -ENOMEM, "out of memory");
	while (!ret && off < have) {
		size_t n = have - off < (1u << 20) ? have - off : (1u << 20);

		ret = util_pread_all(d->fd, buf, n, off);
		if (!ret)
			SHA256_Update(&d->c, buf, n);
		off += n;
	}
	free(buf);
	if (ret)
		return mkimg_err_errno(d->err, ret, "%s", d->path);
	d->pos = have;
	d->f->done += have;
	return 0;
}

/* Blob hex of size bytes downloaded into tmp/pull-<hex>: its fd (the flock
 * held) once it has its digest. */
static int download(struct fetch *f, const char *hex, uint64_t size, struct mkimg_err *err)
{
	char name[5 + 65], *path;
	struct dl d = { .f = f, .fd = -1, .err = err };
	uint64_t have;
	uint8_t md[32];
	char got[65];
	struct stat sb;
	int ret;

	snprintf(name, sizeof(name), "pull-%s", hex);
	path = st_path(f->st, "tmp", name);
	if (!path || strlen(path) >= PATH_MAX_PULL) {
		free(path);
		return mkimg_err_set(err, -ENAMETOOLONG, "%s: the store's path is too long", name);
	}
	d.path = path;
	for (;;) {
		d.fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
		if (d.fd < 0) {
			ret = mkimg_err_errno(err, -errno, "%s", path);
			goto fail;
		}
		while (flock(d.fd, LOCK_EX) < 0)
			if (errno != EINTR) {
				ret = mkimg_err_errno(err, -errno, "%s: flock", path);
				goto fail;
			}
		if (fstat(d.fd, &sb) < 0) {
			ret = mkimg_err_errno(err, -errno, "%s", path);
			goto fail;
		}
		if (sb.st_nlink && S_ISREG(sb.st_mode))
			break;	/* ours, whole or not: as blobs are, 0644 (it may become one) */
		close(d.fd);	/* another pull finished with it and removed it */
	}
	if (fchmod(d.fd, 0644) < 0) {
		ret = mkimg_err_errno(err, -errno, "%s", path);
		goto fail;
	}
	have = (uint64_t)sb.st_size > size ? 0 : (uint64_t)sb.st_size;
	for (;;) {
		SHA256_Init(&d.c);
		if (have < (uint64_t)sb.st_size && ftruncate(d.fd, have) < 0) {
			ret = mkimg_err_errno(err, -errno, "%s", path);
			goto fail;
		}
		ret = dl_resume(&d, have);
		if (!ret && d.pos < size)
			ret = registry_get_blob(f->rg, hex, size, d.pos, dl_piece, &d, err);
		if (ret)
			goto keep;	/* what came stays for the next pull to hash and go on from */
		if (d.pos != size) {
			ret = mkimg_err_set(err, -EIO, "%s: blob sha256:%s: %llu of its %llu bytes "
					    "came", registry_name(f->rg), hex,
					    (unsigned long long)d.pos, (unsigned long long)size);
			goto keep;
		}
		SHA256_Final(md, &d.c);
		util_hex(md, 32, got);
		if (!strcmp(got, hex) || !have)
			break;
		/* what an earlier pull left was not the blob's start: once more, whole */
		f->done -= d.pos < f->done ? d.pos : f->done;
		have = 0;
		sb.st_size = size;
	}
	if (strcmp(got, hex)) {
		ret = mkimg_err_set(err, -EIO, "%s: blob sha256:%s: the bytes sent do not have that "
				    "digest", registry_name(f->rg), hex);
		unlink(path);
		goto fail;
	}
	snprintf(f->dl[f->ndl].path, PATH_MAX_PULL, "%s", path);
	f->dl[f->ndl++].fd = d.fd;
	free(path);
	return d.fd;
keep:
fail:
	if (d.fd >= 0)
		close(d.fd);
	free(path);
	return ret;
}

/* Removes a download's file if its path still names the file we hold. */
static void drop_download(const struct download *d)
{
	struct stat a, b;

	if (!fstat(d->fd, &a) && !stat(d->path, &b) && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
		unlink(d->path);
}

/* The store's metadata image hex, if it has it whole; else -1. */
static int have_image(struct bs_store *st, const char *hex, uint64_t size)
{
	char *path = st_path(st, "images", hex);
	struct stat sb;
	int fd = path ? open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;

	free(path);
	if (fd >= 0 && (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size != size)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static void fill_result(struct mkimg_pull_result *r, const char *name,
			const struct mkimg_artifact *a, const struct bs_import_result *ir)
{
	uint32_t i;

	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->manifest, sizeof(r->manifest), "%s", a->manifest);
	snprintf(r->image, sizeof(r->image), "%s", a->image.digest + 7);
	r->blobs = a->ndevices + 1;
	r->copied = ir->blobs_copied + ir->image_copied;
	r->bytes = a->image.size;
	for (i = 0; i < a->ndevices; i++)
		r->bytes += a->devices[i].size;
	r->bytes_copied = ir->bytes_copied + (ir->image_copied ? a->image.size : 0);
	r->records = a->nrecords;
	r->layers = ir->layers;
	r->linked = ir->blobs_linked;
	r->bytes_linked = ir->bytes_linked;
}

/*
 * A blob the store lacks that one of its alternates holds: 1, its file
 * there opened into d->fd and named in d->link_path (*path, the caller's to
 * free), so that the import hashes it in place and links to it; 0 if no
 * alternate has a file of its name and size.
 */
static int from_alternate(struct bs_store *st, struct bs_import_blob *d, char **path,
			  struct mkimg_err *err)
{
	int ret = bs_store_alternate_blob(st, d->hex, d->size, path, err);

	if (ret <= 0)
		return ret;
	d->fd = open(*path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (d->fd < 0)
		return mkimg_err_errno(err, -errno, "%s", *path);
	d->link_path = *path;
	return 1;
}

static void import_params(struct bs_import_params *ip, const struct mkimg_artifact *a,
			  struct bs_import_blob *devs, const struct mkimg_pull_params *p)
{
	uint32_t i;

	for (i = 0; i < a->ndevices; i++) {
		snprintf(devs[i].hex, sizeof(devs[i].hex), "%s", a->devices[i].digest + 7);
		devs[i].size = a->devices[i].size;
	}
	snprintf(ip->image_hex, sizeof(ip->image_hex), "%s", a->image.digest + 7);
	ip->image_size = a->image.size;
	ip->ndevices = a->ndevices;
	ip->devices = devs;
	ip->durable = p->durable;
	ip->replace = p->replace;
}

/* The record of layer i, as a blob descriptor, or NULL. */
static const struct mkimg_artifact_blob *record_of(const struct mkimg_artifact *a, uint32_t i)
{
	uint32_t k;

	for (k = 0; k < a->nrecords; k++)
		if (!strcmp(a->records[k].diff_id, a->diff_ids[i]))
			return &a->records[k].blob;
	return NULL;
}

/* The image's layers, bottom first, with the artifact's record of each
 * (its fd opened by the caller, -1 until then). */
static struct bs_import_layer *import_layers(struct bs_import_params *ip,
					     const struct mkimg_artifact *a)
{
	struct bs_import_layer *v = calloc(a->nlayers ? a->nlayers : 1, sizeof(*v));
	uint32_t i;

	if (!v)
		return NULL;
	for (i = 0; i < a->nlayers; i++) {
		const struct mkimg_artifact_blob *rb = record_of(a, i);

		snprintf(v[i].diff_id, sizeof(v[i].diff_id), "%s", a->diff_ids[i]);
		v[i].fd = -1;
		if (rb) {
			snprintf(v[i].hex, sizeof(v[i].hex), "%s", rb->digest + 7);
			v[i].size = rb->size;
		}
	}
	ip->nlayers = a->nlayers;
	ip->layers = v;
	ip->layer_scan = oci_record_scan;
	/* the files the records name that the image does not hold */
	ip->nextra = a->nextra;
	ip->extra = a->extra;
	return v;
}

static void close_layers(struct bs_import_layer *v, uint32_t n)
{
	uint32_t i;

	for (i = 0; v && i < n; i++)
		if (v[i].fd >= 0)
			close(v[i].fd);
	free(v);
}

/* The tag of the repository whose artifact's layers hold chain (see
 * mkimg_pull_params.chain): into tag. */
static int find_chain(struct registry *rg, const char *chain, char *tag, size_t len,
		      struct mkimg_err *err)
{
	char **tags = NULL;
	size_t n = 0, i;
	uint32_t best = UINT32_MAX;
	int ret = registry_tags(rg, &tags, &n, err);

	for (i = 0; !ret && i < n; i++) {
		struct mkimg_artifact a = { 0 };
		char c[BS_CHAIN_LEN + 1] = "";
		uint32_t k;

		if (registry_artifact(rg, tags[i], false, &a, NULL)) {
			mkimg_artifact_free(&a);
			continue;	/* not an mkimg artifact, or unreadable: not this one */
		}
		for (k = 0; k < a.nlayers; k++) {
			if (bs_chain_next(k ? c : NULL, a.diff_ids[k], c))
				break;
			if (!strcmp(c, chain)) {
				/* layers above the chain: 0 is the image of the chain itself */
				if (a.nlayers - k - 1 < best) {
					best = a.nlayers - k - 1;
					snprintf(tag, len, "%s", tags[i]);
				}
				break;
			}
		}
		mkimg_artifact_free(&a);
	}
	for (i = 0; i < n; i++)
		free(tags[i]);
	free(tags);
	if (!ret && best == UINT32_MAX)
		ret = mkimg_err_set(err, -ENOENT, "%s: no mkimg artifact of its tags holds chain %s",
				    registry_name(rg), chain);
	return ret;
}

static int pull_registry(struct bs_store *st, const char *ref, const struct remote_ref *rr,
			 const char *name, const struct mkimg_pull_params *p,
			 struct mkimg_pull_result *r, struct mkimg_err *err)
{
	struct fetch f = { .st = st, .p = p };
	struct mkimg_artifact a = { 0 };
	struct bs_import_params ip = { .image_fd = -1 };
	struct bs_import_blob *devs = NULL;
	struct bs_import_layer *lays = NULL;
	struct bs_import_result ir;
	char found[MKIMG_TAG_MAX + 1] = "", **alt = NULL;
	bool *need = NULL;
	size_t k;
	uint32_t i;
	int lock = -1, ret;

	ret = registry_open(rr, p->registry, false, &f.rg, err);
	if (ret)
		return ret;
	if (p->chain) {
		ret = find_chain(f.rg, p->chain, found, sizeof(found), err);
		if (ret)
			goto out;
		if (!name)
			name = found;
	}
	ret = registry_artifact(f.rg, found[0] ? found : rr->digest[0] ? rr->digest : rr->tag,
				true, &a, err);
	if (!ret)
		ret = check_format(st, &a, ref, err);
	if (ret)
		goto out;
	devs = calloc(a.ndevices ? a.ndevices : 1, sizeof(*devs));
	need = calloc(a.ndevices + 1, sizeof(*need));
	alt = calloc(a.ndevices + 1, sizeof(*alt));
	f.dl = calloc(a.ndevices + 1 + a.nlayers, sizeof(*f.dl));
	lays = import_layers(&ip, &a);
	if (!devs || !need || !alt || !f.dl || !lays) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < a.ndevices; i++)
		devs[i].fd = -1;
	import_params(&ip, &a, devs, p);
	/* gc (exclusive) waits until the downloads are imported */
	lock = st_lock(st, false, err);
	if (lock < 0) {
		ret = lock;
		goto out;
	}
	ip.image_fd = have_image(st, ip.image_hex, ip.image_size);
	if (ip.image_fd < 0) {
		need[a.ndevices] = true;
		f.total += a.image.size;
	}
	for (i = 0; i < a.ndevices; i++) {
		ret = bs_store_has_blob(st, devs[i].hex, devs[i].size, err);
		if (ret < 0)
			goto out;
		need[i] = !ret;
		f.total += ret ? 0 : devs[i].size;
	}
	ret = 0;
	if (need[a.ndevices]) {
		ret = download(&f, ip.image_hex, ip.image_size, err);
		if (ret >= 0)
			ip.image_fd = ret;
	}
	for (i = 0; ret >= 0 && i < a.ndevices; i++) {
		if (!need[i])
			continue;
		ret = from_alternate(st, &devs[i], &alt[i], err);
		if (ret)
			continue;
		ret = download(&f, devs[i].hex, devs[i].size, err);
		if (ret >= 0) {
			devs[i].fd = ret;
			/* hashed again and renamed into blobs/, not copied */
			devs[i].adopt_path = f.dl[f.ndl - 1].path;
		}
	}
	/* the layer records the store lacks (small: a tar's entry list) */
	for (i = 0; ret >= 0 && i < a.nlayers; i++) {
		const struct mkimg_artifact_blob *rb = record_of(&a, i);

		if (!rb)
			continue;
		ret = bs_store_has_layer(st, lays[i].diff_id, err);
		if (ret)
			continue;
		ret = download(&f, rb->digest + 7, rb->size, err);
		if (ret >= 0)
			lays[i].fd = ret;
	}
	if (ret < 0)
		goto out;
	ret = 0;
	if (p->progress)
		p->progress(p->progress_ctx, f.total, f.total);
	if (!name) {
		name = rr->tag;
		if (!name)
			name = strrchr(rr->repo, '/') ? strrchr(rr->repo, '/') + 1 : rr->repo;
	}
	ret = bs_store_import(st, name, ref, &ip, &ir, err);
	if (ret)
		goto out;
	fill_result(r, name, &a, &ir);
	r->bytes_fetched = f.fetched;
	/* imported: the downloads not renamed into blobs/ have done their work
	 * (removed while our flock on them keeps other pulls waiting) */
	for (k = 0; k < f.ndl; k++)
		drop_download(&f.dl[k]);
out:
	st_unlock(lock);
	if (ip.image_fd >= 0)
		close(ip.image_fd);
	for (i = 0; devs && i < a.ndevices; i++)
		if (devs[i].fd >= 0)
			close(devs[i].fd);
	free(devs);
	for (i = 0; alt && i < a.ndevices; i++)
		free(alt[i]);
	free(alt);
	free(need);
	close_layers(lays, a.nlayers);
	free(f.dl);
	mkimg_artifact_free(&a);
	registry_close(f.rg);
	return ret;
}

static int pull_oci(struct bs_store *st, const char *ref, const struct remote_ref *rr,
		    const char *name, const struct mkimg_pull_params *p,
		    struct mkimg_pull_result *r, struct mkimg_err *err)
{
	struct bs_import_params ip = { .image_fd = -1 };
	struct bs_import_blob *devs = NULL;
	struct bs_import_layer *lays = NULL;
	struct bs_import_result ir;
	struct mkimg_artifact *a = NULL;
	const char *dir = rr->dir;
	char **alt = NULL;
	size_t n = 0, k;
	uint32_t i;
	int bfd = -1, ret;

	if (!rr->tag)
		return mkimg_err_set(err, -EINVAL, "%s: which artifact? give a tag (oci:DIR:TAG)", ref);
	ret = mkimg_remote_list(ref, NULL, &a, &n, err);
	if (!ret)
		ret = check_format(st, a, ref, err);
	if (ret)
		goto out;
	bfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (bfd >= 0) {
		int d = bfd;

		bfd = openat(d, "blobs/sha256", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		close(d);
	}
	if (bfd < 0) {
		ret = mkimg_err_errno(err, -errno, "%s/blobs/sha256", dir);
		goto out;
	}
	devs = calloc(a->ndevices ? a->ndevices : 1, sizeof(*devs));
	alt = calloc(a->ndevices + 1, sizeof(*alt));
	if (!devs || !alt) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < a->ndevices; i++)
		devs[i].fd = -1;
	import_params(&ip, a, devs, p);
	lays = import_layers(&ip, a);
	if (!lays) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	ret = ip.image_fd = open_blob(bfd, dir, &a->image, err);
	for (i = 0; ret >= 0 && i < a->ndevices; i++) {
		ret = bs_store_has_blob(st, devs[i].hex, devs[i].size, err);
		if (!ret)
			ret = from_alternate(st, &devs[i], &alt[i], err);
		else if (ret == 1)
			ret = 0;	/* opened all the same: gc may run before the import */
		if (!ret)
			ret = devs[i].fd = open_blob(bfd, dir, &a->devices[i], err);
	}
	for (i = 0; ret >= 0 && i < a->nlayers; i++) {
		const struct mkimg_artifact_blob *rb = record_of(a, i);

		if (rb)
			ret = lays[i].fd = open_blob(bfd, dir, rb, err);
	}
	if (ret < 0)
		goto out;
	ip.progress = p->progress;
	ip.progress_ctx = p->progress_ctx;
	if (!name)
		name = rr->tag;
	ret = bs_store_import(st, name, ref, &ip, &ir, err);
	if (!ret)
		fill_result(r, name, a, &ir);
out:
	if (ip.image_fd >= 0)
		close(ip.image_fd);
	for (i = 0; devs && a && i < a->ndevices; i++)
		if (devs[i].fd >= 0)
			close(devs[i].fd);
	free(devs);
	for (i = 0; alt && a && i < a->ndevices; i++)
		free(alt[i]);
	free(alt);
	close_layers(lays, a ? a->nlayers : 0);
	for (k = 0; k < n; k++)
		mkimg_artifact_free(&a[k]);
	free(a);
	if (bfd >= 0)
		close(bfd);
	return ret;
}

int mkimg_pull(struct bs_store *st, const char *ref, const char *name,
	       const struct mkimg_pull_params *p, struct mkimg_pull_result *r,
	       struct mkimg_err *err)
{
	struct mkimg_pull_params none = { 0 };
	struct remote_ref rr;
	int ret;

	if (!p)
		p = &none;
	memset(r, 0, sizeof(*r));
	ret = remote_parse(ref, &rr, err);
	if (ret)
		return ret;
	if (p->chain && (rr.kind != REMOTE_REGISTRY || rr.tag || rr.digest[0] ||
			 bs_chain_next(NULL, p->chain, (char[BS_CHAIN_LEN + 1]){ 0 })))
		ret = mkimg_err_set(err, -EINVAL, "%s: --chain takes a sha256 chain ID and a registry "
				    "repository without a tag (docker://HOST/REPO)", ref);
	else if (rr.kind == REMOTE_OCI)
		ret = pull_oci(st, ref, &rr, name, p, r, err);
	else if (!rr.tag && !rr.digest[0] && !p->chain)
		ret = mkimg_err_set(err, -EINVAL, "%s: which artifact? give a tag or a digest "
				    "(docker://HOST/REPO:TAG)", ref);
	else
		ret = pull_registry(st, ref, &rr, name, p, r, err);
	remote_ref_free(&rr);
	return ret;
}
