package kubenode

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apiserver/pkg/server/egressselector"
)

// TestKubeletProxyRootNamespace checks the CONNECT proxy the API server's
// egress uses, for targets that are not registered nodes (webhooks on
// loopback): they are dialled as they are, in the caller's namespace.
func TestKubeletProxyRootNamespace(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, "hello from the backend")
	}))
	defer backend.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	unixProxy, err := StartKubeletProxy(filepath.Join(t.TempDir(), "egress.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = unixProxy.Close() }()
	// The VM lane's API server reaches the guest's proxy over TCP,
	// through a relay from its unix-socket egress.
	tcpProxy, err := StartKubeletProxyTCP("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tcpProxy.Close() }()
	relaySocket := filepath.Join(t.TempDir(), "relay.sock")
	relay, err := StartEgressRelay(relaySocket, tcpProxy.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = relay.Close() }()

	tests := map[string]struct {
		network, addr string
		target        string
		wantStatus    string
		wantBody      string
	}{
		"unix: listening target is tunnelled":  {network: "unix", addr: unixProxy.Socket(), target: backend.Listener.Addr().String(), wantStatus: "200", wantBody: "hello from the backend"},
		"unix: closed port answers 502":        {network: "unix", addr: unixProxy.Socket(), target: closedAddr, wantStatus: "502"},
		"tcp: listening target is tunnelled":   {network: "tcp", addr: tcpProxy.Addr().String(), target: backend.Listener.Addr().String(), wantStatus: "200", wantBody: "hello from the backend"},
		"tcp: closed port answers 502":         {network: "tcp", addr: tcpProxy.Addr().String(), target: closedAddr, wantStatus: "502"},
		"relay: listening target is tunnelled": {network: "unix", addr: relaySocket, target: backend.Listener.Addr().String(), wantStatus: "200", wantBody: "hello from the backend"},
		"relay: closed port answers 502":       {network: "unix", addr: relaySocket, target: closedAddr, wantStatus: "502"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial(tc.network, tc.addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", tc.target, tc.target)
			r := bufio.NewReader(c)
			resp, err := http.ReadResponse(r, &http.Request{Method: http.MethodConnect})
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Fields(resp.Status)[0]; got != tc.wantStatus {
				t.Fatalf("CONNECT %s: status %s, want %s", tc.target, resp.Status, tc.wantStatus)
			}
			if tc.wantBody == "" {
				return
			}
			fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", tc.target)
			inner, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(inner.Body)
			if string(body) != tc.wantBody {
				t.Errorf("through the tunnel: %q, want %q", body, tc.wantBody)
			}
		})
	}
}

// TestKubeletProxyRoute checks where the proxy dials: registered nodes
// (by name or IP) in their namespace at their IP, addresses of a
// registered pod network in that node's namespace as they are, anything
// else in the proxy's own namespace.
func TestKubeletProxyRoute(t *testing.T) {
	p := &KubeletProxy{nodes: map[string]kubeletAddr{}}
	p.Register("node-a", "10.251.0.1", "ns-a")
	for cidr, ns := range map[string]string{"10.244.0.0/24": "ns-a", "10.244.1.7/24": "ns-b"} {
		if err := p.RegisterPodNetwork(cidr, ns); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.RegisterPodNetwork("10.244.2.0", "ns-c"); err == nil {
		t.Error("RegisterPodNetwork accepted an address without a prefix length")
	}
	tests := map[string]struct{ host, wantNS, wantIP string }{
		"node by name":               {host: "node-a", wantNS: "ns-a", wantIP: "10.251.0.1"},
		"node by IP":                 {host: "10.251.0.1", wantNS: "ns-a", wantIP: "10.251.0.1"},
		"pod of the first network":   {host: "10.244.0.5", wantNS: "ns-a", wantIP: "10.244.0.5"},
		"pod of a non-masked CIDR":   {host: "10.244.1.200", wantNS: "ns-b", wantIP: "10.244.1.200"},
		"outside every pod network":  {host: "10.244.2.1", wantNS: "", wantIP: "10.244.2.1"},
		"loopback (a local webhook)": {host: "127.0.0.1", wantNS: "", wantIP: "127.0.0.1"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			ns, ip := p.route(tc.host)
			if ns != tc.wantNS || ip != tc.wantIP {
				t.Errorf("route(%q) = (%q, %q), want (%q, %q)", tc.host, ns, ip, tc.wantNS, tc.wantIP)
			}
		})
	}
}

// TestEgressSelectorConfig reads the egress configuration with the API
// server's own reader and validation, as kube-apiserver does with
// --egress-selector-config-file, and checks where "cluster" traffic goes.
func TestEgressSelectorConfig(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "egress.sock")
	file := filepath.Join(t.TempDir(), "egress.yaml")
	if err := os.WriteFile(file, []byte(EgressSelectorConfig(socket)), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := egressselector.ReadEgressSelectorConfiguration(file)
	if err != nil {
		t.Fatalf("kube-apiserver's reader refuses:\n%s\n%v", EgressSelectorConfig(socket), err)
	}
	if errs := egressselector.ValidateEgressSelectorConfiguration(cfg); len(errs) > 0 {
		t.Fatalf("kube-apiserver's validation refuses:\n%s\n%v", EgressSelectorConfig(socket), errs.ToAggregate())
	}
	if len(cfg.EgressSelections) != 1 || cfg.EgressSelections[0].Name != "cluster" {
		t.Fatalf("egress selections %+v, want one named cluster", cfg.EgressSelections)
	}
	c := cfg.EgressSelections[0].Connection
	if c.ProxyProtocol != "HTTPConnect" || c.Transport == nil || c.Transport.UDS == nil || c.Transport.UDS.UDSName != socket {
		t.Errorf("cluster egress %+v, want HTTPConnect over the unix socket %s", c, socket)
	}
}
