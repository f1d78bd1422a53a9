package hostnet

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// The neighbour refresher keeps the type-2 routes of silent workloads
// alive (upstream OpenPERouter issue #210). zebra advertises a workload's
// MAC while the router bridge's FDB has it, and its MAC/IP while the
// bridge's neighbour table has it. A workload that stops sending lets
// both go: the FDB entry ages out (the bridge's ageing time, 300 s by
// default) and the routes are withdrawn, although the workload is still
// there. The refresher probes such a workload before that happens: when
// a neighbour entry on a routed L2VNI's bridge turns STALE (the kernel
// reports it, NUD_STALE, in a neighbour event), it asks the kernel to
// confirm it (RTM_NEWNEIGH with NTF_USE: the kernel's own
// STALE → DELAY → PROBE, unicast ARP or NS from the gateway address). The
// workload's answer makes the entry REACHABLE and, passing through the
// bridge, refreshes its FDB entry. A workload that is gone does not
// answer, the entry fails and is removed, and zebra withdraws the routes:
// nothing is kept alive that is not there.
//
// Only bridges with a gateway address of the neighbour's family are
// refreshed: a probe needs a source address on the segment. An L2VNI
// without a routing domain has none (docs/datapath.md, "Silent
// workloads", says what holds there).

// DefaultRefreshSweep is how often a refresher also lists the bridge's
// neighbours and probes the STALE ones, in case an event was lost (a
// full socket buffer drops events), and checks that the namespace and
// the bridge it watches are still the ones it opened.
const DefaultRefreshSweep = 30 * time.Second

// DefaultProbeRate bounds the probes per bridge: at most this many a
// second, however many workloads turn STALE at once.
const DefaultProbeRate = 100

// maxPendingProbes bounds the probes waiting for their turn per bridge;
// more are dropped until the queue drains (a later event or sweep asks
// again).
const maxPendingProbes = 4096

// RefreshTarget is a bridge whose neighbours are refreshed, and the
// address families it can probe in (those of its gateway addresses).
type RefreshTarget struct {
	Bridge string
	IPv4   bool
	IPv6   bool
}

// RefreshTargets are the bridges of p with gateway addresses: the
// routed L2VNIs' bridges. Pure.
func RefreshTargets(p Plan) []RefreshTarget {
	var out []RefreshTarget
	for _, b := range p.Bridges {
		if len(b.Addresses) == 0 {
			continue
		}
		t := RefreshTarget{Bridge: b.Name}
		for _, a := range b.Addresses {
			if a.Addr().Is4() {
				t.IPv4 = true
			} else {
				t.IPv6 = true
			}
		}
		out = append(out, t)
	}
	return out
}

// ProbeResult is what one probe did, for metrics.
type ProbeResult string

const (
	// Probed: the kernel was asked to confirm the entry.
	Probed ProbeResult = "probed"
	// ProbeFailed: the request failed (the entry went meanwhile, the
	// bridge went).
	ProbeFailed ProbeResult = "failed"
	// ProbeDropped: the queue was full; a later event or sweep asks again.
	ProbeDropped ProbeResult = "dropped"
)

// RefresherOptions configure the Refreshers.
type RefresherOptions struct {
	// Netns is the router netns, by name or path.
	Netns string
	// Sweep is DefaultRefreshSweep when zero.
	Sweep time.Duration
	// ProbeRate is DefaultProbeRate when zero.
	ProbeRate int
	Logger    logr.Logger
	// OnProbe, if set, is called for every probe asked for, from the
	// bridge's goroutine (metrics).
	OnProbe func(bridge string, r ProbeResult)
}

// Refreshers run one refresher per RefreshTarget of the plan the node
// runs: Sync starts the missing ones and stops those no longer wanted.
// Safe for concurrent use.
type Refreshers struct {
	opts    RefresherOptions
	mu      sync.Mutex
	running map[RefreshTarget]*runningRefresher
	base    context.Context
	stop    context.CancelFunc
}

type runningRefresher struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// NewRefreshers returns Refreshers that run nothing until Sync.
func NewRefreshers(opts RefresherOptions) *Refreshers {
	if opts.Sweep <= 0 {
		opts.Sweep = DefaultRefreshSweep
	}
	if opts.ProbeRate <= 0 {
		opts.ProbeRate = DefaultProbeRate
	}
	base, stop := context.WithCancel(context.Background())
	return &Refreshers{opts: opts, running: map[RefreshTarget]*runningRefresher{}, base: base, stop: stop}
}

// Sync makes the running refreshers those of p's RefreshTargets.
func (r *Refreshers) Sync(p Plan) {
	want := RefreshTargets(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.base.Err() != nil {
		return // stopped
	}
	for t, run := range r.running {
		if !slices.Contains(want, t) {
			run.cancel()
			<-run.done
			delete(r.running, t)
			r.opts.Logger.Info("neighbour refresher stopped", "bridge", t.Bridge)
		}
	}
	for _, t := range want {
		if _, ok := r.running[t]; ok {
			continue
		}
		ctx, cancel := context.WithCancel(r.base)
		run := &runningRefresher{cancel: cancel, done: make(chan struct{})}
		r.running[t] = run
		go func() {
			defer close(run.done)
			refresher{opts: r.opts, target: t}.run(ctx)
		}()
		r.opts.Logger.Info("neighbour refresher started", "bridge", t.Bridge, "ipv4", t.IPv4, "ipv6", t.IPv6)
	}
}

// Running lists the bridges refreshed now, sorted.
func (r *Refreshers) Running() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for t := range r.running {
		out = append(out, t.Bridge)
	}
	slices.Sort(out)
	return out
}

// Start blocks until ctx is done, then stops every refresher: with it,
// Refreshers are a controller-runtime Runnable the manager stops.
func (r *Refreshers) Start(ctx context.Context) error {
	<-ctx.Done()
	r.Stop()
	return nil
}

// Stop stops every refresher and waits for them; Sync does nothing after.
func (r *Refreshers) Stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stop()
	for t, run := range r.running {
		<-run.done
		delete(r.running, t)
	}
}

// refresher refreshes one bridge's neighbours.
type refresher struct {
	opts   RefresherOptions
	target RefreshTarget
}

// run watches until ctx is done. A watch ends when the namespace or the
// bridge is replaced or missing, or the event socket fails; it is opened
// again a sweep later.
func (f refresher) run(ctx context.Context) {
	for {
		err := f.watch(ctx)
		if ctx.Err() != nil {
			return
		}
		f.opts.Logger.V(1).Info("neighbour refresher: watching again after a sweep", "bridge", f.target.Bridge, "reason", err.Error())
		select {
		case <-ctx.Done():
			return
		case <-time.After(f.opts.Sweep):
		}
	}
}

// watch opens the namespace, subscribes to its neighbour events and
// probes the bridge's STALE entries until ctx is done or the namespace
// or bridge it opened are no longer the ones the name leads to.
func (f refresher) watch(ctx context.Context) error {
	ns, err := openNetns(f.opts.Netns)
	if err != nil {
		return fmt.Errorf("open netns %s: %w", f.opts.Netns, err)
	}
	defer ns.Close()
	id, err := IdentityOf(f.opts.Netns)
	if err != nil {
		return err
	}
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("netlink in netns %s: %w", f.opts.Netns, err)
	}
	defer h.Close()
	br, err := h.LinkByName(f.target.Bridge)
	if err != nil {
		return fmt.Errorf("bridge %s: %w", f.target.Bridge, err)
	}
	index := br.Attrs().Index

	wctx, stop := context.WithCancel(ctx)
	defer stop()
	updates, subErr, err := subscribeNeigh(wctx, ns)
	if err != nil {
		return fmt.Errorf("subscribe to neighbour events in netns %s: %w", f.opts.Netns, err)
	}

	q := newProbeQueue()
	sweep := time.NewTicker(f.opts.Sweep)
	defer sweep.Stop()
	// The first sweep at once: the entries STALE already.
	first := time.After(0)
	gap := time.Second / time.Duration(f.opts.ProbeRate)
	var next <-chan time.Time // nil while nothing waits
	enqueue := func(n netlink.Neigh) {
		ip, ok := f.wanted(n, index)
		if !ok {
			return
		}
		if !q.add(ip) {
			f.report(ProbeDropped)
			return
		}
		if next == nil {
			next = time.After(0)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-subErr:
			return fmt.Errorf("neighbour events: %w", err)
		case n, ok := <-updates:
			if !ok {
				return errors.New("neighbour event socket closed")
			}
			enqueue(n)
		case <-next:
			next = nil
			if ip, ok := q.pop(); ok {
				f.probe(h, index, ip)
			}
			if q.len() > 0 {
				next = time.After(gap)
			}
		case <-first:
			first = nil
			if err := f.sweep(h, index, enqueue); err != nil {
				return err
			}
		case <-sweep.C:
			if cur, err := IdentityOf(f.opts.Netns); err != nil || cur != id {
				return fmt.Errorf("netns %s replaced or gone", f.opts.Netns)
			}
			if l, err := h.LinkByName(f.target.Bridge); err != nil || l.Attrs().Index != index {
				return fmt.Errorf("bridge %s replaced or gone", f.target.Bridge)
			}
			if err := f.sweep(h, index, enqueue); err != nil {
				return err
			}
		}
	}
}

// sweep lists the bridge's neighbours and queues those that need a probe.
func (f refresher) sweep(h *netlink.Handle, index int, enqueue func(netlink.Neigh)) error {
	list, err := h.NeighList(index, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("list neighbours of %s: %w", f.target.Bridge, err)
	}
	for _, n := range list {
		enqueue(n)
	}
	return nil
}

// subscribeNeigh delivers the neighbour entries the kernel reports new or
// changed (RTM_NEWNEIGH) in ns until ctx is done, then closes the
// channel and the socket. The socket is made inside ns, as the kernel
// cache's (openWatch), and read with a timeout, so that its reader notices ctx within a second:
// a socket left blocked in a read would keep a deleted namespace alive.
// (netlink.NeighSubscribe's reader blocks until the next event.) A
// failed read (a full buffer drops events: ENOBUFS) is sent on the error
// channel and ends the subscription.
func subscribeNeigh(ctx context.Context, ns netns.NsHandle) (<-chan netlink.Neigh, <-chan error, error) {
	sock, err := nl.SubscribeAt(ns, netns.None(), unix.NETLINK_ROUTE, unix.RTNLGRP_NEIGH)
	if err != nil {
		return nil, nil, err
	}
	if err := sock.SetReceiveTimeout(&unix.Timeval{Sec: 1}); err != nil {
		sock.Close()
		return nil, nil, err
	}
	out := make(chan netlink.Neigh, 256)
	errs := make(chan error, 1)
	go func() {
		defer close(out)
		defer sock.Close()
		for ctx.Err() == nil {
			msgs, from, err := sock.Receive()
			if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
				continue
			}
			if err != nil {
				errs <- err
				return
			}
			if from.Pid != nl.PidKernel {
				continue
			}
			for _, m := range msgs {
				if m.Header.Type != unix.RTM_NEWNEIGH {
					continue
				}
				n, err := netlink.NeighDeserialize(m.Data)
				if err != nil {
					continue
				}
				select {
				case out <- *n:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, errs, nil
}

// wanted says whether n is a workload's entry on the bridge that needs a
// probe: STALE, with a MAC, learnt by the kernel (not one zebra installed
// for a remote workload), not link-local (never a type-2 route), of a
// family the bridge has a gateway address in.
func (f refresher) wanted(n netlink.Neigh, index int) (netip.Addr, bool) {
	if n.LinkIndex != index || n.State&netlink.NUD_STALE == 0 || len(n.HardwareAddr) == 0 || n.Flags&netlink.NTF_EXT_LEARNED != 0 {
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Addr{}, false
	}
	ip = ip.Unmap()
	if !ip.IsGlobalUnicast() || (ip.Is4() && !f.target.IPv4) || (ip.Is6() && !f.target.IPv6) {
		return netip.Addr{}, false
	}
	return ip, true
}

// probe asks the kernel to confirm the entry of ip on the bridge
// (NTF_USE: what a packet sent to it would do). The state is the entry's
// own; the kernel keeps it and starts the STALE → DELAY → PROBE walk.
func (f refresher) probe(h *netlink.Handle, index int, ip netip.Addr) {
	err := h.NeighSet(&netlink.Neigh{LinkIndex: index, IP: ip.AsSlice(), State: netlink.NUD_STALE, Flags: netlink.NTF_USE})
	if err != nil {
		f.opts.Logger.V(1).Info("neighbour probe failed", "bridge", f.target.Bridge, "ip", ip.String(), "error", err.Error())
		f.report(ProbeFailed)
		return
	}
	f.report(Probed)
}

func (f refresher) report(r ProbeResult) {
	if f.opts.OnProbe != nil {
		f.opts.OnProbe(f.target.Bridge, r)
	}
}

// probeQueue is a bounded FIFO of addresses without duplicates: a
// workload waits in it once however many events name it.
type probeQueue struct {
	order []netip.Addr
	in    map[netip.Addr]bool
}

func newProbeQueue() *probeQueue { return &probeQueue{in: map[netip.Addr]bool{}} }

// add queues ip unless it waits already; false when the queue is full.
func (q *probeQueue) add(ip netip.Addr) bool {
	if q.in[ip] {
		return true
	}
	if len(q.order) >= maxPendingProbes {
		return false
	}
	q.in[ip] = true
	q.order = append(q.order, ip)
	return true
}

func (q *probeQueue) pop() (netip.Addr, bool) {
	if len(q.order) == 0 {
		return netip.Addr{}, false
	}
	ip := q.order[0]
	q.order = q.order[1:]
	delete(q.in, ip)
	return ip, true
}

func (q *probeQueue) len() int { return len(q.order) }
