// Command imagebuild builds perouter's container images (images.Recipes)
// into OCI archives without a container engine: `make images` runs it. It
// also renders the Dockerfiles from the same recipes (-write-dockerfiles).
// See docs/images.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/perouter/perouter/operator/images"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run() error {
	cacheDefault := filepath.Join(os.Getenv("HOME"), ".cache", "perouter")
	if c := os.Getenv("PEROUTER_CACHE"); c != "" {
		cacheDefault = c
	}
	var (
		out       = flag.String("out", "bin/images", "directory of the archives (<name>.tar)")
		tag       = flag.String("tag", "dev", "the images' tag (the chart's appVersion by default in `make images`)")
		only      = flag.String("images", "", "comma-separated recipe names to build (default: all)")
		base      = flag.String("base", "auto", "where the Debian base comes from: registry (debian:<suite>-slim), debootstrap (a Debian mirror), or auto (registry, else debootstrap)")
		baseRef   = flag.String("base-ref", "", "registry reference of the base instead of debian:<suite>-slim")
		mirror    = flag.String("mirror", images.SystemMirror(), "Debian mirror for debootstrap (default: the system's apt sources)")
		cache     = flag.String("cache", filepath.Join(cacheDefault, "images"), "cache of base trees and package layers")
		repo      = flag.String("repo", ".", "repository root")
		dockerGen = flag.Bool("write-dockerfiles", false, "render the Dockerfiles from the recipes into -repo and exit")
		timeout   = flag.Duration("registry-timeout", 30*time.Second, "how long -base=auto waits for the registry before using debootstrap")
	)
	flag.Parse()
	if *dockerGen {
		return images.WriteDockerfiles(*repo)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	recipes := images.Recipes()
	if *only != "" {
		recipes = nil
		for _, n := range strings.Split(*only, ",") {
			r, err := images.RecipeNamed(n)
			if err != nil {
				return err
			}
			recipes = append(recipes, r)
		}
	}
	registry := &images.RegistryBase{Reference: *baseRef, CacheDir: *cache}
	deboot := &images.DebootstrapBase{Mirror: *mirror, CacheDir: *cache, Log: os.Stderr}
	var source images.BaseSource
	switch *base {
	case "registry":
		source = registry
	case "debootstrap":
		source = deboot
	case "auto":
		source = &images.FallbackBase{Primary: &timeoutBase{registry, *timeout}, Fallback: deboot, Log: os.Stderr}
	default:
		return fmt.Errorf("-base=%s: want registry, debootstrap or auto", *base)
	}
	b := &images.Builder{
		RepoRoot: *repo, Base: source, Install: images.AptInstaller, BuildGo: images.GoBuild,
		CacheDir: *cache, Version: *tag, Log: os.Stderr,
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	for _, r := range recipes {
		start := time.Now()
		img, err := b.Build(ctx, r)
		if err != nil {
			return err
		}
		ref := r.Repository + ":" + *tag
		path := filepath.Join(*out, r.Name+".tar")
		if err := images.WriteArchive(path, img, ref); err != nil {
			return err
		}
		digest, err := img.Digest()
		if err != nil {
			return err
		}
		compressed, unpacked, err := images.Sizes(img)
		if err != nil {
			return err
		}
		fi, err := os.Stat(path)
		if err != nil {
			return err
		}
		fmt.Printf("%s\t%s\t%s\tcompressed %s\tunpacked %s\tarchive %s\t%s\t(%s)\n",
			r.Name, ref, digest, mb(compressed), mb(unpacked), mb(fi.Size()), path, time.Since(start).Round(time.Second))
	}
	return nil
}

func mb(n int64) string { return fmt.Sprintf("%.1f MB", float64(n)/1e6) }

// timeoutBase bounds a registry pull, so that -base=auto falls back
// quickly where no registry answers.
type timeoutBase struct {
	inner   images.BaseSource
	timeout time.Duration
}

func (t *timeoutBase) Base(ctx context.Context, r images.Recipe) (*images.Base, error) {
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	return t.inner.Base(ctx, r)
}
