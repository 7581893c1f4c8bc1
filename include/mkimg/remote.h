/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Publishing store images as OCI artifacts (mkimg push).
 *
 * An image of a store travels as an OCI image manifest of its own
 * artifact type: the config (MKIMG_CONFIG_TYPE, JSON: the store image's
 * format and where it came from), then as layers the metadata image
 * (MKIMG_META_TYPE) and its blobs in device-slot order (MKIMG_BLOB_TYPE).
 * Every descriptor's digest is the SHA-256 of the bytes, as the store names
 * them, so a directory or registry that already has a blob keeps one copy.
 * The manifest holds nothing of the time or host of the push: the same
 * store image gives the same manifest digest.
 *
 * Destinations and sources:
 *
 *   oci:DIR[:TAG]   an OCI image layout directory (created when missing; a
 *                   directory that is neither empty nor an OCI layout is
 *                   refused). Blobs are copied in under temporary names,
 *                   checked against their digests while copied, and
 *                   renamed into place; index.json is rewritten under an
 *                   flock(2) on DIR, so several publishers may push into
 *                   one directory at once.
 *   docker://HOST[:PORT]/REPO[:TAG|@sha256:HEX]
 *                   a repository of an OCI distribution registry, reached
 *                   as mkimg_registry_opts says (https, credentials).
 *                   Blobs it has are not uploaded; the registry checks
 *                   each upload's digest, and a pull checks every byte.
 *
 * TAG (default: the image's name, when it is a valid tag) moves to the new
 * manifest.
 */
#ifndef MKIMG_REMOTE_H
#define MKIMG_REMOTE_H

#include <stdbool.h>
#include <stdint.h>

#include "mkimg/error.h"
#include "mkimg/store.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MKIMG_ARTIFACT_TYPE "application/vnd.mkimg.image.v1"
#define MKIMG_CONFIG_TYPE "application/vnd.mkimg.image.config.v1+json"
#define MKIMG_META_TYPE "application/vnd.mkimg.erofs.metadata.v1"
#define MKIMG_BLOB_TYPE "application/vnd.mkimg.erofs.blob.v1"
/* a layer record of the store (zstd), annotation io.mkimg.diff-id */
#define MKIMG_RECORD_TYPE "application/vnd.mkimg.layer-record.v1+zstd"
/* the largest layer record a pull takes */
#define OCI_MAX_RECORD (1ull << 30)
/* The artifact format's version (config "mkimgArtifact", annotation
 * io.mkimg.artifact.version). */
#define MKIMG_ARTIFACT_VERSION 1
#define MKIMG_TAG_MAX 255

/* How a registry is reached (NULL: these defaults). */
struct mkimg_registry_opts {
	bool insecure;		/* --tls-verify=false: certificates not checked,
				 * plain http where the host has no TLS */
	const char *ca_file;	/* CA certificates (PEM); NULL: the system's */
	const char *creds;	/* "USER:PASSWORD"; NULL: from the auth file */
	/* NULL: $REGISTRY_AUTH_FILE, else $XDG_RUNTIME_DIR/containers/auth.json,
	 * else ~/.docker/config.json (the first that has the host) */
	const char *auth_file;
	unsigned int timeout;	/* seconds to connect, and a transfer may stall;
				 * 0: 30 */
};

struct mkimg_push_params {
	bool durable;		/* fsync every file before its rename */
	const struct mkimg_registry_opts *registry;	/* may be NULL */
	/* A tag or "sha256:<hex>" of the destination repository: the ordinary
	 * image the store image was made from, named as the artifact's OCI
	 * subject, so that a pull of that image's reference finds the artifact
	 * (the referrers API, or the referrers tag sha256-<hex> this push
	 * updates where the registry has no such API). NULL: none. */
	const char *subject;
	/* Repositories of the destination registry that may hold the blobs it
	 * lacks: each such blob is mounted from the first that has it
	 * (cross-repository mount) instead of uploaded. */
	const char *const *mount_from;
	size_t nmount_from;
	/* Called on the caller's thread after each piece copied (done of total
	 * bytes of the blobs the destination lacks, total known before the
	 * first call) and once with done == total; may be NULL. */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
};

struct mkimg_push_result {
	char manifest[72];		/* "sha256:<hex>" */
	char tag[MKIMG_TAG_MAX + 1];
	/* blobs: the metadata image and the devices (as a pull counts them;
	 * the config, a few hundred bytes, is not counted); copied: those the
	 * destination lacked */
	uint32_t blobs;
	uint32_t copied;
	uint64_t bytes, bytes_copied;	/* of those blobs */
	uint32_t records;		/* layer records in the artifact */
	uint32_t mounted;		/* blobs mounted from another repository */
};

/* An artifact as its manifest and config describe it (mkimg_artifact_*). */
struct mkimg_artifact_blob {
	char digest[72];		/* "sha256:<hex>" */
	uint64_t size;
};
struct mkimg_artifact_record {
	char diff_id[72];		/* the layer it records */
	struct mkimg_artifact_blob blob;
};
struct mkimg_artifact {
	char tag[MKIMG_TAG_MAX + 1];	/* "" when not read through a tag */
	char manifest[72];		/* the manifest's digest, "" if not known */
	uint64_t manifest_bytes;
	int version;			/* MKIMG_ARTIFACT_VERSION */
	struct mkimg_artifact_blob config, image;
	uint32_t ndevices;
	struct mkimg_artifact_blob *devices;	/* in slot order */
	uint32_t nrecords;
	struct mkimg_artifact_record *records;	/* layer records, after the devices */
	/* from the config (mkimg_artifact_config) */
	uint32_t block_size;
	bool fingerprints;
	char *layout;
	char *source;
	uint32_t nlayers;
	char (*diff_ids)[72];
	uint64_t files, data_bytes;
	/* config extraFiles: the files the layer records name that the image
	 * does not hold, where they lie in the devices (as an import takes them) */
	uint32_t nextra;
	struct bs_import_file *extra;
	struct layout_extent *extra_ext;	/* their extents, one pool */
};
/*
 * mkimg_artifact_manifest: len bytes as a manifest; 0 with a filled
 * (manifest-level fields), -ENOMSG for a manifest that is not an mkimg
 * artifact, -EPROTONOSUPPORT for one of an unknown version, -EINVAL for anything
 * malformed (one line in err). mkimg_artifact_config: then its config's
 * bytes, checked against the manifest (same image and devices). Both bound
 * what they accept (OCI_MAX_JSON bytes, OCI_MAX_LAYERS devices and
 * layers). Free a with mkimg_artifact_free, also after a failure.
 */
int mkimg_artifact_manifest(const void *buf, size_t len, struct mkimg_artifact *a,
			    struct mkimg_err *err);
int mkimg_artifact_config(const void *buf, size_t len, struct mkimg_artifact *a,
			  struct mkimg_err *err);
void mkimg_artifact_free(struct mkimg_artifact *a);
/* The mkimg artifacts of an OCI layout "oci:DIR" (every tagged one) or
 * "oci:DIR:TAG" (that one, -ENOENT if the tag is missing), or of a
 * registry repository (every tag, or the one given), read and checked
 * (manifest and config against their digests) without copying anything.
 * Listing every tag leaves out entries that are not mkimg artifacts, and
 * entries that do not say they are (no artifactType) and cannot be read;
 * an entry that says it is and does not check out fails the call, as any
 * failure for one TAG does. *out: an array of *n, free each entry and then
 * the array. o: for registries, may be NULL. */
int mkimg_remote_list(const char *ref, const struct mkimg_registry_opts *o,
		      struct mkimg_artifact **out, size_t *n, struct mkimg_err *err);

struct mkimg_pull_params {
	bool durable;		/* fsync before publishing */
	const struct mkimg_registry_opts *registry;	/* may be NULL */
	/* A layer chain ID ("sha256:<hex>"): ref is a registry repository
	 * without a tag, and the artifact pulled is the one of its tags whose
	 * image's layers hold the chain (the image of exactly that chain if
	 * there is one, else the one with the fewest layers above it; -ENOENT
	 * when none does). NULL: ref names the artifact. */
	const char *chain;
	bool replace;		/* the name moves to the pulled image */
	/* as mkimg_push_params.progress: bytes the store lacks */
	void (*progress)(void *ctx, uint64_t done, uint64_t total);
	void *progress_ctx;
};

struct mkimg_pull_result {
	char name[BS_STORE_NAME_MAX + 1];
	char manifest[72];
	char image[65];			/* the metadata image's sha256 */
	uint32_t blobs;			/* metadata image and devices */
	uint32_t copied;		/* those the store lacked */
	uint64_t bytes, bytes_copied;
	uint64_t bytes_fetched;		/* downloaded from a registry this time */
	uint32_t linked;		/* blobs used from the store's alternates */
	uint64_t bytes_linked;		/* (not copied, not counted as copied) */
	uint32_t records;		/* layer records the artifact carried */
	bool layers;			/* the image's layers are registered:
					 * mkimg lookup finds it by them */
};

/* Pulls the artifact "oci:DIR:TAG" or "docker://HOST/REPO:TAG" (or
 * @sha256:HEX; an ordinary image there stands for the last mkimg artifact
 * that names it as its subject) into the store as name (NULL: TAG; for a digest, the
 * repository's last component), through bs_store_import: only the blobs
 * the store lacks are copied, each checked against its digest; nothing is
 * registered unless all of it checks out. A registry's blobs are first
 * downloaded into the store's tmp/ (pull-<hex>), verified by size and
 * digest; an interrupted pull resumes them where they stopped. The
 * image's source is ref. */
int mkimg_pull(struct bs_store *st, const char *ref, const char *name,
	       const struct mkimg_pull_params *p, struct mkimg_pull_result *r,
	       struct mkimg_err *err);

/* Checks an OCI reference name (org.opencontainers.image.ref.name):
 * components of [A-Za-z0-9] runs joined by one of -._:@+ or "--",
 * separated by "/". */
bool mkimg_tag_valid(const char *tag);

/* Pushes the store image NAME to dest. 0, or -errno with one line in err;
 * on failure the destination may hold new blobs under their digests (a
 * later push reuses them), never a tag naming a partial artifact. */
int mkimg_push(struct bs_store *st, const char *name, const char *dest,
	       const struct mkimg_push_params *p, struct mkimg_push_result *r,
	       struct mkimg_err *err);

#ifdef __cplusplus
}
#endif

#endif
