/* SPDX-License-Identifier: Apache-2.0 */
/* Reading back what an image says about itself: block size and devices. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout_internal.h"

static int read_at(int fd, void *buf, size_t len, uint64_t off)
{
	ssize_t n = pread(fd, buf, len, off);

	if (n < 0)
		return -errno;
	return (size_t)n == len ? 0 : -EUCLEAN;
}

int layout_probe(int fd, struct layout_probe *p)
{
	struct erofs_super_block sb;
	uint32_t i;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = read_at(fd, &sb, sizeof(sb), EROFS_SUPER_OFFSET);
	if (ret)
		return ret;
	if (get_le32(&sb.magic) != EROFS_SUPER_MAGIC || sb.blkszbits < 9 || sb.blkszbits > 16)
		return -EUCLEAN;
	p->blkszbits = sb.blkszbits;
	p->ndevices = get_le16(&sb.extra_devices);
	if (!p->ndevices)
		return 0;
	p->devices = calloc(p->ndevices, sizeof(*p->devices));
	if (!p->devices)
		return -ENOMEM;
	for (i = 0; i < p->ndevices; i++) {
		struct erofs_deviceslot ds;
		uint64_t off = (uint64_t)(get_le16(&sb.devt_slotoff) + i) * EROFS_DEVT_SLOT_SIZE;

		ret = read_at(fd, &ds, sizeof(ds), off);
		if (ret) {
			layout_probe_free(p);
			return ret;
		}
		memcpy(p->devices[i].tag, ds.tag, 64);
		p->devices[i].tag[64] = '\0';
		p->devices[i].blocks = get_le32(&ds.blocks_lo) |
				       (uint64_t)get_le16(&ds.blocks_hi) << 32;
	}
	return 0;
}

void layout_probe_free(struct layout_probe *p)
{
	free(p->devices);
	p->devices = NULL;
	p->ndevices = 0;
}
