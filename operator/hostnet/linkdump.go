package hostnet

import (
	"encoding/binary"
	"fmt"
	"net"
	"slices"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A call that cannot reuse what the previous one read (cache.go) starts
// by dumping the links of both namespaces, and with 500 VNIs that is
// ~2,500 links: the dump is most of what such a call costs. The library's LinkList asks the kernel for
// each link's statistics and VF info and decodes every attribute (the
// statistics through reflection); dumpLinks asks for neither and decodes
// only what the Manager compares, about five times cheaper. The same dump
// carries each bridge port's flags (IFLA_INFO_SLAVE_DATA), so no second,
// AF_BRIDGE dump is needed for them.

// rtextFilterSkipStats is RTEXT_FILTER_SKIP_STATS (linux/rtnetlink.h):
// leave IFLA_STATS/IFLA_STATS64 out of the dump.
const rtextFilterSkipStats = 1 << 3

// Attribute numbers from linux/if_link.h that the library does not name.
const (
	iflaVrfTable      = 1  // IFLA_VRF_TABLE
	iflaVxlanID       = 1  // IFLA_VXLAN_ID
	iflaVxlanLocal    = 4  // IFLA_VXLAN_LOCAL
	iflaVxlanLearning = 7  // IFLA_VXLAN_LEARNING
	iflaVxlanPort     = 15 // IFLA_VXLAN_PORT
	iflaVxlanLocal6   = 17 // IFLA_VXLAN_LOCAL6
)

// dump asks the kernel on sock (a NETLINK_ROUTE socket) for every object
// of a kind: msgType is the RTM_GET* request, reply the RTM_NEW* type of
// the answers, data the request's header and attributes. It returns the
// answers' payloads.
func dump(sock *nl.NetlinkSocket, msgType int, reply uint16, data ...nl.NetlinkRequestData) ([][]byte, error) {
	req := nl.NewNetlinkRequest(msgType, unix.NLM_F_DUMP)
	req.Sockets = map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: sock}}
	for _, d := range data {
		req.AddData(d)
	}
	return req.Execute(unix.NETLINK_ROUTE, reply)
}

// dumpLinks lists the links of the namespace sock lives in and the
// bridge-port flags of those that are bridge ports, by index.
func dumpLinks(sock *nl.NetlinkSocket) ([]netlink.Link, map[int]bridgePort, error) {
	msgs, err := dump(sock, unix.RTM_GETLINK, unix.RTM_NEWLINK,
		nl.NewIfInfomsg(unix.AF_UNSPEC), nl.NewRtAttr(unix.IFLA_EXT_MASK, nl.Uint32Attr(rtextFilterSkipStats)))
	if err != nil {
		return nil, nil, err
	}
	links := make([]netlink.Link, 0, len(msgs))
	ports := map[int]bridgePort{}
	for _, m := range msgs {
		l, port, err := parseLink(m)
		if err != nil {
			return nil, nil, err
		}
		links = append(links, l)
		if port != nil {
			ports[l.Attrs().Index] = *port
		}
	}
	return links, ports, nil
}

// parseLink decodes one RTM_NEWLINK payload into the library's link types,
// filling the fields the Manager reads: name, index, flags, MTU, MAC,
// master, peer/parent index, alias, group, and per kind the VRF table and
// the VXLAN id, local address, port and learning flag; and, for a bridge
// port, its flags.
func parseLink(m []byte) (netlink.Link, *bridgePort, error) {
	if len(m) < unix.SizeofIfInfomsg {
		return nil, nil, fmt.Errorf("short RTM_NEWLINK message (%d bytes)", len(m))
	}
	ifi := nl.DeserializeIfInfomsg(m)
	attrs := netlink.LinkAttrs{
		Index:    int(ifi.Index),
		RawFlags: ifi.Flags,
		Flags:    flagsOf(ifi.Flags),
		NetNsID:  -1,
		TxQLen:   -1,
	}
	var kind, slaveKind string
	var data, slaveData []byte
	err := walkAttrs(m[unix.SizeofIfInfomsg:], func(typ uint16, v []byte) {
		switch typ {
		case unix.IFLA_IFNAME:
			attrs.Name = cString(v)
		case unix.IFLA_MTU:
			attrs.MTU = int(u32(v))
		case unix.IFLA_ADDRESS:
			// All zeros (lo) is no address, as the library has it.
			if slices.ContainsFunc(v, func(b byte) bool { return b != 0 }) {
				attrs.HardwareAddr = net.HardwareAddr(append([]byte(nil), v...))
			}
		case unix.IFLA_MASTER:
			attrs.MasterIndex = int(u32(v))
		case unix.IFLA_LINK:
			attrs.ParentIndex = int(u32(v))
		case unix.IFLA_IFALIAS:
			attrs.Alias = cString(v)
		case unix.IFLA_GROUP:
			attrs.Group = u32(v)
		case unix.IFLA_TXQLEN:
			attrs.TxQLen = int(u32(v))
		case unix.IFLA_LINKINFO:
			_ = walkAttrs(v, func(typ uint16, v []byte) {
				switch typ {
				case nl.IFLA_INFO_KIND:
					kind = cString(v)
				case nl.IFLA_INFO_DATA:
					data = v
				case nl.IFLA_INFO_SLAVE_KIND:
					slaveKind = cString(v)
				case nl.IFLA_INFO_SLAVE_DATA:
					slaveData = v
				}
			})
		}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("link %d: %w", ifi.Index, err)
	}
	var port *bridgePort
	if slaveKind == "bridge" {
		port = &bridgePort{}
		err := walkAttrs(slaveData, func(typ uint16, v []byte) {
			switch typ {
			case nl.IFLA_BRPORT_LEARNING:
				port.Learning = len(v) > 0 && v[0] != 0
			case nl.IFLA_BRPORT_NEIGH_SUPPRESS:
				port.NeighSuppress = len(v) > 0 && v[0] != 0
			}
		})
		if err != nil {
			return nil, nil, fmt.Errorf("link %d bridge port: %w", ifi.Index, err)
		}
	}
	l, err := linkOfKind(kind, attrs, data)
	return l, port, err
}

func linkOfKind(kind string, attrs netlink.LinkAttrs, data []byte) (netlink.Link, error) {
	var err error
	switch kind {
	case "":
		return &netlink.Device{LinkAttrs: attrs}, nil
	case "bridge":
		return &netlink.Bridge{LinkAttrs: attrs}, nil
	case "veth":
		return &netlink.Veth{LinkAttrs: attrs}, nil
	case "vrf":
		l := &netlink.Vrf{LinkAttrs: attrs}
		err = walkAttrs(data, func(typ uint16, v []byte) {
			if typ == iflaVrfTable {
				l.Table = u32(v)
			}
		})
		return l, err
	case "vxlan":
		l := &netlink.Vxlan{LinkAttrs: attrs}
		err = walkAttrs(data, func(typ uint16, v []byte) {
			switch typ {
			case iflaVxlanID:
				l.VxlanId = int(u32(v))
			case iflaVxlanLocal, iflaVxlanLocal6:
				l.SrcAddr = net.IP(append([]byte(nil), v...))
			case iflaVxlanLearning:
				l.Learning = len(v) > 0 && v[0] != 0
			case iflaVxlanPort:
				if len(v) >= 2 {
					l.Port = int(binary.BigEndian.Uint16(v))
				}
			}
		})
		return l, err
	default:
		return &netlink.GenericLink{LinkAttrs: attrs, LinkType: kind}, nil
	}
}

// walkAttrs calls fn for each netlink attribute in b, without copying or
// allocating.
func walkAttrs(b []byte, fn func(typ uint16, v []byte)) error {
	for len(b) >= unix.SizeofRtAttr {
		l := int(nl.NativeEndian().Uint16(b[0:2]))
		typ := nl.NativeEndian().Uint16(b[2:4]) &^ (unix.NLA_F_NESTED | unix.NLA_F_NET_BYTEORDER)
		if l < unix.SizeofRtAttr || l > len(b) {
			return fmt.Errorf("malformed netlink attribute (length %d, %d bytes left)", l, len(b))
		}
		fn(typ, b[unix.SizeofRtAttr:l])
		next := (l + unix.RTA_ALIGNTO - 1) &^ (unix.RTA_ALIGNTO - 1)
		if next > len(b) {
			break
		}
		b = b[next:]
	}
	return nil
}

func u32(v []byte) uint32 {
	if len(v) < 4 {
		return 0
	}
	return nl.NativeEndian().Uint32(v)
}

func cString(v []byte) string {
	for i, c := range v {
		if c == 0 {
			return string(v[:i])
		}
	}
	return string(v)
}

// flagsOf converts IFF_* flags as the library does.
func flagsOf(raw uint32) net.Flags {
	var f net.Flags
	for _, m := range []struct {
		iff  uint32
		flag net.Flags
	}{
		{unix.IFF_UP, net.FlagUp},
		{unix.IFF_BROADCAST, net.FlagBroadcast},
		{unix.IFF_LOOPBACK, net.FlagLoopback},
		{unix.IFF_POINTOPOINT, net.FlagPointToPoint},
		{unix.IFF_MULTICAST, net.FlagMulticast},
		{unix.IFF_RUNNING, net.FlagRunning},
	} {
		if raw&m.iff != 0 {
			f |= m.flag
		}
	}
	return f
}

// routeSocket opens a NETLINK_ROUTE socket in ns for the requests the
// library's Handle cannot make (lean dumps, batches).
// A receive stays bounded: the kernel answers every request, but a lost
// answer must not hang the controller.
func routeSocket(ns netns.NsHandle) (*nl.NetlinkSocket, error) {
	sock, err := nl.GetNetlinkSocketAt(ns, netns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	if err := sock.SetReceiveTimeout(&unix.Timeval{Sec: 60}); err != nil {
		sock.Close()
		return nil, err
	}
	return sock, nil
}
