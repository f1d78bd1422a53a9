package kubenode

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
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

	proxy, err := StartKubeletProxy(filepath.Join(t.TempDir(), "egress.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = proxy.Close() }()

	tests := map[string]struct {
		target     string
		wantStatus string
		wantBody   string
	}{
		"listening target is tunnelled": {target: backend.Listener.Addr().String(), wantStatus: "200", wantBody: "hello from the backend"},
		"closed port answers 502":       {target: closedAddr, wantStatus: "502"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("unix", proxy.Socket())
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
