// Package images describes perouter's two container images once, as a
// Recipe, and builds them into OCI archives without a container engine.
//
// The same Recipe drives both ways an image is made:
//   - Builder (build.go) assembles the image with go-containerregistry: a
//     Debian base (pulled from a registry, or made with debootstrap where no
//     registry is reachable), a layer of the recipe's Debian packages
//     installed with apt-get in a chroot, and a layer of this repository's
//     files (static Go binaries, the router start script).
//   - Dockerfile (dockerfile.go) renders the Dockerfiles at the top of the
//     repository; a test keeps the committed ones equal to the rendering.
//
// See docs/images.md.
package images

import (
	"fmt"
	"io/fs"
	"strings"
)

// Recipe is everything that makes one image: a Debian base, packages,
// files from this repository, and the runtime configuration.
type Recipe struct {
	// Name is the archive's name (bin/images/<Name>.tar) and the -images
	// flag's value.
	Name string
	// Repository is the image reference without tag; the chart's
	// images.<Name>.repository default.
	Repository string
	// Dockerfile is the path, relative to the repository root, of the
	// Dockerfile rendered from this recipe.
	Dockerfile string
	// Description is the org.opencontainers.image.description label.
	Description string
	// Suite is the Debian suite of the base (debian:<Suite>-slim, or
	// debootstrap <Suite>).
	Suite string
	// Packages are installed with AptInstallScript, without recommends.
	Packages []string
	// GoBinaries are main packages built with GoBuildEnv/GoBuildFlags and
	// installed at BinDir/<last path element>.
	GoBinaries []string
	// Files are copied from the repository.
	Files []File
	// Entrypoint is the image's ENTRYPOINT (the chart sets each
	// container's command explicitly; this is what `docker run` runs).
	Entrypoint []string
	// User is the image's USER.
	User string
}

// File is a file of this repository placed in an image.
type File struct {
	// Source is relative to the repository root.
	Source string
	// Dest is the absolute path in the image.
	Dest string
	Mode fs.FileMode
}

// BinDir is where Go binaries go.
const BinDir = "/usr/local/bin"

// GoBuildEnv and GoBuildFlags build the static binaries (no libc needed,
// so they run on any base).
var (
	GoBuildEnv   = []string{"CGO_ENABLED=0"}
	GoBuildFlags = []string{"-trimpath", "-ldflags", "-s -w"}
)

// SourceURL is the org.opencontainers.image.source label.
const SourceURL = "https://github.com/perouter/perouter"

// DefaultPath is the PATH of Debian's images, set on a debootstrap base
// (a registry base brings its own).
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// FRRSuite and FRRVersion: the images' Debian suite and their FRR, pinned.
// FRR >= 10.6 keeps a restarting peer's EVPN type-2/3 routes through a
// graceful restart (8.4 and trixie's 10.3 withdraw them); forky (testing)
// carries 10.7.1. The Makefile's FRR10_SUITE/FRR10_VERSION, the root
// file system the real-FRR tests run (hack/frr-rootfs.sh), must name the
// same (TestFRRRootMatchesImages).
const (
	FRRSuite   = "forky"
	FRRVersion = "10.7.1-6"
)

// goBuildSuite is the Debian suite of the Dockerfiles' Go build stage
// (golang:<go>-<suite>); the binaries are static, so it need not be the
// images' suite.
const goBuildSuite = "trixie"

// Recipes returns the recipes of all images, in build order.
func Recipes() []Recipe {
	return []Recipe{
		{
			Name:        "perouter",
			Repository:  "ghcr.io/perouter/perouter",
			Dockerfile:  "Dockerfile",
			Description: "perouter controller, labeler, reloader and perouterctl; the controller reads BGP state with FRR's vtysh",
			Suite:       FRRSuite,
			// frr for vtysh (Debian ships it in the frr package), iproute2
			// for `ip netns`, ca-certificates for the API server's TLS,
			// containernetworking-plugins for CNIDevice underlay links
			// (macvlan, ipvlan, static/host-local/dhcp IPAM, in /usr/lib/cni).
			Packages:   []string{"ca-certificates", "containernetworking-plugins", "frr=" + FRRVersion, "iproute2"},
			GoBinaries: []string{"./cmd/controller", "./cmd/labeler", "./cmd/reloader", "./cmd/perouterctl"},
			Entrypoint: []string{BinDir + "/controller"},
			User:       "0",
		},
		{
			Name:        "router",
			Repository:  "ghcr.io/perouter/router",
			Dockerfile:  "Dockerfile.router",
			Description: "FRR 10 in the router network namespace, with perouter's reloader sidecar",
			Suite:       FRRSuite,
			// frr-pythontools carries frr-reload.py, which the reloader
			// runs; iproute2 for router-start's `ip netns`.
			Packages:   []string{"frr-pythontools=" + FRRVersion, "frr=" + FRRVersion, "iproute2"},
			GoBinaries: []string{"./cmd/reloader"},
			Files: []File{
				{Source: "operator/config/router/router-start.sh", Dest: BinDir + "/router-start", Mode: 0o755},
			},
			Entrypoint: []string{BinDir + "/router-start"},
			User:       "0",
		},
	}
}

// RecipeNamed returns the recipe named name.
func RecipeNamed(name string) (Recipe, error) {
	var names []string
	for _, r := range Recipes() {
		if r.Name == name {
			return r, nil
		}
		names = append(names, r.Name)
	}
	return Recipe{}, fmt.Errorf("no image recipe %q: the images are %s", name, strings.Join(names, ", "))
}

// BaseReference is the registry image a recipe's base is pulled from.
func (r Recipe) BaseReference() string { return "debian:" + r.Suite + "-slim" }

// BinaryDest is where a Go main package's binary goes in the image.
func BinaryDest(pkg string) string {
	return BinDir + "/" + pkg[strings.LastIndex(pkg, "/")+1:]
}

// Labels are the image's labels for a version (the image's tag).
func (r Recipe) Labels(version string) map[string]string {
	return map[string]string{
		"org.opencontainers.image.title":       r.Name,
		"org.opencontainers.image.description": r.Description,
		"org.opencontainers.image.source":      SourceURL,
		"org.opencontainers.image.version":     version,
	}
}

// AptInstallScript is the shell command that installs a recipe's packages
// on its base: run in a chroot by the Builder and as a RUN step by the
// Dockerfiles. It leaves no package lists or downloaded archives behind.
func AptInstallScript(packages []string) string {
	return "apt-get update" +
		" && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends " + strings.Join(packages, " ") +
		" && apt-get clean" +
		" && rm -rf /var/lib/apt/lists/*"
}
