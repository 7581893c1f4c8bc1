/* SPDX-License-Identifier: Apache-2.0 */
/* Private to oci/: not to be included outside this directory. */
#ifndef MKIMG_OCI_INTERNAL_H
#define MKIMG_OCI_INTERNAL_H

#include <stddef.h>


/* A printable, shortened copy of an untrusted name, for messages. */
void oci_show_name(const char *s, size_t len, char *out, size_t outlen);

/* "sha256:" + lowercase hex of a 32-byte digest into out (72 bytes). */
void oci_digest_format(const unsigned char md[32], char *out);

#endif
