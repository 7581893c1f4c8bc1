package main

// Store-image mounts: one mount of each store image under ROOT/mnt/<hex>,
// however many snapshots use it, counted by the snapshots whose metadata
// names the image (label mkimg.image). The count is rebuilt from the
// metadata and /proc/self/mountinfo at start, so a killed snapshotter leaks
// no mount and mounts nothing twice.
//
// In mount-manager mode (containerd 2.2+) containerd performs the erofs
// mount of a container's rootfs itself. Each image in use is pinned by a
// pin this process holds (mkimg pin --pid), dropped with the last snapshot
// using it and taken again at start; the image is mounted here only for
// snapshots containerd mounts on the host itself (a layer being applied
// above a store image), and unmounted with the last snapshot.

import (
	"bufio"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/containerd/containerd/mount"
)

type imageMounts struct {
	dir     string // ROOT/mnt
	mk      *mkimgCLI
	refs    map[string]int    // image digest -> snapshots using its mount
	names   map[string]string // image digest -> the store name it was mounted by
	manager bool              // mount-manager mode: pins and descriptions, no mounts
	pins    map[string]string // (manager) image digest -> the id of this process's pin
	descs   map[string]mount.Mount
}

func newImageMounts(dir string, mk *mkimgCLI, manager bool) (*imageMounts, error) {
	if err := os.MkdirAll(dir, 0700); err != nil {
		return nil, err
	}
	return &imageMounts{dir: dir, mk: mk, refs: map[string]int{}, names: map[string]string{},
		manager: manager, pins: map[string]string{}, descs: map[string]mount.Mount{}}, nil
}

// describe is the erofs mount of image for containerd's mount manager.
func (im *imageMounts) describe(image string) (mount.Mount, error) {
	if d, ok := im.descs[image]; ok {
		return d, nil
	}
	return mount.Mount{}, fmt.Errorf("store image %s is not pinned", image)
}

// path is where image (sha256:<hex>) is mounted.
func (im *imageMounts) path(image string) string {
	return filepath.Join(im.dir, strings.TrimPrefix(image, "sha256:"))
}

// unescapeMountinfo undoes the octal escapes (\040 and the like) of
// /proc/self/mountinfo fields.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mounted returns how many mounts are stacked on each mount point directly
// below im.dir.
func (im *imageMounts) mounted() (map[string]int, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	res := map[string]int{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountinfo(fields[4])
		if filepath.Dir(mp) == im.dir {
			res[mp]++
		}
	}
	return res, sc.Err()
}

func (im *imageMounts) isMounted(image string) (bool, error) {
	m, err := im.mounted()
	if err != nil {
		return false, err
	}
	return m[im.path(image)] > 0, nil
}

// ensure makes sure image is mounted (by its store name); in mount-manager
// mode, that it is pinned and described, and mounted too when host (a
// snapshot containerd mounts itself, such as a layer being applied).
func (im *imageMounts) ensure(image, name string, host bool) error {
	if im.manager {
		if err := im.ensurePinned(image, name); err != nil || !host {
			return err
		}
	}
	ok, err := im.isMounted(image)
	if err != nil || ok {
		return err
	}
	p := im.path(image)
	if err := os.MkdirAll(p, 0700); err != nil {
		return err
	}
	if err := im.mk.mount(image, name, p); err != nil {
		return err
	}
	log.Printf("mounted store image %s (%s) at %s", image, name, p)
	return nil
}

// ensurePinned pins image and asks mkimg for its mount (verified when the
// snapshotter verifies), unless done before. The pin is taken first, so
// gc cannot free what the description names.
func (im *imageMounts) ensurePinned(image, name string) error {
	if _, ok := im.descs[image]; ok {
		return nil
	}
	id, err := im.mk.pin(image)
	if err != nil {
		return err
	}
	d, err := im.mk.describe(name)
	if err == nil && "sha256:"+filepath.Base(d.Source) != image {
		err = fmt.Errorf("store name %s now names image sha256:%s, not %s", name, filepath.Base(d.Source), image)
	}
	if err != nil {
		if uerr := im.mk.unpin(id); uerr != nil {
			log.Printf("unpinning %s: %v", image, uerr)
		}
		return err
	}
	im.pins[image], im.descs[image] = id, d
	log.Printf("pinned store image %s (%s) for containerd's mount manager (pin %s)", image, name, id)
	return nil
}

// unpinImage drops this process's pin of image.
func (im *imageMounts) unpinImage(image string) {
	id := im.pins[image]
	delete(im.pins, image)
	delete(im.descs, image)
	if id == "" {
		return
	}
	if err := im.mk.unpin(id); err != nil {
		log.Printf("unpinning %s: %v", image, err)
		return
	}
	log.Printf("unpinned store image %s", image)
}

// acquire counts one more snapshot on image, mounting it if needed.
func (im *imageMounts) acquire(image, name string, host bool) error {
	if err := im.ensure(image, name, host); err != nil {
		return err
	}
	im.refs[image]++
	im.names[image] = name
	return nil
}

// release counts one snapshot less on image and unmounts it when unused.
func (im *imageMounts) release(image string) {
	if image == "" {
		return
	}
	if im.refs[image] > 1 {
		im.refs[image]--
		return
	}
	delete(im.refs, image)
	delete(im.names, image)
	if im.manager {
		im.unpinImage(image)
	}
	// (in mount-manager mode: a mount left by a run in the other mode)
	im.unmountAll(im.path(image))
}

// unmountAll removes every mount stacked on p, then the directory.
func (im *imageMounts) unmountAll(p string) {
	for i := 0; i < 16; i++ {
		m, err := im.mounted()
		if err != nil {
			log.Printf("reading mountinfo: %v", err)
			return
		}
		if m[p] == 0 {
			break
		}
		if err := im.mk.umount(p); err != nil {
			log.Printf("unmounting %s: %v", p, err)
			return
		}
		log.Printf("unmounted %s", p)
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		log.Printf("removing %s: %v", p, err)
	}
}

// reconcile sets the counts to refs (from the metadata: image -> snapshots,
// names: image -> store name), unmounts what no snapshot uses, collapses
// mounts stacked twice, and mounts again what a snapshot uses but is not
// mounted (so its pin holds while containers run).
func (im *imageMounts) reconcile(refs map[string]int, names map[string]string) error {
	im.refs, im.names = refs, names
	m, err := im.mounted()
	if err != nil {
		return err
	}
	for mp, n := range m {
		image := "sha256:" + filepath.Base(mp)
		if refs[image] == 0 {
			log.Printf("start: %s is used by no snapshot", mp)
			im.unmountAll(mp)
			continue
		}
		for ; n > 1; n-- {
			log.Printf("start: %s is mounted %d times", mp, n)
			if err := im.mk.umount(mp); err != nil {
				return err
			}
		}
	}
	// directories left without a mount
	ents, err := os.ReadDir(im.dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(im.dir, e.Name())
		if m[p] == 0 && refs["sha256:"+e.Name()] == 0 {
			os.Remove(p)
		}
	}
	// a failure here is not fatal: running containers keep their overlay,
	// and the next Mounts of such a snapshot reports the cause
	for image := range refs {
		if err := im.ensure(image, names[image], !im.manager); err != nil {
			log.Printf("start: mounting %s (%s) again: %v", image, names[image], err)
		}
	}
	return nil
}
