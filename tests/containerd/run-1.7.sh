#!/usr/bin/env bash
# tests/containerd/run.sh with containerd 1.7 (trixie's package, fetched by
# name and cached in MKIMG_CONTAINERD_CACHE/1.7): the proxy snapshotter
# serves both containerd lines.
MKIMG_CONTAINERD=1.7 exec bash "$(dirname "${BASH_SOURCE[0]}")/run.sh" "$@"
