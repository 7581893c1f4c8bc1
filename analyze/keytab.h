/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside analyze/ only: a set of fixed-length keys that are already hashes
 * (SHA-256, XXH3-128), each given a dense id 0, 1, 2, ... in the order
 * added, so callers keep what they know of a key in arrays by id.
 */
#ifndef MKIMG_ANALYZE_KEYTAB_H
#define MKIMG_ANALYZE_KEYTAB_H

#include <stddef.h>
#include <stdint.h>

struct keytab {
	size_t keylen;		/* 16 or more: bytes 8..15 place a key */
	uint8_t *keys;		/* count * keylen */
	size_t count, cap;
	uint32_t *slots;	/* 0 = empty, else id + 1 */
	size_t nslots;		/* a power of two */
};

void keytab_init(struct keytab *t, size_t keylen);
void keytab_free(struct keytab *t);
/* 1: key was there, *id its id; 0: added as *id; -ENOMEM. */
int keytab_add(struct keytab *t, const void *key, uint32_t *id);
/* 1 with *id, or 0. */
int keytab_find(const struct keytab *t, const void *key, uint32_t *id);

#endif
