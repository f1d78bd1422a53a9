package vm

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
)

func TestMain(m *testing.M) {
	ServeRelayIfAsked()
	os.Exit(m.Run())
}

// The guest reaches a forwarded host service and nothing else of the host:
// a connection to the host's loopback through QEMU's gateway is refused.
func TestRunForwardsHostTCPIntoTheGuestOnly(t *testing.T) {
	if testing.Short() {
		t.Skip(bootSkip)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				line, _ := bufio.NewReader(c).ReadString('\n')
				fmt.Fprintf(c, "host got %s", line)
			}()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	// Two connections: QEMU starts one relay per connection.
	script := fmt.Sprintf(`set -e
for i in 1 2; do
	exec 3<>/dev/tcp/%[1]s/6443
	echo "hello $i" >&3
	head -n1 <&3
	exec 3<&-
done
hostname
if exec 4<>/dev/tcp/10.0.2.2/%[2]d; then echo "reached the host's loopback"; exit 3; fi
echo isolated
`, GuestForwardIP, port)
	code, out := runInVM(t, Options{
		Command:  []string{"bash", "-c", script},
		Modules:  []string{},
		Forwards: []Forward{{GuestPort: 6443, HostAddr: l.Addr().String()}},
	})
	if code != 0 {
		t.Fatalf("guest script exited %d:\n%s", code, out)
	}
	for _, want := range []string{"host got hello 1\n", "host got hello 2\n", "perouter-vm\n", "isolated\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("guest output lacks %q:\n%s", want, out)
		}
	}
}

func TestNetdevArgsRefuseBadForwards(t *testing.T) {
	for name, f := range map[string]Forward{
		"port out of range": {GuestPort: 70000, HostAddr: "127.0.0.1:1"},
		"no host port":      {GuestPort: 6443, HostAddr: "127.0.0.1"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := netdevArgs([]Forward{f}, nil); err == nil {
				t.Errorf("netdevArgs(%+v) succeeded", f)
			}
		})
	}
}
