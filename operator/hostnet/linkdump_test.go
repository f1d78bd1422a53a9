package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/perouter/perouter/operator/nodeconfig"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// leanView is what the Manager reads from a link; dumpLinks must agree
// with the library's full decoder on all of it.
type leanView struct {
	Type, Name, Alias, MAC     string
	Index, MTU, Master, Parent int
	Up                         bool
	Group                      uint32
	VRFTable                   uint32
	VNI, Port                  int
	Local                      string
	Learning                   bool
}

func viewOf(l netlink.Link) leanView {
	a := l.Attrs()
	v := leanView{
		Type: l.Type(), Name: a.Name, Alias: a.Alias, MAC: a.HardwareAddr.String(),
		Index: a.Index, MTU: a.MTU, Master: a.MasterIndex, Parent: a.ParentIndex,
		Up: a.Flags&net.FlagUp != 0, Group: a.Group,
	}
	switch x := l.(type) {
	case *netlink.Vrf:
		v.VRFTable = x.Table
	case *netlink.Vxlan:
		v.VNI, v.Port, v.Local, v.Learning = x.VxlanId, x.Port, x.SrcAddr.String(), x.Learning
	}
	return v
}

// compareDumps checks dumpLinks against the library and the AF_BRIDGE
// dump and returns how many bridge ports it compared.
func compareDumps(t *testing.T, e *env, ns string) int {
	t.Helper()
	fd, err := netns.GetFromPath(netnsPath(ns))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	sock, err := routeSocket(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	var lean, full []netlink.Link
	var ports map[int]bridgePort
	err = retry(context.Background(), func() (err error) {
		lean, ports, err = dumpLinks(sock)
		return err
	})
	if err != nil {
		t.Fatalf("dumpLinks: %v", err)
	}
	h := e.handle(ns)
	err = retry(context.Background(), func() (err error) {
		full, err = h.LinkList()
		return err
	})
	if err != nil {
		t.Fatalf("LinkList: %v", err)
	}
	view := func(ls []netlink.Link) map[string]leanView {
		out := map[string]leanView{}
		for _, l := range ls {
			out[l.Attrs().Name] = viewOf(l)
		}
		return out
	}
	if diff := cmp.Diff(view(full), view(lean)); diff != "" {
		t.Errorf("links of %s: dumpLinks disagrees with the library (-library +dumpLinks):\n%s", ns, diff)
	}
	var reference map[int]bridgePort
	err = retry(context.Background(), func() (err error) {
		reference, err = dumpBridgePorts(fd)
		return err
	})
	if err != nil {
		t.Fatalf("AF_BRIDGE dump: %v", err)
	}
	if diff := cmp.Diff(reference, ports); diff != "" {
		t.Errorf("bridge ports of %s: dumpLinks disagrees with the AF_BRIDGE dump (-AF_BRIDGE +dumpLinks):\n%s", ns, diff)
	}
	return len(ports)
}

func TestDumpLinksMatchesLibrary(t *testing.T) {
	e := newEnv(t)
	e.addFakeNIC("eth-u1", 1500)
	p := e.planFor(nodeconfig.Config{
		Underlay: underlayWith("100.65.0.1/32"),
		L2VNIs:   []nodeconfig.L2VNI{l2(200, "br-hs-200", true), l2(300, "br-hs-300", true)},
	})
	e.prepare(p)
	e.activate(p)
	// Per VNI the router has a VXLAN port (learning off, neigh_suppress
	// on) and a veth port (the kernel's defaults): both kinds compared.
	if n := compareDumps(t, e, e.router); n != 4 {
		t.Errorf("router netns: %d bridge ports compared, want 4", n)
	}
	if n := compareDumps(t, e, e.host); n != 2 {
		t.Errorf("host netns: %d bridge ports compared, want 2", n)
	}
}

func TestDumpLinksMatchesLibraryVRF(t *testing.T) {
	requireVRF(t)
	e := newEnv(t)
	p := e.planFor(nodeconfig.Config{
		Underlay: underlayWith("fd00::1/128"),
		L3VNIs:   []nodeconfig.L3VNI{l3("red", 100, "192.168.10.0/24")},
	})
	e.prepare(p)
	compareDumps(t, e, e.router)
	compareDumps(t, e, e.host)
}

func TestSendBatchReportsEachResult(t *testing.T) {
	e := newEnv(t)
	// More links than one batch holds, and a request that must fail in
	// the middle: the others still apply and each gets its own answer.
	const n = batchSize + 6
	var reqs []*nl.NetlinkRequest
	var names []string
	for i := range n {
		name := fmt.Sprintf("bt%d", i)
		if err := e.hostH.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}); err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		reqs = append(reqs, setUpRequest(e.link(e.hostH, name).Attrs().Index))
	}
	const bad = batchSize - 1
	reqs[bad] = setUpRequest(1 << 30) // no such ifindex
	fd, err := netns.GetFromPath(netnsPath(e.host))
	if err != nil {
		t.Fatal(err)
	}
	defer fd.Close()
	sock, err := routeSocket(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	errs := sendBatch(sock, reqs)
	for i, err := range errs {
		up := isUp(e.link(e.hostH, names[i]))
		switch {
		case i == bad && !errors.Is(err, unix.ENODEV):
			t.Errorf("request %d (no such link): err = %v, want ENODEV", i, err)
		case i != bad && (err != nil || !up):
			t.Errorf("request %d (%s): err = %v, up = %v; want nil, true", i, names[i], err, up)
		}
	}
}
