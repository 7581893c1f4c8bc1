/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inline xattr bodies, the xattr name filter and long name prefixes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "layout_internal.h"

static const struct {
	const char *prefix;
	uint8_t index;
} short_prefixes[] = {
	{ "user.", EROFS_XATTR_INDEX_USER },
	{ "system.posix_acl_access", EROFS_XATTR_INDEX_POSIX_ACL_ACCESS },
	{ "system.posix_acl_default", EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT },
	{ "trusted.", EROFS_XATTR_INDEX_TRUSTED },
	{ "security.", EROFS_XATTR_INDEX_SECURITY },
};

int layout_xattr_short_index(const char *name, uint8_t *index, size_t *plen)
{
	size_t i;

	for (i = 0; i < sizeof(short_prefixes) / sizeof(short_prefixes[0]); i++) {
		size_t l = strlen(short_prefixes[i].prefix);

		if (!strncmp(name, short_prefixes[i].prefix, l)) {
			/* the ACL names are whole names, not prefixes */
			if (short_prefixes[i].index == EROFS_XATTR_INDEX_POSIX_ACL_ACCESS ||
			    short_prefixes[i].index == EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT) {
				if (name[l])
					continue;
			}
			*index = short_prefixes[i].index;
			*plen = l;
			return 0;
		}
	}
	return -EINVAL;
}

unsigned int layout_xattr_filter_bit(uint8_t base_index, const char *suffix, size_t len)
{
	return XXH32(suffix, len, EROFS_XATTR_FILTER_SEED + base_index) &
	       (EROFS_XATTR_FILTER_BITS - 1);
}

/* How one xattr is stored: name index, the stored name suffix, base index
 * and the name as the filter hashes it (after the short prefix). */
struct xenc {
	uint8_t index;
	uint8_t base_index;
	const char *suffix;
	size_t suffix_len;
	const char *fname;	/* name after the base namespace's prefix */
	size_t fname_len;
	const void *value;
	uint32_t len;
};

static void xattr_classify(const struct layout_xattr_prefixes *px, const char *name,
			   const void *value, uint32_t len, struct xenc *x)
{
	size_t plen = 0, best = 0;
	unsigned int i;

	layout_xattr_short_index(name, &x->index, &plen);
	x->base_index = x->index;
	x->fname = name + plen;
	x->fname_len = strlen(name) - plen;
	x->suffix = x->fname;
	x->suffix_len = x->fname_len;
	for (i = 0; i < px->count; i++) {
		size_t l = strlen(px->pfx[i].prefix);

		if ((int)i == px->fingerprint_id)
			continue;
		if (l > best && !strncmp(name, px->pfx[i].prefix, l) && strlen(name) > l) {
			best = l;
			x->index = EROFS_XATTR_LONG_PREFIX | i;
			x->suffix = name + l;
			x->suffix_len = strlen(name) - l;
		}
	}
	x->value = value;
	x->len = len;
}

static uint32_t xenc_size(const struct xenc *x)
{
	return (sizeof(struct erofs_xattr_entry) + x->suffix_len + x->len + 3) & ~3u;
}

static int xenc_cmp(const void *a, const void *b)
{
	const struct xenc *x = a, *y = b;
	size_t l = x->suffix_len < y->suffix_len ? x->suffix_len : y->suffix_len;
	int c;

	if (x->index != y->index)
		return x->index < y->index ? -1 : 1;
	c = memcmp(x->suffix, y->suffix, l);
	if (c)
		return c;
	return x->suffix_len < y->suffix_len ? -1 : x->suffix_len > y->suffix_len;
}

static const char fp_value_prefix[] = "sha256:";
#define FP_VALUE_LEN (sizeof(fp_value_prefix) - 1 + 32)

static void fp_classify(const struct layout_xattr_prefixes *px, const uint8_t *fp,
			struct xenc *x)
{
	x->index = EROFS_XATTR_LONG_PREFIX | px->fingerprint_id;
	x->base_index = px->pfx[px->fingerprint_id].base_index;
	x->suffix = "";
	x->suffix_len = 0;
	x->fname = px->pfx[px->fingerprint_id].infix;
	x->fname_len = strlen(x->fname);
	x->value = fp;
	x->len = FP_VALUE_LEN;
}

uint32_t layout_xattr_body_size(const struct layout_xattr_prefixes *px,
				const struct layout_inode *ino, bool fp)
{
	uint32_t size = 0, i;
	struct xenc x;

	for (i = 0; i < ino->nxattrs; i++) {
		xattr_classify(px, ino->xattrs[i].name, NULL, ino->xattrs[i].len, &x);
		size += xenc_size(&x);
	}
	if (fp && px->fingerprint_id >= 0) {
		fp_classify(px, NULL, &x);
		size += xenc_size(&x);
	}
	return size ? size + sizeof(struct erofs_xattr_ibody_header) : 0;
}

void layout_xattr_body_encode(const struct layout_xattr_prefixes *px,
			      const struct layout_inode *ino, const uint8_t *fp,
			      uint8_t *buf)
{
	struct xenc stackx[8], *xs = stackx;
	uint32_t n = 0, i, filter = 0;
	uint8_t *p;

	if (ino->nxattrs + 1 > 8) {
		xs = malloc(sizeof(*xs) * (ino->nxattrs + 1));
		if (!xs)
			abort();	/* tiny allocation; sizes were planned */
	}
	for (i = 0; i < ino->nxattrs; i++)
		xattr_classify(px, ino->xattrs[i].name, ino->xattrs[i].value,
			       ino->xattrs[i].len, &xs[n++]);
	if (fp && px->fingerprint_id >= 0)
		fp_classify(px, fp, &xs[n++]);
	qsort(xs, n, sizeof(*xs), xenc_cmp);

	memset(buf, 0, sizeof(struct erofs_xattr_ibody_header));
	p = buf + sizeof(struct erofs_xattr_ibody_header);
	for (i = 0; i < n; i++) {
		uint32_t sz = xenc_size(&xs[i]);

		filter |= 1u << layout_xattr_filter_bit(xs[i].base_index, xs[i].fname,
							 xs[i].fname_len);
		memset(p, 0, sz);
		p[0] = xs[i].suffix_len;
		p[1] = xs[i].index;
		put_le16(p + 2, xs[i].len);
		memcpy(p + 4, xs[i].suffix, xs[i].suffix_len);
		if (xs[i].index == (EROFS_XATTR_LONG_PREFIX | px->fingerprint_id) &&
		    px->fingerprint_id >= 0 && xs[i].value == fp) {
			memcpy(p + 4, fp_value_prefix, sizeof(fp_value_prefix) - 1);
			memcpy(p + 4 + sizeof(fp_value_prefix) - 1, fp, 32);
		} else {
			memcpy(p + 4 + xs[i].suffix_len, xs[i].value, xs[i].len);
		}
		p += sz;
	}
	/* stored inverted: a set bit means "definitely absent" */
	put_le32(buf, ~filter);
	if (xs != stackx)
		free(xs);
}

uint32_t layout_xattr_prefix_table_size(const struct layout_xattr_prefixes *px)
{
	uint32_t size = 0, i;

	for (i = 0; i < px->count; i++)
		size += (2 + 1 + strlen(px->pfx[i].infix) + 3) & ~3u;
	return size;
}

void layout_xattr_prefix_table_encode(const struct layout_xattr_prefixes *px, uint8_t *buf)
{
	uint32_t i;

	for (i = 0; i < px->count; i++) {
		size_t l = strlen(px->pfx[i].infix);
		uint32_t sz = (2 + 1 + l + 3) & ~3u;

		memset(buf, 0, sz);
		put_le16(buf, 1 + l);
		buf[2] = px->pfx[i].base_index;
		memcpy(buf + 3, px->pfx[i].infix, l);
		buf += sz;
	}
}

uint16_t layout_xattr_icount(uint32_t body_size)
{
	if (!body_size)
		return 0;
	return 1 + (body_size - sizeof(struct erofs_xattr_ibody_header)) / 4;
}
