/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg pin / unpin / pins: images held through gc by a process. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "mkimg/store.h"

enum { OPT_STORE = 256, OPT_JSON, OPT_PID, OPT_WHAT };

static const struct option pin_opts[] = {
	{ "store", required_argument, NULL, OPT_STORE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "pid", required_argument, NULL, OPT_PID },
	{ "what", required_argument, NULL, OPT_WHAT },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

struct pin_args {
	const char *store, *what;
	bool json;
	uint64_t pid;
};

/* Options allowed: "s" store, "j" json, "p" pid and what. -1 to go on. */
static int parse(int argc, char **argv, const char *usage, const char *allowed, int min,
		 int max, struct pin_args *a)
{
	int c, li = -1;

	memset(a, 0, sizeof(*a));
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", pin_opts, &li)) != -1) {
		switch (c) {
		case OPT_STORE: a->store = optarg; break;
		case OPT_JSON:
			if (!strchr(allowed, 'j'))
				goto not_here;
			a->json = true;
			break;
		case OPT_PID:
			if (!strchr(allowed, 'p'))
				goto not_here;
			if (!cli_parse_u64(optarg, &a->pid) ||
			    !a->pid || a->pid > 0x7fffffff) {
				return cli_usage_error(argv[0], "--pid: not a process id: "
						       "'%s'", optarg);
			}
			break;
		case OPT_WHAT:
			if (!strchr(allowed, 'p'))
				goto not_here;
			a->what = optarg;
			break;
		case 'h':
			printf("%s", usage);
			return 0;
		default:
			return cli_bad_option(argv, "h");
		}
	}
	if (argc - optind < min || argc - optind > max)
		return cli_usage_error(argv[0], argc - optind < min ?
				       "too few arguments" : "too many arguments");
	a->store = cli_store_dir(a->store);
	return -1;
not_here:
	/* by its name in the table: argv may hold it abbreviated, or its value */
	return cli_usage_error(argv[0], "option '--%s' does not apply to this command",
			       pin_opts[li].name);
}

const char *cli_pin_state(const struct bs_pin *p)
{
	switch (p->state) {
	case BS_PIN_LIVE: return "live";
	case BS_PIN_GONE: return "gone";
	default: return "other namespace";
	}
}

struct json_object *cli_pin_json(const struct bs_pin *p)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "id", json_object_new_string(p->id));
	json_object_object_add(o, "image_sha256", json_object_new_string(p->image));
	json_object_object_add(o, "name", json_object_new_string(p->name));
	json_object_object_add(o, "what", json_object_new_string(p->what ? p->what : ""));
	json_object_object_add(o, "created", json_object_new_int64(p->created));
	if (p->pid) {
		json_object_object_add(o, "pid", json_object_new_int64(p->pid));
		json_object_object_add(o, "start", json_object_new_int64(p->start));
	}
	if (p->target) {
		json_object_object_add(o, "target", json_object_new_string(p->target));
		json_object_object_add(o, "source", json_object_new_string(p->source));
		json_object_object_add(o, "mnt_id", json_object_new_int64(p->mnt_id));
	}
	json_object_object_add(o, "state", json_object_new_string(
		p->state == BS_PIN_LIVE ? "live" : p->state == BS_PIN_GONE ? "gone" : "foreign"));
	return o;
}

int cmd_pin(int argc, char **argv)
{
	static const char usage[] =
"usage: mkimg pin [--store DIR] [--pid PID] [--what TEXT] IMAGE\n"
"\n"
"Pins IMAGE (a name, or sha256:DIGEST) for as long as process PID runs\n"
"(default: the process that runs mkimg pin, e.g. the shell): gc keeps the\n"
"image, its blobs and layer records, even after rm of its name. Prints the\n"
"pin's id (for mkimg unpin). TEXT describes the holder in mkimg pins.\n";
	struct mkimg_err err = MKIMG_ERR_INIT;
	char id[BS_PIN_ID_LEN + 1];
	struct pin_args a;
	struct bs_store *st;
	int ret = parse(argc, argv, usage, "p", 1, 1, &a);

	if (ret >= 0)
		return ret;
	st = cli_open_store(a.store, 0);
	if (!st)
		return 1;
	ret = bs_store_pin(st, argv[optind], a.what, a.pid ? (pid_t)a.pid : getppid(), id, &err);
	bs_store_close(st);
	if (ret) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	printf("%s\n", id);
	return 0;
}

int cmd_unpin(int argc, char **argv)
{
	static const char usage[] = "usage: mkimg unpin [--store DIR] ID...\n";
	struct pin_args a;
	struct bs_store *st;
	struct mkimg_err err = MKIMG_ERR_INIT;
	int i, rc = 0, ret = parse(argc, argv, usage, "", 1, 1 << 20, &a);

	if (ret >= 0)
		return ret;
	st = cli_open_store(a.store, 0);
	if (!st)
		return 1;
	for (i = optind; i < argc; i++)
		if (bs_store_unpin(st, argv[i], &err)) {
			cli_error("%s", mkimg_err_msg(&err));
			rc = 1;
		}
	bs_store_close(st);
	return rc;
}

int cmd_pins(int argc, char **argv)
{
	static const char usage[] =
"usage: mkimg pins [--store DIR] [--json]\n"
"\n"
"The store's pins: image, name when pinned, holder (a mount or a process)\n"
"and its state: live, gone (gc drops the pin) or other namespace (kept).\n";
	struct pin_args a;
	struct bs_store *st;
	struct bs_pin *v;
	struct mkimg_err err = MKIMG_ERR_INIT;
	size_t n, i;
	int ret = parse(argc, argv, usage, "j", 0, 0, &a);

	if (ret >= 0)
		return ret;
	st = cli_open_store(a.store, BS_STORE_READONLY);
	if (!st)
		return 1;
	ret = bs_store_pins(st, &v, &n, &err);
	bs_store_close(st);
	if (ret) {
		cli_error("%s", mkimg_err_msg(&err));
		return 1;
	}
	if (a.json) {
		json_object *arr = json_object_new_array();

		for (i = 0; i < n; i++)
			json_object_array_add(arr, cli_pin_json(&v[i]));
		cli_print_json(arr);
	} else {
		for (i = 0; i < n; i++) {
			char when[32];
			time_t t = v[i].created;

			strftime(when, sizeof(when), "%Y-%m-%d %H:%M", gmtime(&t));
			printf("%s  %.12s  %-24s %s  %s: ", v[i].id, v[i].image,
			       v[i].name[0] ? v[i].name : "-", when, cli_pin_state(&v[i]));
			if (v[i].target)
				printf("mounted on %s", v[i].target);
			if (v[i].target && v[i].pid)
				printf(", ");
			if (v[i].pid)
				printf("process %lld (%s)", (long long)v[i].pid, v[i].what);
			else if (!v[i].target)
				printf("%s", v[i].what);
			putchar('\n');
		}
	}
	bs_pins_free(v, n);
	return 0;
}
