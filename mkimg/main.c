/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg: command dispatch and small shared CLI helpers. */
#include <errno.h>
#include <signal.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "config.h"
#include "cli.h"
#include "mkimg/version.h"

static const struct {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *help;
} commands[] = {
	{ "analyze", cmd_analyze, "what a store would hold for some images (writes nothing)" },
	{ "build", cmd_build, "build an EROFS image from a directory tree" },
	{ "convert", cmd_convert, "convert an OCI image or layer tars into EROFS images" },
	{ "mount", cmd_mount, "mount an image with its blob devices" },
	{ "umount", cmd_umount, "unmount an image mounted by mkimg" },
	{ "ls", cmd_ls, "list the images of a store" },
	{ "inspect", cmd_inspect, "show an image of a store: image path, devices, bytes" },
	{ "rm", cmd_rm, "remove image names from a store (gc frees their data)" },
	{ "gc", cmd_gc, "delete blobs, images and records no image name references" },
	{ "alternate", cmd_alternate, "list OCI layouts whose blobs pulls use in place (add, rm, ls)" },
	{ "fsck", cmd_fsck, "check a store (--full: re-hash all data; --repair: rebuild the registry)" },
	{ "stats", cmd_stats, "dedup and sharing figures of a store" },
	{ "pin", cmd_pin, "keep a store image through gc while a process runs" },
	{ "unpin", cmd_unpin, "drop pins" },
	{ "pins", cmd_pins, "list a store's pins and whether their holders live" },
	{ "push", cmd_push, "copy a store image into an OCI layout as an OCI artifact" },
	{ "pull", cmd_pull, "copy an mkimg artifact of an OCI layout into a store" },
	{ "lookup", cmd_lookup, "which store image ends at a layer chain (--build: make one)" },
};

/* The one piece of global state: the signal that asked us to stop (0:
 * none). Only the handler writes it; conversions and builds poll it. */
static volatile sig_atomic_t stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
}

void cli_catch_stop_signals(void)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0;	/* no SA_RESTART: a blocking read returns EINTR */
	for (i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old;

		/* an ignored signal stays ignored (nohup, background jobs) */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

bool cli_stopped(void)
{
	return stop_signal != 0;
}

void cli_exit_if_stopped(void)
{
	int sig = stop_signal;

	if (!sig)
		return;
	/* die of the signal, as the shell expects from an interrupted job */
	signal(sig, SIG_DFL);
	raise(sig);
	_exit(128 + sig);
}

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "usage: mkimg COMMAND [OPTIONS] ...\n\ncommands:\n");
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
	fprintf(f, "\noptions:\n"
		"  -h, --help     print this help and exit\n"
		"  -V, --version  print the version and exit\n"
		"\n'mkimg COMMAND --help' describes a command.\n");
}

/*
 * "mkimg: <prefix><message>" as one line: control characters a message
 * carries from its input (a file name holding a newline, say) are written
 * as C escapes (\n, \t, \x1b).
 */
static void put_escaped(const char *s, FILE *f)
{
	const unsigned char *c;

	for (c = (const unsigned char *)s; *c; c++) {
		if (*c == '\n')
			fputs("\\n", f);
		else if (*c == '\t')
			fputs("\\t", f);
		else if (*c < 0x20 || *c == 0x7f)
			fprintf(f, "\\x%02x", *c);
		else
			fputc(*c, f);
	}
}

void cli_print_plain(const char *s)
{
	put_escaped(s, stdout);
}

static void print_line(const char *prefix, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));
static void print_line(const char *prefix, const char *fmt, va_list ap)
{
	char buf[2048];

	vsnprintf(buf, sizeof(buf), fmt, ap);
	fputs("mkimg: ", stderr);
	fputs(prefix, stderr);
	put_escaped(buf, stderr);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_line("", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	print_line("warning: ", fmt, ap);
	va_end(ap);
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;
	char why[1024];

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	cli_error("%s: %s; see 'mkimg %s --help'", cmd, why, cmd);
	return 2;
}

int cli_bad_option(char **argv, const char *shortopts)
{
	const char *cmd = argv[0];
	const char *arg = optind > 0 ? argv[optind - 1] : NULL;
	const char *eq;

	if (arg && !strncmp(arg, "--", 2)) {
		eq = strchr(arg, '=');
		if (!optopt)
			return cli_usage_error(cmd, "unrecognized option '%.*s'",
					       eq ? (int)(eq - arg) : (int)strlen(arg), arg);
		if (eq)
			return cli_usage_error(cmd, "option '%.*s' takes no argument",
					       (int)(eq - arg), arg);
		return cli_usage_error(cmd, "option '%s' requires an argument", arg);
	}
	if (optopt > 0 && optopt < 128 && optopt != ':' && strchr(shortopts, optopt))
		return cli_usage_error(cmd, "option '-%c' requires an argument", optopt);
	if (optopt > 32 && optopt < 127)
		return cli_usage_error(cmd, "invalid option '-%c'", optopt);
	return cli_usage_error(cmd, "invalid option '%s'", arg ? arg : "?");
}

bool cli_env_is_1(const char *name)
{
	const char *v = getenv(name);

	return v && *v == '1';
}

bool cli_parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno)
		return false;
	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end)
		return false;
	*out = v;
	return true;
}

bool cli_tty(void)
{
	return isatty(STDERR_FILENO);
}

uint64_t cli_peak_rss_kib(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) < 0)
		return 0;
	return ru.ru_maxrss;
}

void cli_print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
					     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
}

struct json_object *cli_json_fixed(double v, int decimals)
{
	char buf[64];

	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	return json_object_new_double_s(v, buf);
}

int main(int argc, char **argv)
{
	size_t i;

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return 0;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		/* the library's version: what the CLI runs, shared or static */
		printf("mkimg %s\n", mkimg_version_string());
		return 0;
	}
	/* the commands report a bad option in one line (cli_bad_option) */
	opterr = 0;
	for (i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	cli_error("unknown command '%s'; see 'mkimg --help'", argv[1]);
	return 2;
}
