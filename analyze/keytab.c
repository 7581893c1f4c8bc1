/* SPDX-License-Identifier: Apache-2.0 */
/* Open addressing over keys that are hashes already: no hashing here. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "keytab.h"

void keytab_init(struct keytab *t, size_t keylen)
{
	memset(t, 0, sizeof(*t));
	t->keylen = keylen;
}

void keytab_free(struct keytab *t)
{
	free(t->keys);
	free(t->slots);
	keytab_init(t, t->keylen);
}

/* Bytes 8..15: sampling looks at bytes 0..7, so these stay uniform. */
static size_t place(const struct keytab *t, const uint8_t *key)
{
	uint64_t h;

	memcpy(&h, key + 8, sizeof(h));
	return (size_t)h & (t->nslots - 1);
}

static size_t probe(const struct keytab *t, const void *key, uint32_t *id)
{
	size_t i = place(t, key);

	for (;; i = (i + 1) & (t->nslots - 1)) {
		uint32_t s = t->slots[i];

		if (!s || !memcmp(t->keys + (size_t)(s - 1) * t->keylen, key, t->keylen)) {
			*id = s ? s - 1 : 0;
			return i;
		}
	}
}

int keytab_find(const struct keytab *t, const void *key, uint32_t *id)
{
	size_t i;

	if (!t->count)
		return 0;
	i = probe(t, key, id);
	return t->slots[i] != 0;
}

static int grow(struct keytab *t)
{
	size_t n = t->nslots ? t->nslots * 2 : 1024, i, j;
	uint32_t *s = calloc(n, sizeof(*s)), *old = t->slots, dummy;
	size_t oldn = t->nslots;

	if (!s)
		return -ENOMEM;
	t->slots = s;
	t->nslots = n;
	for (i = 0; i < oldn; i++) {
		if (!old[i])
			continue;
		j = probe(t, t->keys + (size_t)(old[i] - 1) * t->keylen, &dummy);
		s[j] = old[i];
	}
	free(old);
	return 0;
}

int keytab_add(struct keytab *t, const void *key, uint32_t *id)
{
	size_t i;

	if (t->count >= UINT32_MAX - 1)
		return -ENOMEM;
	if ((t->count + 1) * 4 > t->nslots * 3 && grow(t))
		return -ENOMEM;
	i = probe(t, key, id);
	if (t->slots[i])
		return 1;
	if (t->count == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 1024;
		uint8_t *k = realloc(t->keys, cap * t->keylen);

		if (!k)
			return -ENOMEM;
		t->keys = k;
		t->cap = cap;
	}
	memcpy(t->keys + t->count * t->keylen, key, t->keylen);
	*id = (uint32_t)t->count;
	t->slots[i] = (uint32_t)++t->count;
	return 0;
}
