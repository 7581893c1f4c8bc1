// mkimg-snapshotter: a containerd proxy snapshotter serving containerd's
// snapshots gRPC API on a unix socket. Layers whose chain the mkimg store
// holds become placeholders; containers run on an overlay over the store
// image's mount. See README.md.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/BurntSushi/toml"
	snapshotsapi "github.com/containerd/containerd/api/services/snapshots/v1"
	"github.com/containerd/containerd/contrib/snapshotservice"
	"google.golang.org/grpc"
)

// config is the file given with --config (TOML); flags override it.
type config struct {
	Address string `toml:"address"` // the socket containerd's proxy_plugins entry names
	Root    string `toml:"root"`    // metadata, overlay directories, store-image mounts
	Store   string `toml:"store"`   // the mkimg store
	Mkimg   string `toml:"mkimg"`   // the mkimg program
	Domain  string `toml:"domain"`  // page-cache domain of the mounts (mkimg mount --domain)
	// Verify hashes a store image and its blobs each time it is mounted
	// (mkimg mount --verify), so a blob with the right size and other
	// bytes never becomes a rootfs. Default true.
	Verify bool `toml:"verify"`
	// Directio reads the blobs with direct I/O (mkimg mount --directio),
	// so a page read is cached once, in the erofs inode, not a second time
	// in the blob file's page cache. Default true (README: by measurement).
	Directio bool `toml:"directio"`
	// MountManager (containerd 2.2+): answer Mounts with the erofs mount and
	// a format/overlay on it for containerd's mount manager to perform,
	// mounting nothing on the host; images in use are pinned instead.
	MountManager bool `toml:"mount_manager"`
	// PullFrom (docker://HOST/REPO): where mkimg artifacts of the images
	// this node runs are pushed; a layer chain the store lacks is pulled
	// from there (mkimg pull --chain) before Prepare answers.
	PullFrom string `toml:"pull_from"`
	// PullOptions go to every mkimg pull: --ca-file, --creds, --authfile,
	// --tls-verify=false, --timeout.
	PullOptions []string `toml:"pull_options"`
}

const usage = `usage: mkimg-snapshotter [--config FILE] [--address SOCK] [--root DIR]
                         [--store STORE] [--mkimg PATH] [--domain NAME]
                         [--verify=false] [--directio=false] [--mount-manager]
                         [--pull-from docker://HOST/REPO [--pull-option OPT]...]

Serves containerd's snapshots API on SOCK for a [proxy_plugins.NAME] entry.
Layers whose chain the mkimg store STORE holds are not applied: their
snapshots are empty placeholders, and containers run on an overlay whose
lowest layer is the store image, mounted once under DIR/mnt by 'mkimg mount'.
Other layers are applied as with containerd's overlayfs snapshotter.

  --config FILE   TOML file with address, root, store, mkimg, domain, verify,
                  directio, mount_manager, pull_from, pull_options (flags win)
  --address SOCK  the unix socket (default /run/mkimg-snapshotter/snapshotter.sock)
  --root DIR      metadata and snapshot directories (default /var/lib/mkimg-snapshotter)
  --store STORE   the mkimg store (default $MKIMG_STORE, else /var/lib/mkimg)
  --mkimg PATH    the mkimg program (default: mkimg from PATH)
  --domain NAME   page-cache domain of the store mounts (inode_share, Linux
                  7.0+: mounts fail on kernels without it); default: mkimg
                  mount's choice (domain "mkimg" where the kernel has it)
  --verify=false  do not hash a store image and its blobs when mounting it
                  (default: hashed, at each first mount of an image)
  --directio=false  read the blobs through their page cache (default: direct
                  I/O, mkimg mount --directio: each page cached once, not twice)
  --mount-manager containerd 2.2+: Mounts answers the erofs mount of the store
                  image and a format/overlay on it, for containerd's mount
                  manager to perform; nothing is mounted on the host by the
                  snapshotter, the images in use are pinned instead
  --pull-from docker://HOST/REPO  a repository of mkimg artifacts (mkimg push):
                  a layer chain the store lacks is pulled from there (the
                  artifact whose layers hold it) when Prepare asks for it, so
                  a node that never converted anything runs store images
  --pull-option OPT  an option of mkimg pull for those pulls, one per flag
                  (a CA file, credentials, TLS; see mkimg-pull(1))

A store that does not exist yet holds nothing: every layer is applied the
normal way until mkimg creates it. A path that is not a store is refused.
`

func main() {
	log.SetFlags(0)
	log.SetPrefix("mkimg-snapshotter: ")
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	fl := flag.NewFlagSet("mkimg-snapshotter", flag.ContinueOnError)
	fl.Usage = func() { fmt.Fprint(os.Stderr, usage) }
	cfgFile := fl.String("config", "", "")
	var flags config
	fl.StringVar(&flags.Address, "address", "", "")
	fl.StringVar(&flags.Root, "root", "", "")
	fl.StringVar(&flags.Store, "store", "", "")
	fl.StringVar(&flags.Mkimg, "mkimg", "", "")
	fl.StringVar(&flags.Domain, "domain", "", "")
	fl.BoolVar(&flags.Verify, "verify", true, "")
	fl.BoolVar(&flags.Directio, "directio", true, "")
	fl.BoolVar(&flags.MountManager, "mount-manager", false, "")
	fl.StringVar(&flags.PullFrom, "pull-from", "", "")
	fl.Func("pull-option", "", func(v string) error {
		flags.PullOptions = append(flags.PullOptions, v)
		return nil
	})
	if err := fl.Parse(os.Args[1:]); err != nil {
		if err == flag.ErrHelp {
			return nil
		}
		os.Exit(2)
	}
	if fl.NArg() != 0 {
		fl.Usage()
		os.Exit(2)
	}
	cfg := config{
		Address: "/run/mkimg-snapshotter/snapshotter.sock",
		Root:    "/var/lib/mkimg-snapshotter",
		Store:   os.Getenv("MKIMG_STORE"),
		Mkimg:   "mkimg",
		Verify:  true,
		// directio: half the page cache of buffered mounts for the
		// same warm reads (tests/vm/run.sh); cold reads lose readahead
		Directio: true,
	}
	if cfg.Store == "" {
		cfg.Store = "/var/lib/mkimg"
	}
	if *cfgFile != "" {
		md, err := toml.DecodeFile(*cfgFile, &cfg)
		if err != nil {
			return fmt.Errorf("config %s: %v", *cfgFile, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return fmt.Errorf("config %s: unknown key %s", *cfgFile, und[0])
		}
	}
	fl.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "address":
			cfg.Address = flags.Address
		case "root":
			cfg.Root = flags.Root
		case "store":
			cfg.Store = flags.Store
		case "mkimg":
			cfg.Mkimg = flags.Mkimg
		case "domain":
			cfg.Domain = flags.Domain
		case "verify":
			cfg.Verify = flags.Verify
		case "directio":
			cfg.Directio = flags.Directio
		case "mount-manager":
			cfg.MountManager = flags.MountManager
		case "pull-from":
			cfg.PullFrom = flags.PullFrom
		case "pull-option":
			cfg.PullOptions = flags.PullOptions
		}
	})
	for _, p := range []*string{&cfg.Address, &cfg.Root, &cfg.Store} {
		abs, err := filepath.Abs(*p)
		if err != nil {
			return err
		}
		*p = abs
	}
	if cfg.PullFrom != "" && (!strings.HasPrefix(cfg.PullFrom, "docker://") ||
		strings.ContainsAny(cfg.PullFrom[len("docker://"):], "@")) {
		return fmt.Errorf("pull_from %q: a registry repository, docker://HOST/REPO", cfg.PullFrom)
	}
	mk := &mkimgCLI{bin: cfg.Mkimg, store: cfg.Store, domain: cfg.Domain,
		verify: cfg.Verify, directio: cfg.Directio,
		pullFrom: cfg.PullFrom, pullOptions: cfg.PullOptions}
	if mk.storeAbsent() {
		log.Printf("store %s does not exist yet: layers are applied the normal way until it does", cfg.Store)
	} else if _, err := mk.run("ls", "--store", cfg.Store, "--json"); err != nil {
		return fmt.Errorf("store %s: %v", cfg.Store, err)
	}

	// refuse a socket in use before the metadata, whose lock would wait
	if err := checkAddress(cfg.Address); err != nil {
		return err
	}
	sn, err := newSnapshotter(cfg.Root, mk, cfg.MountManager)
	if err != nil {
		return fmt.Errorf("root %s: %v", cfg.Root, err)
	}
	defer sn.Close()
	ln, err := listen(cfg.Address)
	if err != nil {
		return err
	}
	defer os.Remove(cfg.Address)

	srv := grpc.NewServer()
	snapshotsapi.RegisterSnapshotsServer(srv, snapshotservice.FromSnapshotter(sn))
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sig
		log.Printf("%v: stopping (store-image mounts stay for running containers)", s)
		srv.GracefulStop()
	}()
	how := "mounted by"
	if cfg.MountManager {
		how = "mounted by containerd's mount manager, described by"
	}
	log.Printf("serving %s (root %s; store images %s: %s %s)", cfg.Address, cfg.Root, how,
		cfg.Mkimg, strings.Join(mk.mountArgs(), " "))
	return srv.Serve(ln)
}

// checkAddress refuses a socket another process serves.
func checkAddress(addr string) error {
	if _, err := os.Lstat(addr); err != nil {
		return nil
	}
	c, err := net.DialTimeout("unix", addr, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("address %s is in use by another process", addr)
	}
	return nil
}

// listen opens the unix socket at addr, replacing a stale one.
func listen(addr string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(addr), 0711); err != nil {
		return nil, err
	}
	if err := checkAddress(addr); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(addr); err == nil {
		if err := os.Remove(addr); err != nil {
			return nil, fmt.Errorf("address %s: removing the stale socket: %v", addr, err)
		}
	}
	ln, err := net.Listen("unix", addr)
	if err != nil {
		return nil, fmt.Errorf("address %s: %v", addr, err)
	}
	return ln, nil
}
