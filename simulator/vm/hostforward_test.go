package vm

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// A guest server listening on all addresses is reachable from the host's
// loopback through a HostForward, although the user network is restricted.
func TestRunForwardsHostLoopbackToGuestService(t *testing.T) {
	if testing.Short() {
		t.Skip(bootSkip)
	}
	hostPort := freeLoopbackPort(t)
	const guestPort = 8443
	server := fmt.Sprintf(`import socket
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", %d))
s.listen()
print("guest listening", flush=True)
c, _ = s.accept()
line = c.makefile().readline()
c.sendall(("guest got " + line).encode())
c.close()
print("guest answered", flush=True)
`, guestPort)

	replies := make(chan string, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		// QEMU accepts on the host port at once and closes the connection
		// when nothing listens in the guest yet: retry until the answer.
		for {
			select {
			case <-stop:
				return
			default:
			}
			if reply, err := ask(fmt.Sprintf("127.0.0.1:%d", hostPort)); err == nil && reply != "" {
				replies <- reply
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}()
	code, out := runInVM(t, Options{
		Command:      []string{"python3", "-c", server},
		Modules:      []string{},
		HostForwards: []HostForward{{HostPort: hostPort, GuestPort: guestPort}},
	})
	if code != 0 {
		t.Fatalf("guest server exited %d:\n%s", code, out)
	}
	select {
	case reply := <-replies:
		if reply != "guest got hello from the host\n" {
			t.Errorf("host got %q from the guest, want %q", reply, "guest got hello from the host\n")
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("the host never got the guest's answer; guest output:\n%s", out)
	}
}

func ask(addr string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, "hello from the host\n"); err != nil {
		return "", err
	}
	return bufio.NewReader(c).ReadString('\n')
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestNetdevArgsHostForwards(t *testing.T) {
	for name, tc := range map[string]struct {
		forwards []HostForward
		want     string // the -netdev value, "" for an error
	}{
		"loopback only, to the guest's address": {
			forwards: []HostForward{{HostPort: 18443, GuestPort: 9443}},
			want:     "user,id=net0,restrict=on,net=10.0.2.0/24,hostfwd=tcp:127.0.0.1:18443-10.0.2.15:9443",
		},
		"host port out of range":  {forwards: []HostForward{{HostPort: 0, GuestPort: 9443}}},
		"guest port out of range": {forwards: []HostForward{{HostPort: 18443, GuestPort: 65536}}},
	} {
		t.Run(name, func(t *testing.T) {
			args, err := netdevArgs(nil, tc.forwards)
			if tc.want == "" {
				if err == nil {
					t.Errorf("netdevArgs(%+v) = %q, want an error", tc.forwards, args)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(args) < 2 || args[0] != "-netdev" || args[1] != tc.want {
				t.Errorf("netdevArgs(%+v) = %q, want -netdev %q", tc.forwards, args, tc.want)
			}
			if !strings.Contains(strings.Join(args, " "), "virtio-net-pci,netdev=net0") {
				t.Errorf("netdevArgs(%+v) = %q: no network device", tc.forwards, args)
			}
		})
	}
}
