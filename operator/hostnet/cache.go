package hostnet

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A no-op pass (Reapply or Prepare+Activate of a plan already in place)
// used to cost two link dumps and two address dumps: with 500 VNIs
// ~2,500 links, almost all of its time. The Manager now keeps what the
// last pass read of each namespace and reuses it, without dumping, when
// it can prove nothing changed since:
//
//   - the last pass made no kernel write at all (a pass that writes
//     drops the whole cache: one write can change both namespaces, e.g. a
//     veth pair or a NIC moved between them), failed nothing, left every
//     device of the plan up (see session.settled: the kernel does not
//     report every change to a device that is down), and read both
//     namespaces in full (links with bridge-port flags, and addresses);
//   - the namespace is the same one, by netns cookie (NetnsIdentity): a
//     router netns deleted and created again has a new cookie, and a
//     missing one is created by Prepare, which is a write;
//   - the watch socket heard nothing from that namespace since.
//
// The watch is one netlink socket in the host netns, subscribed to
// RTNLGRP_LINK, RTNLGRP_IPV4_IFADDR and RTNLGRP_IPV6_IFADDR before any
// dump that fills the cache, so every later change of what the Manager
// compares leaves a message in it: a link created, deleted, renamed or
// moved, set up or down, given another MTU, MAC or master, its
// bridge-port flags set (AF_BRIDGE request, as `bridge link set`, or
// sysfs), an address added or removed; and, while the device is up, its
// alias, its group, or bridge-port flags set as IFLA_INFO_SLAVE_DATA (the
// kernel reports these through netdev_state_change, which skips down
// devices: hence "every device of the plan up"). The kernel queues the
// notification of a change before the request that made it returns. Any
// message invalidates the namespace it came from; a lost message (the
// socket overran: ENOBUFS) or any other socket error invalidates both and
// the socket is opened again. One change is never reported: a group
// written to /sys/class/net/<dev>/netdev_group. The group only matters
// for links an interrupted call left marked for deletion, and that call
// wrote, so it left nothing cached.
//
// The socket is not in the router netns: a socket holds a reference to
// its namespace, and a router netns the router pod deleted must die at
// once (its veths with it, its NICs handed back to the host). Instead the
// host socket sets NETLINK_LISTEN_ALL_NSID, which delivers the events of
// every namespace the host netns has an id (nsid) for, tagged with that
// id; the Manager assigns the router netns one when it has none. Events
// from any other namespace only cost a host re-dump. That path needs the
// nsid, the socket option and CAP_NET_BROADCAST over the router netns, so
// before trusting it for a router netns the watch proves it works (see
// probe); until it does, the router netns is dumped every pass.
//
// Sysctls and policy routing rules are not links or addresses: every
// pass still reads them (a few small files, two small rule dumps).

// view is what a pass knows of one namespace: its links (with their
// bridge-port flags) and addresses.
type view struct {
	links   map[string]netlink.Link
	byIndex map[int]netlink.Link
	addrs   map[int][]netlink.Addr
	ports   map[int]bridgePort
}

// cachedView is a view left by a pass that wrote nothing, and the
// namespace it was read from.
type cachedView struct {
	id   NetnsIdentity
	view view
}

// kernelCache is the Manager's memory of the namespaces between passes.
type kernelCache struct {
	mu           sync.Mutex
	w            *watch
	host, router *cachedView
}

// watch is the event socket, in the host netns identified by host.
type watch struct {
	sock *nl.NetlinkSocket
	host NetnsIdentity
	// router is the router netns whose events this socket was shown to
	// receive, tagged routerNsid; zero until then.
	router     NetnsIdentity
	routerNsid int32
	buf, oob   []byte
}

// begin decides, for one pass, which namespaces may be served from the
// cache, and hands their views over to the pass (a concurrent pass finds
// none and dumps). It never fails: anything unexpected means "dump".
func (c *kernelCache) begin(m *Manager, host, router *nsState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cachedHost, cachedRouter := c.host, c.router
	c.host, c.router = nil, nil
	var err error
	if host.id, err = cookieOf(host.sock); err != nil {
		m.log.V(1).Info("no netns cookie: namespaces are dumped", "netns", "host", "error", err.Error())
		return
	}
	if router.id, err = cookieOf(router.sock); err != nil {
		m.log.V(1).Info("no netns cookie: namespaces are dumped", "netns", "router", "error", err.Error())
		return
	}
	if c.w != nil && c.w.host != host.id {
		c.closeWatch()
	}
	if c.w == nil {
		if c.w, err = openWatch(host); err != nil {
			m.log.V(1).Info("cannot watch netlink events; namespaces are dumped", "error", err.Error())
			return
		}
		// Subscribed from now on; what came before is unknown.
		cachedHost, cachedRouter = nil, nil
	}
	probing := c.w.router != router.id
	if probing {
		cachedRouter = nil
		if err := c.w.probe(m, host, router); err != nil {
			m.log.V(1).Info("cannot hear the router netns; it is dumped every pass", "error", err.Error())
			probing = false
		}
	}
	hostHeard, routerHeard, err := c.w.drain()
	if err != nil {
		m.log.V(1).Info("event socket failed; namespaces are dumped and it is opened again", "error", err.Error())
		c.closeWatch()
		return
	}
	if probing && !routerHeard {
		c.w.router = 0
		m.log.V(1).Info("the router netns' probe event never arrived; it is dumped every pass")
	}
	if cachedHost != nil && cachedHost.id == host.id && !hostHeard {
		host.view = cachedHost.view
	}
	if cachedRouter != nil && cachedRouter.id == router.id && c.w.router == router.id && !routerHeard {
		router.view = cachedRouter.view
	}
}

// end keeps the views of a pass that made no kernel write and ended
// settled, read from namespaces it could identify.
func (c *kernelCache) end(s *session) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.writes > 0 || !s.keep || s.host.links == nil || s.router.links == nil || s.host.id == 0 || s.router.id == 0 {
		c.host, c.router = nil, nil
		return
	}
	c.host = &cachedView{id: s.host.id, view: s.host.view}
	c.router = &cachedView{id: s.router.id, view: s.router.view}
}

func (c *kernelCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeWatch()
	c.host, c.router = nil, nil
}

func (c *kernelCache) closeWatch() {
	if c.w != nil {
		c.w.sock.Close()
		c.w = nil
	}
}

func cookieOf(sock *nl.NetlinkSocket) (NetnsIdentity, error) {
	cookie, err := unix.GetsockoptUint64(sock.GetFd(), unix.SOL_SOCKET, unix.SO_NETNS_COOKIE)
	return NetnsIdentity(cookie), err
}

// openWatch subscribes a socket in the host netns to link and address
// events of the host netns and of the namespaces it has an id for.
func openWatch(host *nsState) (*watch, error) {
	sock, err := nl.SubscribeAt(host.fd, netns.None(), unix.NETLINK_ROUTE,
		unix.RTNLGRP_LINK, unix.RTNLGRP_IPV4_IFADDR, unix.RTNLGRP_IPV6_IFADDR)
	if err != nil {
		return nil, err
	}
	if err := unix.SetsockoptInt(sock.GetFd(), unix.SOL_NETLINK, unix.NETLINK_LISTEN_ALL_NSID, 1); err != nil {
		sock.Close()
		return nil, fmt.Errorf("NETLINK_LISTEN_ALL_NSID: %w", err)
	}
	return &watch{
		sock: sock, host: host.id,
		buf: make([]byte, 64<<10), oob: make([]byte, unix.CmsgSpace(4)),
	}, nil
}

// drain reads every queued message without blocking and tells whether
// any came from the host netns (or a namespace other than the router's:
// only the router's are told apart) and from the router netns.
func (w *watch) drain() (host, router bool, err error) {
	for {
		_, oobn, _, _, err := unix.Recvmsg(w.sock.GetFd(), w.buf, w.oob, unix.MSG_DONTWAIT)
		switch {
		case errors.Is(err, unix.EAGAIN):
			return host, router, nil
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			// ENOBUFS: the socket overran and messages were lost.
			return true, true, err
		}
		if nsid, ok := nsidOf(w.oob[:oobn]); ok && w.router != 0 && nsid == w.routerNsid {
			router = true
		} else {
			host = true
		}
	}
}

// nsidOf returns the namespace id NETLINK_LISTEN_ALL_NSID attached to a
// message; a message from the socket's own namespace carries none.
func nsidOf(oob []byte) (int32, bool) {
	cmsgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return 0, false
	}
	for _, c := range cmsgs {
		if c.Header.Level == unix.SOL_NETLINK && c.Header.Type == unix.NETLINK_LISTEN_ALL_NSID && len(c.Data) >= 4 {
			return int32(nl.NativeEndian().Uint32(c.Data)), true
		}
	}
	return 0, false
}

// probe prepares the watch to hear router's events: it gives the router
// netns an id in the host netns when it has none (what `ip netns set NAME
// auto` does), then makes the router netns send one notification that
// changes nothing (lo's group set to the value it has: the kernel
// notifies whatever the value, if lo is up, as it is once Prepare ran).
// The drain that follows must find it, tagged with that id, before the
// router netns is cached. FRR sees the same no-op event for lo, once per
// router netns (and again when the socket had to be reopened).
func (w *watch) probe(m *Manager, host, router *nsState) error {
	w.router = 0
	nsid, err := host.h.GetNetNsIdByFd(int(router.fd))
	if err != nil {
		return fmt.Errorf("nsid of the router netns: %w", err)
	}
	if nsid < 0 {
		m.writes.Add(1)
		if err := host.h.SetNetNsIdByFd(int(router.fd), -1); err != nil {
			return fmt.Errorf("assign the router netns an nsid: %w", err)
		}
		if nsid, err = host.h.GetNetNsIdByFd(int(router.fd)); err != nil || nsid < 0 {
			return fmt.Errorf("nsid of the router netns after assigning one: %d, %v", nsid, err)
		}
	}
	lo, err := router.h.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("probe: %w", err)
	}
	if err := router.h.LinkSetGroup(lo, int(lo.Attrs().Group)); err != nil {
		return fmt.Errorf("probe: set lo's group: %w", err)
	}
	w.router, w.routerNsid = router.id, int32(nsid)
	return nil
}
