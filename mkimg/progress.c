/* SPDX-License-Identifier: Apache-2.0 */
/* The progress line of long commands: one line on stderr, rewritten. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mkimg/store.h"

/* at most this many redraws a second (a phase's start and end always) */
#define REDRAW_NS (1000000000LL / 10)

static long long now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

double cli_elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

void cli_progress_layers(struct cli_progress *p, const struct timespec *start, size_t done,
			 size_t layers, uint64_t tar_bytes)
{
	double sec = cli_elapsed(start);

	cli_progress_line(p, done == layers, "layer %zu/%zu: %.1f MiB of tar, %.0f MB/s", done,
			  layers, tar_bytes / 1048576.0, sec > 0 ? tar_bytes / 1e6 / sec : 0.0);
}

void cli_progress_init(struct cli_progress *p, bool on)
{
	memset(p, 0, sizeof(*p));
	p->on = on;
}

void cli_progress_line(struct cli_progress *p, bool force, const char *fmt, ...)
{
	long long t;
	va_list ap;

	if (!p->on)
		return;
	t = now_ns();
	if (!force && p->shown && t - p->last_ns < REDRAW_NS)
		return;
	p->last_ns = t;
	fputc('\r', stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\033[K", stderr);
	fflush(stderr);
	p->shown = true;
}

void cli_progress_clear(struct cli_progress *p)
{
	if (!p->shown)
		return;
	fputs("\r\033[K", stderr);
	fflush(stderr);
	p->shown = false;
}

void cli_progress_store(void *arg, const struct bs_progress *pr)
{
	struct cli_progress *p = arg;
	bool start = pr->phase != p->phase;
	double s;

	if (!p->on)
		return;
	if (start) {
		p->phase = pr->phase;
		p->phase_ns = now_ns();
	}
	/* the step that reaches the total and the phase's end look alike */
	if (!start && pr->done == p->done && pr->bytes == p->bytes)
		return;
	p->done = pr->done;
	p->bytes = pr->bytes;
	s = (now_ns() - p->phase_ns) / 1e9;
	/* a rate once the phase has run long enough to have one */
	if (pr->total_bytes && s >= 1)
		cli_progress_line(p, start || pr->done == pr->total,
				  "%s: %llu/%llu, %.1f of %.1f MiB, %.0f MB/s", pr->phase,
				  (unsigned long long)pr->done, (unsigned long long)pr->total,
				  pr->bytes / 1048576.0, pr->total_bytes / 1048576.0,
				  pr->bytes / 1e6 / s);
	else if (pr->total_bytes)
		cli_progress_line(p, start || pr->done == pr->total, "%s: %llu/%llu, %.1f of %.1f MiB",
				  pr->phase, (unsigned long long)pr->done,
				  (unsigned long long)pr->total, pr->bytes / 1048576.0,
				  pr->total_bytes / 1048576.0);
	else
		cli_progress_line(p, start || pr->done == pr->total, "%s: %llu/%llu", pr->phase,
				  (unsigned long long)pr->done, (unsigned long long)pr->total);
}
