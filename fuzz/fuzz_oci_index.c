/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: bytes as index.json, manifest and config JSON. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mkimg/oci.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct oci_descriptor *d;
	struct oci_image *img;
	size_t n, i;
	struct mkimg_err err = MKIMG_ERR_INIT;

	if (oci_parse_index(data, size, &d, &n, &err) == 0) {
		for (i = 0; i < n; i++)
			if (oci_digest_validate(d[i].digest, NULL))
				__builtin_trap();
		oci_descriptors_free(d, n);
	}
	mkimg_err_clear(&err);
	if (oci_parse_manifest(data, size, &img, &err) == 0) {
		if (img->nlayers > OCI_MAX_LAYERS)
			__builtin_trap();
		oci_parse_config(data, size, img, &err);
		oci_image_free(img);
	}
	return 0;
}
