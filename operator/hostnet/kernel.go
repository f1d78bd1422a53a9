package hostnet

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const netUp = net.FlagUp

// Bounded retries: a transient netlink error (the kernel busy with a
// concurrent change, an interrupted dump) usually clears within
// milliseconds; anything else is returned at once.
const (
	retryAttempts   = 5
	retryFirstDelay = 5 * time.Millisecond
)

// retry is the one retry helper of the package.
func retry(ctx context.Context, fn func() error) error {
	delay := retryFirstDelay
	for attempt := 1; ; attempt++ {
		err := fn()
		if err == nil || !transient(err) || attempt == retryAttempts {
			return err
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return errors.Join(err, ctx.Err())
		case <-t.C:
		}
		delay *= 2
	}
}

func transient(err error) bool {
	return errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EAGAIN) ||
		errors.Is(err, unix.EINTR) || errors.Is(err, netlink.ErrDumpInterrupted)
}

// bridgePort holds the bridge-port flags we manage.
type bridgePort struct {
	Learning      bool
	NeighSuppress bool
}

func prefixOf(a netlink.Addr) netip.Prefix {
	ip, ok := netip.AddrFromSlice(a.IP)
	if !ok {
		return netip.Prefix{}
	}
	ones, _ := a.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones)
}

func addrOf(p netip.Prefix) *netlink.Addr {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	a := &netlink.Addr{IPNet: &net.IPNet{
		IP:   net.IP(p.Addr().AsSlice()),
		Mask: net.CIDRMask(p.Bits(), bits),
	}}
	if p.Addr().Is6() {
		// Every node carries the same L2 gateway address, and host
		// sessions should start at once: duplicate address detection
		// would only hold the address tentative.
		a.Flags = unix.IFA_F_NODAD
	}
	return a
}

// managedAddr tells whether an address on one of our links is ours to
// remove: kernel-generated IPv6 link-locals are not.
func managedAddr(p netip.Prefix) bool {
	return p.IsValid() && !p.Addr().IsLinkLocalUnicast()
}

// deleteGroup deletes every link of a group in one request (what
// `ip link delete group N` does); the library has no call for it.
func deleteGroup(ns netns.NsHandle, group uint32) error {
	sock, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer sock.Close()
	req := nl.NewNetlinkRequest(unix.RTM_DELLINK, unix.NLM_F_ACK)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: sock}}
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_GROUP, nl.Uint32Attr(group)))
	_, err = req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}
