/* SPDX-License-Identifier: Apache-2.0 */
/* A self-contained image in a memfd, written and read back (see image.h). */
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "image.h"

extern char **environ;

void fuzz_image_open(struct fuzz_image *im, struct layout_tree *t)
{
	struct bs_sink_params sp = { 0 };

	im->t = t;
	im->fd = memfd_create("fuzz-image", 0);
	if (im->fd < 0)
		__builtin_trap();
	sp.fd = im->fd;
	sp.start_blk = layout_tree_data_start(t);
	sp.blkszbits = layout_tree_params(t)->blkszbits;
	sp.inline_tails = true;
	if (bs_sink_new(&sp, &im->sink))
		__builtin_trap();
}

#ifdef FUZZ_REPLAY
/* fsck.erofs on the image; the memfd is inherited (no O_CLOEXEC). */
static void oracle_check(int fd, bool digests)
{
	const char *dir = getenv("MKIMG_ORACLE");
	char fsck[4096], img[64];
	char *argv[4];
	int argc = 0, status, null;
	posix_spawn_file_actions_t fa;
	pid_t pid;

	snprintf(fsck, sizeof(fsck), "%s/fsck.erofs", dir ? dir : "/opt/mkimg-oracle/bin");
	if (access(fsck, X_OK))
		return;
	snprintf(img, sizeof(img), "/proc/self/fd/%d", fd);
	argv[argc++] = fsck;
	if (digests)
		argv[argc++] = "--xattr-inode-digest";
	argv[argc++] = img;
	argv[argc] = NULL;
	posix_spawn_file_actions_init(&fa);
	null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (null >= 0)
		posix_spawn_file_actions_adddup2(&fa, null, 1);
	if (posix_spawn(&pid, fsck, &fa, NULL, argv, environ))
		__builtin_trap();
	posix_spawn_file_actions_destroy(&fa);
	if (null >= 0)
		close(null);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "fuzz: fsck.erofs refused the image\n");
		__builtin_trap();
	}
}
#endif

static int no_cb(void *ctx, const struct layout_read_file *f)
{
	return 0;
}

int fuzz_image_close(struct fuzz_image *im, int (*cb)(void *ctx, const struct layout_read_file *f),
		     void *ctx, struct layout_read_stats *st)
{
	struct layout_result res;
	struct stat sb;
	uint64_t end;
	uint8_t *buf;
	struct mkimg_err err = MKIMG_ERR_INIT;
	int ret;

	struct layout_data data = { .tail_fd = -1 };

	if (bs_sink_finish(im->sink, &end, NULL, NULL))
		__builtin_trap();
	layout_tree_set_data_end(im->t, end);
	data.tail_fd = bs_sink_tail_fd(im->sink);
	ret = layout_write(im->t, im->fd, &data, &res);
	bs_sink_free(im->sink);
	im->sink = NULL;
	if (ret) {
		if (!mkimg_err_msg(layout_tree_err(im->t))[0])
			__builtin_trap();
		close(im->fd);
		return ret;
	}
	if (fstat(im->fd, &sb) || (uint64_t)sb.st_size != res.image_bytes)
		__builtin_trap();
	buf = mmap(NULL, sb.st_size, PROT_READ, MAP_PRIVATE, im->fd, 0);
	if (buf == MAP_FAILED)
		__builtin_trap();
	memset(st, 0, sizeof(*st));
	ret = layout_read_walk(buf, sb.st_size, NULL, cb ? cb : no_cb, ctx, st, &err);
	if (ret) {
		fprintf(stderr, "fuzz: the image written does not read back: %s\n", mkimg_err_msg(&err));
		__builtin_trap();
	}
	if (st->inodes != res.inodes || st->files != res.files || st->file_bytes != res.file_bytes)
		__builtin_trap();
	munmap(buf, sb.st_size);
#ifdef FUZZ_REPLAY
	oracle_check(im->fd, res.fingerprints > 0);
#endif
	close(im->fd);
	return 0;
}
