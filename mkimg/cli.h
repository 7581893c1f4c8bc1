/* SPDX-License-Identifier: Apache-2.0 */
#ifndef MKIMG_CLI_H
#define MKIMG_CLI_H

#include <stdbool.h>
#include <stdint.h>

int cmd_analyze(int argc, char **argv);
int cmd_build(int argc, char **argv);
int cmd_convert(int argc, char **argv);
int cmd_mount(int argc, char **argv);
int cmd_umount(int argc, char **argv);
int cmd_ls(int argc, char **argv);
int cmd_inspect(int argc, char **argv);
int cmd_rm(int argc, char **argv);
int cmd_gc(int argc, char **argv);
int cmd_alternate(int argc, char **argv);
int cmd_fsck(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_pin(int argc, char **argv);
int cmd_unpin(int argc, char **argv);
int cmd_pins(int argc, char **argv);
int cmd_lookup(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_pull(int argc, char **argv);

/* --store, else $MKIMG_STORE, else the default store. */
const char *cli_store_dir(const char *opt);
struct bs_store;
/* Opens a store (bs_store_open flags); prints the error and gives NULL. */
struct bs_store *cli_open_store(const char *dir, unsigned int flags);

/* Prints "mkimg: <msg>" to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes s to stdout with control characters as C escapes (\n, \x1b). */
void cli_print_plain(const char *s);
/*
 * After getopt_long returned '?' or ':' (opterr is 0): prints one line
 * "mkimg: CMD: <what is wrong>; see 'mkimg CMD --help'" for the option at
 * argv[optind - 1] / optopt and gives the exit status 2. cmd is argv[0].
 */
int cli_bad_option(char **argv, const char *shortopts);
/* One line "mkimg: CMD: <why>; see 'mkimg CMD --help'"; gives 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses an integer with an optional K/M/G suffix; false if invalid. */
bool cli_parse_u64(const char *s, uint64_t *out);
/* An environment switch such as MKIMG_NO_DIRECT=1: set and starting
 * with '1'. The CLI reads the environment; the libraries take parameters. */
bool cli_env_is_1(const char *name);
/* True when stderr is a terminal (progress lines are shown). */
bool cli_tty(void);
/*
 * The progress line (progress.c): one line on stderr rewritten with \r,
 * redrawn at most about 10 times a second (force: now), cleared with
 * cli_progress_clear before other output and at the end. Off (on false:
 * stderr is no terminal, or --quiet): prints nothing.
 */
struct cli_progress {
	bool on, shown;
	const char *phase;		/* of the last store progress */
	unsigned long long done, bytes;	/* its counts */
	long long last_ns, phase_ns;	/* last redraw, start of the phase */
};
void cli_progress_init(struct cli_progress *p, bool on);
void cli_progress_line(struct cli_progress *p, bool force, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cli_progress_clear(struct cli_progress *p);
/* "layer DONE/LAYERS: X MiB of tar, Y MB/s" since start (convert, analyze). */
struct timespec;
void cli_progress_layers(struct cli_progress *p, const struct timespec *start, size_t done,
			 size_t layers, uint64_t tar_bytes);
/* Seconds since t0 (CLOCK_MONOTONIC). */
double cli_elapsed(const struct timespec *t0);
/* A bs_progress_fn (bs_store_set_progress); arg: a struct cli_progress. */
struct bs_progress;
void cli_progress_store(void *arg, const struct bs_progress *pr);
/*
 * SIGINT, SIGTERM and SIGHUP set a flag (the handler does nothing else):
 * cli_stopped() is the libraries' stop hook, so a conversion or build
 * stops, removes its temporary files through its usual abort path, and
 * cli_exit_if_stopped() then ends the process by that signal.
 */
void cli_catch_stop_signals(void);
bool cli_stopped(void);
void cli_exit_if_stopped(void);
/* Peak RSS of this process in KiB. */
uint64_t cli_peak_rss_kib(void);

struct json_object;
struct bs_pin;
/* Prints o as one line of JSON on stdout and frees it. */
void cli_print_json(struct json_object *o);
/* A JSON number written with this many decimals. */
struct json_object *cli_json_fixed(double v, int decimals);
/* A pin as JSON (mkimg pins, ls, inspect). */
struct json_object *cli_pin_json(const struct bs_pin *p);
/* "live", "gone" or "other namespace" */
const char *cli_pin_state(const struct bs_pin *p);

/* The registry options of push, pull and ls --remote: CLI_REGISTRY_OPTIONS
 * in a getopt_long table, cli_registry_opt for what getopt returned (1
 * when it was one of them, 0 if not, -1 after a message for a bad value);
 * CLI_REGISTRY_USAGE says what they do. */
#define CLI_OPT_TLS_VERIFY 600
#define CLI_OPT_CA_FILE 601
#define CLI_OPT_CREDS 602
#define CLI_OPT_AUTHFILE 603
#define CLI_OPT_TIMEOUT 604
#define CLI_REGISTRY_OPTIONS \
	{ "tls-verify", required_argument, NULL, CLI_OPT_TLS_VERIFY }, \
	{ "ca-file", required_argument, NULL, CLI_OPT_CA_FILE }, \
	{ "creds", required_argument, NULL, CLI_OPT_CREDS }, \
	{ "authfile", required_argument, NULL, CLI_OPT_AUTHFILE }, \
	{ "timeout", required_argument, NULL, CLI_OPT_TIMEOUT }
#define CLI_REGISTRY_USAGE \
	"  --tls-verify=false  do not check the registry's certificate; plain\n" \
	"               http where it has no TLS (default true)\n" \
	"  --ca-file FILE  CA certificates (PEM) to check the registry against\n" \
	"  --creds USER:PASSWORD  credentials (else from the auth file)\n" \
	"  --authfile FILE  the auth file (else $REGISTRY_AUTH_FILE,\n" \
	"               $XDG_RUNTIME_DIR/containers/auth.json, ~/.docker/config.json)\n" \
	"  --timeout SECONDS  give up when connecting or a transfer stalls this\n" \
	"               long (default 30)\n"
struct mkimg_registry_opts;
int cli_registry_opt(int c, const char *arg, struct mkimg_registry_opts *o);

#endif
