package netns

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	vnetns "github.com/vishvananda/netns"
)

// moveUnderlayIntoRouter does to a cluster node what the controller does
// to its underlay NICs: each moves into the router namespace, keeps its
// address and comes up there.
func moveUnderlayIntoRouter(t *testing.T, lab *Lab, node string, nics map[string]string) {
	t.Helper()
	router, err := vnetns.GetFromName(lab.RouterNamespace(node))
	if err != nil {
		t.Fatal(err)
	}
	defer router.Close()
	err = lab.inNamespace(lab.Namespace(node), func(h *netlink.Handle) error {
		for name := range nics {
			link, err := h.LinkByName(name)
			if err != nil {
				return err
			}
			if err := h.LinkSetNsFd(link, int(router)); err != nil {
				return fmt.Errorf("move %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	err = lab.inNamespace(lab.RouterNamespace(node), func(h *netlink.Handle) error {
		for name, addr := range nics {
			link, err := h.LinkByName(name)
			if err != nil {
				return err
			}
			a, err := netlink.ParseAddr(addr)
			if err != nil {
				return err
			}
			if err := h.AddrAdd(link, a); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if err := h.LinkSetUp(link); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// A rebooted cluster node whose underlay NICs sit in its router namespace
// comes back with every link, again and again: the deleted namespaces'
// asynchronous teardown must never leave a peer end behind that the
// recreated link collides with ("file exists").
func TestRebootClusterNodeWithNICsInRouterNamespace(t *testing.T) {
	lab := startLab(t, "testdata/minicluster.clab.yml")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const node = "mc-worker"
	nics := map[string]string{"toswitch1": "10.20.1.5/24", "toswitch2": "10.20.2.5/24"}
	for i := 1; i <= 10; i++ {
		moveUnderlayIntoRouter(t, lab, node, nics)
		pingInUntil(t, lab, lab.RouterNamespace(node), "10.20.1.11", 10*time.Second)
		if err := lab.Reboot(ctx, node); err != nil {
			t.Fatalf("reboot %d: %v", i, err)
		}
		// The machine is back as its topology describes it: NICs in the
		// host namespace with their addresses, both switches reachable.
		pingInUntil(t, lab, lab.Namespace(node), "10.20.1.11", 10*time.Second)
		pingInUntil(t, lab, lab.Namespace(node), "10.20.2.11", 10*time.Second)
		if out, err := lab.ExecIn(ctx, lab.RouterNamespace(node), "ip", "-o", "link", "show"); err != nil || strings.Contains(out, "toswitch") {
			t.Fatalf("reboot %d: router namespace of %s is not fresh: %v\n%s", i, node, err, out)
		}
	}
	if _, err := os.Stat(lab.NodeDir(node)); err != nil {
		t.Errorf("node dir after reboots: %v", err)
	}
}
