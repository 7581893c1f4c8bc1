/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: an mkimg artifact's manifest, a NUL, its config
 * (mkimg_artifact_manifest, mkimg_artifact_config). */
#include <stdint.h>
#include <string.h>

#include "mkimg/oci.h"
#include "mkimg/remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *nul = memchr(data, '\0', size);
	size_t mlen = nul ? (size_t)(nul - data) : size;
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct mkimg_artifact a = { 0 };
	uint32_t i;

	if (!mkimg_artifact_manifest(data, mlen, &a, &err)) {
		if (a.ndevices > OCI_MAX_LAYERS || a.config.size > OCI_MAX_JSON ||
		    strncmp(a.image.digest, "sha256:", 7))
			__builtin_trap();
		if (nul && !mkimg_artifact_config(nul + 1, size - mlen - 1, &a, &err)) {
			if (a.nlayers > OCI_MAX_LAYERS || a.block_size < 512 || !a.layout || !a.source)
				__builtin_trap();
			for (i = 0; i < a.nlayers; i++)
				if (strlen(a.diff_ids[i]) != 71)
					__builtin_trap();
		}
	}
	mkimg_artifact_free(&a);
	return 0;
}
