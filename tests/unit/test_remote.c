/* SPDX-License-Identifier: Apache-2.0 */
/* remote/: references, WWW-Authenticate challenges, auth files, token
 * answers, URL resolution (the registry client's parsers). */
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
#include "remote/remote_internal.h"

static void test_ref_registry(void **state)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct remote_ref r;

	(void)state;
	assert_int_equal(remote_parse("docker://127.0.0.1:5000/mk/img:v1.2", &r, &err), 0);
	assert_int_equal(r.kind, REMOTE_REGISTRY);
	assert_string_equal(r.host, "127.0.0.1:5000");
	assert_string_equal(r.repo, "mk/img");
	assert_string_equal(r.tag, "v1.2");
	assert_string_equal(r.digest, "");
	remote_ref_free(&r);
	/* a host is what has a dot, a colon, or is localhost */
	assert_int_equal(remote_parse("docker://localhost/a", &r, &err), 0);
	assert_string_equal(r.host, "localhost");
	assert_null(r.tag);
	remote_ref_free(&r);
	/* else Docker Hub, with library/ for one component */
	assert_int_equal(remote_parse("docker://debian:12", &r, &err), 0);
	assert_string_equal(r.host, "registry-1.docker.io");
	assert_string_equal(r.repo, "library/debian");
	assert_string_equal(r.tag, "12");
	remote_ref_free(&r);
	assert_int_equal(remote_parse("docker://docker.io/org/app@sha256:"
				      "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
				      &r, &err), 0);
	assert_string_equal(r.host, "registry-1.docker.io");
	assert_string_equal(r.repo, "org/app");
	assert_null(r.tag);
	assert_int_equal(strlen(r.digest), 71);
	remote_ref_free(&r);
	/* a colon in a path component is a port only in the first */
	assert_int_equal(remote_parse("docker://h:1/a/b:c", &r, &err), 0);
	assert_string_equal(r.repo, "a/b");
	assert_string_equal(r.tag, "c");
	remote_ref_free(&r);
}

static void test_ref_bad(void **state)
{
	static const char *const bad[] = {
		"docker://h:1/UPPER", "docker://h:1/a//b", "docker://h:1/-a", "docker://h:1/a-",
		"docker://h:1/a:bad!tag", "docker://h:1/a@sha256:12", "docker://h:1/a@md5:00",
		"docker://h:1/", "http://h/x", "dir/only", "oci:", "docker://h:1/a__-b",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct mkimg_err err = MKIMG_ERR_INIT;
		struct remote_ref r;

		assert_int_equal(remote_parse(bad[i], &r, &err), -EINVAL);
		assert_true(err.msg[0] != '\0');
		assert_null(r.host);
		assert_null(r.repo);
		assert_null(r.dir);
	}
}

static void test_ref_oci(void **state)
{
	struct mkimg_err err = MKIMG_ERR_INIT;
	struct remote_ref r;

	(void)state;
	assert_int_equal(remote_parse("oci:/a/b:t1", &r, &err), 0);
	assert_int_equal(r.kind, REMOTE_OCI);
	assert_string_equal(r.dir, "/a/b");
	assert_string_equal(r.tag, "t1");
	remote_ref_free(&r);
	/* a colon before a slash belongs to the directory */
	assert_int_equal(remote_parse("oci:/a:b/c", &r, &err), 0);
	assert_string_equal(r.dir, "/a:b/c");
	assert_null(r.tag);
	remote_ref_free(&r);
}

static void test_tags(void **state)
{
	(void)state;
	assert_true(remote_tag_valid("latest"));
	assert_true(remote_tag_valid("_x.Y-1"));
	assert_false(remote_tag_valid(""));
	assert_false(remote_tag_valid("-x"));
	assert_false(remote_tag_valid(".x"));
	assert_false(remote_tag_valid("a/b"));
	assert_false(remote_tag_valid("a:b"));
	{
		char t[130];

		memset(t, 'a', 128);
		t[128] = '\0';
		assert_true(remote_tag_valid(t));
		t[128] = 'a';
		t[129] = '\0';
		assert_false(remote_tag_valid(t));
	}
}

static void test_challenge(void **state)
{
	struct auth_challenge c;

	(void)state;
	assert_int_equal(auth_parse_challenge("Bearer realm=\"https://auth.example/token\","
					      "service=\"registry.example\",scope=\"repository:a:pull\"",
					      &c), 0);
	assert_true(c.bearer);
	assert_string_equal(c.realm, "https://auth.example/token");
	assert_string_equal(c.service, "registry.example");
	assert_string_equal(c.scope, "repository:a:pull");
	auth_challenge_free(&c);
	/* a scheme we do not speak first; quoted-pair; token (unquoted) values */
	assert_int_equal(auth_parse_challenge("Negotiate abc, Bearer realm=\"x\\\"y\", service=s", &c),
			 0);
	assert_true(c.bearer);
	assert_string_equal(c.realm, "x\"y");
	assert_string_equal(c.service, "s");
	auth_challenge_free(&c);
	assert_int_equal(auth_parse_challenge("basic realm=\"Registry\"", &c), 0);
	assert_false(c.bearer);
	auth_challenge_free(&c);
	/* no realm, an unterminated quote, nothing we speak */
	assert_int_equal(auth_parse_challenge("Bearer service=\"s\"", &c), -EINVAL);
	assert_null(c.realm);
	assert_int_equal(auth_parse_challenge("Bearer realm=\"x", &c), -EINVAL);
	assert_int_equal(auth_parse_challenge("Digest realm=\"x\"", &c), -EINVAL);
	assert_int_equal(auth_parse_challenge("", &c), -EINVAL);
}

static void test_auth_file(void **state)
{
	/* dXNlcjpwYXNz: user:pass; dTpwOnE=: u:p:q (a colon in the password) */
	static const char f[] = "{\"auths\": {\"127.0.0.1:5000\": {\"auth\": \"dXNlcjpwYXNz\"},"
				" \"https://h2\": {\"auth\": \"dTpwOnE=\"},"
				" \"https://index.docker.io/v1/\": {\"auth\": \"aHViOng=\"},"
				" \"bad\": {\"auth\": \"!!!!\"}, \"nocolon\": {\"auth\": \"YWJj\"}}}";
	char *out = NULL;

	(void)state;
	assert_int_equal(auth_lookup_json(f, strlen(f), "127.0.0.1:5000", &out), 1);
	assert_string_equal(out, "user:pass");
	free(out);
	assert_int_equal(auth_lookup_json(f, strlen(f), "h2", &out), 1);
	assert_string_equal(out, "u:p:q");
	free(out);
	assert_int_equal(auth_lookup_json(f, strlen(f), "registry-1.docker.io", &out), 1);
	assert_string_equal(out, "hub:x");
	free(out);
	assert_int_equal(auth_lookup_json(f, strlen(f), "other", &out), 0);
	assert_null(out);
	assert_int_equal(auth_lookup_json(f, strlen(f), "bad", &out), -EINVAL);
	assert_int_equal(auth_lookup_json(f, strlen(f), "nocolon", &out), -EINVAL);
	assert_int_equal(auth_lookup_json("{", 1, "h", &out), -EINVAL);
	assert_int_equal(auth_lookup_json("[]", 2, "h", &out), 0);
}

static void test_token(void **state)
{
	char *t = NULL;

	(void)state;
	assert_int_equal(auth_parse_token("{\"token\":\"a.b.c\",\"expires_in\":300}", 34, &t), 0);
	assert_string_equal(t, "a.b.c");
	free(t);
	assert_int_equal(auth_parse_token("{\"access_token\":\"z\"}", 20, &t), 0);
	assert_string_equal(t, "z");
	free(t);
	/* a token that would break its header line, an empty one, none */
	assert_int_equal(auth_parse_token("{\"token\":\"a\\r\\nX: y\"}", 21, &t), -EINVAL);
	assert_int_equal(auth_parse_token("{\"token\":\"\"}", 12, &t), -EINVAL);
	assert_int_equal(auth_parse_token("{}", 2, &t), -EINVAL);
	assert_null(t);
}

static void test_resolve(void **state)
{
	char *u;

	(void)state;
	u = http_resolve("https://h:5000", "/v2/a/blobs/uploads/x?_state=1");
	assert_string_equal(u, "https://h:5000/v2/a/blobs/uploads/x?_state=1");
	free(u);
	u = http_resolve("https://h:5000/v2/", "https://s3.example/up?x=1");
	assert_string_equal(u, "https://s3.example/up?x=1");
	free(u);
	assert_null(http_resolve("https://h", "relative/path"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ref_registry),
		cmocka_unit_test(test_ref_bad),
		cmocka_unit_test(test_ref_oci),
		cmocka_unit_test(test_tags),
		cmocka_unit_test(test_challenge),
		cmocka_unit_test(test_auth_file),
		cmocka_unit_test(test_token),
		cmocka_unit_test(test_resolve),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
