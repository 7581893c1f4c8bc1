/* SPDX-License-Identifier: Apache-2.0 */
/* Lowercase hex encoding and checks (util/hex.h). */
#include <string.h>

#include "util/hex.h"

void util_hex(const uint8_t *in, size_t n, char *out)
{
	static const char hx[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < n; i++) {
		out[2 * i] = hx[in[i] >> 4];
		out[2 * i + 1] = hx[in[i] & 15];
	}
	out[2 * n] = '\0';
}

int util_hex_digit(char c, bool upper)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (upper && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (!upper && c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

bool util_is_hex(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (util_hex_digit(s[i], false) < 0)
			return false;
	return true;
}

bool util_is_hex64(const char *s)
{
	return util_is_hex(s, 64) && s[64] == '\0';
}
