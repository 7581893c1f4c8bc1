/* SPDX-License-Identifier: Apache-2.0 */
/* Unit tests for the byte order of images.filekeys in the registry
 * (blobstore/registry.c): little-endian whatever the host. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sqlite3.h>

#include "store_internal.h"

static void test_bytes_are_little_endian(void **state)
{
	uint64_t keys[2] = { 0x0102030405060708ull, 0xf0e0d0c0b0a09080ull };
	static const uint8_t want[16] = {
		0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
		0x80, 0x90, 0xa0, 0xb0, 0xc0, 0xd0, 0xe0, 0xf0,
	};

	reg_filekeys_le(keys, 2);
	assert_memory_equal(keys, want, sizeof(want));
	assert_true(reg_filekey(want, 0) == 0x0102030405060708ull);
	assert_true(reg_filekey(want, 1) == 0xf0e0d0c0b0a09080ull);
}

static void test_round_trip(void **state)
{
	uint64_t keys[64], orig[64];
	size_t i;

	for (i = 0; i < 64; i++)
		orig[i] = keys[i] = 0x9e3779b97f4a7c15ull * (i + 1);
	reg_filekeys_le(keys, 64);
	for (i = 0; i < 64; i++)
		assert_true(reg_filekey((const uint8_t *)keys, i) == orig[i]);
	reg_filekeys_le(keys, 0);	/* nothing to do, nothing touched */
	assert_true(reg_filekey((const uint8_t *)keys, 63) == orig[63]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bytes_are_little_endian),
		cmocka_unit_test(test_round_trip),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
