/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A program of the kind libmkimg is for, built against the installed
 * library only (tests/e2e/install.sh): writes a self-contained EROFS image
 * of a directory tree, or with a blob path, one whose file data is in
 * that blob, through the public API; or converts layer tars (or an
 * oci:LAYOUT) into one image with mkimg_convert, as `mkimg convert -o`.
 *
 *   convert-demo DIR IMAGE [BLOB]
 *   convert-demo --convert IMAGE SOURCE...
 */
#include <stdio.h>
#include <string.h>

#include <mkimg/mkimg.h>

#if !defined(MKIMG_VERSION_NUMBER) || MKIMG_VERSION_NUMBER < 100
#error "needs libmkimg 0.1.0 or later"
#endif

static int convert(int n, char **src, const char *image)
{
	struct mkimg_convert_params p = {
		.sources = (const char *const *)src, .nsources = n,
		.mode = MKIMG_CONVERT_IMAGE, .output = image,
	};
	struct mkimg_convert_result res;
	struct mkimg_err e = MKIMG_ERR_INIT;

	if (mkimg_convert(&p, &res, &e) < 0) {
		fprintf(stderr, "convert-demo: %s\n", mkimg_err_msg(&e));
		return 1;
	}
	printf("%s %s: %zu layers, %llu entries, %llu bytes\n", mkimg_version_string(), image,
	       res.layers, (unsigned long long)res.entries,
	       (unsigned long long)res.image_bytes);
	return 0;
}

int main(int argc, char **argv)
{
	struct layout_params p;
	struct layout_tree *t = NULL;
	struct bs_output out = { .img.fd = -1, .blob.fd = -1 };
	struct bs_output_result res;
	struct mkimg_err e = MKIMG_ERR_INIT;	/* the tree's, and every call's */
	int ret;

	if (argc >= 4 && !strcmp(argv[1], "--convert"))
		return convert(argc - 3, argv + 3, argv[2]);
	if (argc != 3 && argc != 4) {
		fprintf(stderr, "usage: convert-demo DIR IMAGE [BLOB]\n"
			"       convert-demo --convert IMAGE SOURCE...\n");
		return 2;
	}
	if (mkimg_version() != MKIMG_VERSION_NUMBER ||
	    strcmp(mkimg_version_string(), MKIMG_VERSION_STRING)) {
		fprintf(stderr, "convert-demo: headers %s, library %s\n",
			MKIMG_VERSION_STRING, mkimg_version_string());
		return 1;
	}
	layout_params_preset(&p);
	p.fingerprint = argc == 4;
	ret = layout_tree_new(&p, &e, &t);
	if (ret) {
		fprintf(stderr, "convert-demo: tree: %s\n", strerror(-ret));
		return 1;
	}
	ret = bs_output_open(&out, t, argv[2], argc == 4 ? argv[3] : NULL, NULL, &e);
	if (!ret)
		ret = dirsource_import(argv[1], t, out.sink, NULL, NULL, &e);
	if (!ret)
		ret = bs_output_commit(&out, t, true, &res, &e);
	bs_output_abort(&out);
	layout_tree_free(t);
	if (ret) {
		fprintf(stderr, "convert-demo: %s\n", mkimg_err_msg(&e));
		return 1;
	}
	printf("%s %s: %llu bytes, %llu inodes\n", mkimg_version_string(), argv[2],
	       (unsigned long long)res.layout.image_bytes,
	       (unsigned long long)res.layout.inodes);
	return 0;
}
