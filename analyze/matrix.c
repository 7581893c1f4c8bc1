/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pair matrix: for images a and b, the share of a's distinct data
 * (matrix chunks) that b holds too. Chunks are grouped by the set of
 * images holding them first, so the work is the number of distinct sets
 * times their pairs, not chunks times pairs.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "analyze_internal.h"
#include "keytab.h"

int analyze_matrix(struct mkimg_analyze_result *r, size_t nwords, const uint64_t *cimg,
		   const uint32_t *clen, size_t nchunks, uint32_t scale, struct mkimg_err *err)
{
	size_t n = r->nimages, i, a, b, nsets;
	struct keytab sets;
	uint64_t *bytes = NULL, *pair = NULL;
	size_t *first = NULL, cap = 0;
	size_t *members = calloc(n ? n : 1, sizeof(*members));
	int ret = -ENOMEM;

	keytab_init(&sets, 16);
	pair = calloc(n ? n * n : 1, sizeof(*pair));
	r->matrix = calloc(n ? n * n : 1, sizeof(*r->matrix));
	if (!pair || !r->matrix || !members)
		goto out;
	for (i = 0; i < nchunks; i++) {
		XXH128_canonical_t key;
		uint32_t id;
		int add;

		XXH128_canonicalFromHash(&key, XXH3_128bits(cimg + i * nwords,
							     nwords * sizeof(uint64_t)));
		add = keytab_add(&sets, key.digest, &id);
		if (add < 0)
			goto out;
		if (!add) {
			if (id >= cap) {
				size_t nc = cap ? cap * 2 : 1024;
				uint64_t *nb = realloc(bytes, nc * sizeof(*nb));
				size_t *nf;

				if (!nb)
					goto out;
				bytes = nb;
				nf = realloc(first, nc * sizeof(*nf));
				if (!nf)
					goto out;
				first = nf;
				cap = nc;
			}
			bytes[id] = 0;
			first[id] = i;
		}
		bytes[id] += clen[i];
	}
	nsets = sets.count;
	for (i = 0; i < nsets; i++) {
		const uint64_t *s = cimg + first[i] * nwords;
		size_t m = 0;

		for (a = 0; a < n; a++)
			if (s[a / 64] >> (a % 64) & 1)
				members[m++] = a;
		for (a = 0; a < m; a++)
			for (b = 0; b < m; b++)
				pair[members[a] * n + members[b]] += bytes[i];
	}
	for (a = 0; a < n; a++) {
		r->images[a].unique_bytes = pair[a * n + a] * scale;
		for (b = 0; b < n; b++)
			r->matrix[a * n + b] = pair[a * n + a] ?
				(double)pair[a * n + b] / (double)pair[a * n + a] : 0.0;
	}
	ret = 0;
out:
	keytab_free(&sets);
	free(bytes);
	free(first);
	free(pair);
	free(members);
	return ret ? mkimg_err_set(err, ret, "out of memory") : 0;
}
