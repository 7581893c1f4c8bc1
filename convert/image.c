/* SPDX-License-Identifier: Apache-2.0 */
/* Self-contained images: one of all layers, or a directory of one per layer. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "convert_internal.h"

/*
 * Per-layer images: a hard link to a file of a lower layer needs the file's
 * bytes in this layer's image. Per-layer images are built without inline
 * tails, so every byte of the lower file is in extents of that layer's
 * image file: copy them through the sink.
 */
int convert_copy_lower(void *ctx, unsigned int layer, const struct layout_filedata *fd,
		       struct bs_sink *sink)
{
	struct convert *c = ctx;
	uint64_t blksz = 1ull << c->lp.blkszbits, pos = 0, left;
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
		if (fd->extents[i].blob) {
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

/* Writes one image from the layers [from, to) at path (atomically). */
static int write_image(struct convert *c, struct oci_applier *a, size_t from, size_t to,
		       const char *path, const char *blob)
{
	struct mkimg_convert_result *r = c->res;
	struct layout_tree *t = NULL;
	struct bs_output out = { .img.fd = -1, .blob.fd = -1 };
	struct bs_output_result res;
	struct bs_output_params op = { .no_direct = c->p->no_direct, .tmpdir = c->p->tmpdir };
	struct mkimg_err terr = MKIMG_ERR_INIT;
	size_t i;
	int ret;

	ret = layout_tree_new(&c->lp, &terr, &t);
	if (ret)
		return mkimg_err_set(c->err, ret, "out of memory");
	ret = bs_output_open(&out, t, path, blob, &op, c->err);
	if (ret)
		goto out;
	for (i = from; i < to && !ret; i++)
		ret = convert_layer_apply(c, a, i, t, out.sink, NULL);
	if (ret)
		goto out;
	ret = bs_output_commit(&out, t, c->durable, &res, c->err);
	if (ret)
		goto out;
	if (blob) {
		memcpy(r->blob_sha256, res.blob_sha256, sizeof(r->blob_sha256));
		r->blob_bytes = res.blob_bytes;
	}
	r->image_bytes += res.layout.image_bytes;
	r->data_bytes += res.data.written_bytes;
	r->dedup_files += res.data.dedup_files;
out:
	bs_output_abort(&out);
	layout_tree_free(t);
	return ret;
}

int convert_image(struct convert *c, struct oci_applier *a)
{
	return write_image(c, a, 0, c->nlayers, c->p->output, c->p->blob);
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

/* Layer images in a temporary directory, published whole by a rename. */
int convert_per_layer(struct convert *c, struct oci_applier *a)
{
	const char *outdir = c->p->output;
	char *tmp = NULL, *path = NULL;
	size_t i;
	int ret = 0;

	if (asprintf(&tmp, "%s.tmp-XXXXXX", outdir) < 0)
		return mkimg_err_set(c->err, -ENOMEM, "out of memory");
	if (!mkdtemp(tmp)) {
		ret = mkimg_err_errno(c->err, -errno, "%s: cannot create a temporary directory",
				      outdir);
		free(tmp);
		return ret;
	}
	chmod(tmp, 0755);
	c->layer_paths = calloc(c->nlayers ? c->nlayers : 1, sizeof(*c->layer_paths));
	if (!c->layer_paths)
		ret = mkimg_err_set(c->err, -ENOMEM, "out of memory");
	for (i = 0; i < c->nlayers && !ret; i++) {
		free(path);
		if (asprintf(&path, "%s/layer-%03zu.erofs", tmp, i) < 0) {
			path = NULL;
			ret = mkimg_err_set(c->err, -ENOMEM, "out of memory");
			break;
		}
		ret = write_image(c, a, i, i + 1, path, NULL);
		if (!ret) {
			c->layer_paths[i] = path;
			path = NULL;
		}
	}
	/* never over anything that appeared meanwhile */
	if (!ret && renameat2(AT_FDCWD, tmp, AT_FDCWD, outdir, RENAME_NOREPLACE) < 0 &&
	    (errno != EINVAL || rename(tmp, outdir) < 0))
		ret = mkimg_err_errno(c->err, -errno, "%s: cannot publish", outdir);
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
