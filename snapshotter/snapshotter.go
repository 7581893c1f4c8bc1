package main

// The snapshots.Snapshotter: containerd's storage package keeps the metadata
// (ROOT/metadata.db) and the overlay directories (ROOT/snapshots/<id>/{fs,work})
// as containerd's overlay snapshotter does. What differs:
//   - Prepare with containerd.io/snapshot.ref = a chain the store holds commits
//     an empty placeholder snapshot named by that chain and answers
//     ErrAlreadyExists, so containerd neither fetches nor applies the layer;
//   - the mounts of a snapshot above placeholders use the store image of the
//     topmost placeholder's chain (mkimg lookup --build, mkimg mount) as the
//     lowest lower of the overlay.

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/snapshots"
	"github.com/containerd/containerd/snapshots/overlay/overlayutils"
	"github.com/containerd/containerd/snapshots/storage"
	"github.com/containerd/continuity/fs"
)

const (
	labelRef   = "containerd.io/snapshot.ref" // set by containerd's unpacker: the layer's chain ID
	labelChain = "mkimg.chain"                // on placeholders: the chain the store holds
	labelImage = "mkimg.image"                // on active and view snapshots: the store image mounted as their lowest lower
	labelName  = "mkimg.name"                 // its store name
)

type snapshotter struct {
	root      string
	ms        *storage.MetaStore
	mk        *mkimgCLI
	im        *imageMounts
	mu        sync.Mutex // one change at a time: metadata, counts and mounts agree
	indexOff  bool
	userxattr bool
}

func newSnapshotter(root string, mk *mkimgCLI, manager bool) (*snapshotter, error) {
	if err := os.MkdirAll(filepath.Join(root, "snapshots"), 0700); err != nil {
		return nil, err
	}
	ms, err := storage.NewMetaStore(filepath.Join(root, "metadata.db"))
	if err != nil {
		return nil, err
	}
	im, err := newImageMounts(filepath.Join(root, "mnt"), mk, manager)
	if err != nil {
		ms.Close()
		return nil, err
	}
	userxattr, err := overlayutils.NeedsUserXAttr(root)
	if err != nil {
		log.Printf("cannot tell whether overlay needs userxattr, assuming %v: %v", userxattr, err)
	}
	_, err = os.Stat("/sys/module/overlay/parameters/index")
	s := &snapshotter{root: root, ms: ms, mk: mk, im: im, indexOff: err == nil, userxattr: userxattr}
	if err := s.restore(); err != nil {
		ms.Close()
		return nil, err
	}
	return s, nil
}

// restore rebuilds the mount counts from the metadata and the mounts found.
func (s *snapshotter) restore() error {
	ctx, t, err := s.ms.TransactionContext(context.Background(), false)
	if err != nil {
		return err
	}
	refs, names := map[string]int{}, map[string]string{}
	err = storage.WalkInfo(ctx, func(ctx context.Context, info snapshots.Info) error {
		if img := info.Labels[labelImage]; img != "" && info.Kind != snapshots.KindCommitted {
			refs[img]++
			names[img] = info.Labels[labelName]
		}
		return nil
	})
	t.Rollback()
	if err != nil && !errdefs.IsNotFound(err) { // a new metadata.db has no bucket yet
		return err
	}
	log.Printf("start: %d store images in use", len(refs))
	return s.im.reconcile(refs, names)
}

func (s *snapshotter) upperPath(id string) string {
	return filepath.Join(s.root, "snapshots", id, "fs")
}

func (s *snapshotter) workPath(id string) string {
	return filepath.Join(s.root, "snapshots", id, "work")
}

func (s *snapshotter) Stat(ctx context.Context, key string) (snapshots.Info, error) {
	ctx, t, err := s.ms.TransactionContext(ctx, false)
	if err != nil {
		return snapshots.Info{}, err
	}
	defer t.Rollback()
	_, info, _, err := storage.GetInfo(ctx, key)
	return info, err
}

func (s *snapshotter) Update(ctx context.Context, info snapshots.Info, fieldpaths ...string) (snapshots.Info, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, t, err := s.ms.TransactionContext(ctx, true)
	if err != nil {
		return snapshots.Info{}, err
	}
	// the labels this snapshotter keeps survive a client's update of all labels
	if _, old, _, err := storage.GetInfo(ctx, info.Name); err == nil {
		for _, k := range []string{labelChain, labelImage, labelName} {
			if v, ok := old.Labels[k]; ok {
				if info.Labels == nil {
					info.Labels = map[string]string{}
				}
				info.Labels[k] = v
			}
		}
	}
	info, err = storage.UpdateInfo(ctx, info, fieldpaths...)
	if err != nil {
		t.Rollback()
		return snapshots.Info{}, err
	}
	return info, t.Commit()
}

func (s *snapshotter) Usage(ctx context.Context, key string) (snapshots.Usage, error) {
	ctx, t, err := s.ms.TransactionContext(ctx, false)
	if err != nil {
		return snapshots.Usage{}, err
	}
	id, info, usage, err := storage.GetInfo(ctx, key)
	t.Rollback()
	if err != nil {
		return snapshots.Usage{}, err
	}
	if info.Kind == snapshots.KindActive {
		du, err := fs.DiskUsage(ctx, s.upperPath(id))
		if err != nil {
			return snapshots.Usage{}, err
		}
		usage = snapshots.Usage(du)
	}
	return usage, nil
}

func (s *snapshotter) Prepare(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var base snapshots.Info
	for _, opt := range opts {
		if err := opt(&base); err != nil {
			return nil, err
		}
	}
	if chain := base.Labels[labelRef]; chainRe.MatchString(chain) {
		held, err := s.heldByStore(ctx, chain, parent)
		if err != nil {
			log.Printf("prepare %s (chain %s): %v", key, chain, err)
			return nil, err
		}
		if held {
			if err := s.placeholder(ctx, key, chain, parent, base.Labels); err != nil {
				log.Printf("prepare %s (chain %s): placeholder: %v", key, chain, err)
				return nil, err
			}
			log.Printf("prepare %s: chain %s is in the store, placeholder committed", key, chain)
			return nil, fmt.Errorf("target snapshot %q: %w", chain, errdefs.ErrAlreadyExists)
		}
	}
	return s.create(ctx, snapshots.KindActive, key, parent, opts)
}

func (s *snapshotter) View(ctx context.Context, key, parent string, opts ...snapshots.Opt) ([]mount.Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.create(ctx, snapshots.KindView, key, parent, opts)
}

// heldByStore tells whether a layer of chain chain on top of parent can be a
// placeholder: the store holds the chain and everything below is one too
// (a store image replaces the whole stack under it).
func (s *snapshotter) heldByStore(ctx context.Context, chain, parent string) (bool, error) {
	if parent != "" {
		info, err := s.Stat(ctx, parent)
		if err != nil {
			return false, err
		}
		if info.Labels[labelChain] == "" {
			return false, nil
		}
	}
	r, err := s.mk.lookup(chain, false)
	if err != nil {
		return false, err
	}
	if r.Found {
		return true, nil
	}
	// a node that never converted anything: the artifact of the chain, from
	// the registry, if one holds it; a failure is logged and the layer
	// applied the normal way
	pulled, err := s.mk.pullChain(chain)
	if err != nil {
		log.Printf("chain %s: pull from %s: %v", chain, s.mk.pullFrom, err)
		return false, nil
	}
	if !pulled {
		return false, nil
	}
	log.Printf("chain %s: pulled from %s", chain, s.mk.pullFrom)
	if r, err = s.mk.lookup(chain, false); err != nil {
		return false, err
	}
	return r.Found, nil
}

// placeholder commits an empty snapshot named chain on parent, carrying the
// labels containerd gave and labelChain.
func (s *snapshotter) placeholder(ctx context.Context, key, chain, parent string, labels map[string]string) (err error) {
	ctx, t, err := s.ms.TransactionContext(ctx, true)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			t.Rollback()
		}
	}()
	if _, info, _, err := storage.GetInfo(ctx, chain); err == nil {
		if info.Parent != parent || info.Labels[labelChain] != chain {
			return fmt.Errorf("snapshot %s exists on parent %q, not a placeholder on %q", chain, info.Parent, parent)
		}
		t.Rollback()
		return nil
	}
	l := map[string]string{}
	for k, v := range labels {
		l[k] = v
	}
	l[labelRef] = chain
	l[labelChain] = chain
	tmp := "placeholder-" + key
	sn, err := storage.CreateSnapshot(ctx, snapshots.KindActive, tmp, parent)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.upperPath(sn.ID), 0755); err != nil {
		return err
	}
	if _, err := storage.CommitActive(ctx, tmp, chain, snapshots.Usage{}, snapshots.WithLabels(l)); err != nil {
		os.RemoveAll(filepath.Dir(s.upperPath(sn.ID)))
		return err
	}
	return t.Commit()
}

func (s *snapshotter) create(ctx context.Context, kind snapshots.Kind, key, parent string, opts []snapshots.Opt) (_ []mount.Mount, err error) {
	wctx, t, err := s.ms.TransactionContext(ctx, true)
	if err != nil {
		return nil, err
	}
	td, err := os.MkdirTemp(filepath.Join(s.root, "snapshots"), "new-")
	if err != nil {
		t.Rollback()
		return nil, err
	}
	committed := false
	defer func() {
		if !committed {
			t.Rollback()
			os.RemoveAll(td)
		}
	}()
	if err := os.Mkdir(filepath.Join(td, "fs"), 0755); err != nil {
		return nil, err
	}
	if kind == snapshots.KindActive {
		if err := os.Mkdir(filepath.Join(td, "work"), 0711); err != nil {
			return nil, err
		}
	}
	sn, err := storage.CreateSnapshot(wctx, kind, key, parent, opts...)
	if err != nil {
		return nil, fmt.Errorf("failed to create snapshot: %w", err)
	}
	if len(sn.ParentIDs) > 0 {
		st, err := os.Stat(s.upperPath(sn.ParentIDs[0]))
		if err != nil {
			return nil, fmt.Errorf("failed to stat parent: %w", err)
		}
		stat := st.Sys().(*syscall.Stat_t)
		if err := os.Lchown(filepath.Join(td, "fs"), int(stat.Uid), int(stat.Gid)); err != nil {
			return nil, err
		}
	}
	if err := os.Rename(td, filepath.Dir(s.upperPath(sn.ID))); err != nil {
		return nil, err
	}
	if err := t.Commit(); err != nil {
		os.RemoveAll(filepath.Dir(s.upperPath(sn.ID)))
		return nil, err
	}
	committed = true
	m, err := s.mounts(ctx, key)
	if err != nil {
		// a snapshot that cannot be mounted is not kept
		if rerr := s.remove(ctx, key); rerr != nil {
			log.Printf("removing %s after failure: %v", key, rerr)
		}
		return nil, err
	}
	return m, nil
}

func (s *snapshotter) Mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mounts(ctx, key)
}

type layer struct {
	id   string
	info snapshots.Info
}

// mounts gives the mounts of key; for a snapshot above placeholders, it
// decides now which store image serves the placeholders, mounts it if no
// snapshot does yet and records it on the snapshot (labelImage).
func (s *snapshotter) mounts(ctx context.Context, key string) ([]mount.Mount, error) {
	rctx, t, err := s.ms.TransactionContext(ctx, false)
	if err != nil {
		return nil, err
	}
	id, info, _, err := storage.GetInfo(rctx, key)
	if err != nil {
		t.Rollback()
		return nil, fmt.Errorf("failed to get active mount: %w", err)
	}
	if info.Kind == snapshots.KindCommitted {
		t.Rollback()
		return nil, fmt.Errorf("snapshot %s is committed: %w", key, errdefs.ErrFailedPrecondition)
	}
	var parents []layer
	for p := info.Parent; p != ""; {
		pid, pinfo, _, err := storage.GetInfo(rctx, p)
		if err != nil {
			t.Rollback()
			return nil, fmt.Errorf("parent %s of %s: %w", p, key, err)
		}
		parents = append(parents, layer{pid, pinfo})
		p = pinfo.Parent
	}
	t.Rollback()

	// lowers: the parents' fs directories nearest first, down to the first
	// placeholder; then the store image of that placeholder's chain.
	var lowers []string
	chain := ""
	for _, p := range parents {
		if c := p.info.Labels[labelChain]; c != "" {
			chain = c
			break
		}
		lowers = append(lowers, s.upperPath(p.id))
	}
	if chain != "" {
		// a layer being applied (the unpacker's snapshots carry its
		// label) is mounted by containerd's differ on the host, without
		// the mount manager
		host := !s.im.manager || info.Labels[labelRef] != ""
		img, err := s.storeImage(ctx, key, info, chain, host)
		if err != nil {
			log.Printf("mounts %s: %v", key, err)
			return nil, err
		}
		if !host {
			erofs, err := s.im.describe(img)
			if err != nil {
				return nil, err
			}
			return s.managed(id, info.Kind, lowers, erofs), nil
		}
		lowers = append(lowers, s.im.path(img))
	}
	return s.overlay(id, info.Kind, lowers), nil
}

// managed is the answer for containerd's mount manager (2.2+): the erofs
// mount of the store image first, then the overlay as overlay() makes it
// with that mount as its lowest lower ("format/": containerd fills in
// {{ mount 0 }} once it has mounted the erofs image). A view of the store
// image alone is the erofs mount itself. The upper and work directories
// exist already, so no mkdir/ transformer is needed.
func (s *snapshotter) managed(id string, kind snapshots.Kind, lowers []string, erofs mount.Mount) []mount.Mount {
	if len(lowers) == 0 && kind != snapshots.KindActive {
		return []mount.Mount{erofs}
	}
	ov := s.overlay(id, kind, append(lowers, "{{ mount 0 }}"))
	ov[0].Type = "format/" + ov[0].Type
	return append([]mount.Mount{erofs}, ov...)
}

// storeImage returns the store image mounted for key (whose topmost
// placeholder holds chain), mounting it and counting key on it the first
// time.
func (s *snapshotter) storeImage(ctx context.Context, key string, info snapshots.Info, chain string, host bool) (string, error) {
	if img := info.Labels[labelImage]; img != "" {
		// decided before: mount it again if it went away
		if err := s.im.ensure(img, info.Labels[labelName], host); err != nil {
			return "", err
		}
		return img, nil
	}
	r, err := s.mk.lookup(chain, true)
	if err == nil && !r.Found {
		err = fmt.Errorf("not found")
	}
	if err != nil {
		// a chain that left the store since its placeholder was made
		return "", fmt.Errorf("layer chain %s is not served by the store %s: %v", chain, s.mk.store, err)
	}
	if err := s.im.acquire(r.Image, r.Name, host); err != nil {
		return "", err
	}
	wctx, t, err := s.ms.TransactionContext(ctx, true)
	if err == nil {
		upd := snapshots.Info{Name: key, Labels: map[string]string{labelImage: r.Image, labelName: r.Name}}
		if _, err = storage.UpdateInfo(wctx, upd, "labels."+labelImage, "labels."+labelName); err == nil {
			err = t.Commit()
		} else {
			t.Rollback()
		}
	}
	if err != nil {
		s.im.release(r.Image)
		return "", err
	}
	log.Printf("%s: chain %s served by store image %s (%s)", key, chain, r.Image, r.Name)
	return r.Image, nil
}

// overlay is the mount of snapshot id of kind with lowers (nearest first),
// as containerd's overlay snapshotter makes it.
func (s *snapshotter) overlay(id string, kind snapshots.Kind, lowers []string) []mount.Mount {
	if len(lowers) == 0 {
		ro := "rw"
		if kind == snapshots.KindView {
			ro = "ro"
		}
		return []mount.Mount{{Source: s.upperPath(id), Type: "bind", Options: []string{ro, "rbind"}}}
	}
	if kind != snapshots.KindActive && len(lowers) == 1 {
		return []mount.Mount{{Source: lowers[0], Type: "bind", Options: []string{"ro", "rbind"}}}
	}
	var options []string
	if s.indexOff {
		options = append(options, "index=off")
	}
	if s.userxattr {
		options = append(options, "userxattr")
	}
	if kind == snapshots.KindActive {
		options = append(options, "workdir="+s.workPath(id), "upperdir="+s.upperPath(id))
	}
	options = append(options, "lowerdir="+strings.Join(lowers, ":"))
	return []mount.Mount{{Type: "overlay", Source: "overlay", Options: options}}
}

func (s *snapshotter) Commit(ctx context.Context, name, key string, opts ...snapshots.Opt) (err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, t, err := s.ms.TransactionContext(ctx, true)
	if err != nil {
		return err
	}
	id, info, _, err := storage.GetInfo(ctx, key)
	if err != nil {
		t.Rollback()
		return err
	}
	usage, err := fs.DiskUsage(ctx, s.upperPath(id))
	if err != nil {
		t.Rollback()
		return err
	}
	if _, err = storage.CommitActive(ctx, key, name, snapshots.Usage(usage), opts...); err != nil {
		t.Rollback()
		return fmt.Errorf("failed to commit snapshot: %w", err)
	}
	if err := t.Commit(); err != nil {
		return err
	}
	s.im.release(info.Labels[labelImage])
	return nil
}

func (s *snapshotter) Remove(ctx context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remove(ctx, key)
}

func (s *snapshotter) remove(ctx context.Context, key string) error {
	ctx, t, err := s.ms.TransactionContext(ctx, true)
	if err != nil {
		return err
	}
	_, info, _, err := storage.GetInfo(ctx, key)
	if err == nil {
		_, _, err = storage.Remove(ctx, key)
	}
	if err != nil {
		t.Rollback()
		return fmt.Errorf("failed to remove: %w", err)
	}
	dirs, err := s.unusedDirs(ctx)
	if err != nil {
		t.Rollback()
		return err
	}
	if err := t.Commit(); err != nil {
		return err
	}
	for _, d := range dirs {
		if err := os.RemoveAll(d); err != nil {
			log.Printf("removing %s: %v", d, err)
		}
	}
	if info.Kind != snapshots.KindCommitted {
		s.im.release(info.Labels[labelImage])
	}
	return nil
}

// unusedDirs lists the snapshot directories no snapshot owns.
func (s *snapshotter) unusedDirs(ctx context.Context) ([]string, error) {
	ids, err := storage.IDMap(ctx)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(s.root, "snapshots")
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var res []string
	for _, e := range ents {
		if _, ok := ids[e.Name()]; !ok && !strings.HasPrefix(e.Name(), "new-") {
			res = append(res, filepath.Join(dir, e.Name()))
		}
	}
	return res, nil
}

func (s *snapshotter) Walk(ctx context.Context, fn snapshots.WalkFunc, filters ...string) error {
	ctx, t, err := s.ms.TransactionContext(ctx, false)
	if err != nil {
		return err
	}
	defer t.Rollback()
	return storage.WalkInfo(ctx, fn, filters...)
}

// Cleanup removes the directories of removed snapshots.
func (s *snapshotter) Cleanup(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, t, err := s.ms.TransactionContext(ctx, false)
	if err != nil {
		return err
	}
	dirs, err := s.unusedDirs(ctx)
	t.Rollback()
	if err != nil {
		return err
	}
	for _, d := range dirs {
		os.RemoveAll(d)
	}
	return nil
}

func (s *snapshotter) Close() error {
	return s.ms.Close()
}
