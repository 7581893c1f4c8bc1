/* SPDX-License-Identifier: Apache-2.0 */
/* mkimg build: a directory tree into an EROFS image (optionally + one blob). */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "mkimg/blobstore.h"
#include "mkimg/dirsource.h"
#include "mkimg/layout.h"

enum {
	OPT_BLOB = 256,
	OPT_FINGERPRINT,
	OPT_NO_FINGERPRINT,
	OPT_NO_INLINE,
	OPT_JSON,
	OPT_NO_FSYNC,
};

static const struct option build_opts[] = {
	{ "blob", required_argument, NULL, OPT_BLOB },
	{ "fingerprint", no_argument, NULL, OPT_FINGERPRINT },
	{ "no-fingerprint", no_argument, NULL, OPT_NO_FINGERPRINT },
	{ "no-inline", no_argument, NULL, OPT_NO_INLINE },
	{ "block-size", required_argument, NULL, 'b' },
	{ "time", required_argument, NULL, 'T' },
	{ "uuid", required_argument, NULL, 'U' },
	{ "label", required_argument, NULL, 'L' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "no-fsync", no_argument, NULL, OPT_NO_FSYNC },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static void build_usage(FILE *f)
{
	fprintf(f,
"usage: mkimg build [OPTIONS] DIR IMAGE\n"
"\n"
"Builds an EROFS image of the directory tree DIR. By default the image is\n"
"self-contained; with --blob, regular-file data goes to FILE and the image\n"
"holds chunk-based inodes pointing into it (mount with device=FILE).\n"
"\n"
"  --blob FILE         put file data into the blob FILE (device 1)\n"
"  --fingerprint       add sha256 fingerprint xattrs (default with --blob)\n"
"  --no-fingerprint    do not add fingerprint xattrs\n"
"  --no-inline         never inline file tails into the metadata\n"
"  -b, --block-size N  512, 1024, 2048 or 4096 (default 4096)\n"
"  -T, --time SECONDS  give every inode this mtime (reproducible builds)\n"
"  -U, --uuid UUID     volume UUID (default: derived from the content)\n"
"  -L, --label NAME    volume label (at most 15 bytes)\n"
"  --no-fsync          do not fsync before publishing (faster, not durable)\n"
"  -q, --quiet         print nothing on success\n"
"  --json              print a JSON summary on stdout\n"
"\n"
"SOURCE_DATE_EPOCH, when set, clamps newer mtimes to its value.\n"
"Output files are written under temporary names and renamed when complete.\n");
}

static bool parse_uuid(const char *s, uint8_t out[16])
{
	int i = 0;

	while (*s && i < 32) {
		unsigned int v;

		if (*s == '-') {
			s++;
			continue;
		}
		if (sscanf(s, "%1x", &v) != 1)
			return false;
		out[i / 2] = (i % 2) ? (out[i / 2] | v) : (v << 4);
		i++;
		s++;
	}
	return i == 32 && !*s;
}

struct progress_ctx {
	struct cli_progress pr;
	struct timespec start;
};

static void on_progress(void *ctx, const struct dirsource_stats *st)
{
	struct progress_ctx *pc = ctx;
	double s = cli_elapsed(&pc->start);

	cli_progress_line(&pc->pr, false, "%llu files, %llu dirs, %.1f MiB read, %.0f MB/s",
			  (unsigned long long)st->files, (unsigned long long)st->dirs,
			  st->bytes / 1048576.0, s > 0 ? st->bytes / 1e6 / s : 0.0);
}

static bool on_stop(void *ctx)
{
	return cli_stopped();
}

static void on_warn(void *ctx, const char *msg)
{
	struct progress_ctx *pc = ctx;

	cli_progress_clear(&pc->pr);
	cli_warn("%s", msg);
}

int cmd_build(int argc, char **argv)
{
	struct layout_params p;
	struct layout_tree *t = NULL;
	struct bs_output out = { .img.fd = -1, .blob.fd = -1 };
	struct bs_output_result ores;
	struct dirsource_stats st;
	struct progress_ctx pc;
	struct dirsource_opts dopts = {
		.warn = on_warn, .progress = on_progress, .stop = on_stop, .ctx = &pc,
		.no_prefetch = getenv("MKIMG_NO_PREFETCH") != NULL,
	};
	const char *blob_path = NULL, *sde;
	int fingerprint = -1, quiet = 0, json = 0, durable = 1, c, err, rc = 1;
	uint64_t v;
	struct mkimg_err msg = MKIMG_ERR_INIT;
	struct mkimg_err terr = MKIMG_ERR_INIT;
	struct bs_output_params op = { .no_direct = cli_env_is_1("MKIMG_NO_DIRECT") };

	layout_params_preset(&p);
	optind = 1;
	while ((c = getopt_long(argc, argv, "b:T:U:L:qh", build_opts, NULL)) != -1) {
		switch (c) {
		case OPT_BLOB: blob_path = optarg; break;
		case OPT_FINGERPRINT: fingerprint = 1; break;
		case OPT_NO_FINGERPRINT: fingerprint = 0; break;
		case OPT_NO_INLINE: p.inline_data = false; break;
		case OPT_JSON: json = 1; break;
		case OPT_NO_FSYNC: durable = 0; break;
		case 'q': quiet = 1; break;
		case 'b':
			if (!cli_parse_u64(optarg, &v) || (v != 512 && v != 1024 && v != 2048 &&
							   v != 4096)) {
				cli_error("--block-size must be 512, 1024, 2048 or 4096");
				return 2;
			}
			p.blkszbits = __builtin_ctzll(v);
			break;
		case 'T': {
			char *end;

			p.time = strtoll(optarg, &end, 10);
			if (!*optarg || *end) {
				cli_error("--time takes seconds since 1970");
				return 2;
			}
			p.fixed_time = true;
			break;
		}
		case 'U':
			if (!parse_uuid(optarg, p.uuid)) {
				cli_error("invalid UUID '%s'", optarg);
				return 2;
			}
			p.have_uuid = true;
			break;
		case 'L':
			if (strlen(optarg) > 15) {
				cli_error("label longer than 15 bytes");
				return 2;
			}
			strcpy(p.volume_name, optarg);
			break;
		case 'h':
			build_usage(stdout);
			return 0;
		default:
			return cli_bad_option(argv, "b:T:U:L:qh");
		}
	}
	if (argc - optind != 2) {
		build_usage(stderr);
		return 2;
	}
	p.fingerprint = fingerprint >= 0 ? fingerprint : blob_path != NULL;
	sde = getenv("SOURCE_DATE_EPOCH");
	if (sde && *sde && !p.fixed_time) {
		char *end;

		p.time = strtoll(sde, &end, 10);
		if (*end) {
			cli_error("SOURCE_DATE_EPOCH is not a number: '%s'", sde);
			return 2;
		}
		p.clamp_time = true;
	}
	cli_progress_init(&pc.pr, cli_tty() && !quiet);
	clock_gettime(CLOCK_MONOTONIC, &pc.start);

	op.tmpdir = getenv("TMPDIR");
	err = layout_tree_new(&p, &terr, &t);
	if (err) {
		cli_error("cannot create the tree: %s", strerror(-err));
		return 1;
	}
	cli_catch_stop_signals();
	err = bs_output_open(&out, t, argv[optind + 1], blob_path, &op, &msg);
	if (err) {
		cli_error("%s", mkimg_err_msg(&msg));
		goto out;
	}
	err = dirsource_import(argv[optind], t, out.sink, &dopts, &st, &msg);
	cli_progress_clear(&pc.pr);
	if (!err)
		err = bs_output_commit(&out, t, durable, &ores, &msg);
	if (err) {
		cli_error("%s", mkimg_err_msg(&msg));
		goto out;
	}
	rc = 0;
	if (json) {
		json_object *o = json_object_new_object();

#define U64(k, v) json_object_object_add(o, k, json_object_new_int64((int64_t)(v)))
		json_object_object_add(o, "image", json_object_new_string(argv[optind + 1]));
		U64("image_bytes", ores.layout.image_bytes);
		U64("inodes", ores.layout.inodes);
		U64("files", st.files);
		U64("dirs", st.dirs);
		U64("symlinks", st.symlinks);
		U64("specials", st.specials);
		U64("hardlinks", st.hardlinks);
		U64("logical_bytes", ores.data.logical_bytes);
		U64("data_bytes", ores.data.written_bytes);
		U64("hole_bytes", ores.data.hole_bytes);
		U64("dedup_files", ores.data.dedup_files);
		U64("dedup_bytes", ores.data.dedup_bytes);
		U64("fingerprints", ores.layout.fingerprints);
		json_object_object_add(o, "seconds", cli_json_fixed(cli_elapsed(&pc.start), 3));
		U64("peak_rss_kib", cli_peak_rss_kib());
		if (blob_path) {
			json_object_object_add(o, "blob", json_object_new_string(blob_path));
			json_object_object_add(o, "blob_sha256",
					       json_object_new_string(ores.blob_sha256));
			U64("blob_bytes", ores.blob_bytes);
		}
#undef U64
		cli_print_json(o);
	} else if (!quiet) {
		printf("%s: %llu inodes (%llu files, %llu dirs), %.1f MiB of file data, "
		       "%.1f MiB written, %llu duplicate files, image %.1f MiB",
		       argv[optind + 1], (unsigned long long)ores.layout.inodes,
		       (unsigned long long)st.files, (unsigned long long)st.dirs,
		       ores.data.logical_bytes / 1048576.0, ores.data.written_bytes / 1048576.0,
		       (unsigned long long)ores.data.dedup_files, ores.layout.image_bytes / 1048576.0);
		if (blob_path)
			printf(", blob %s (sha256:%s)", blob_path, ores.blob_sha256);
		printf("\n");
	}
out:
	bs_output_abort(&out);
	layout_tree_free(t);
	cli_exit_if_stopped();
	return rc;
}
