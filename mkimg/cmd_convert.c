/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg convert: OCI image layouts and layer tars into EROFS images. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mkimg/blobstore.h"
#include "mkimg/layout.h"
#include "mkimg/oci.h"
#include "mkimg/store.h"

enum {
	OPT_FLATTEN = 256,
	OPT_PER_LAYER,
	OPT_BLOB,
	OPT_PLATFORM,
	OPT_FOLLOW,
	OPT_FINGERPRINT,
	OPT_NO_FINGERPRINT,
	OPT_JSON,
	OPT_NO_FSYNC,
	OPT_STORE,
	OPT_NAME,
	OPT_MAX_BLOBS,
	OPT_NO_CHUNKS,
	OPT_TRUST_STORE_LAYERS,
	OPT_MAX_HOLES,
	OPT_REPLACE,
};

static const struct option convert_opts[] = {
	{ "flatten", no_argument, NULL, OPT_FLATTEN },
	{ "per-layer", no_argument, NULL, OPT_PER_LAYER },
	{ "output", required_argument, NULL, 'o' },
	{ "blob", required_argument, NULL, OPT_BLOB },
	{ "platform", required_argument, NULL, OPT_PLATFORM },
	{ "follow-symlinks", no_argument, NULL, OPT_FOLLOW },
	{ "fingerprint", no_argument, NULL, OPT_FINGERPRINT },
	{ "no-fingerprint", no_argument, NULL, OPT_NO_FINGERPRINT },
	{ "block-size", required_argument, NULL, 'b' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "no-fsync", no_argument, NULL, OPT_NO_FSYNC },
	{ "store", required_argument, NULL, OPT_STORE },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "max-blobs", required_argument, NULL, OPT_MAX_BLOBS },
	{ "no-chunks", no_argument, NULL, OPT_NO_CHUNKS },
	{ "trust-store-layers", no_argument, NULL, OPT_TRUST_STORE_LAYERS },
	{ "max-holes", required_argument, NULL, OPT_MAX_HOLES },
	{ "replace", no_argument, NULL, OPT_REPLACE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void convert_usage(FILE *f)
{
	fprintf(f,
"usage: mkimg convert [OPTIONS] [--store DIR] [--name NAME] SOURCE...\n"
"       mkimg convert [OPTIONS] -o OUT SOURCE...\n"
"\n"
"SOURCE is an OCI image layout or layer files:\n"
"  oci:PATH             the layout's only image (else linux/amd64)\n"
"  oci:PATH:TAG         the manifest tagged TAG (org.opencontainers.image.ref.name)\n"
"  oci:PATH@sha256:HEX  the manifest or index with this digest\n"
"  FILE...              layer tars in order, bottom first (tar, tar+gzip, tar+zstd)\n"
"Every digest and diff_id is verified, also of layers the store replays\n"
"from their records (their blobs are hashed, not decompressed).\n"
"\n"
"Without -o the image goes into a store (default $MKIMG_STORE, else\n"
BS_STORE_DEFAULT_DIR "), its file data shared with every image there:\n"
"  --store DIR         the store\n"
"  --name NAME         the image's name (default: from SOURCE)\n"
"  --max-blobs N       blobs one image may reference (default 32); data\n"
"                      beyond that is copied into the new blob\n"
"  --no-chunks         whole-file dedup only (no 64 KiB chunk lookups)\n"
"  --trust-store-layers  replay layers the store has converted before\n"
"                      without reading their blobs (no size or digest check)\n"
"  --replace           NAME may be taken: it moves to the new image (the old\n"
"                      one stays while mounted or pinned, else gc frees it)\n"
"\n"
"  --flatten           one image of all layers applied (default)\n"
"  --per-layer         OUT is a directory of layer-NNN.erofs, bottom first, with\n"
"                      overlayfs whiteouts (stack them as overlayfs lowers)\n"
"  -o, --output OUT    the image (or directory with --per-layer)\n"
"  --blob FILE         flatten: file data into the blob FILE (device 1)\n"
"  --platform OS/ARCH[/VARIANT]  select from a multi-platform index\n"
"  --follow-symlinks   resolve symlinks in entry paths inside the image (as\n"
"                      umoci does) instead of refusing such entries\n"
"  --fingerprint / --no-fingerprint  fingerprint xattrs (default: with --blob)\n"
"  -b, --block-size N  512, 1024, 2048 or 4096 (default 4096)\n"
"  --no-fsync          do not fsync before publishing\n"
"  --max-holes SIZE    most bytes of holes in sparse files (not in the input,\n"
"                      but hashed like data: about 1.5 s per GiB) over all\n"
"                      layers (default 1G; K/M/G suffixes; 0: no limit)\n"
"  -q, --quiet         no progress and no summary\n"
"  --json              a JSON summary on stdout\n");
}

struct layer_src {
	char path[PATH_MAX];
	const char *name;	/* for messages */
	char label[96];
	const struct oci_layer *oci;	/* NULL for plain files */
};

struct convert {
	struct layout_params p;
	bool per_layer, follow, quiet, json, durable, tty, no_chunks, replace;
	bool trust_layers;	/* replayed layers: blobs not verified */
	const char *out, *blob, *store, *name;
	const char *source;		/* as given, for the registry */
	uint32_t max_blobs;
	struct bs_conv_result sres;
	/* store mode: the layer being recorded */
	struct bs_conv *conv;
	struct oci_record_writer *rec;
	bool no_reuse;		/* a replay failed: convert every layer */
	unsigned int reused;
	struct oci_image *img;
	struct layer_src *layers;
	size_t nlayers;
	struct timespec start;
	uint64_t bytes_in, bytes_out;
	struct oci_apply_stats st;
	uint64_t image_bytes, blob_bytes, data_bytes, dedup_files;
	char blob_hex[65];
	char **layer_paths;	/* per-layer: the image written for each layer */
};

/*
 * Per-layer images: a hard link to a file of a lower layer needs the file's
 * bytes in this layer's image. Per-layer images are built without inline
 * tails, so every byte of the lower file is in extents of that layer's
 * image file: copy them through the sink.
 */
static int copy_lower(void *ctx, unsigned int layer, const struct layout_filedata *fd,
		      struct bs_sink *sink)
{
	struct convert *c = ctx;
	uint64_t blksz = 1ull << c->p.blkszbits, pos = 0, left;
	uint8_t *buf;
	uint32_t i;
	int f, ret = 0;

	if (layer >= c->nlayers || !c->layer_paths || !c->layer_paths[layer] || fd->has_tail)
		return -EINVAL;
	f = open(c->layer_paths[layer], O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return -errno;
	buf = malloc(1u << 20);
	if (!buf) {
		close(f);
		return -ENOMEM;
	}
	for (i = 0; i <= fd->nextents && !ret; i++) {
		uint64_t start = i < fd->nextents ? fd->extents[i].lblk * blksz : fd->size;
		uint64_t end, off;

		if (start > fd->size)
			start = fd->size;
		if (start > pos)
			ret = bs_file_hole(sink, start - pos);
		pos = start;
		if (i == fd->nextents || ret)
			break;
		if (fd->extents[i].device) {
			ret = -EINVAL;
			break;
		}
		end = start + (uint64_t)fd->extents[i].nblks * blksz;
		if (end > fd->size)
			end = fd->size;
		off = fd->extents[i].pblk * blksz;
		for (left = end - pos; left && !ret;) {
			size_t n = left < (1u << 20) ? left : (1u << 20);
			ssize_t r = pread(f, buf, n, off);

			if (r <= 0) {
				ret = r < 0 ? -errno : -EIO;
				break;
			}
			ret = bs_file_write(sink, buf, r);
			off += r;
			pos += r;
			left -= r;
		}
	}
	free(buf);
	close(f);
	return ret;
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

static void progress(struct convert *c, size_t i, const struct oci_stream *s)
{
	double sec = elapsed(&c->start);
	uint64_t out = c->bytes_out + (s ? oci_stream_bytes_out(s) : 0);

	if (!c->tty || c->quiet)
		return;
	fprintf(stderr, "\rlayer %zu/%zu: %.1f MiB of tar, %.0f MB/s   ", i + 1, c->nlayers,
		out / 1048576.0, sec > 0 ? out / 1e6 / sec : 0.0);
}

/* "oci:PATH[:TAG]" or "oci:PATH@sha256:..." */
static int parse_oci_source(const char *src, char **path, char **ref)
{
	const char *s = src + 4, *at = strstr(s, "@sha256:"), *slash, *colon;

	if (at) {
		*path = strndup(s, at - s);
		*ref = strdup(at + 1);
	} else {
		slash = strrchr(s, '/');
		colon = strrchr(slash ? slash : s, ':');
		*path = colon ? strndup(s, colon - s) : strdup(s);
		*ref = colon ? strdup(colon + 1) : NULL;
		if (colon && !*ref)
			return -ENOMEM;
	}
	return *path ? 0 : -ENOMEM;
}

static int resolve_sources(struct convert *c, int n, char **srcs, const char *platform)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	size_t i;
	int ret;

	if (!strncmp(srcs[0], "oci:", 4)) {
		struct oci_selector sel = { 0 };
		char *path = NULL, *ref = NULL, *plat = NULL;

		if (n != 1) {
			cli_error("an oci: source cannot be combined with other sources");
			return -EINVAL;
		}
		if (parse_oci_source(srcs[0], &path, &ref)) {
			cli_error("out of memory");
			return -ENOMEM;
		}
		sel.ref = ref;
		if (platform) {
			char *save;

			plat = strdup(platform);
			sel.os = strtok_r(plat, "/", &save);
			sel.arch = strtok_r(NULL, "/", &save);
			sel.variant = strtok_r(NULL, "/", &save);
			if (!sel.os || !sel.arch) {
				cli_error("--platform takes OS/ARCH[/VARIANT]");
				free(plat);
				free(path);
				free(ref);
				return -EINVAL;
			}
		}
		ret = oci_image_open(path, &sel, &c->img, &err);
		if (ret) {
			cli_error("%s", mkimg_err_msg(&err));
		} else {
			c->nlayers = c->img->nlayers;
			c->layers = calloc(c->nlayers ? c->nlayers : 1, sizeof(*c->layers));
			if (!c->layers)
				ret = -ENOMEM;
			for (i = 0; !ret && i < c->nlayers; i++) {
				struct layer_src *l = &c->layers[i];

				l->oci = &c->img->layers[i];
				ret = oci_blob_path(path, l->oci->digest, l->path, sizeof(l->path));
				if (ret)
					cli_error("layer %s: path too long", l->oci->digest);
				snprintf(l->label, sizeof(l->label), "layer %.19s", l->oci->digest);
				l->name = l->label;
			}
		}
		free(plat);
		free(path);
		free(ref);
		return ret;
	}
	if (platform) {
		cli_error("--platform applies to oci: sources only");
		return -EINVAL;
	}
	c->nlayers = n;
	c->layers = calloc(n, sizeof(*c->layers));
	if (!c->layers)
		return -ENOMEM;
	for (i = 0; i < (size_t)n; i++) {
		if (strlen(srcs[i]) >= sizeof(c->layers[i].path)) {
			cli_error("%s: path too long", srcs[i]);
			return -ENAMETOOLONG;
		}
		strcpy(c->layers[i].path, srcs[i]);
		c->layers[i].name = srcs[i];
	}
	return 0;
}

/* Streams layer i through the applier into tree t. */
static int apply_one(struct convert *c, struct oci_applier *a, size_t i,
		     struct layout_tree *t, struct bs_sink *sink, char *diff_id)
{
	const struct layer_src *l = &c->layers[i];
	struct oci_stream_params sp = { .path = l->path, .name = l->name };
	struct oci_stream *s = NULL;
	struct oci_tar *tar = NULL;
	struct mkimg_err e = MKIMG_ERR_INIT;
	int ret;

	if (l->oci) {
		sp.comp = l->oci->comp;
		sp.digest = l->oci->digest;
		sp.check_size = true;
		sp.size = l->oci->size;
		sp.diff_id = l->oci->diff_id;
	} else {
		sp.detect = true;
		/* nothing to verify; a store needs the diff_id to record it */
		sp.no_digests = !c->store;
	}
	ret = oci_stream_open(&sp, &s, &e);
	if (!ret)
		ret = oci_tar_open(oci_stream_reader, s, 0, &tar, &e);
	if (!ret)
		ret = oci_apply_layer(a, t, sink, tar, &c->st, &e);
	if (!ret)
		ret = oci_tar_drain(tar);
	if (!ret)
		ret = oci_stream_finish(s, NULL, diff_id);
	if (ret) {
		if (c->tty && !c->quiet)
			fputs("\r\033[K", stderr);
		cli_error("%s", e.code ? mkimg_err_msg(&e) : strerror(-ret));
	} else {
		c->bytes_in += oci_stream_bytes_in(s);
		c->bytes_out += oci_stream_bytes_out(s);
		progress(c, i, NULL);
	}
	oci_tar_close(tar);
	oci_stream_free(s);
	return ret;
}

/* Writes one image from the layers [from, to) at path (atomically). */
static int write_image(struct convert *c, struct oci_applier *a, size_t from, size_t to,
		       const char *path, const char *blob)
{
	struct layout_tree *t = NULL;
	struct bs_output out = { .img.fd = -1, .blob.fd = -1 };
	struct bs_output_result res;
	char msg[1024];
	size_t i;
	int ret;

	ret = layout_tree_new(&c->p, &t);
	if (ret) {
		cli_error("out of memory");
		return ret;
	}
	ret = bs_output_open(&out, t, path, blob, msg, sizeof(msg));
	if (ret) {
		cli_error("%s", msg);
		goto out;
	}
	for (i = from; i < to && !ret; i++)
		ret = apply_one(c, a, i, t, out.sink, NULL);
	if (ret)
		goto out;
	ret = bs_output_commit(&out, t, c->durable, &res, msg, sizeof(msg));
	if (ret) {
		cli_error("%s", msg);
		goto out;
	}
	if (blob) {
		memcpy(c->blob_hex, res.blob_sha256, sizeof(c->blob_hex));
		c->blob_bytes = res.blob_bytes;
	}
	c->image_bytes += res.layout.image_bytes;
	c->data_bytes += res.data.written_bytes;
	c->dedup_files += res.data.dedup_files;
out:
	bs_output_abort(&out);
	layout_tree_free(t);
	return ret;
}

/* "oci:/x/debian:12" -> "debian:12"; "a/layer.tar.gz" -> "layer" */
static char *default_name(const char *src)
{
	const char *s = !strncmp(src, "oci:", 4) ? src + 4 : src, *b;
	char *name, *dot;
	size_t len = strlen(s);

	while (len > 1 && s[len - 1] == '/')
		len--;
	name = strndup(s, len);
	if (!name)
		return NULL;
	b = strrchr(name, '/');
	memmove(name, b ? b + 1 : name, strlen(b ? b + 1 : name) + 1);
	if (strncmp(src, "oci:", 4))
		while ((dot = strrchr(name, '.')) && dot != name &&
		       (!strcmp(dot, ".tar") || !strcmp(dot, ".gz") || !strcmp(dot, ".tgz") ||
			!strcmp(dot, ".zst") || !strcmp(dot, ".zstd")))
			*dot = '\0';
	return name;
}

/* Store mode: every entry applied goes into the layer's record. */
static int store_entry_done(void *ctx, const struct oci_entry *e,
			    const struct layout_filedata *fd)
{
	struct convert *c = ctx;

	if (!c->rec)
		return 0;
	if (fd)
		bs_conv_layer_note(c->conv, fd);
	return oci_record_entry_done(c->rec, e, fd);
}

/* A layer the store converted before is replayed from its record. */
static int replay_layer(struct convert *c, struct oci_applier *a, size_t i,
			struct layout_tree *t, int fd)
{
	const struct layer_src *l = &c->layers[i];
	struct oci_record *r = NULL;
	struct oci_entry_src src;
	struct mkimg_err e = MKIMG_ERR_INIT;
	int ret;

	ret = oci_record_open(fd, l->name, NULL, &r, &e);
	if (!ret) {
		oci_record_source(r, &src);
		ret = oci_apply_source(a, t, bs_conv_sink(c->conv), &src, &c->st, &e);
	}
	if (ret)
		cli_warn("%s: replaying the layer's record failed (%s); converting every layer",
			 l->name, e.code ? mkimg_err_msg(&e) : strerror(-ret));
	else
		progress(c, i, NULL);
	oci_record_close(r);
	close(fd);
	return ret;
}

static int store_layer(struct convert *c, struct oci_applier *a, size_t i,
		       struct layout_tree *t)
{
	const struct layer_src *l = &c->layers[i];
	uint64_t entries = c->st.entries;
	char err[1024] = "", diff_id[OCI_DIGEST_LEN + 1];
	struct mkimg_err e = MKIMG_ERR_INIT;
	int fd, ret;

	if (l->oci && !c->no_reuse) {
		ret = bs_conv_layer_find(c->conv, l->oci->diff_id, &fd, err, sizeof(err));
		if (ret == -EUCLEAN || ret == -ENOENT || ret == -EBADMSG) {
			/* a damaged or missing record: the tar is still here */
			cli_warn("%s; converting the layer from its tar", err);
			ret = 0;
		} else if (ret < 0) {
			cli_error("%s", err);
			return ret;
		}
		if (ret) {
			struct oci_blob_check *chk = NULL;

			/* the blob is verified as a tar's would be, while the
			 * record replays */
			if (!c->trust_layers &&
			    oci_blob_check_start(l->path, l->name, l->oci->digest, l->oci->size,
						 &chk, &e)) {
				close(fd);
				cli_error("%s", mkimg_err_msg(&e));
				return -EINVAL;
			}
			c->reused++;
			ret = replay_layer(c, a, i, t, fd) ? -EAGAIN : 0;
			if (oci_blob_check_finish(chk, &e)) {
				cli_error("%s", mkimg_err_msg(&e));
				return -EINVAL;
			}
			return ret;
		}
	}
	ret = bs_conv_layer_begin(c->conv, l->oci ? l->oci->diff_id : NULL, &fd, err, sizeof(err));
	if (!ret)
		ret = oci_record_writer_open(fd, l->name, &c->rec, &e);
	if (ret) {
		cli_error("%s", e.code ? mkimg_err_msg(&e) : err);
		return ret;
	}
	ret = apply_one(c, a, i, t, bs_conv_sink(c->conv), diff_id);
	if (!ret) {
		ret = oci_record_writer_finish(c->rec, NULL);
		if (ret)
			cli_error("%s", mkimg_err_msg(&e));
	}
	oci_record_writer_free(c->rec);
	c->rec = NULL;
	if (!ret) {
		ret = bs_conv_layer_end(c->conv, diff_id, c->st.entries - entries, err, sizeof(err));
		if (ret)
			cli_error("%s", err);
	}
	return ret;
}

/* A blob dedup could not use (the conversion wrote its data anew). */
static void store_warn(void *ctx, const char *msg)
{
	struct convert *c = ctx;

	if (c->tty && !c->quiet)
		fputs("\r\033[K", stderr);
	cli_warn("%s", msg);
}

/* Flattens every layer into an image of the store. */
static int write_store_image(struct convert *c, struct oci_applier *a)
{
	struct bs_conv_params cp = { .max_blobs = c->max_blobs, .durable = c->durable,
				     .no_chunks = c->no_chunks, .replace = c->replace,
				     .warn = store_warn, .warn_ctx = c };
	struct layout_params p;
	struct bs_store *st = NULL;
	struct layout_tree *t = NULL;
	struct bs_conv *conv = NULL;
	char msg[1024];
	size_t i;
	int ret;

	ret = bs_store_open(c->store, BS_STORE_CREATE, &st, msg, sizeof(msg));
	if (ret) {
		cli_error("%s", msg);
		return ret;
	}
	/* refused again when registering (a conversion may take it meanwhile) */
	if (!c->replace && bs_store_name_unused(st, c->name, msg, sizeof(msg))) {
		cli_error("%s", msg);
		ret = -EEXIST;
		goto out;
	}
	bs_store_layout_params(st, &p);
	p.fingerprint = c->p.fingerprint;
	p.fixed_time = c->p.fixed_time;
	p.clamp_time = c->p.clamp_time;
	p.time = c->p.time;
	ret = layout_tree_new(&p, &t);
	if (ret) {
		cli_error("out of memory");
		goto out;
	}
	ret = bs_conv_begin(st, t, &cp, &conv, msg, sizeof(msg));
	if (ret) {
		cli_error("%s", msg);
		goto out;
	}
	c->conv = conv;
	for (i = 0; i < c->nlayers && !ret; i++)
		ret = store_layer(c, a, i, t);
	c->conv = NULL;
	if (ret)
		goto out;
	ret = bs_conv_commit(conv, c->name, c->source, &c->sres, msg, sizeof(msg));
	conv = NULL;
	if (ret) {
		cli_error("%s", msg);
		goto out;
	}
	c->image_bytes = c->sres.layout.image_bytes;
	c->data_bytes = c->sres.data.written_bytes;
	c->dedup_files = c->sres.data.dedup_files + c->sres.data.store_files;
	c->blob_bytes = c->sres.blob_bytes;
	memcpy(c->blob_hex, c->sres.blob_sha256, sizeof(c->blob_hex));
out:
	bs_conv_abort(conv);
	layout_tree_free(t);
	bs_store_close(st);
	return ret;
}

static void remove_dir(const char *dir)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;

	if (d) {
		while ((de = readdir(d)))
			if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
				unlinkat(dfd, de->d_name, 0);
		closedir(d);
	} else if (dfd >= 0) {
		close(dfd);
	}
	rmdir(dir);
}

static int convert_per_layer(struct convert *c, struct oci_applier *a)
{
	char *tmp = NULL, *path = NULL;
	size_t i;
	int ret = 0;

	if (asprintf(&tmp, "%s.tmp-XXXXXX", c->out) < 0) {
		cli_error("out of memory");
		return -ENOMEM;
	}
	if (!mkdtemp(tmp)) {
		ret = -errno;
		cli_error("%s: cannot create a temporary directory: %s", c->out, strerror(errno));
		free(tmp);
		return ret;
	}
	chmod(tmp, 0755);
	c->layer_paths = calloc(c->nlayers ? c->nlayers : 1, sizeof(*c->layer_paths));
	if (!c->layer_paths) {
		cli_error("out of memory");
		ret = -ENOMEM;
	}
	for (i = 0; i < c->nlayers && !ret; i++) {
		free(path);
		if (asprintf(&path, "%s/layer-%03zu.erofs", tmp, i) < 0) {
			path = NULL;
			ret = -ENOMEM;
			cli_error("out of memory");
			break;
		}
		ret = write_image(c, a, i, i + 1, path, NULL);
		if (!ret) {
			c->layer_paths[i] = path;
			path = NULL;
		}
	}
	/* never over anything that appeared meanwhile */
	if (!ret && renameat2(AT_FDCWD, tmp, AT_FDCWD, c->out, RENAME_NOREPLACE) < 0 &&
	    (errno != EINVAL || rename(tmp, c->out) < 0)) {
		ret = -errno;
		cli_error("%s: cannot publish: %s", c->out, strerror(errno));
	}
	if (ret)
		remove_dir(tmp);
	for (i = 0; c->layer_paths && i < c->nlayers; i++)
		free(c->layer_paths[i]);
	free(c->layer_paths);
	c->layer_paths = NULL;
	free(path);
	free(tmp);
	return ret;
}

static void print_store_result(struct convert *c)
{
	const struct bs_conv_result *r = &c->sres;
	uint64_t shared = r->layout.file_bytes > r->blob_bytes ?
			  r->layout.file_bytes - r->blob_bytes : 0;
	double sec = elapsed(&c->start);

	if (c->json) {
		json_object *o = json_object_new_object();

#define U64(k, v) json_object_object_add(o, k, json_object_new_int64((int64_t)(v)))
		json_object_object_add(o, "name", json_object_new_string(r->name));
		json_object_object_add(o, "store", json_object_new_string(c->store));
		json_object_object_add(o, "image", json_object_new_string(r->image));
		U64("layers", c->nlayers);
		U64("layers_reused", r->layers_reused);
		U64("tar_bytes", c->bytes_out);
		U64("files", r->layout.files);
		U64("logical_bytes", r->layout.file_bytes);
		U64("new_bytes", r->blob_bytes);
		U64("shared_bytes", shared);
		U64("store_files", r->data.store_files);
		U64("chunk_hits", r->data.chunk_hits);
		U64("image_bytes", r->layout.image_bytes);
		U64("devices", r->devices);
		json_object_object_add(o, "blob_sha256", json_object_new_string(r->blob_sha256));
		json_object_object_add(o, "seconds", cli_json_fixed(sec, 3));
		U64("peak_rss_kib", cli_peak_rss_kib());
#undef U64
		cli_print_json(o);
	} else if (!c->quiet) {
		printf("%s: %zu layer%s (%u reused), %llu files, %.1f MiB of data: %.1f MiB new, "
		       "%.1f MiB shared (%llu files from the store, %llu chunks); image %.1f MiB, "
		       "%u blob%s, %.1f s\n",
		       r->name, c->nlayers, c->nlayers == 1 ? "" : "s", r->layers_reused,
		       (unsigned long long)r->layout.files, r->layout.file_bytes / 1048576.0,
		       r->blob_bytes / 1048576.0, shared / 1048576.0,
		       (unsigned long long)r->data.store_files,
		       (unsigned long long)r->data.chunk_hits, r->layout.image_bytes / 1048576.0,
		       r->devices, r->devices == 1 ? "" : "s", sec);
	}
}

static bool convert_stop(void *ctx)
{
	return cli_stopped();
}

int cmd_convert(int argc, char **argv)
{
	struct convert c = { .durable = true };
	char *name = NULL;
	struct oci_apply_opts ao = { 0 };
	struct oci_applier *a = NULL;
	const char *platform = NULL;
	int fingerprint = -1, opt, ret;
	uint64_t v;

	layout_params_preset(&c.p);
	optind = 1;
	while ((opt = getopt_long(argc, argv, "o:b:qh", convert_opts, NULL)) != -1) {
		switch (opt) {
		case OPT_FLATTEN: c.per_layer = false; break;
		case OPT_PER_LAYER: c.per_layer = true; break;
		case 'o': c.out = optarg; break;
		case OPT_BLOB: c.blob = optarg; break;
		case OPT_PLATFORM: platform = optarg; break;
		case OPT_FOLLOW: c.follow = true; break;
		case OPT_FINGERPRINT: fingerprint = 1; break;
		case OPT_NO_FINGERPRINT: fingerprint = 0; break;
		case OPT_JSON: c.json = true; break;
		case OPT_NO_FSYNC: c.durable = false; break;
		case OPT_STORE: c.store = optarg; break;
		case OPT_NAME: c.name = optarg; break;
		case OPT_NO_CHUNKS: c.no_chunks = true; break;
		case OPT_TRUST_STORE_LAYERS: c.trust_layers = true; break;
		case OPT_MAX_HOLES:
			if (!cli_parse_u64(optarg, &v)) {
				cli_error("--max-holes: not a size: '%s'", optarg);
				return 2;
			}
			ao.max_hole_bytes = v ? v : UINT64_MAX;
			break;
		case OPT_REPLACE: c.replace = true; break;
		case OPT_MAX_BLOBS:
			if (!cli_parse_u64(optarg, &v) || v < 2 || v > 65535) {
				cli_error("--max-blobs must be 2 to 65535");
				return 2;
			}
			c.max_blobs = v;
			break;
		case 'q': c.quiet = true; break;
		case 'b':
			if (!cli_parse_u64(optarg, &v) || (v != 512 && v != 1024 && v != 2048 &&
							   v != 4096)) {
				cli_error("--block-size must be 512, 1024, 2048 or 4096");
				return 2;
			}
			c.p.blkszbits = __builtin_ctzll(v);
			break;
		case 'h':
			convert_usage(stdout);
			return 0;
		default:
			convert_usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		cli_error("convert needs at least one SOURCE (see --help)");
		return 2;
	}
	if (c.out && (c.store || c.name || c.replace)) {
		cli_error("-o writes a standalone image; --store, --name and --replace are for "
			  "the store");
		return 2;
	}
	if (!c.out) {
		char err[512];

		if (!c.store)
			c.store = getenv("MKIMG_STORE") && *getenv("MKIMG_STORE") ?
				  getenv("MKIMG_STORE") : BS_STORE_DEFAULT_DIR;
		if (c.per_layer || c.blob) {
			cli_error("store images are flattened, with data in the store's blobs: "
				  "--per-layer and --blob need -o");
			return 2;
		}
		if (!c.name) {
			c.name = name = default_name(argv[optind]);
			if (!name) {
				cli_error("out of memory");
				return 1;
			}
		}
		if (bs_store_name_valid(c.name, err, sizeof(err))) {
			cli_error("%s", err);
			free(name);
			return 2;
		}
		c.source = argv[optind];
		if (fingerprint < 0)
			fingerprint = 1;
	}
	if (c.per_layer && c.blob) {
		cli_error("--blob is for flattened images; --per-layer images are self-contained");
		return 2;
	}
	if (c.per_layer && c.out) {
		struct stat sb;

		if (lstat(c.out, &sb) == 0) {
			cli_error("%s: already exists", c.out);
			return 1;
		}
	} else if (c.out) {
		char err[1024];

		/* before any work: only a regular file is replaced */
		if (bs_publish_check(c.out, err, sizeof(err)) ||
		    (c.blob && bs_publish_check(c.blob, err, sizeof(err)))) {
			cli_error("%s", err);
			return 1;
		}
	}
	c.p.fingerprint = fingerprint >= 0 ? fingerprint : c.blob != NULL;
	c.tty = cli_tty();
	clock_gettime(CLOCK_MONOTONIC, &c.start);

	ret = resolve_sources(&c, argc - optind, argv + optind, platform);
	if (ret)
		goto out;
	ao.mode = c.per_layer ? OCI_APPLY_PER_LAYER : OCI_APPLY_FLATTEN;
	ao.follow_symlinks = c.follow;
	if (c.per_layer && c.out) {
		/* all data in extents (as containerd's layer images), so hard
		 * links to lower layers can copy it back: see copy_lower */
		c.p.inline_data = false;
		ao.copy_lower = copy_lower;
		ao.ctx = &c;
	}
	if (c.store) {
		ao.entry_done = store_entry_done;
		ao.ctx = &c;
	}
	ao.stop = convert_stop;
	if (!ao.ctx)
		ao.ctx = &c;
	cli_catch_stop_signals();
	ret = oci_applier_new(&ao, &a);
	if (ret) {
		cli_error("out of memory");
		goto out;
	}
	if (c.store) {
		ret = write_store_image(&c, a);
		if (ret == -EAGAIN) {
			/* a layer record could not be replayed: from the tars */
			oci_applier_free(a);
			a = NULL;
			c.no_reuse = true;
			c.reused = 0;
			c.bytes_in = c.bytes_out = 0;
			memset(&c.st, 0, sizeof(c.st));
			ret = oci_applier_new(&ao, &a);
			if (!ret)
				ret = write_store_image(&c, a);
		}
	} else if (c.per_layer)
		ret = convert_per_layer(&c, a);
	else
		ret = write_image(&c, a, 0, c.nlayers, c.out, c.blob);
	if (c.tty && !c.quiet)
		fputs("\r\033[K", stderr);
	if (ret)
		goto out;
	if (c.st.overlay_xattrs)
		cli_warn("dropped %llu trusted.overlay.* xattr%s of the input (overlayfs metadata "
			 "is not taken from layers)", (unsigned long long)c.st.overlay_xattrs,
			 c.st.overlay_xattrs == 1 ? "" : "s");
	if (c.store) {
		print_store_result(&c);
	} else if (c.json) {
		double sec = elapsed(&c.start);
		json_object *o = json_object_new_object();

#define U64(k, v) json_object_object_add(o, k, json_object_new_int64((int64_t)(v)))
		json_object_object_add(o, "output", json_object_new_string(c.out));
		U64("layers", c.nlayers);
		json_object_object_add(o, "per_layer", json_object_new_boolean(c.per_layer));
		U64("compressed_bytes", c.bytes_in);
		U64("tar_bytes", c.bytes_out);
		U64("entries", c.st.entries);
		U64("files", c.st.files);
		U64("whiteouts", c.st.whiteouts);
		U64("image_bytes", c.image_bytes);
		U64("data_bytes", c.data_bytes);
		U64("dedup_files", c.dedup_files);
		json_object_object_add(o, "seconds", cli_json_fixed(sec, 3));
		json_object_object_add(o, "tar_mb_per_s",
				       cli_json_fixed(sec > 0 ? c.bytes_out / 1e6 / sec : 0.0, 1));
		U64("peak_rss_kib", cli_peak_rss_kib());
		if (c.img)
			json_object_object_add(o, "manifest",
					       json_object_new_string(c.img->manifest_digest));
		if (c.blob) {
			json_object_object_add(o, "blob", json_object_new_string(c.blob));
			json_object_object_add(o, "blob_sha256", json_object_new_string(c.blob_hex));
			U64("blob_bytes", c.blob_bytes);
		}
#undef U64
		cli_print_json(o);
	} else if (!c.quiet) {
		printf("%s: %zu layer%s, %.1f MiB of tar (%.1f MiB compressed), %llu entries, "
		       "%llu duplicate files, %s %.1f MiB in %.1f s\n",
		       c.out, c.nlayers, c.nlayers == 1 ? "" : "s", c.bytes_out / 1048576.0,
		       c.bytes_in / 1048576.0, (unsigned long long)c.st.entries,
		       (unsigned long long)c.dedup_files, c.per_layer ? "images" : "image",
		       c.image_bytes / 1048576.0, elapsed(&c.start));
	}
out:
	oci_applier_free(a);
	oci_image_free(c.img);
	free(c.layers);
	free(name);
	cli_exit_if_stopped();
	return ret ? 1 : 0;
}
