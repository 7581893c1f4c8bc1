package main

// Store-image mounts: one mount of each store image under ROOT/mnt/<hex>,
// however many snapshots use it, counted by the snapshots whose metadata
// names the image (label mkimg.image). The count is rebuilt from the
// metadata and /proc/self/mountinfo at start, so a killed snapshotter leaks
// no mount and mounts nothing twice.

import (
	"bufio"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

type imageMounts struct {
	dir   string // ROOT/mnt
	mk    *mkimgCLI
	refs  map[string]int    // image digest -> snapshots using its mount
	names map[string]string // image digest -> the store name it was mounted by
}

func newImageMounts(dir string, mk *mkimgCLI) (*imageMounts, error) {
	if err := os.MkdirAll(dir, 0700); err != nil {
		return nil, err
	}
	return &imageMounts{dir: dir, mk: mk, refs: map[string]int{}, names: map[string]string{}}, nil
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

// ensure makes sure image is mounted (by its store name).
func (im *imageMounts) ensure(image, name string) error {
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

// acquire counts one more snapshot on image, mounting it if needed.
func (im *imageMounts) acquire(image, name string) error {
	if err := im.ensure(image, name); err != nil {
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
		if err := im.ensure(image, names[image]); err != nil {
			log.Printf("start: mounting %s (%s) again: %v", image, names[image], err)
		}
	}
	return nil
}
