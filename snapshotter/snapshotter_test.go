package main

// containerd's own conformance suite for snapshotters, run on this one with
// a store that holds no chain: every snapshot behaves as with containerd's
// overlayfs snapshotter. Needs root (mounts): go test -run Suite (see README).

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/pkg/testutil"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/testsuite"
)

func TestSuite(t *testing.T) {
	testutil.RequiresRoot(t)
	testsuite.SnapshotterSuite(t, "mkimg", func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		// an mkimg that finds no chain
		fake := filepath.Join(root, "mkimg")
		script := "#!/bin/sh\nwhile [ $# -gt 0 ]; do case $1 in --chain) c=$2; shift;; esac; shift; done\n" +
			"printf '{\"chain\":\"%s\",\"found\":false}\\n' \"$c\"\n"
		if err := os.WriteFile(fake, []byte(script), 0755); err != nil {
			return nil, nil, err
		}
		s, err := newSnapshotter(filepath.Join(root, "snap"), &mkimgCLI{bin: fake, store: root}, false)
		if err != nil {
			return nil, nil, err
		}
		return s, s.Close, nil
	})
}

func TestUnescapeMountinfo(t *testing.T) {
	for in, want := range map[string]string{
		`/a\040b`: "/a b", `/a\134b`: `/a\b`, `/plain`: "/plain", `/end\04`: `/end\04`,
	} {
		if got := unescapeMountinfo(in); got != want {
			t.Errorf("unescapeMountinfo(%q) = %q, want %q", in, got, want)
		}
	}
}

// The mount-manager answer: the erofs mount first, then the overlay with
// {{ mount 0 }} as its lowest lower; a view of the image alone is the
// erofs mount.
func TestManagedMounts(t *testing.T) {
	s := &snapshotter{root: "/r"}
	erofs := mount.Mount{Type: "erofs", Source: "/s/images/ab", Options: []string{"ro", "device=/s/blobs/sha256/cd"}}
	for _, c := range []struct {
		kind   snapshots.Kind
		lowers []string
		want   []mount.Mount
	}{
		{snapshots.KindActive, nil, []mount.Mount{erofs, {Type: "format/overlay", Source: "overlay",
			Options: []string{"workdir=/r/snapshots/7/work", "upperdir=/r/snapshots/7/fs", "lowerdir={{ mount 0 }}"}}}},
		{snapshots.KindActive, []string{"/r/snapshots/5/fs"}, []mount.Mount{erofs, {Type: "format/overlay", Source: "overlay",
			Options: []string{"workdir=/r/snapshots/7/work", "upperdir=/r/snapshots/7/fs", "lowerdir=/r/snapshots/5/fs:{{ mount 0 }}"}}}},
		{snapshots.KindView, nil, []mount.Mount{erofs}},
		{snapshots.KindView, []string{"/r/snapshots/5/fs"}, []mount.Mount{erofs, {Type: "format/overlay", Source: "overlay",
			Options: []string{"lowerdir=/r/snapshots/5/fs:{{ mount 0 }}"}}}},
	} {
		if got := s.managed("7", c.kind, c.lowers, erofs); !reflect.DeepEqual(got, c.want) {
			t.Errorf("managed(%v, %q) = %+v, want %+v", c.kind, c.lowers, got, c.want)
		}
	}
}
