/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside analyze/ only: one file's content as analyze counts it: its
 * SHA-256, the XXH3-128 keys of its fixed-size chunks at each of the
 * MKIMG_ANALYZE_NCHUNKS sizes (aligned at offset 0, the last one short),
 * and which of its full 64 KiB units are all zero.
 */
#ifndef MKIMG_ANALYZE_FILESCAN_H
#define MKIMG_ANALYZE_FILESCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/analyze.h"

struct fscan_key {
	uint8_t key[16];	/* XXH3-128, canonical (big-endian) bytes */
	uint32_t len;		/* the chunk's bytes: its size, less for the last */
	bool zero;		/* a full unit of zeros (the unit size only) */
	uint32_t lz4;		/* units with lz4: its LZ4 size (len if no smaller) */
};

struct fscan_keys {
	struct fscan_key *v;
	size_t n, cap;
};

struct fscan;

/* sample > 1: keep only the keys whose first 8 bytes are 0 mod sample.
 * cdc: also content-defined chunks (MKIMG_ANALYZE_NCDC target sizes).
 * lz4: each unit (also the last, short one) compressed with LZ4. */
int fscan_new(uint32_t sample, bool cdc, bool lz4, struct fscan **out);
void fscan_free(struct fscan *f);		/* accepts NULL */
void fscan_begin(struct fscan *f);
int fscan_data(struct fscan *f, const void *buf, size_t len);
int fscan_zeros(struct fscan *f, uint64_t len);
/* Ends the file: its SHA-256; keys[k] valid until the next begin. */
int fscan_end(struct fscan *f, uint8_t sha256[32]);
const struct fscan_keys *fscan_keys(const struct fscan *f, unsigned int k);
/* The content-defined chunks of target size j (fscan_new with cdc). */
const struct fscan_keys *fscan_cdc_keys(const struct fscan *f, unsigned int j);
/* Full units (64 KiB) of the file, and how many of them are all zero
 * (every unit counted, sampled or not). */
uint64_t fscan_full_units(const struct fscan *f);
uint64_t fscan_zero_units(const struct fscan *f);
/* A key kept when sampling by n (n <= 1: all). */
bool fscan_sampled(const uint8_t key[16], uint32_t n);

#endif
