/* SPDX-License-Identifier: Apache-2.0 */
/*
 * synthimg: builds an image of N synthetic files through the library, to
 * check that memory grows with the number of files and that huge
 * directories and trees encode correctly.
 *
 *   synthimg [--blob BLOB] N IMAGE
 *
 * Layout: dirs d0000/.. of 1000 entries each; file i is "f<i>", holds
 * the text "<i>\n" (so content is checkable), every 10th entry is a hard
 * link to the previous file and every 100th a symlink. Prints one line of
 * JSON with the counts and peak RSS.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkimg/blobstore.h"
#include "mkimg/layout.h"

static int die(const char *what, int err)
{
	fprintf(stderr, "synthimg: %s: %s\n", what, strerror(-err));
	exit(1);
}

int main(int argc, char **argv)
{
	struct mkimg_err terr = MKIMG_ERR_INIT;
	struct layout_params p;
	struct layout_tree *t;
	struct layout_inode *root, *dir = NULL, *prev = NULL, *ino;
	struct layout_attr da = { .mode = S_IFDIR | 0755, .mtime = 1600000000 };
	struct layout_attr fa = { .mode = S_IFREG | 0644, .mtime = 1600000000 };
	struct layout_attr la = { .mode = S_IFLNK | 0777, .mtime = 1600000000 };
	struct bs_sink *sink;
	struct bs_sink_params sp = { 0 };
	struct layout_result res;
	struct layout_blob lb = { .tag = "" };
	struct layout_data data = { .tail_fd = -1 };
	struct layout_filedata fd;
	struct rusage ru;
	const char *blob = NULL;
	uint64_t n, i, end;
	uint8_t sha[32];
	char name[64], text[32];
	int imgfd, blobfd = -1, err, a = 1;

	if (argc > 2 && !strcmp(argv[1], "--blob")) {
		blob = argv[2];
		a = 3;
	}
	if (argc - a != 2) {
		fprintf(stderr, "usage: synthimg [--blob BLOB] N IMAGE\n");
		return 2;
	}
	n = strtoull(argv[a], NULL, 10);
	layout_params_preset(&p);
	p.fingerprint = blob != NULL;
	if ((err = layout_tree_new(&p, &terr, &t)))
		die("tree", err);
	root = layout_tree_root(t);
	layout_inode_set_attr(t, root, &da);
	imgfd = open(argv[a + 1], O_RDWR | O_CREAT | O_TRUNC, 0644);
	if (imgfd < 0)
		die(argv[a + 1], -errno);
	sp.blkszbits = 12;
	if (blob) {
		blobfd = open(blob, O_RDWR | O_CREAT | O_TRUNC, 0644);
		if (blobfd < 0)
			die(blob, -errno);
		sp.fd = blobfd;
		sp.blob = 1;
		sp.hash_target = true;
	} else {
		sp.fd = imgfd;
		sp.start_blk = layout_tree_data_start(t);
		sp.inline_tails = true;
		sp.tmpdir = getenv("TMPDIR");
	}
	if ((err = bs_sink_new(&sp, &sink)))
		die("sink", err);
	for (i = 0; i < n; i++) {
		if (i % 1000 == 0) {
			snprintf(name, sizeof(name), "d%06llu", (unsigned long long)(i / 1000));
			if ((err = layout_inode_new(t, &da, &dir)) ||
			    (err = layout_dir_link(t, root, name, strlen(name), dir)))
				die("mkdir", err);
		}
		snprintf(name, sizeof(name), "f%llu", (unsigned long long)i);
		if (i % 100 == 99) {
			if ((err = layout_inode_new(t, &la, &ino)) ||
			    (err = layout_inode_set_symlink(t, ino, "../d000000/f0", 12)))
				die("symlink", err);
		} else if (i % 10 == 9 && prev) {
			ino = prev;
		} else {
			int len = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)i);

			if ((err = layout_inode_new(t, &fa, &ino)))
				die("inode", err);
			if ((err = bs_file_begin(sink, layout_inode_max_tail(t, ino))) ||
			    (err = bs_file_write(sink, text, len)) ||
			    (err = bs_file_end(sink, &fd)) ||
			    (err = layout_inode_set_data(t, ino, &fd)))
				die("data", err);
			prev = ino;
		}
		if ((err = layout_dir_link(t, dir, name, strlen(name), ino)))
			die("link", err);
	}
	if ((err = bs_sink_finish(sink, &end, sha, NULL)))
		die("sink finish", err);
	if (blob) {
		bs_hex(sha, lb.tag);
		lb.blocks = end;
		data.blobs = &lb;
		data.nblobs = 1;
	} else {
		layout_tree_set_data_end(t, end);
	}
	data.tail_fd = bs_sink_tail_fd(sink);
	if ((err = layout_write(t, imgfd, &data, &res)))
		die(mkimg_err_msg(&terr), err);
	getrusage(RUSAGE_SELF, &ru);
	printf("{\"entries\":%llu,\"inodes\":%llu,\"image_bytes\":%llu,\"peak_rss_kib\":%ld}\n",
	       (unsigned long long)n, (unsigned long long)res.inodes,
	       (unsigned long long)res.image_bytes, ru.ru_maxrss);
	bs_sink_free(sink);
	layout_tree_free(t);
	close(imgfd);
	if (blobfd >= 0)
		close(blobfd);
	return 0;
}
