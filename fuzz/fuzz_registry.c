/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: what a registry or the user hands the registry client
 * (remote/: internal parsers, remote_internal.h). The first byte picks:
 *   0  a reference (remote_parse: oci:DIR[:TAG], docker://HOST/REPO...)
 *   1  a WWW-Authenticate value (auth_parse_challenge)
 *   2  an auth file's bytes (auth_lookup_json, for 127.0.0.1:5000)
 *   3  a token server's answer (auth_parse_token)
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mkimg/error.h"
#include "remote/remote_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	char *s, *out = NULL;
	size_t n, i;

	if (!size)
		return 0;
	n = size - 1;
	s = malloc(n + 1);
	if (!s)
		return 0;
	memcpy(s, data + 1, n);
	s[n] = '\0';
	switch (data[0] & 3) {
	case 0: {
		struct remote_ref r;

		if (!remote_parse(s, &r, &err)) {
			if (r.kind == REMOTE_OCI && (!r.dir || !*r.dir))
				__builtin_trap();
			if (r.kind == REMOTE_REGISTRY &&
			    (!r.host || !r.repo || !*r.repo || (r.tag && !remote_tag_valid(r.tag)) ||
			     (r.digest[0] && strlen(r.digest) != 71)))
				__builtin_trap();
		} else if (!err.msg[0]) {
			__builtin_trap();	/* a failure says why */
		}
		remote_ref_free(&r);
		break;
	}
	case 1: {
		struct auth_challenge c;

		if (!auth_parse_challenge(s, &c) && c.bearer && !c.realm)
			__builtin_trap();
		auth_challenge_free(&c);
		break;
	}
	case 2:
		if (auth_lookup_json(s, n, "127.0.0.1:5000", &out) == 1 && (!out || !strchr(out, ':')))
			__builtin_trap();
		break;
	case 3:
		if (!auth_parse_token(s, n, &out)) {
			if (!out || !*out)
				__builtin_trap();
			for (i = 0; out[i]; i++)
				if ((unsigned char)out[i] < 0x21 || (unsigned char)out[i] > 0x7e)
					__builtin_trap();
		}
		break;
	}
	free(out);
	free(s);
	return 0;
}
