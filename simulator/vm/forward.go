package vm

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// GuestForwardIP is the address at which a guest reaches forwarded host
// services (Options.Forwards). It lives in QEMU's user network, which only
// the guest's root namespace sees, and which reaches nothing else: the
// network is restricted, so the guest cannot send packets to the host or
// beyond except through the forwards.
const GuestForwardIP = "10.0.2.100"

// guestAddress is the guest's own address in QEMU's user network.
const guestAddress = "10.0.2.15/24"

// Forward makes a TCP service of the host reachable from the guest: a
// guest connection to GuestForwardIP:GuestPort is relayed to HostAddr.
type Forward struct {
	GuestPort int
	HostAddr  string
}

// HostForward makes a TCP service of the guest reachable from the host:
// a connection to 127.0.0.1:HostPort on the host reaches GuestPort at the
// guest's address in QEMU's user network (so the guest's server must
// listen on that address or on all, not only on its loopback). QEMU
// listens on the host port itself; restrict=on leaves explicit forwards
// working.
type HostForward struct {
	HostPort, GuestPort int
}

// RelayEnv makes a binary that called ServeRelayIfAsked act as the relay
// of one forwarded connection: QEMU starts it per connection with the
// guest's stream on stdin/stdout and the host address in this variable.
const RelayEnv = "PEROUTER_VM_RELAY"

// relayProbe is the RelayEnv value that asks a binary to confirm it relays.
const relayProbe = "probe"

// ServeRelayIfAsked must be the first thing main (or TestMain) does in a
// binary that passes Options.Forwards: QEMU runs that same binary as the
// relay of each forwarded connection. It returns when the binary was not
// started as a relay.
func ServeRelayIfAsked() {
	addr := os.Getenv(RelayEnv)
	if addr == "" {
		return
	}
	if addr == relayProbe {
		fmt.Print("relay ok")
		os.Exit(0)
	}
	if err := relay(os.Stdin, os.Stdout, addr); err != nil {
		fmt.Fprintln(os.Stderr, "vm relay:", err)
		os.Exit(1)
	}
	os.Exit(0)
}

func relay(in io.Reader, out io.Writer, addr string) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	done := make(chan error, 2)
	go func() {
		_, err := io.Copy(conn, in)
		// The guest closed its side: tell the server, keep reading its reply.
		_ = conn.(*net.TCPConn).CloseWrite()
		done <- err
	}()
	go func() {
		_, err := io.Copy(out, conn)
		done <- err
	}()
	// The connection is over when the server has closed it; the guest side
	// may still be open (QEMU closes it when the relay exits).
	err = <-done
	if second := <-done; err == nil {
		err = second
	}
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// relayCommand is the QEMU guestfwd cmd: this binary in relay mode. It
// checks first that the binary really relays, so a caller that forgot
// ServeRelayIfAsked fails here instead of with refused connections inside
// the guest.
func relayCommand(hostAddr string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	probe := exec.Command(self)
	probe.Env = append(os.Environ(), RelayEnv+"="+relayProbe)
	if out, err := probe.Output(); err != nil || string(out) != "relay ok" {
		return "", fmt.Errorf("vm: Options.Forwards needs %s to call vm.ServeRelayIfAsked first thing (probe: %v, %q)", self, err, out)
	}
	cmd := "env " + RelayEnv + "=" + hostAddr + " " + self
	// QEMU's option syntax doubles commas; shells word-split on spaces.
	if strings.ContainsAny(cmd, ",'\"\\$`") || strings.Contains(self, " ") {
		return "", fmt.Errorf("vm: relay command %q has characters QEMU's guestfwd cannot carry", cmd)
	}
	return cmd, nil
}

// netdevArgs are the QEMU arguments of the guest's user network.
func netdevArgs(forwards []Forward, hostForwards []HostForward) ([]string, error) {
	if len(forwards) == 0 && len(hostForwards) == 0 {
		return nil, nil
	}
	spec := "user,id=net0,restrict=on,net=10.0.2.0/24"
	guestIP, _, _ := strings.Cut(guestAddress, "/")
	for _, f := range hostForwards {
		for _, p := range []int{f.HostPort, f.GuestPort} {
			if p <= 0 || p > 65535 {
				return nil, fmt.Errorf("vm: host forward %d->%d: port %d out of range", f.HostPort, f.GuestPort, p)
			}
		}
		spec += fmt.Sprintf(",hostfwd=tcp:127.0.0.1:%d-%s:%d", f.HostPort, guestIP, f.GuestPort)
	}
	for _, f := range forwards {
		if f.GuestPort <= 0 || f.GuestPort > 65535 {
			return nil, fmt.Errorf("vm: forward guest port %d", f.GuestPort)
		}
		if _, _, err := net.SplitHostPort(f.HostAddr); err != nil {
			return nil, fmt.Errorf("vm: forward host address %q: %w", f.HostAddr, err)
		}
		cmd, err := relayCommand(f.HostAddr)
		if err != nil {
			return nil, err
		}
		spec += ",guestfwd=tcp:" + GuestForwardIP + ":" + strconv.Itoa(f.GuestPort) + "-cmd:" + cmd
	}
	return []string{"-netdev", spec, "-device", "virtio-net-pci,netdev=net0"}, nil
}
