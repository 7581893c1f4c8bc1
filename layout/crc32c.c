/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CRC32C for the superblock checksum. ISA-L's crc32_iscsi is the Castagnoli
 * CRC with the caller's seed and no final inversion, which is exactly what
 * EROFS stores (seed ~0). ISA-L uses the SSE4.2 crc32 instruction.
 */
#include <isa-l/crc.h>

#include "layout_internal.h"

uint32_t layout_crc32c(uint32_t seed, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len) {
		int n = len > (1u << 30) ? (1 << 30) : (int)len;

		seed = crc32_iscsi((unsigned char *)p, n, seed);
		p += n;
		len -= n;
	}
	return seed;
}
