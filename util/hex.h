/* SPDX-License-Identifier: Apache-2.0 */
/* Private to libmkimg (util/): lowercase hex, as digests are written. */
#ifndef MKIMG_UTIL_HEX_H
#define MKIMG_UTIL_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* n bytes of in as 2n lowercase hex digits and a NUL into out. */
void util_hex(const uint8_t *in, size_t n, char *out);
/* true if the n chars at s are all lowercase hex digits (0-9, a-f);
 * what follows them is not looked at. */
bool util_is_hex(const char *s, size_t n);
/* true if s is exactly 64 lowercase hex digits (a sha256), NUL-terminated. */
bool util_is_hex64(const char *s);
/* Value of one hex digit, -1 if c is none; upper: accept only 0-9 and
 * A-F (percent escapes), else only 0-9 and a-f (digests). */
int util_hex_digit(char c, bool upper);

#endif
