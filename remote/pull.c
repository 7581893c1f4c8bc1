/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mkimg pull (remote.h): an mkimg artifact of an OCI layout into a store.
 * The manifest and config are read and checked in place
 * (mkimg_remote_list); the store then imports the metadata image and the
 * blobs it lacks straight from the layout's files (bs_store_import checks
 * every byte it takes).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkimg/remote.h"
#include "remote/remote_internal.h"

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

int mkimg_pull(struct bs_store *st, const char *ref, const char *name,
	       const struct mkimg_pull_params *p, struct mkimg_pull_result *r,
	       struct mkimg_err *err)
{
	struct mkimg_pull_params none = { 0 };
	struct bs_import_params ip = { .image_fd = -1 };
	struct bs_import_blob *devs = NULL;
	struct bs_import_result ir;
	struct layout_params lp;
	struct mkimg_artifact *a = NULL;
	const char *tag;
	char *dir = NULL;
	size_t n = 0, k;
	uint32_t i;
	int bfd = -1, ret;

	if (!p)
		p = &none;
	memset(r, 0, sizeof(*r));
	ret = remote_parse_oci(ref, &dir, &tag, err);
	if (ret)
		return ret;
	if (!tag) {
		ret = mkimg_err_set(err, -EINVAL, "%s: which artifact? give a tag (oci:DIR:TAG)", ref);
		goto out;
	}
	ret = mkimg_remote_list(ref, &a, &n, err);
	if (ret)
		goto out;
	bs_store_layout_params(st, &lp);
	if (a->block_size != 1u << lp.blkszbits || strcmp(a->layout, "erofs-chunked") ||
	    a->fingerprints != lp.fingerprint) {
		ret = mkimg_err_set(err, -EPROTONOSUPPORT, "%s: an image of %u-byte blocks, layout %s,"
				    " fingerprints %s; this store's are %u, erofs-chunked, %s", ref,
				    a->block_size, a->layout, a->fingerprints ? "on" : "off",
				    1u << lp.blkszbits, lp.fingerprint ? "on" : "off");
		goto out;
	}
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
	if (!devs) {
		ret = mkimg_err_set(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (i = 0; i < a->ndevices; i++)
		devs[i].fd = -1;
	ret = ip.image_fd = open_blob(bfd, dir, &a->image, err);
	for (i = 0; ret >= 0 && i < a->ndevices; i++) {
		snprintf(devs[i].hex, sizeof(devs[i].hex), "%s", a->devices[i].digest + 7);
		devs[i].size = a->devices[i].size;
		ret = devs[i].fd = open_blob(bfd, dir, &a->devices[i], err);
	}
	if (ret < 0)
		goto out;
	snprintf(ip.image_hex, sizeof(ip.image_hex), "%s", a->image.digest + 7);
	ip.image_size = a->image.size;
	ip.ndevices = a->ndevices;
	ip.devices = devs;
	ip.durable = p->durable;
	ip.replace = p->replace;
	ip.progress = p->progress;
	ip.progress_ctx = p->progress_ctx;
	if (!name)
		name = tag;
	ret = bs_store_import(st, name, ref, &ip, &ir, err);
	if (ret)
		goto out;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->manifest, sizeof(r->manifest), "%s", a->manifest);
	snprintf(r->image, sizeof(r->image), "%s", ip.image_hex);
	r->blobs = a->ndevices + 1;
	r->copied = ir.blobs_copied;
	r->bytes = a->image.size;
	for (i = 0; i < a->ndevices; i++)
		r->bytes += a->devices[i].size;
	r->bytes_copied = ir.bytes_copied;
out:
	if (ip.image_fd >= 0)
		close(ip.image_fd);
	for (i = 0; devs && a && i < a->ndevices; i++)
		if (devs[i].fd >= 0)
			close(devs[i].fd);
	free(devs);
	for (k = 0; k < n; k++)
		mkimg_artifact_free(&a[k]);
	free(a);
	if (bfd >= 0)
		close(bfd);
	free(dir);
	return ret;
}
