/* SPDX-License-Identifier: Apache-2.0 */
/* libFuzzer target: bytes as an OCI reference name (mkimg_tag_valid). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mkimg/remote.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	size_t i, n;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	n = strlen(s);
	if (mkimg_tag_valid(s)) {
		/* what a valid name is made of, and where it may not have a separator */
		if (!n || n > MKIMG_TAG_MAX || !alnum(s[0]) || !alnum(s[n - 1]))
			__builtin_trap();
		for (i = 0; i < n; i++) {
			if (!alnum(s[i]) && !strchr("-._:@+/", s[i]))
				__builtin_trap();
			if (s[i] == '/' && !alnum(s[i + 1]))
				__builtin_trap();
		}
	}
	free(s);
	return 0;
}
