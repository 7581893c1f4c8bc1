/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg_analyze(): the sources resolved as convert resolves them, each
 * distinct layer blob streamed once (verified, decompressed, its tar read
 * entry by entry), every regular file's content counted, and a model of
 * what the store's data sink would write for the same files in the same
 * order (blobstore/sink.c: whole files by SHA-256, 64 KiB units by key,
 * zero units as holes, 512-byte blocks).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "mkimg/analyze.h"
#include "mkimg/oci.h"
#include "mkimg/store.h"
#include "mkimg/blobstore.h"
#include "convert/sources.h"
#include "analyze_internal.h"
#include "filescan.h"
#include "keytab.h"
#include "visible.h"

#define UNIT		MKIMG_ANALYZE_CHUNK(MKIMG_ANALYZE_UNIT)
#define STORE_BLOCK	(1ull << BS_STORE_BLKSZBITS)
#define CHUNK_MIN	(2 * UNIT)	/* as the store registers units */
#define NO_BLOB		UINT32_MAX

struct alayer {
	const struct convert_layer *cl;	/* where it is read from */
	const char *store_image;	/* or this store image's name */
	bool scanned;
	size_t first;			/* the image that brings it */
	size_t last;			/* the last image using it */
	uint64_t files, bytes, new_bytes, shared_bytes, hole_bytes;
	uint64_t *imgs;			/* images using it */
	struct vis_layer vis;		/* what flattening needs of its entries */
};

struct afile {
	uint64_t size;
	uint32_t blob;			/* where its own data went, or NO_BLOB */
	uint32_t xblobs;		/* 0, or 1 + index into a->xpool */
	uint64_t moff;			/* its matrix chunks: a->mpool[moff..] */
	uint32_t mn;
};

struct analysis {
	const struct mkimg_analyze_params *p;
	struct mkimg_analyze_result *res;
	struct mkimg_err *err;
	uint32_t sample;
	size_t nwords;			/* of an image bitset */
	struct convert_sources *srcs;	/* one per image */
	size_t **img_layers;		/* per image: its layers' indexes */
	struct keytab layer_ids;
	struct alayer *layers;
	size_t nlayers, lcap;
	struct keytab files;
	struct afile *fv;
	uint64_t *fimgs;		/* per file: images whose layers hold it */
	uint64_t *vimgs;		/* per file: images whose trees show it */
	size_t fcap;
	struct keytab chunks[MKIMG_ANALYZE_NCHUNKS];
	struct keytab cdc[MKIMG_ANALYZE_NCDC];	/* content-defined chunks */
	uint32_t *clen[MKIMG_ANALYZE_NCHUNKS];
	size_t ccap[MKIMG_ANALYZE_NCHUNKS];
	struct keytab units;		/* the store's registered units */
	uint32_t *ublob;
	size_t ucap;
	uint32_t *mpool;
	uint64_t mlen, mcap;
	uint32_t *xpool;
	size_t xlen, xcap;
	struct fscan *fs;
	struct bs_store *st;		/* for store: sources */
	uint64_t hole_bytes;
	size_t layers_done;
};

static int nomem(struct analysis *a)
{
	return mkimg_err_set(a->err, -ENOMEM, "out of memory");
}

/* Grows *v (elements of size sz) to hold n + 1. */
static int reserve(void **v, size_t *cap, size_t n, size_t sz)
{
	size_t c;
	void *nv;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 1024;
	while (c <= n)
		c *= 2;
	nv = realloc(*v, c * sz);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = c;
	return 0;
}

static void set_bit(uint64_t *s, size_t i)
{
	s[i / 64] |= 1ull << (i % 64);
}

static void or_bits(uint64_t *to, const uint64_t *from, size_t nwords)
{
	size_t i;

	for (i = 0; i < nwords; i++)
		to[i] |= from[i];
}

static size_t count_bits(const uint64_t *s, size_t nwords)
{
	size_t i, n = 0;

	for (i = 0; i < nwords; i++)
		n += (size_t)__builtin_popcountll(s[i]);
	return n;
}

/* ---------------------------------------------------------------- sources */

/* A layer's identity: its blob digest (an archive's layer without one: its
 * diff_id), a layer file's real path. */
static int layer_key(const struct convert_layer *l, uint8_t key[16], struct mkimg_err *err)
{
	char real[PATH_MAX];
	const char *id;
	XXH128_canonical_t c;

	if (l->oci) {
		id = l->oci->digest[0] ? l->oci->digest : l->oci->diff_id;
	} else {
		if (!realpath(l->path, real))
			return mkimg_err_errno(err, -errno, "%s", l->path);
		id = real;
	}
	XXH128_canonicalFromHash(&c, XXH3_128bits(id, strlen(id)));
	memcpy(key, c.digest, 16);
	return 0;
}

#define STORE_PREFIX "store:"

/* A store image's identity: its metadata image's SHA-256. */
static int store_key(struct analysis *a, const char *name, uint8_t key[16])
{
	struct bs_image_info ii;
	XXH128_canonical_t c;
	int ret;

	if (!a->st) {
		if (!a->p->store)
			return mkimg_err_set(a->err, -EINVAL, "%s%s: no store given", STORE_PREFIX,
					     name);
		ret = bs_store_open(a->p->store, BS_STORE_READONLY, &a->st, a->err);
		if (ret)
			return ret;
	}
	memset(&ii, 0, sizeof(ii));
	ret = bs_store_image(a->st, name, &ii, a->err);
	if (ret)
		return ret;
	XXH128_canonicalFromHash(&c, XXH3_128bits(ii.sha256, strlen(ii.sha256)));
	memcpy(key, c.digest, 16);
	bs_image_info_free(&ii);
	return 0;
}

/* Layer j of image i is new: a distinct layer. */
static int add_layer(struct analysis *a, const uint8_t key[16], size_t i, size_t *id)
{
	struct alayer *l;
	uint32_t k;
	int ret = keytab_add(&a->layer_ids, key, &k);

	if (ret < 0)
		return nomem(a);
	*id = k;
	if (ret)
		return 0;
	if (reserve((void **)&a->layers, &a->lcap, a->nlayers, sizeof(*l)))
		return nomem(a);
	l = &a->layers[a->nlayers++];
	memset(l, 0, sizeof(*l));
	l->first = i;
	a->res->images[i].new_layers++;
	return 0;
}

static int open_sources(struct analysis *a)
{
	const struct mkimg_analyze_params *p = a->p;
	size_t i, j;
	int ret;

	a->srcs = calloc(p->nsources, sizeof(*a->srcs));
	a->img_layers = calloc(p->nsources, sizeof(*a->img_layers));
	a->res->images = calloc(p->nsources, sizeof(*a->res->images));
	if (!a->srcs || !a->img_layers || !a->res->images)
		return nomem(a);
	a->res->nimages = p->nsources;
	for (i = 0; i < p->nsources; i++) {
		struct mkimg_analyze_image *im = &a->res->images[i];
		struct convert_sources *s = &a->srcs[i];

		if (!p->sources[i])
			return mkimg_err_set(a->err, -EINVAL, "source %zu is NULL", i);
		im->source = p->sources[i];
		if (!strncmp(p->sources[i], STORE_PREFIX, strlen(STORE_PREFIX))) {
			/* a store image: one layer, its tree */
			const char *name = p->sources[i] + strlen(STORE_PREFIX);
			uint8_t key[16];
			size_t id;

			a->img_layers[i] = calloc(1, sizeof(size_t));
			if (!a->img_layers[i])
				return nomem(a);
			ret = store_key(a, name, key);
			if (!ret)
				ret = add_layer(a, key, i, &id);
			if (ret)
				return ret;
			if (a->layers[id].first == i)
				a->layers[id].store_image = name;
			a->img_layers[i][0] = id;
			im->layers = 1;
			a->res->layers++;
			continue;
		}
		ret = convert_sources_open(&p->sources[i], 1, p->platform, s, a->err);
		if (ret)
			return ret;
		if (s->img)
			snprintf(im->manifest, sizeof(im->manifest), "%s", s->img->manifest_digest);
		im->layers = s->nlayers;
		a->res->layers += s->nlayers;
		a->img_layers[i] = calloc(s->nlayers ? s->nlayers : 1, sizeof(size_t));
		if (!a->img_layers[i])
			return nomem(a);
		for (j = 0; j < s->nlayers; j++) {
			uint8_t key[16];
			size_t id;

			ret = layer_key(&s->layers[j], key, a->err);
			if (!ret)
				ret = add_layer(a, key, i, &id);
			if (ret)
				return ret;
			if (a->layers[id].first == i && !a->layers[id].cl)
				a->layers[id].cl = &s->layers[j];
			a->img_layers[i][j] = id;
		}
	}
	a->nwords = (p->nsources + 63) / 64;
	for (i = 0; i < a->nlayers; i++) {
		a->layers[i].imgs = calloc(a->nwords, sizeof(uint64_t));
		if (!a->layers[i].imgs)
			return nomem(a);
	}
	for (i = 0; i < p->nsources; i++)
		for (j = 0; j < a->res->images[i].layers; j++) {
			set_bit(a->layers[a->img_layers[i][j]].imgs, i);
			a->layers[a->img_layers[i][j]].last = i;
		}
	a->res->distinct_layers = a->nlayers;
	return 0;
}

/* ---------------------------------------------------------------- files */

/* The blob ids of a new file's unit hits other than its own, once each. */
struct hits {
	uint32_t *v;
	size_t n, cap;
};

static int hits_add(struct hits *h, uint32_t blob)
{
	size_t i;

	for (i = 0; i < h->n; i++)
		if (h->v[i] == blob)
			return 0;
	if (reserve((void **)&h->v, &h->cap, h->n, sizeof(*h->v)))
		return -ENOMEM;
	h->v[h->n++] = blob;
	return 0;
}

static uint64_t round_up(uint64_t v, uint64_t to)
{
	return (v + to - 1) / to * to;
}

/*
 * The store's sink on a file it has not seen whole: each full non-zero
 * unit looked up among the units earlier conversions registered (those of
 * files of CHUNK_MIN or more), the rest written in blocks.
 */
static int store_new_file(struct analysis *a, struct alayer *l, struct afile *f, uint32_t blob)
{
	const struct fscan_keys *k = fscan_keys(a->fs, MKIMG_ANALYZE_UNIT);
	uint64_t full = fscan_full_units(a->fs), zero = fscan_zero_units(a->fs);
	uint64_t nz = full - zero, hit = 0, written, lz = 0, lzraw = 0;
	struct hits h = { 0 };
	size_t i;
	int ret = 0;

	for (i = 0; i < k->n; i++) {
		const struct fscan_key *e = &k->v[i];
		uint32_t id;

		if (e->zero)
			continue;
		/* the registry has the units of earlier conversions only */
		if (e->len != UNIT || !keytab_find(&a->units, e->key, &id) ||
		    a->ublob[id] == blob) {
			/* written: its LZ4 form in the store's blocks */
			lz += round_up(e->lz4, STORE_BLOCK);
			lzraw += round_up(e->len, STORE_BLOCK);
			continue;
		}
		hit++;
		if (hits_add(&h, a->ublob[id]))
			goto oom;
	}
	if (a->sample > 1)
		hit = hit * a->sample < nz ? hit * a->sample : nz;
	written = (nz - hit) * UNIT + round_up(f->size % UNIT, STORE_BLOCK);
	/* sampled: the share LZ4 keeps of the units seen, over all written */
	if (a->p->lz4)
		a->res->lz4_bytes += a->sample > 1 ? (lzraw ? written * lz / lzraw : written) : lz;
	l->new_bytes += written;
	l->shared_bytes += hit * UNIT;
	l->hole_bytes += zero * UNIT;
	a->res->store_bytes += written;
	a->res->store_unit_hit_bytes += hit * UNIT;
	a->res->store_hole_bytes += zero * UNIT;
	f->blob = written ? blob : NO_BLOB;
	if (h.n) {
		if (reserve((void **)&a->xpool, &a->xcap, a->xlen + h.n, sizeof(uint32_t)))
			goto oom;
		f->xblobs = (uint32_t)a->xlen + 1;
		a->xpool[a->xlen++] = (uint32_t)h.n;
		memcpy(a->xpool + a->xlen, h.v, h.n * sizeof(uint32_t));
		a->xlen += h.n;
	}
	if (f->size >= CHUNK_MIN) {
		for (i = 0; i < k->n; i++) {
			const struct fscan_key *e = &k->v[i];
			uint32_t id;

			if (e->len != UNIT || e->zero)
				continue;
			ret = keytab_add(&a->units, e->key, &id);
			if (ret < 0)
				goto oom;
			if (!ret) {
				if (reserve((void **)&a->ublob, &a->ucap, id, sizeof(uint32_t)))
					goto oom;
				a->ublob[id] = blob;
			}
		}
	}
	free(h.v);
	return 0;
oom:
	free(h.v);
	return nomem(a);
}

/* The chunk figures of a new content, and its matrix chunks. */
static int count_chunks(struct analysis *a, struct afile *f)
{
	unsigned int k, mk = a->p->matrix_chunk;
	size_t i;

	f->moff = a->mlen;
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		const struct fscan_keys *v = fscan_keys(a->fs, k);

		for (i = 0; i < v->n; i++) {
			uint32_t id;
			int ret = keytab_add(&a->chunks[k], v->v[i].key, &id);

			if (ret < 0)
				return nomem(a);
			if (!ret) {
				if (reserve((void **)&a->clen[k], &a->ccap[k], id, sizeof(uint32_t)))
					return nomem(a);
				a->clen[k][id] = v->v[i].len;
				a->res->chunk_bytes[k] += v->v[i].len;
			}
			if (k == mk) {
				size_t cap = a->mcap;

				if (reserve((void **)&a->mpool, &cap, a->mlen, sizeof(uint32_t)))
					return nomem(a);
				a->mcap = cap;
				a->mpool[a->mlen++] = id;
			}
		}
	}
	f->mn = (uint32_t)(a->mlen - f->moff);
	for (k = 0; a->p->cdc && k < MKIMG_ANALYZE_NCDC; k++) {
		const struct fscan_keys *v = fscan_cdc_keys(a->fs, k);

		for (i = 0; i < v->n; i++) {
			uint32_t id;
			int ret = keytab_add(&a->cdc[k], v->v[i].key, &id);

			if (ret < 0)
				return nomem(a);
			if (!ret)
				a->res->cdc_bytes[k] += v->v[i].len;
		}
	}
	return 0;
}

static void file_blobs(const struct analysis *a, const struct afile *f, uint64_t *set)
{
	uint32_t i, n;

	if (f->blob != NO_BLOB)
		set_bit(set, f->blob);
	if (!f->xblobs)
		return;
	n = a->xpool[f->xblobs - 1];
	for (i = 0; i < n; i++)
		set_bit(set, a->xpool[f->xblobs + i]);
}

/* A regular file of layer l ended; blob: the conversion storing it;
 * *fid: its content's id, sha: its SHA-256. */
static int file_done(struct analysis *a, struct alayer *l, uint64_t size, uint32_t blob,
		     uint32_t *fid, uint8_t sha[32])
{
	struct afile *f;
	uint32_t id;
	int ret;

	ret = fscan_end(a->fs, sha);
	if (ret)
		return nomem(a);
	l->files++;
	l->bytes += size;
	ret = keytab_add(&a->files, sha, &id);
	if (ret < 0)
		return nomem(a);
	if (ret) {
		/* the store finds it whole */
		l->shared_bytes += size;
		a->res->store_file_hit_bytes += size;
		f = &a->fv[id];
	} else {
		size_t cap = a->fcap;

		if (reserve((void **)&a->fv, &cap, id, sizeof(*a->fv)))
			return nomem(a);
		if (cap != a->fcap) {
			uint64_t *ni = realloc(a->fimgs, cap * a->nwords * sizeof(uint64_t)), *nv;

			if (!ni)
				return nomem(a);
			a->fimgs = ni;
			nv = realloc(a->vimgs, cap * a->nwords * sizeof(uint64_t));
			if (!nv)
				return nomem(a);
			a->vimgs = nv;
			a->fcap = cap;
		}
		memset(a->fimgs + (size_t)id * a->nwords, 0, a->nwords * sizeof(uint64_t));
		memset(a->vimgs + (size_t)id * a->nwords, 0, a->nwords * sizeof(uint64_t));
		f = &a->fv[id];
		memset(f, 0, sizeof(*f));
		f->size = size;
		a->res->distinct_files++;
		a->res->file_bytes += size;
		ret = count_chunks(a, f);
		if (!ret)
			ret = store_new_file(a, l, f, blob);
		if (ret)
			return ret;
	}
	or_bits(a->fimgs + (size_t)id * a->nwords, l->imgs, a->nwords);
	*fid = id;
	return 0;
}

/* what: the file, "tar: PATH" (named after its layer on the way up) */
static int add_holes(struct analysis *a, uint64_t n, const char *what)
{
	uint64_t max = a->p->max_hole_bytes ? a->p->max_hole_bytes : OCI_DEFAULT_MAX_HOLE_BYTES;

	if (max != UINT64_MAX && n > max - a->hole_bytes)
		return mkimg_err_set(a->err, -EFBIG,
				     "%s: sparse files declare more than %.1f GiB of holes (data not "
				     "in the input, but hashed; --max-holes raises the limit)", what,
				     max / 1073741824.0);
	a->hole_bytes += n;
	return fscan_zeros(a->fs, n) ? nomem(a) : 0;
}

/* The data of the tar's current regular file, holes as zeros. */
static int scan_file(struct analysis *a, struct oci_tar *tar, const struct oci_entry *e)
{
	char what[96];
	uint64_t pos = 0, off;
	const void *buf;
	size_t len;
	int ret;

	snprintf(what, sizeof(what), "tar: %.80s%s", e->path, e->pathlen > 80 ? "..." : "");
	fscan_begin(a->fs);
	while ((ret = oci_tar_data(tar, &buf, &len, &off)) > 0) {
		if (off < pos)
			return mkimg_err_set(a->err, -EINVAL, "tar: %s: data blocks out of order",
					     e->path);
		if (off > pos && (ret = add_holes(a, off - pos, what)))
			return ret;
		if (fscan_data(a->fs, buf, len))
			return nomem(a);
		pos = off + len;
	}
	if (ret < 0)
		return ret;
	if (pos < e->size && (ret = add_holes(a, e->size - pos, what)))
		return ret;
	return 0;
}

static bool stopped(const struct analysis *a)
{
	return a->p->stop && a->p->stop(a->p->ctx);
}

static int scan_layer(struct analysis *a, struct alayer *l, uint32_t blob)
{
	const struct convert_layer *cl = l->cl;
	struct oci_stream_params sp;
	const struct oci_entry *e;
	struct oci_stream *s = NULL;
	struct oci_tar *tar = NULL;
	int ret;

	convert_layer_stream(cl, false, &sp);
	ret = oci_stream_open(&sp, &s, a->err);
	if (!ret)
		ret = oci_tar_open(oci_stream_reader, s, 0, &tar, a->err);
	while (!ret && (ret = oci_tar_next(tar, &e)) > 0) {
		uint32_t fid = VIS_NO_FILE;

		ret = 0;
		if (stopped(a))
			ret = mkimg_err_set(a->err, -EINTR, "interrupted");
		else if (e->type == OCI_ENTRY_REG && e->size) {
			uint8_t sha[32];

			ret = scan_file(a, tar, e);
			if (!ret)
				ret = file_done(a, l, e->size, blob, &fid, sha);
		}
		if (!ret && vis_note(&l->vis, e, fid))
			ret = nomem(a);
	}
	if (!ret)
		ret = oci_tar_drain(tar);
	if (!ret)
		ret = oci_stream_finish(s, NULL, NULL);
	if (ret) {
		convert_layer_failed(cl, ret, a->err);
	} else {
		a->res->compressed_bytes += oci_stream_bytes_in(s);
		a->res->tar_bytes += oci_stream_bytes_out(s);
	}
	oci_tar_close(tar);
	oci_stream_free(s);
	return ret;
}

/* ------------------------------------------------------------ store images */

struct store_scan {
	struct analysis *a;
	struct alayer *l;
	uint32_t blob;
};

static int ss_begin(void *ctx)
{
	struct store_scan *ss = ctx;

	fscan_begin(ss->a->fs);
	return stopped(ss->a) ? mkimg_err_set(ss->a->err, -EINTR, "interrupted") : 0;
}

static int ss_data(void *ctx, const void *buf, size_t len)
{
	struct store_scan *ss = ctx;

	return fscan_data(ss->a->fs, buf, len) ? nomem(ss->a) : 0;
}

static int ss_zeros(void *ctx, uint64_t len)
{
	struct store_scan *ss = ctx;
	char what[160];

	snprintf(what, sizeof(what), "image %s", ss->l->store_image);
	return add_holes(ss->a, len, what);
}

static int ss_end(void *ctx, uint64_t nid, uint64_t size, const uint8_t *sha256)
{
	struct store_scan *ss = ctx;
	struct analysis *a = ss->a;
	struct oci_entry e = { .type = OCI_ENTRY_REG, .size = size };
	uint8_t sha[32];
	char path[32];
	uint32_t fid;
	int ret;

	ret = file_done(a, ss->l, size, ss->blob, &fid, sha);
	if (ret)
		return ret;
	/* the bytes, not the image's word: a fingerprint must match them */
	if (sha256 && memcmp(sha256, sha, 32))
		return mkimg_err_set(a->err, -EUCLEAN, "image %s: file %llu: its data does "
				     "not match its fingerprint", ss->l->store_image,
				     (unsigned long long)nid);
	e.pathlen = (size_t)snprintf(path, sizeof(path), "#%llu", (unsigned long long)nid);
	e.path = path;
	return vis_note(&ss->l->vis, &e, fid) ? nomem(a) : 0;
}

static int scan_store_image(struct analysis *a, struct alayer *l, uint32_t blob)
{
	static const struct analyze_store_ops ops = {
		.begin = ss_begin, .data = ss_data, .zeros = ss_zeros, .end = ss_end,
	};
	struct store_scan ss = { .a = a, .l = l, .blob = blob };

	return analyze_store_image(a->st, l->store_image, &ops, &ss, a->err);
}

struct shown {
	struct analysis *a;
	size_t image;
	uint64_t *blobs;
	uint64_t files, bytes;
};

static void on_shown(void *ctx, uint32_t fid, bool link)
{
	struct shown *sh = ctx;
	struct analysis *a = sh->a;

	if (!link) {
		sh->files++;
		sh->bytes += a->fv[fid].size;
	}
	set_bit(a->vimgs + (size_t)fid * a->nwords, sh->image);
	file_blobs(a, &a->fv[fid], sh->blobs);
}

/* Image i's flattened tree: the files it shows, the blobs they are in. */
static int shown(struct analysis *a, size_t i, uint64_t *blobs)
{
	struct mkimg_analyze_image *im = &a->res->images[i];
	struct shown sh = { .a = a, .image = i, .blobs = blobs };
	size_t n = im->layers, j;
	const struct vis_layer **v = calloc(n ? n : 1, sizeof(*v));
	int ret;

	if (!v)
		return nomem(a);
	for (j = 0; j < n; j++)
		v[j] = &a->layers[a->img_layers[i][j]].vis;
	memset(blobs, 0, a->nwords * sizeof(uint64_t));
	ret = vis_image(v, n, on_shown, &sh);
	free(v);
	if (ret)
		return nomem(a);
	im->shown_files = sh.files;
	im->shown_bytes = sh.bytes;
	im->blobs = (uint32_t)count_bits(blobs, a->nwords);
	return 0;
}

static int scan(struct analysis *a)
{
	uint64_t *blobs = calloc(a->nwords, sizeof(uint64_t));
	size_t i, j;
	int ret;

	ret = fscan_new(a->sample, a->p->cdc, a->p->lz4, &a->fs);
	if (ret || !blobs) {
		free(blobs);
		return nomem(a);
	}
	for (i = 0; i < a->res->nimages; i++) {
		for (j = 0; j < a->res->images[i].layers; j++) {
			struct alayer *l = &a->layers[a->img_layers[i][j]];

			if (l->first != i || l->scanned)
				continue;
			l->scanned = true;
			ret = l->store_image ? scan_store_image(a, l, (uint32_t)i) :
					       scan_layer(a, l, (uint32_t)i);
			if (ret) {
				free(blobs);
				return ret;
			}
			a->layers_done++;
			if (a->p->progress) {
				struct mkimg_analyze_progress pr = {
					.done = a->layers_done, .layers = a->nlayers,
					.tar_bytes = a->res->tar_bytes,
				};

				a->p->progress(a->p->ctx, &pr);
			}
		}
		/* its tree, once its layers are read; then the notes of the
		 * layers no later image uses go: notes are kept only while
		 * needed */
		ret = shown(a, i, blobs);
		if (ret)
			break;
		for (j = 0; j < a->res->images[i].layers; j++) {
			struct alayer *l = &a->layers[a->img_layers[i][j]];

			if (l->last == i)
				vis_layer_free(&l->vis);
		}
	}
	free(blobs);
	return ret;
}

/* ---------------------------------------------------------------- figures */

/* Each matrix chunk's images, from the images of the files holding it. */
static int matrix(struct analysis *a)
{
	unsigned int mk = a->p->matrix_chunk;
	size_t nchunks = a->chunks[mk].count, i;
	uint64_t *cimg = calloc(nchunks ? nchunks * a->nwords : 1, sizeof(uint64_t));
	uint32_t c;
	int ret;

	if (!cimg)
		return nomem(a);
	for (i = 0; i < a->files.count; i++)
		for (c = 0; c < a->fv[i].mn; c++)
			or_bits(cimg + (size_t)a->mpool[a->fv[i].moff + c] * a->nwords,
				a->fimgs + i * a->nwords, a->nwords);
	ret = analyze_matrix(a->res, a->nwords, cimg, a->clen[mk], nchunks, a->sample, a->err);
	free(cimg);
	return ret;
}

static int figures(struct analysis *a)
{
	struct mkimg_analyze_result *r = a->res;
	uint64_t *set = calloc(a->nwords, sizeof(uint64_t));
	uint8_t *seen = calloc(a->nlayers ? a->nlayers : 1, 1);
	size_t i, j;
	unsigned int k;
	int ret = 0;

	if (!set || !seen) {
		free(set);
		free(seen);
		return nomem(a);
	}
	for (i = 0; i < a->nlayers; i++) {
		r->files += a->layers[i].files;
		r->layer_bytes += a->layers[i].bytes;
	}
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		r->chunks[k] = a->chunks[k].count * a->sample;
		r->chunk_bytes[k] *= a->sample;
	}
	r->cdc = a->p->cdc;
	r->lz4 = a->p->lz4;
	for (k = 0; k < MKIMG_ANALYZE_NCDC; k++) {
		r->cdc_chunks[k] = a->cdc[k].count * a->sample;
		r->cdc_bytes[k] *= a->sample;
	}
	for (i = 0; i < r->nimages; i++) {
		struct mkimg_analyze_image *im = &r->images[i];

		memset(seen, 0, a->nlayers ? a->nlayers : 1);
		for (j = 0; j < im->layers; j++) {
			size_t li = a->img_layers[i][j];
			const struct alayer *l = &a->layers[li];

			/* a layer listed twice in one image counts once */
			if (seen[li])
				continue;
			seen[li] = 1;
			im->files += l->files;
			im->bytes += l->bytes;
			if (l->first == i) {
				im->layer_new_bytes += l->bytes;
				im->new_bytes += l->new_bytes;
				im->shared_bytes += l->shared_bytes;
				im->hole_bytes += l->hole_bytes;
			} else {
				im->shared_bytes += l->bytes;
			}
		}
		r->total_bytes += im->bytes;
	}
	for (i = 0; i < a->files.count; i++) {
		size_t n = count_bits(a->vimgs + i * a->nwords, a->nwords);

		if (n < 2)
			continue;
		r->pc_files++;
		r->pc_bytes += a->fv[i].size;
		r->pc_saved_bytes += a->fv[i].size * (n - 1);
	}
	free(set);
	free(seen);
	return ret ? ret : matrix(a);
}

static void analysis_free(struct analysis *a)
{
	size_t i;
	unsigned int k;

	for (i = 0; a->srcs && i < a->res->nimages; i++)
		convert_sources_close(&a->srcs[i]);
	for (i = 0; a->img_layers && i < a->res->nimages; i++)
		free(a->img_layers[i]);
	for (i = 0; i < a->nlayers; i++) {
		free(a->layers[i].imgs);
		vis_layer_free(&a->layers[i].vis);
	}
	free(a->srcs);
	free(a->img_layers);
	free(a->layers);
	keytab_free(&a->layer_ids);
	keytab_free(&a->files);
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++) {
		keytab_free(&a->chunks[k]);
		free(a->clen[k]);
	}
	for (k = 0; k < MKIMG_ANALYZE_NCDC; k++)
		keytab_free(&a->cdc[k]);
	keytab_free(&a->units);
	free(a->fv);
	free(a->fimgs);
	free(a->vimgs);
	free(a->ublob);
	free(a->mpool);
	free(a->xpool);
	fscan_free(a->fs);
	bs_store_close(a->st);
}

int mkimg_analyze(const struct mkimg_analyze_params *p, struct mkimg_analyze_result *res,
		  struct mkimg_err *err)
{
	struct analysis a = { .p = p, .res = res, .err = err };
	unsigned int k;
	int ret;

	memset(res, 0, sizeof(*res));
	if (!p || !p->nsources || !p->sources)
		return mkimg_err_set(err, -EINVAL, "no source to analyze");
	if (p->matrix_chunk >= MKIMG_ANALYZE_NCHUNKS)
		return mkimg_err_set(err, -EINVAL, "matrix_chunk must be below %d",
				     MKIMG_ANALYZE_NCHUNKS);
	a.sample = p->sample > 1 ? p->sample : 1;
	res->sample = a.sample;
	res->matrix_chunk = p->matrix_chunk;
	keytab_init(&a.layer_ids, 16);
	keytab_init(&a.files, 32);
	for (k = 0; k < MKIMG_ANALYZE_NCHUNKS; k++)
		keytab_init(&a.chunks[k], 16);
	for (k = 0; k < MKIMG_ANALYZE_NCDC; k++)
		keytab_init(&a.cdc[k], 16);
	keytab_init(&a.units, 16);
	ret = open_sources(&a);
	if (!ret)
		ret = scan(&a);
	if (!ret)
		ret = figures(&a);
	res->hole_bytes = a.hole_bytes;
	analysis_free(&a);
	return ret;
}

void mkimg_analyze_result_free(struct mkimg_analyze_result *res)
{
	free(res->images);
	free(res->matrix);
	memset(res, 0, sizeof(*res));
}
