package main

// The mkimg CLI, as the snapshotter calls it: every decision about what the
// store holds, every build and every mount is made there. This file runs the
// commands and parses their JSON; it holds no state.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/containerd/containerd/mount"
)

type mkimgCLI struct {
	bin      string // the mkimg program
	store    string // the store directory (--store)
	domain   string // mkimg mount --domain, if set
	verify   bool   // mkimg mount --verify: hash the image and its blobs
	directio bool   // mkimg mount --directio
	// pullFrom: a registry repository of mkimg artifacts (mkimg pull
	// --chain), "" for none; pullOptions go to each such pull
	pullFrom    string
	pullOptions []string
}

// storeAbsent tells whether the store directory does not exist (yet): the
// store holds nothing then, and every layer is applied the normal way. A
// path that exists but is no store is mkimg's to refuse.
func (m *mkimgCLI) storeAbsent() bool {
	_, err := os.Lstat(m.store)
	return os.IsNotExist(err)
}

// lookupResult is the answer of `mkimg lookup --chain X --json`.
type lookupResult struct {
	Chain  string `json:"chain"`
	Found  bool   `json:"found"`
	Layers int    `json:"layers"`
	Image  string `json:"image"` // null decodes as ""
	Name   string `json:"name"`
	Prefix bool   `json:"prefix"`
}

var (
	chainRe  = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	digestRe = chainRe
)

// run runs mkimg with args and returns its stdout. A failure carries mkimg's
// own one-line message.
func (m *mkimgCLI) run(args ...string) ([]byte, error) {
	cmd := exec.Command(m.bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("%s %s: %s", m.bin, strings.Join(args, " "), msg)
	}
	return stdout.Bytes(), nil
}

// lookup asks the store whether it holds the layer chain chain; with build it
// also has mkimg make (or find) an image for exactly that chain.
func (m *mkimgCLI) lookup(chain string, build bool) (*lookupResult, error) {
	if !build && m.storeAbsent() {
		return &lookupResult{Chain: chain}, nil
	}
	args := []string{"lookup", "--store", m.store, "--chain", chain, "--json"}
	if build {
		args = []string{"lookup", "--store", m.store, "--chain", chain, "--build", "--json"}
	}
	out, err := m.run(args...)
	if err != nil {
		return nil, err
	}
	var r lookupResult
	if err := json.Unmarshal(out, &r); err != nil {
		return nil, fmt.Errorf("mkimg lookup %s: unreadable answer %q: %v", chain, strings.TrimSpace(string(out)), err)
	}
	if r.Chain != chain {
		return nil, fmt.Errorf("mkimg lookup %s: answered for chain %q", chain, r.Chain)
	}
	if build && r.Found && (!digestRe.MatchString(r.Image) || r.Name == "") {
		return nil, fmt.Errorf("mkimg lookup --build %s: no image in the answer %q", chain, strings.TrimSpace(string(out)))
	}
	return &r, nil
}

// pullChain has mkimg pull into the store the artifact of m.pullFrom whose
// layers hold chain (mkimg pull --chain; it creates the store if needed).
// false without a pullFrom, or when no artifact there holds the chain.
func (m *mkimgCLI) pullChain(chain string) (bool, error) {
	if m.pullFrom == "" {
		return false, nil
	}
	args := append([]string{"pull", "--store", m.store, "--chain", chain, "--replace", "-q"},
		m.pullOptions...)
	if _, err := m.run(append(args, m.pullFrom)...); err != nil {
		if strings.Contains(err.Error(), "no mkimg artifact of its tags holds chain") {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// mountArgs are the options of every store-image mount the snapshotter makes
// (mkimg mount --print with the same options shows the mount itself).
func (m *mkimgCLI) mountArgs() []string {
	args := []string{"mount", "--store", m.store}
	if m.domain != "" {
		args = append(args, "--domain", m.domain)
	}
	if m.verify {
		args = append(args, "--verify")
	}
	if m.directio {
		args = append(args, "--directio")
	}
	return args
}

// describe returns the erofs mount of store image name, verified first
// when m.verify (mkimg mount --print --json), for containerd's mount
// manager to perform.
func (m *mkimgCLI) describe(name string) (mount.Mount, error) {
	out, err := m.run(append(m.mountArgs(), "--print", "--json", name, "/")...)
	if err != nil {
		return mount.Mount{}, err
	}
	var d struct {
		Type    string   `json:"type"`
		Source  string   `json:"source"`
		Options []string `json:"options"`
	}
	if err := json.Unmarshal(out, &d); err != nil || d.Type != "erofs" || d.Source == "" {
		return mount.Mount{}, fmt.Errorf("mkimg mount --print --json %s: unreadable answer %q", name, strings.TrimSpace(string(out)))
	}
	return mount.Mount{Type: d.Type, Source: d.Source, Options: d.Options}, nil
}

// pin pins image (sha256:<hex>) for as long as this process runs and
// returns the pin's id.
func (m *mkimgCLI) pin(image string) (string, error) {
	out, err := m.run("pin", "--store", m.store, "--pid", strconv.Itoa(os.Getpid()),
		"--what", "mkimg-snapshotter (mounts for containerd's mount manager)", image)
	if err != nil {
		return "", err
	}
	id := strings.TrimSpace(string(out))
	if id == "" || strings.ContainsAny(id, " \n") {
		return "", fmt.Errorf("mkimg pin %s: unreadable answer %q", image, id)
	}
	return id, nil
}

// unpin drops the pin id.
func (m *mkimgCLI) unpin(id string) error {
	_, err := m.run("unpin", "--store", m.store, id)
	return err
}

// mount mounts the store image name, expected to be image, at dir (the
// mount pins the image). The pin tells which image was mounted: another one
// (the name was given to another image meanwhile) is unmounted again.
func (m *mkimgCLI) mount(image, name, dir string) error {
	args := m.mountArgs()
	if _, err := m.run(append(args, name, dir)...); err != nil {
		return err
	}
	out, err := m.run("pins", "--store", m.store, "--json")
	if err == nil {
		var pins []struct {
			Image  string `json:"image_sha256"`
			Target string `json:"target"`
		}
		if err = json.Unmarshal(out, &pins); err == nil {
			err = fmt.Errorf("no pin of the mount on %s", dir)
			real, rerr := filepath.EvalSymlinks(dir)
			if rerr != nil {
				real = dir
			}
			for _, p := range pins {
				if p.Target != dir && p.Target != real {
					continue
				}
				if "sha256:"+p.Image == image {
					return nil
				}
				err = fmt.Errorf("store name %s now names image sha256:%s, not %s", name, p.Image, image)
			}
		}
	}
	if uerr := m.umount(dir); uerr != nil {
		return fmt.Errorf("%v (and %v)", err, uerr)
	}
	return err
}

// umount unmounts dir and drops the pin of its mount.
func (m *mkimgCLI) umount(dir string) error {
	_, err := m.run("umount", "--store", m.store, dir)
	return err
}
