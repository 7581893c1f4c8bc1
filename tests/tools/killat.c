/* SPDX-License-Identifier: Apache-2.0 */
/*
 * LD_PRELOAD shim for crash tests: SIGKILL at a chosen point of a mount.
 *
 *   KILLAT=source       at fsconfig(..., "source", ...): pinned, not mounted
 *   KILLAT=move_mount   right after a successful move_mount: mounted, the
 *                       pin not yet completed with the mount id
 *   KILLAT=rename[:N]   before the Nth rename(), renameat2() or link() onto a
 *                       path under "/pins/"
 *                       (1: the pin's first write; 2: its rewrite)
 *
 * Built by the test that uses it: cc -shared -fPIC -o killat.so killat.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

static int want(const char *point)
{
	const char *at = getenv("KILLAT");
	size_t len = strlen(point);

	return at && !strncmp(at, point, len) && (at[len] == '\0' || at[len] == ':');
}

static int nth(void)
{
	const char *at = strchr(getenv("KILLAT"), ':');

	return at ? atoi(at + 1) : 1;
}

int fsconfig(int fd, unsigned int cmd, const char *key, const void *value, int aux)
{
	int (*real)(int, unsigned int, const char *, const void *, int) =
		(int (*)(int, unsigned int, const char *, const void *, int))
		dlsym(RTLD_NEXT, "fsconfig");

	if (want("source") && key && !strcmp(key, "source"))
		kill(getpid(), SIGKILL);
	return real(fd, cmd, key, value, aux);
}

int move_mount(int from_dfd, const char *from, int to_dfd, const char *to, unsigned int flags)
{
	int (*real)(int, const char *, int, const char *, unsigned int) =
		(int (*)(int, const char *, int, const char *, unsigned int))
		dlsym(RTLD_NEXT, "move_mount");
	int ret = real(from_dfd, from, to_dfd, to, flags);

	if (want("move_mount") && ret == 0)
		kill(getpid(), SIGKILL);
	return ret;
}

/* publishing a file under pins/: rename, renameat2 or link (one count) */
static int publish_calls;

static void publishing(const char *to)
{
	if (want("rename") && strstr(to, "/pins/") && ++publish_calls == nth())
		kill(getpid(), SIGKILL);
}

int rename(const char *from, const char *to)
{
	int (*real)(const char *, const char *) =
		(int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");

	publishing(to);
	return real(from, to);
}

int renameat2(int ofd, const char *from, int nfd, const char *to, unsigned int flags)
{
	int (*real)(int, const char *, int, const char *, unsigned int) =
		(int (*)(int, const char *, int, const char *, unsigned int))
		dlsym(RTLD_NEXT, "renameat2");

	publishing(to);
	return real(ofd, from, nfd, to, flags);
}

int link(const char *from, const char *to)
{
	int (*real)(const char *, const char *) =
		(int (*)(const char *, const char *))dlsym(RTLD_NEXT, "link");

	publishing(to);
	return real(from, to);
}
