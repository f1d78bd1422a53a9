package hostnet

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/go-logr/logr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Datapath is what the controller calls around an FRR reload: Prepare
// before (everything created or fixed, new VXLAN/bridge devices left down),
// Activate after FRR knows the VNIs (devices brought up). Reapply is both
// in one pass, for a plan whose FRR config is already running (resync).
type Datapath interface {
	Prepare(ctx context.Context, p Plan) (Changes, error)
	Activate(ctx context.Context, p Plan) (Changes, error)
	Reapply(ctx context.Context, p Plan) (Changes, error)
}

// Ownership markers, kept in the link alias (IFLA_IFALIAS): visible with
// `ip link show`, survives controller restarts, costs no extra state.
const (
	// OwnerAlias marks every link perouter created. Only links carrying it
	// are ever changed or deleted (in the host netns the name must also
	// match one of our patterns).
	OwnerAlias = "perouter"
	// UnderlayAliasPrefix marks an underlay NIC perouter moved into the
	// router netns; the rest of the alias is the NIC's original alias,
	// restored when it is moved back.
	UnderlayAliasPrefix = "perouter:underlay:"
)

// Options configure a Manager.
type Options struct {
	// RouterNetns names the router netns (under /run/netns) or gives its
	// absolute path; default DefaultNetns. It is created when missing.
	RouterNetns string
	// HostNetns is the netns holding the host ends and the underlay NICs
	// before they are moved; default "" is the netns the caller runs in.
	HostNetns string
	// StateDir is where what the host side of each underlay NIC had
	// before its move is kept, one file per NIC (underlaystate.go), so a
	// restarted controller can still give it back; "" keeps it in memory
	// only.
	StateDir string
	// CNI configures the CNI plugins that make CNIDevice links (cni.go).
	CNI    CNIOptions
	Logger logr.Logger
}

// Manager applies Plans with netlink. It is safe for sequential use; the
// controller serialises calls.
type Manager struct {
	opts Options
	log  logr.Logger
	// writes counts every kernel mutation (netlink request or sysctl
	// write); all of them go through write().
	writes atomic.Uint64
	// hostDumps and routerDumps count full reads of a namespace (its
	// links, then its addresses); a pass served from the cache makes none.
	hostDumps, routerDumps atomic.Uint64
	cache                  kernelCache
	mu                     sync.Mutex
	// underlay holds the addresses each underlay NIC had when last seen
	// in the router netns (see ensureUnderlay).
	underlay map[string][]netip.Prefix
	// hostState holds what the host side of each underlay NIC had
	// before its move, as saved (underlaystate.go).
	hostState map[string]underlayState
	// crash, set by tests, stops a move at a point as if the controller
	// was killed there (see crashed).
	crash func(at, nic string) bool
	// hostAdded holds the addresses added in the host netns since the
	// last ReannounceHostAdded (see there).
	hostAdded []IfAddr
	// missing holds the optional sysctls this kernel lacks, each logged
	// once (see missingSysctl).
	missing sync.Map
	// cni is what the Manager keeps about its CNI links (cni.go).
	cni cniState
}

// missingSysctl logs, once per key, that the kernel lacks an optional
// sysctl: the pass goes on without it (see Sysctl.Optional).
func (m *Manager) missingSysctl(sc Sysctl) {
	if _, seen := m.missing.LoadOrStore(sc.Key, true); seen {
		return
	}
	m.log.Info("the kernel lacks an optional sysctl (older than the feature); skipped, see docs/datapath.md, \"Router namespace sysctls\", for what is lost", "sysctl", sc.Key)
}

var _ Datapath = (*Manager)(nil)

// NewManager returns a Manager; it touches nothing until Prepare.
func NewManager(opts Options) *Manager {
	opts.RouterNetns = cmp.Or(opts.RouterNetns, DefaultNetns)
	return &Manager{opts: opts, log: opts.Logger}
}

// Writes returns how many kernel mutations the Manager has made so far.
func (m *Manager) Writes() uint64 { return m.writes.Load() }

// Dumps returns how many times the Manager has read a namespace's links
// and addresses in full; a pass that could reuse what the previous one
// read (see cache.go) reads none.
func (m *Manager) Dumps() uint64 { return m.hostDumps.Load() + m.routerDumps.Load() }

// Close releases the socket the Manager keeps in the host netns between
// calls to hear changes. The Manager stays usable: the next call opens it
// again (and dumps).
func (m *Manager) Close() { m.cache.close() }

// Action is what happened to an object.
type Action string

const (
	Created   Action = "created"
	Updated   Action = "updated"
	Recreated Action = "recreated"
	Deleted   Action = "deleted"
	Moved     Action = "moved"
	BroughtUp Action = "up"
)

// Change is one change made to the kernel.
type Change struct {
	Action Action `json:"action"`
	// Netns is "router" or "host".
	Netns  string `json:"netns"`
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Detail string `json:"detail,omitempty"`
}

func (c Change) String() string {
	s := fmt.Sprintf("%s %s %s in %s netns", c.Action, c.Kind, c.Name, c.Netns)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}

// Changes lists what a call changed, in the order it happened.
type Changes []Change

func (cs Changes) String() string {
	lines := make([]string, len(cs))
	for i, c := range cs {
		lines[i] = c.String()
	}
	return strings.Join(lines, "\n")
}

// session is one Prepare or Activate call: the two namespaces and the
// kernel state read from them, kept current as the call changes it.
type session struct {
	ctx     context.Context
	m       *Manager
	host    *nsState
	router  *nsState
	changes Changes
	errs    []error
	// writes counts this call's kernel mutations: one drops the cache.
	writes int
	// keep: the call ended settled (see settled), so its views may be
	// kept if it wrote nothing.
	keep bool
}

// newSession opens both namespaces and reads their links, bridge-port
// flags and addresses, or takes them from the cache when nothing changed
// since the last call read them; prepare also creates the router netns
// when missing.
func (m *Manager) newSession(ctx context.Context, p Plan, prepare bool) (*session, error) {
	if p.Netns != "" && netnsPath(p.Netns) != netnsPath(m.opts.RouterNetns) {
		return nil, fmt.Errorf("plan is for netns %q but the manager runs netns %q", p.Netns, m.opts.RouterNetns)
	}
	s := &session{ctx: ctx, m: m}
	routerPath := netnsPath(m.opts.RouterNetns)
	if _, err := os.Stat(routerPath); errors.Is(err, os.ErrNotExist) {
		if !prepare {
			return nil, fmt.Errorf("router netns %s does not exist: run Prepare first", routerPath)
		}
		if err := s.write("create netns "+routerPath, func() error { return createNamedNetns(routerPath) }); err != nil {
			return nil, err
		}
		s.record(Created, "router", "netns", m.opts.RouterNetns, "")
	}
	var err error
	if s.host, err = openState("host", m.opts.HostNetns); err != nil {
		return nil, err
	}
	if s.router, err = openState("router", routerPath); err != nil {
		s.host.close()
		return nil, err
	}
	m.cache.begin(m, s.host, s.router)
	// The namespaces not served from the cache are read at the same time:
	// the dumps are most of a no-op re-apply, they take no lock against
	// each other in the kernel, and each nsState is touched by its own
	// goroutine only.
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, ns := range []*nsState{s.host, s.router} {
		if ns.links != nil {
			continue
		}
		wg.Go(func() {
			errs[i] = s.read("read links of "+ns.role+" netns", ns.load)
			dumps := &m.hostDumps
			if ns == s.router {
				dumps = &m.routerDumps
			}
			dumps.Add(1)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		s.host.links, s.router.links = nil, nil
		s.close()
		return nil, err
	}
	return s, nil
}

// close hands what the call read and kept current back to the cache.
func (s *session) close() {
	s.m.cache.end(s)
	s.host.close()
	s.router.close()
}

func (s *session) record(a Action, ns, kind, name, detail string) {
	c := Change{Action: a, Netns: ns, Kind: kind, Name: name, Detail: detail}
	s.changes = append(s.changes, c)
	s.m.log.V(1).Info("datapath change", "action", a, "netns", ns, "kind", kind, "name", name, "detail", detail)
}

func (s *session) fail(err error) { s.errs = append(s.errs, err) }

func (s *session) result() (Changes, error) {
	return s.changes, errors.Join(s.errs...)
}

// write is the single choke point for kernel mutations: counted, retried
// on transient errors, and errors name what was being done.
func (s *session) write(what string, fn func() error) error {
	s.counted(1)
	if err := retry(s.ctx, fn); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// counted counts n kernel mutations, attempted or made.
func (s *session) counted(n int) {
	s.writes += n
	s.m.writes.Add(uint64(n))
}

func (s *session) read(what string, fn func() error) error {
	if err := retry(s.ctx, fn); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Prepare makes the kernel match p except for admin state: new devices
// are left down, existing ones keep their state. It returns what changed;
// on error the rest of the plan was still applied as far as possible.
func (m *Manager) Prepare(ctx context.Context, p Plan) (Changes, error) {
	s, err := m.newSession(ctx, p, true)
	if err != nil {
		return nil, err
	}
	defer s.close()
	s.prepare(p)
	s.keep = s.settled(p)
	return s.result()
}

// Reapply is Prepare then Activate on one reading of the kernel: half
// the dumps of calling both, which are most of what a no-op costs. Only
// for a plan FRR already runs: anything Prepare recreates is brought up
// at once, without the reload in between.
func (m *Manager) Reapply(ctx context.Context, p Plan) (Changes, error) {
	s, err := m.newSession(ctx, p, true)
	if err != nil {
		return nil, err
	}
	defer s.close()
	s.prepare(p)
	if len(s.errs) > 0 {
		// Activate would only report the same missing devices again.
		return s.result()
	}
	s.activate(p)
	s.keep = s.settled(p)
	return s.result()
}

func (s *session) prepare(p Plan) {
	s.ensureSysctls(p.Sysctls)
	s.ensureRules(p.Rules)
	s.ensureLoopback(p.LoopbackAddresses)
	s.ensureCNILinks(p.CNIInterfaces, true)
	s.ensureUnderlay(p)
	s.ensureCNILinks(p.CNIInterfaces, false)
	s.deleteUnwanted(p)
	for _, v := range p.VRFs {
		s.forVNI(v.VNI, func() { s.ensureVRF(v) })
	}
	for _, b := range p.Bridges {
		s.forVNI(b.VNI, func() { s.ensureBridge(b) })
	}
	for _, v := range p.VXLANs {
		s.forVNI(v.VNI, func() { s.ensureVXLAN(v) })
	}
	for _, b := range p.HostBridges {
		s.forVNI(b.VNI, func() { s.ensureHostBridge(b) })
	}
	for _, v := range p.Veths {
		s.forVNI(v.VNI, func() { s.ensureVeth(v) })
	}
}

// Activate brings the plan's devices up: VRFs, bridges and veths first,
// VXLANs last, so a VXLAN only carries traffic once everything behind it
// forwards. Call it after FRR has loaded the configuration that names the
// VNIs (see docs/datapath.md: FRR must know a VNI before its VXLAN is up).
func (m *Manager) Activate(ctx context.Context, p Plan) (Changes, error) {
	s, err := m.newSession(ctx, p, false)
	if err != nil {
		return nil, err
	}
	defer s.close()
	s.activate(p)
	s.keep = s.settled(p)
	return s.result()
}

func (s *session) activate(p Plan) {
	router, host, vxlans := upTargets(p)
	s.bringUp(s.router, router)
	s.bringUp(s.host, host)
	s.bringUp(s.router, vxlans)
}

// upTargets lists the devices Activate brings up, in order, by netns.
func upTargets(p Plan) (router, host, vxlans []upTarget) {
	// Underlay NICs first: the fabric sessions need them, and a NIC
	// handed back by a deleted router netns arrives down.
	for _, name := range p.UnderlayInterfaces {
		router = append(router, upTarget{kind: "underlay interface", name: name})
	}
	for _, c := range p.CNIInterfaces {
		router = append(router, upTarget{kind: "underlay CNI interface", name: c.Name})
	}
	for _, v := range p.VRFs {
		router = append(router, upTarget{kind: "vrf", name: v.Name, vni: v.VNI})
	}
	for _, b := range p.Bridges {
		router = append(router, upTarget{kind: "bridge", name: b.Name, vni: b.VNI})
	}
	for _, b := range p.HostBridges {
		host = append(host, upTarget{kind: "bridge", name: b.Name, vni: b.VNI})
	}
	for _, v := range p.Veths {
		router = append(router, upTarget{kind: "veth", name: v.Router, vni: v.VNI})
		host = append(host, upTarget{kind: "veth", name: v.Host, vni: v.VNI})
	}
	for _, v := range p.VXLANs {
		vxlans = append(vxlans, upTarget{kind: "vxlan", name: v.Name, vni: v.VNI})
	}
	return router, host, vxlans
}

// settled tells whether what the call leaves in its views may serve the
// next call (see cache.go): nothing failed, and every device of the plan
// exists and is up. The kernel does not report some changes to a device
// that is down (its alias, its group, its bridge-port flags set through
// IFLA_INFO_SLAVE_DATA: netdev_state_change skips down devices), so a
// view in which one of ours is down is not kept; Activate brings them up
// with writes, which drop the views anyway.
func (s *session) settled(p Plan) bool {
	if len(s.errs) > 0 {
		return false
	}
	router, host, vxlans := upTargets(p)
	if lo, ok := s.router.links["lo"]; !ok || lo.Attrs().Flags&netUp == 0 {
		return false
	}
	for _, t := range []struct {
		ns      *nsState
		targets []upTarget
	}{{s.router, router}, {s.host, host}, {s.router, vxlans}} {
		for _, target := range t.targets {
			l, ok := t.ns.links[target.name]
			if !ok || l.Attrs().Flags&netUp == 0 {
				return false
			}
		}
	}
	return true
}

type upTarget struct {
	kind, name string
	vni        uint32 // of the device; 0 for none
}

// bringUp sets the down ones among targets up, in order, in batches.
func (s *session) bringUp(ns *nsState, targets []upTarget) {
	var todo []upTarget
	var reqs []*nl.NetlinkRequest
	for _, t := range targets {
		l, ok := ns.links[t.name]
		if !ok {
			s.forVNI(t.vni, func() {
				s.fail(fmt.Errorf("activate %s %s: missing in %s netns (Prepare failed?)", t.kind, t.name, ns.role))
			})
			continue
		}
		if l.Attrs().Flags&netUp != 0 {
			continue
		}
		todo = append(todo, t)
		reqs = append(reqs, setUpRequest(l.Attrs().Index))
	}
	if len(reqs) == 0 {
		return
	}
	s.counted(len(reqs))
	errs := sendBatch(ns.sock, reqs)
	for i, t := range todo {
		l := ns.links[t.name]
		err := errs[i]
		if err != nil && (transient(err) || errors.Is(err, unix.ENOBUFS)) {
			// Retried one by one; setting a device up twice is harmless.
			err = retry(s.ctx, func() error { return ns.h.LinkSetUp(l) })
		}
		if err != nil {
			s.forVNI(t.vni, func() { s.fail(fmt.Errorf("set %s %s up in %s netns: %w", t.kind, t.name, ns.role, err)) })
			continue
		}
		l.Attrs().Flags |= netUp
		s.record(BroughtUp, ns.role, t.kind, t.name, "")
	}
}

// nsState is one namespace and what we know of its links.
type nsState struct {
	role string
	fd   netns.NsHandle
	h    *netlink.Handle
	sock *nl.NetlinkSocket
	// id is the namespace's identity, zero when unknown (then it is
	// never cached).
	id NetnsIdentity
	view
}

func openState(role, nameOrPath string) (*nsState, error) {
	fd, err := openNetns(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("open %s netns %q: %w", role, nameOrPath, err)
	}
	// Only NETLINK_ROUTE: each socket is opened by entering the netns.
	h, err := netlink.NewHandleAt(fd, unix.NETLINK_ROUTE)
	if err != nil {
		fd.Close()
		return nil, fmt.Errorf("netlink handle in %s netns %q: %w", role, nameOrPath, err)
	}
	sock, err := routeSocket(fd)
	if err != nil {
		h.Close()
		fd.Close()
		return nil, fmt.Errorf("netlink socket in %s netns %q: %w", role, nameOrPath, err)
	}
	return &nsState{role: role, fd: fd, h: h, sock: sock}, nil
}

func (ns *nsState) close() {
	if ns == nil {
		return
	}
	ns.sock.Close()
	ns.h.Close()
	ns.fd.Close()
}

// load reads all links (with their bridge-port flags) and all
// addresses: one dump each, whatever the number of objects. Activate
// needs no addresses, but a view read in full can serve the next call.
func (ns *nsState) load() error {
	links, ports, err := dumpLinks(ns.sock)
	if err != nil {
		return err
	}
	addrs, err := ns.h.AddrList(nil, netlink.FAMILY_ALL)
	if err != nil {
		return err
	}
	ns.links = make(map[string]netlink.Link, len(links))
	ns.byIndex = make(map[int]netlink.Link, len(links))
	for _, l := range links {
		ns.links[l.Attrs().Name] = l
		ns.byIndex[l.Attrs().Index] = l
	}
	ns.addrs = make(map[int][]netlink.Addr, len(links))
	for _, a := range addrs {
		ns.addrs[a.LinkIndex] = append(ns.addrs[a.LinkIndex], a)
	}
	ns.ports = ports
	return nil
}

// refresh re-reads one link after we changed it.
func (ns *nsState) refresh(name string) (netlink.Link, error) {
	l, err := ns.h.LinkByName(name)
	if err != nil {
		return nil, err
	}
	ns.remember(l)
	return l, nil
}

// remember records l as the current state of its name.
func (ns *nsState) remember(l netlink.Link) {
	ns.forget(l.Attrs().Name)
	ns.links[l.Attrs().Name] = l
	ns.byIndex[l.Attrs().Index] = l
}

func (ns *nsState) forget(name string) {
	if old, ok := ns.links[name]; ok {
		delete(ns.byIndex, old.Attrs().Index)
		delete(ns.addrs, old.Attrs().Index)
		delete(ns.ports, old.Attrs().Index)
		delete(ns.links, name)
	}
}

func (ns *nsState) masterName(l netlink.Link) string {
	if m, ok := ns.byIndex[l.Attrs().MasterIndex]; ok && l.Attrs().MasterIndex != 0 {
		return m.Attrs().Name
	}
	return ""
}

// UnderlayMTU returns the MTU of an underlay NIC, wherever it is now (in
// the router netns once moved, in the host netns before), so the caller
// can pass it to PlanFor as PlanOptions.UnderlayMTU.
func (m *Manager) UnderlayMTU(name string) (int, error) {
	for _, ns := range []struct{ role, path string }{
		{"router", netnsPath(m.opts.RouterNetns)},
		{"host", m.opts.HostNetns},
	} {
		if ns.role == "router" {
			if _, err := os.Stat(ns.path); err != nil {
				continue
			}
		}
		st, err := openState(ns.role, ns.path)
		if err != nil {
			return 0, err
		}
		l, err := st.h.LinkByName(name)
		st.close()
		if err == nil {
			return l.Attrs().MTU, nil
		}
		if !errors.As(err, &netlink.LinkNotFoundError{}) {
			return 0, fmt.Errorf("underlay interface %s in %s netns: %w", name, ns.role, err)
		}
	}
	return 0, fmt.Errorf("underlay interface %s: not found in the router or host netns", name)
}
