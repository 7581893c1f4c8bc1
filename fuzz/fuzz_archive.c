/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: bytes as an archive (a tar in a memfd): the member
 * index, then the OCI layout and the docker save manifest read from it.
 * What they give back must hold: every layer's member inside the input.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mkimg/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_image(struct oci_archive *a, struct oci_image *img, size_t size)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	uint64_t off, len;
	size_t i;

	if (img->nlayers > OCI_MAX_LAYERS)
		__builtin_trap();
	for (i = 0; i < img->nlayers; i++) {
		if (!img->layers[i].member)
			__builtin_trap();
		if (img->layers[i].digest[0] && oci_digest_validate(img->layers[i].digest, NULL))
			__builtin_trap();
		mkimg_err_clear(&err);
		if (oci_archive_member(a, img->layers[i].member, &off, &len, &err))
			continue;
		if (off > size || len > size - off || off % 512)
			__builtin_trap();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_selector sel = { .ref = "latest" };
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct oci_archive *a = NULL;
	struct oci_image *img;
	char *buf;
	size_t len;
	int fd;

	fd = memfd_create("fuzz_archive", MFD_CLOEXEC);
	if (fd < 0)
		return 0;
	if (size && write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	if (oci_archive_open_fd(fd, "fuzz", &a, &err) == 0) {
		if (oci_archive_count(a) > OCI_ARCHIVE_MAX_MEMBERS)
			__builtin_trap();
		if (oci_archive_read(a, "index.json", 1 << 20, &buf, &len, &err) == 0) {
			if (len > size || buf[len])
				__builtin_trap();
			free(buf);
		}
		mkimg_err_clear(&err);
		if (oci_archive_image_open(a, NULL, &img, &err) == 0) {
			check_image(a, img, size);
			oci_image_free(img);
		}
		mkimg_err_clear(&err);
		if (oci_archive_image_open(a, &sel, &img, &err) == 0) {
			check_image(a, img, size);
			oci_image_free(img);
		}
		mkimg_err_clear(&err);
		if (oci_archive_docker_open(a, NULL, &img, &err) == 0) {
			check_image(a, img, size);
			oci_image_free(img);
		}
		oci_archive_close(a);
	} else if (!err.code || !err.msg[0]) {
		__builtin_trap();	/* a failure without its message */
	}
	close(fd);
	return 0;
}
