package images

import (
	"os"
	"regexp"
	"testing"
)

// TestFRRRootMatchesImages: the FRR root file system the real-FRR tests run
// (the Makefile's FRR10_SUITE and FRR10_VERSION, built by
// hack/frr-rootfs.sh) is the FRR the images install, so the goldens and the
// graceful-restart test prove the FRR that ships.
func TestFRRRootMatchesImages(t *testing.T) {
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"FRR10_SUITE": FRRSuite, "FRR10_VERSION": FRRVersion} {
		m := regexp.MustCompile(`(?m)^` + name + ` \?= (\S+)$`).FindSubmatch(mk)
		if m == nil {
			t.Errorf("Makefile sets no %s", name)
			continue
		}
		if string(m[1]) != want {
			t.Errorf("Makefile %s = %s, the images' is %s (images.FRRSuite/FRRVersion): change both", name, m[1], want)
		}
	}
	for _, r := range Recipes() {
		if r.Suite != FRRSuite {
			t.Errorf("image %s is built on %s, want %s (FRRSuite)", r.Name, r.Suite, FRRSuite)
		}
	}
}
