/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libmkimg: EROFS images whose file data lives in shared, content-addressed
 * blobs. This is the umbrella header; it includes every public header of
 * the library, and a program needs no other:
 *
 *   #include <mkimg/mkimg.h>
 *   cc prog.c $(pkg-config --cflags --libs mkimg)
 *   cc -static prog.c $(pkg-config --static --cflags --libs mkimg)
 *
 * ======================================================================
 * 1. What the library is
 * ======================================================================
 *
 * Sources (a directory tree, an OCI image layout, layer tars) fill an
 * in-memory tree (layout.h). Regular-file data does not stay in memory:
 * it streams through a data sink (blobstore.h) into the image's own data
 * area, into one blob, or into a store (store.h), where every file and
 * every 64 KiB unit already stored is shared instead of written again.
 * The EROFS encoder then writes the tree's metadata (layout_write, or
 * through bs_output_commit / bs_conv_commit), and images are mounted
 * with their blobs as devices (mount.h).
 *
 * The library never prints, keeps no global mutable state and does not
 * install signal handlers. Use one object (a tree, a sink, a store
 * handle, a conversion) from one thread at a time.
 *
 * ======================================================================
 * 2. Versions (version.h)
 * ======================================================================
 *
 * MKIMG_VERSION_MAJOR/MINOR/PATCH, MKIMG_VERSION_NUMBER (major * 10000 +
 * minor * 100 + patch) and MKIMG_VERSION_STRING give the version of the
 * headers; mkimg_version() and mkimg_version_string() that of the
 * library a program runs with. Exported symbols carry the version node
 * MKIMG_0.1; the soname is libmkimg.so.0. While the major version is 0,
 * a minor version may change the API.
 *
 *   printf("built with %s, running %s\n", MKIMG_VERSION_STRING,
 *          mkimg_version_string());
 *
 * ======================================================================
 * 3. Errors (error.h)
 * ======================================================================
 *
 * A failing function returns a negative errno value. Where a user must
 * see why, it also fills the caller's error object (struct mkimg_err): one
 * line (no "mkimg:" prefix, no newline), set once where the failure
 * happens, with context added in front on the way up. A handle (a tree, a
 * stream, a tar reader) keeps the object it was given when it was made and
 * fills it on any later failure. Show that line as it is:
 *
 *   struct mkimg_err e = MKIMG_ERR_INIT;
 *
 *   if (oci_image_open("layout", NULL, &img, &e) < 0)
 *           fprintf(stderr, "prog: %s\n", mkimg_err_msg(&e));
 *
 * The store and mount functions (store.h, mount.h, bs_output_*) take the
 * same struct mkimg_err *.
 *
 * Never compare message text: the code is the contract, the message is
 * for people.
 *
 * ======================================================================
 * 4. Converting an image (convert.h)
 * ======================================================================
 *
 * What `mkimg convert` does, in one call: an OCI layout (an archive of
 * one, a docker save archive, or layer tars) into a store, into one self-contained image, or into an image per layer.
 *
 *   const char *src[] = { "oci:/srv/oci/debian:12" };
 *   struct mkimg_convert_params p = {
 *           .sources = src, .nsources = 1,
 *           .mode = MKIMG_CONVERT_STORE, .store = "/var/lib/mkimg",
 *           .name = "debian:12",
 *   };
 *   struct mkimg_convert_result res;
 *   struct mkimg_err e = MKIMG_ERR_INIT;
 *
 *   if (mkimg_convert(&p, &res, &e) < 0)
 *           fprintf(stderr, "prog: %s\n", mkimg_err_msg(&e));
 *   else
 *           printf("%s: %s\n", res.name, res.image);
 *
 * ======================================================================
 * 5. Sources (dirsource.h, oci.h)
 * ======================================================================
 *
 * dirsource_import() reads a directory tree into a tree, its file data
 * through a sink. oci.h opens OCI image layouts (index, manifest, config,
 * every digest verified), indexes oci-archive and docker save archives in
 * place (members read by offset), streams layers (gzip, zstd, plain; digest and
 * diff_id hashed), reads tar entries (paths normalised, hostile entries
 * refused) and applies layers to a tree (OCI whiteouts, or overlayfs
 * markers per layer); layer records replay a converted layer's entries.
 *
 * ======================================================================
 * 6. Writing one image (layout.h, blobstore.h)
 * ======================================================================
 *
 * A self-contained image of a directory tree, as `mkimg build DIR IMG`
 * (pass a blob path instead of NULL to put the file data into a blob):
 *
 *   struct layout_params p;
 *   struct layout_tree *t;
 *   struct bs_output out = { .img.fd = -1, .blob.fd = -1 };
 *   struct bs_output_result res;
 *   struct mkimg_err e = MKIMG_ERR_INIT;   // the tree's failures too
 *   int ret;
 *
 *   layout_params_preset(&p);
 *   ret = layout_tree_new(&p, &e, &t);
 *   if (ret)
 *           return ret;
 *   ret = bs_output_open(&out, t, "img.erofs", NULL, NULL, &e);
 *   if (!ret)
 *           ret = dirsource_import("rootfs", t, out.sink, NULL, NULL, &e);
 *   if (!ret)
 *           ret = bs_output_commit(&out, t, true, &res, &e);
 *   bs_output_abort(&out);          // removes what a failure left
 *   layout_tree_free(t);
 *
 * The image is written under a temporary name and renamed into place
 * only when complete. The same tree and parameters give the same bytes.
 *
 * ======================================================================
 * 7. The store (store.h)
 * ======================================================================
 *
 * A directory of blobs, metadata images, layer records and a registry
 * (SQLite). A conversion into a store:
 *
 *   struct bs_store *st;
 *   struct bs_conv *c;
 *   struct bs_conv_params cp = { .durable = true };
 *   struct bs_conv_result *r = calloc(1, sizeof(*r));
 *
 *   bs_store_open("/var/lib/mkimg", BS_STORE_CREATE, &st, &e);
 *   bs_store_layout_params(st, &p);
 *   layout_tree_new(&p, &e, &t);
 *   bs_conv_begin(st, t, &cp, &c, &e);
 *   ... fill t, file data through bs_conv_sink(c) ...
 *   bs_conv_commit(c, "name", "source", r, &e); // frees c
 *   layout_tree_free(t);
 *   bs_store_close(st);
 *
 * bs_store_images, bs_store_image, bs_store_stats, bs_store_rm,
 * bs_store_gc, bs_store_fsck, bs_store_repair and the pins are the rest
 * of `mkimg ls/inspect/stats/rm/gc/fsck/pin`; bs_store_set_progress
 * gives gc, fsck and the repair a hook that counts their work, phase by
 * phase, on the caller's thread.
 *
 * ======================================================================
 * 8. Mounting (mount.h, store.h)
 * ======================================================================
 *
 *   const char *devs[] = { "data.blob" };
 *   struct bs_mount_opts mo = { .image = "img.erofs", .devices = devs,
 *                               .ndevices = 1, .allow_loop = true };
 *
 *   if (bs_mount(&mo, "/mnt/x", &e))
 *           fprintf(stderr, "prog: %s\n", mkimg_err_msg(&e));
 *
 * bs_store_mount mounts a store image by name and pins it until
 * bs_store_umount. Mounting needs CAP_SYS_ADMIN.
 *
 * ======================================================================
 * 9. Layout (layout.h)
 * ======================================================================
 *
 * The tree and the EROFS encoder itself, for programs that build a tree
 * entry by entry (layout_inode_new, layout_dir_link, layout_inode_set_xattr,
 * layout_inode_set_data) and write it with layout_write; layout_probe
 * and the reader check and read back images mkimg wrote. Extents name
 * blobs by number (a blob set, blobstore.h); layout_write is given each
 * blob's tag and size and the sink's tail file, and makes the device table
 * from the blobs the tree references:
 *
 *   struct layout_data d;
 *   bs_blobset_data(set, &d);          // or { NULL, 0, -1 }: no blobs
 *   d.tail_fd = bs_sink_tail_fd(sink);
 *   ret = layout_write(t, fd, &d, &res);
 *
 * ======================================================================
 * 10. Publishing (remote.h)
 * ======================================================================
 *
 * mkimg_push copies a store image, as an OCI artifact (its metadata image
 * and blobs as layers), into an OCI image layout directory, where every
 * blob is kept once by digest whoever pushed it:
 *
 *   struct mkimg_push_result r;
 *
 *   if (mkimg_push(st, "app", "oci:/srv/images:app-1.2", NULL, &r, &e))
 *           fprintf(stderr, "prog: %s\n", mkimg_err_msg(&e));
 */
#ifndef MKIMG_MKIMG_H
#define MKIMG_MKIMG_H

#include "mkimg/version.h"
#include "mkimg/error.h"
#include "mkimg/layout.h"
#include "mkimg/blobstore.h"
#include "mkimg/dirsource.h"
#include "mkimg/oci.h"
#include "mkimg/mount.h"
#include "mkimg/store.h"
#include "mkimg/convert.h"
#include "mkimg/remote.h"

#endif
