/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Private to blobstore/: the names journal, STORE/names.log.
 *
 * Image names are the one fact of a store that its files do not hold, so
 * every name added or removed is appended here (O_APPEND, one write, fsync)
 * before the registry transaction that adds or removes it commits. The
 * registry repair replays it: the last line per name wins.
 *
 * One line per event, fields separated by one space:
 *   add =NAME IMAGE CREATED =SOURCE N DIFF_ID... CHECK
 *   rm =NAME CREATED CHECK
 * NAME and SOURCE are escaped: every byte <= 0x20, >= 0x7f and '%' as %XX,
 * so no field holds a space or a newline. IMAGE is 64 lower-case hex
 * digits, CREATED decimal seconds, N the number of DIFF_IDs that follow
 * ("sha256:" + 64 hex, the image's recorded layers bottom first), CHECK
 * the XXH32 (seed 0) of the line before its last space, 8 hex digits. A
 * line that does not parse, or a torn last line, is skipped and counted.
 */
#ifndef MKIMG_NAMES_H
#define MKIMG_NAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mkimg/store.h"

#define NAMES_LOG "names.log"
#define NAMES_LINE_MAX (1u << 20)
#define NAMES_MAX_LAYERS 4096

struct names_entry {
	bool add;
	char name[BS_STORE_NAME_MAX + 1];
	char image[65];			/* add */
	int64_t created;
	char *source;			/* add; owned */
	size_t nlayers;
	char (*layers)[72];		/* add; owned */
};

void names_entry_free(struct names_entry *e);	/* accepts NULL */
/* A line (with its newline, NUL-terminated, caller frees); -EINVAL for
 * an entry that cannot be written (bad name, digest or diff_id). */
int names_format(const struct names_entry *e, char **line, size_t *len);
/* Parses one line (without its newline): 0, or -EINVAL. */
int names_parse(const char *line, size_t len, struct names_entry *e);

/* Appends e to DIR/names.log, fsynced when durable (a conversion made
 * without fsync journals its name without one too). */
int names_append(const char *dir, const struct names_entry *e, bool durable,
		 struct mkimg_err *err);

struct names_state {
	struct names_entry *v;		/* surviving names (adds), sorted by name */
	size_t n;
	char (*images)[65];		/* every image any add line named, sorted */
	size_t nimages;
	uint64_t lines, bad;		/* lines read, lines skipped */
};
/* Replays DIR/names.log (a missing log is an empty one). */
int names_replay(const char *dir, struct names_state *s, struct mkimg_err *err);
void names_state_free(struct names_state *s);

#endif
