/* SPDX-License-Identifier: Apache-2.0 */
/* util/: the error object, hex, little-endian helpers and whole I/O. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "mkimg/error.h"
#include "util/hex.h"
#include "util/io.h"
#include "util/le.h"

static void test_err_nothing_failed(void **state)
{
	struct mkimg_err e = MKIMG_ERR_INIT;

	(void)state;
	assert_int_equal(e.code, 0);
	assert_string_equal(mkimg_err_msg(&e), "");
	assert_string_equal(mkimg_err_msg(NULL), "");
}

static void test_err_set_once(void **state)
{
	struct mkimg_err e = MKIMG_ERR_INIT;

	(void)state;
	assert_int_equal(mkimg_err_set(&e, -ENOENT, "blob %s missing", "ab"), -ENOENT);
	assert_int_equal(e.code, -ENOENT);
	assert_string_equal(mkimg_err_msg(&e), "blob ab missing");
	/* the first failure wins: a later set keeps code and message */
	assert_int_equal(mkimg_err_set(&e, -EIO, "something else"), -EIO);
	assert_int_equal(e.code, -ENOENT);
	assert_string_equal(mkimg_err_msg(&e), "blob ab missing");
	assert_int_equal(mkimg_err_errno(&e, -EACCES, "open"), -EACCES);
	assert_string_equal(mkimg_err_msg(&e), "blob ab missing");
	mkimg_err_clear(&e);
	assert_int_equal(e.code, 0);
	assert_string_equal(mkimg_err_msg(&e), "");
	assert_int_equal(mkimg_err_set(&e, -EIO, "again"), -EIO);
	assert_string_equal(mkimg_err_msg(&e), "again");
}

static void test_err_codes(void **state)
{
	struct mkimg_err e = MKIMG_ERR_INIT;

	(void)state;
	/* a positive errno or 0 still records a failure */
	assert_int_equal(mkimg_err_set(&e, EPERM, "x"), -EPERM);
	assert_int_equal(e.code, -EPERM);
	mkimg_err_clear(&e);
	assert_int_equal(mkimg_err_set(&e, 0, "y"), -EIO);
	assert_int_equal(e.code, -EIO);
}

static void test_err_errno(void **state)
{
	struct mkimg_err e = MKIMG_ERR_INIT;
	char want[256];

	(void)state;
	assert_int_equal(mkimg_err_errno(&e, -ENOENT, "open %s", "/x"), -ENOENT);
	snprintf(want, sizeof(want), "open /x: %s", strerror(ENOENT));
	assert_string_equal(mkimg_err_msg(&e), want);
}

static void test_err_wrap(void **state)
{
	struct mkimg_err e = MKIMG_ERR_INIT;
	char want[256];

	(void)state;
	mkimg_err_set(&e, -EUCLEAN, "bad header");
	assert_int_equal(mkimg_err_wrap(&e, -EUCLEAN, "layer %d", 2), -EUCLEAN);
	assert_string_equal(mkimg_err_msg(&e), "layer 2: bad header");
	assert_int_equal(mkimg_err_wrap(&e, -EUCLEAN, "image %s", "a"), -EUCLEAN);
	assert_string_equal(mkimg_err_msg(&e), "image a: layer 2: bad header");
	assert_int_equal(e.code, -EUCLEAN);

	/* a callee without an error object failed: strerror after the context */
	mkimg_err_clear(&e);
	assert_int_equal(mkimg_err_wrap(&e, -ENOSPC, "writing %s", "blob"), -ENOSPC);
	assert_int_equal(e.code, -ENOSPC);
	snprintf(want, sizeof(want), "writing blob: %s", strerror(ENOSPC));
	assert_string_equal(mkimg_err_msg(&e), want);

	/* the recorded code stays when the wrapper passes another one */
	mkimg_err_clear(&e);
	mkimg_err_set(&e, -ENOENT, "gone");
	assert_int_equal(mkimg_err_wrap(&e, -EIO, "ctx"), -EIO);
	assert_int_equal(e.code, -ENOENT);
}

static void test_err_long_and_control(void **state)
{
	struct mkimg_err e = MKIMG_ERR_INIT;
	char big[3000];

	(void)state;
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	mkimg_err_set(&e, -EINVAL, "%s", big);
	assert_int_equal(strlen(mkimg_err_msg(&e)), MKIMG_ERR_MSG_MAX - 1);
	/* wrapping a full message keeps the context in front */
	mkimg_err_wrap(&e, -EINVAL, "ctx");
	assert_int_equal(strncmp(mkimg_err_msg(&e), "ctx: aaa", 8), 0);
	assert_int_equal(strlen(mkimg_err_msg(&e)), MKIMG_ERR_MSG_MAX - 1);
	/* one line: control bytes from input are shown as '?' */
	mkimg_err_clear(&e);
	mkimg_err_set(&e, -EINVAL, "name %s", "a\nb\x7f");
	assert_string_equal(mkimg_err_msg(&e), "name a?b?");
	mkimg_err_wrap(&e, -EINVAL, "tag %s", "x\ty");
	assert_string_equal(mkimg_err_msg(&e), "tag x?y: name a?b?");
}

static void test_err_null(void **state)
{
	(void)state;
	/* every function accepts NULL and still returns the failure */
	mkimg_err_clear(NULL);
	assert_int_equal(mkimg_err_set(NULL, -ENOMEM, "x"), -ENOMEM);
	assert_int_equal(mkimg_err_errno(NULL, -EIO, "x"), -EIO);
	assert_int_equal(mkimg_err_wrap(NULL, -ENOENT, "x"), -ENOENT);
	assert_int_equal(mkimg_err_set(NULL, 5, "x"), -5);
}

static void test_hex(void **state)
{
	const uint8_t in[4] = { 0x00, 0x9f, 0xa0, 0xff };
	char out[9], d[65];
	uint8_t z[32] = { 0 };

	(void)state;
	memset(out, 'x', sizeof(out));
	util_hex(in, 4, out);
	assert_string_equal(out, "009fa0ff");
	util_hex(in, 0, out);
	assert_string_equal(out, "");
	z[31] = 0xab;
	util_hex(z, 32, d);
	assert_int_equal(strlen(d), 64);
	assert_true(util_is_hex64(d));
	assert_string_equal(d + 60, "00ab");

	assert_true(util_is_hex("0123456789abcdef", 16));
	assert_false(util_is_hex("0123456789abcdeF", 16));
	assert_false(util_is_hex("01g3", 4));
	assert_true(util_is_hex("ab", 0));
	/* stops at the NUL of a short string */
	assert_false(util_is_hex("abc", 64));
	assert_false(util_is_hex64("abc"));
	d[64] = 'a';	/* 65 digits: not a sha256 */
	assert_false(util_is_hex64(d));
	d[64] = '\0';
	d[3] = 'A';
	assert_false(util_is_hex64(d));

	assert_int_equal(util_hex_digit('0', false), 0);
	assert_int_equal(util_hex_digit('f', false), 15);
	assert_int_equal(util_hex_digit('F', false), -1);
	assert_int_equal(util_hex_digit('F', true), 15);
	assert_int_equal(util_hex_digit('a', true), -1);
	assert_int_equal(util_hex_digit('9', true), 9);
	assert_int_equal(util_hex_digit('g', false), -1);
	assert_int_equal(util_hex_digit('/', true), -1);
}

static void test_le(void **state)
{
	uint8_t b[11];

	(void)state;
	memset(b, 0xee, sizeof(b));
	/* unaligned, exact bytes, nothing written past the field */
	put_le16(b + 1, 0x1234);
	assert_int_equal(b[1], 0x34);
	assert_int_equal(b[2], 0x12);
	assert_int_equal(b[3], 0xee);
	assert_int_equal(get_le16(b + 1), 0x1234);
	put_le32(b + 1, 0xE0F5E1E2u);
	assert_memory_equal(b + 1, "\xe2\xe1\xf5\xe0", 4);
	assert_int_equal(b[5], 0xee);
	assert_int_equal(get_le32(b + 1), 0xE0F5E1E2u);
	put_le64(b + 1, 0x0102030405060708ull);
	assert_memory_equal(b + 1, "\x08\x07\x06\x05\x04\x03\x02\x01", 8);
	assert_int_equal(b[0], 0xee);
	assert_int_equal(b[9], 0xee);
	assert_true(get_le64(b + 1) == 0x0102030405060708ull);
	put_le64(b + 1, UINT64_MAX);
	assert_true(get_le64(b + 1) == UINT64_MAX);
	assert_int_equal(get_le32(b + 1), UINT32_MAX);
}

static void test_io(void **state)
{
	/* SHA-256 of "abc" */
	static const char abc[] =
		"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
	FILE *f = tmpfile();
	uint8_t d[32], buf[8];
	char hex[65];
	uint64_t size = 0;
	int fd;

	(void)state;
	assert_non_null(f);
	fd = fileno(f);
	assert_int_equal(util_pwrite_all(fd, "xbc", 3, 0), 0);
	assert_int_equal(util_pwrite_all(fd, "a", 1, 0), 0);
	assert_int_equal(util_sha256_fd(fd, d, &size), 0);
	util_hex(d, 32, hex);
	assert_string_equal(hex, abc);
	assert_int_equal(size, 3);
	assert_int_equal(util_pread_all(fd, buf, 2, 1), 0);
	assert_memory_equal(buf, "bc", 2);
	/* the file ends before len bytes: -EIO */
	assert_int_equal(util_pread_all(fd, buf, 4, 0), -EIO);
	assert_int_equal(util_pread_all(-1, buf, 1, 0), -EBADF);
	assert_int_equal(util_pwrite_all(-1, buf, 1, 0), -EBADF);
	assert_int_equal(util_sha256_fd(-1, d, NULL), -EBADF);
	fclose(f);
}

/* A whole file, within a bound. */
static void test_read_file(void **state)
{
	char path[] = "/tmp/mkimg-util-XXXXXX";
	uint8_t *buf;
	size_t len;
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(util_pwrite_all(fd, "abcdef", 6, 0), 0);
	close(fd);
	assert_int_equal(util_read_file(path, 6, &buf, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "abcdef", 6);
	free(buf);
	assert_int_equal(util_read_file(path, 5, &buf, &len), -EFBIG);
	assert_null(buf);
	unlink(path);
	assert_int_equal(util_read_file(path, 6, &buf, &len), -ENOENT);
	assert_null(buf);
	assert_int_equal(len, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_err_nothing_failed),
		cmocka_unit_test(test_err_set_once),
		cmocka_unit_test(test_err_codes),
		cmocka_unit_test(test_err_errno),
		cmocka_unit_test(test_err_wrap),
		cmocka_unit_test(test_err_long_and_control),
		cmocka_unit_test(test_err_null),
		cmocka_unit_test(test_hex),
		cmocka_unit_test(test_le),
		cmocka_unit_test(test_io),
		cmocka_unit_test(test_read_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
