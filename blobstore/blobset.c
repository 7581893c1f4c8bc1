/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Blob set: the blobs a tree's extents may name, numbered from 1, with the
 * bound a conversion keeps to (how many blobs one image may use). The
 * encoder picks the ones still referenced when the image is written.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mkimg/blobstore.h"

#define BLOBSET_MAX 65535u

struct bs_blobset {
	struct layout_blob *v;
	uint32_t n, cap, max;
};

int bs_blobset_new(uint32_t max, struct bs_blobset **out)
{
	struct bs_blobset *set;

	if (max > BLOBSET_MAX)
		return -EINVAL;
	set = calloc(1, sizeof(*set));
	if (!set)
		return -ENOMEM;
	set->max = max ? max : BLOBSET_MAX;
	*out = set;
	return 0;
}

void bs_blobset_free(struct bs_blobset *set)
{
	if (!set)
		return;
	free(set->v);
	free(set);
}

static int blob_fill(struct layout_blob *b, const char *tag, uint64_t blocks)
{
	size_t len = strlen(tag);

	if (len > 64)
		return -EINVAL;
	memcpy(b->tag, tag, len + 1);
	b->blocks = blocks;
	return 0;
}

int bs_blobset_add(struct bs_blobset *set, const char *tag, uint64_t blocks, uint32_t *n)
{
	int ret;

	if (set->n >= set->max)
		return -ENOSPC;
	if (set->n == set->cap) {
		uint32_t cap = set->cap ? set->cap * 2 : 8;
		struct layout_blob *v = realloc(set->v, sizeof(*v) * cap);

		if (!v)
			return -ENOMEM;
		set->v = v;
		set->cap = cap;
	}
	ret = blob_fill(&set->v[set->n], tag, blocks);
	if (ret)
		return ret;
	*n = ++set->n;
	return 0;
}

int bs_blobset_set(struct bs_blobset *set, uint32_t n, const char *tag, uint64_t blocks)
{
	if (!n || n > set->n)
		return -ENOENT;
	return blob_fill(&set->v[n - 1], tag, blocks);
}

uint32_t bs_blobset_count(const struct bs_blobset *set)
{
	return set->n;
}

bool bs_blobset_room(const struct bs_blobset *set, uint32_t more)
{
	return (uint64_t)set->n + more <= set->max;
}

void bs_blobset_data(const struct bs_blobset *set, struct layout_data *d)
{
	d->blobs = set->v;
	d->nblobs = set->n;
	d->tail_fd = -1;
}
