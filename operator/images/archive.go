package images

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/moby/go-archive"
)

// Annotations naming an image in an OCI layout: containerd's importer
// (`ctr images import`, and a kubelet node's runtime) names the image by
// the first; the second is the OCI tag (what skopeo and podman match).
const (
	AnnotationContainerdName = "io.containerd.image.name"
	AnnotationRefName        = "org.opencontainers.image.ref.name"
)

// WriteArchive writes img as an OCI image layout, tarred, to path, named
// ref (a full reference with tag, e.g. ghcr.io/perouter/router:v0.1.0).
// The archive's bytes depend only on the image: the same image gives the
// same file.
func WriteArchive(path string, img v1.Image, ref string) error {
	tag, err := name.NewTag(ref)
	if err != nil {
		return fmt.Errorf("image reference %q: %w", ref, err)
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".oci-layout-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendImage(img, layout.WithPlatform(Platform), layout.WithAnnotations(map[string]string{
		AnnotationContainerdName: tag.Name(),
		AnnotationRefName:        tag.TagStr(),
	})); err != nil {
		return fmt.Errorf("writing the OCI layout of %s: %w", ref, err)
	}
	// Fixed times and owners: the tar's bytes then depend on the content only.
	if err := filepath.WalkDir(dir, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Chtimes(p, Epoch, Epoch)
	}); err != nil {
		return err
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	err = captureArchiveErrors(func() error {
		rc, err := archive.TarWithOptions(dir, &archive.TarOptions{ChownOpts: &archive.ChownOpts{UID: 0, GID: 0}})
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(f, rc)
		return err
	})
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ReadArchive reads the image named ref from an archive WriteArchive wrote,
// unpacking it into dir (which must exist and stay while the image is used).
func ReadArchive(path, dir string) (v1.Image, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if err := archive.Untar(f, dir, &archive.TarOptions{NoLchown: true}); err != nil {
		return nil, fmt.Errorf("unpacking %s: %w", path, err)
	}
	ii, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	if len(im.Manifests) != 1 {
		return nil, fmt.Errorf("%s: %d images, want 1", path, len(im.Manifests))
	}
	return ii.Image(im.Manifests[0].Digest)
}

// ArchiveReference is the reference (e.g. ghcr.io/perouter/router:v0.1.0)
// an archive WriteArchive wrote names its image by: what a node's runtime
// calls the image once it imported the archive, so what a pod must ask for.
func ArchiveReference(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return "", fmt.Errorf("%s: no index.json: not an OCI image layout archive (make images writes them)", path)
		}
		if err != nil {
			return "", fmt.Errorf("reading %s: %w", path, err)
		}
		if filepath.Clean(h.Name) != "index.json" {
			continue
		}
		im, err := v1.ParseIndexManifest(tr)
		if err != nil {
			return "", fmt.Errorf("%s: index.json: %w", path, err)
		}
		if len(im.Manifests) != 1 || im.Manifests[0].Annotations[AnnotationContainerdName] == "" {
			return "", fmt.Errorf("%s: want one image named by the %s annotation, got %d images", path, AnnotationContainerdName, len(im.Manifests))
		}
		return im.Manifests[0].Annotations[AnnotationContainerdName], nil
	}
}
