/* SPDX-License-Identifier: Apache-2.0 */
/* Progress of the long store operations, to the hook the caller set. */
#include <string.h>

#include "store_internal.h"

void bs_store_set_progress(struct bs_store *st, bs_progress_fn fn, void *arg)
{
	st->progress = fn;
	st->progress_arg = fn ? arg : NULL;
}

static void report(const struct st_phase *ph)
{
	if (ph->st && ph->st->progress)
		ph->st->progress(ph->st->progress_arg, &ph->p);
}

void st_phase_begin(struct st_phase *ph, const struct bs_store *st, const char *phase,
		    uint64_t total, uint64_t total_bytes)
{
	memset(ph, 0, sizeof(*ph));
	ph->st = st;
	ph->p.phase = phase;
	ph->p.total = total;
	ph->p.total_bytes = total_bytes;
	report(ph);
}

void st_phase_step(struct st_phase *ph, uint64_t bytes)
{
	/* the totals are counted before the work; what changed since (a
	 * file gone, one grown) does not run past them */
	if (ph->p.done < ph->p.total)
		ph->p.done++;
	ph->p.bytes = bytes > ph->p.total_bytes - ph->p.bytes ? ph->p.total_bytes
							      : ph->p.bytes + bytes;
	report(ph);
}

void st_phase_end(struct st_phase *ph)
{
	ph->p.done = ph->p.total;
	ph->p.bytes = ph->p.total_bytes;
	report(ph);
}
