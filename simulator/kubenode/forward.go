package kubenode

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"sync"

	"github.com/vishvananda/netlink"

	"github.com/perouter/perouter/operator/nsexec"
)

// forwarder listens inside a node's namespace on an address (the API
// server's loopback address, or the `kubernetes` Service's ClusterIP) and
// copies each connection to the API server in the root namespace: the
// kubelet and pods reach the API server at the address its certificate and
// their kubeconfig (or in-cluster config) name.
type forwarder struct {
	ln net.Listener
	wg sync.WaitGroup
}

// startServiceForwarder puts the Service IP of service (ip:port) on the
// namespace's lo, the way kube-proxy's IPVS mode binds ClusterIPs to a
// local device, and forwards service to apiServer.
func startServiceForwarder(ns, service, apiServer string) (*forwarder, error) {
	host, _, err := net.SplitHostPort(service)
	if err != nil {
		return nil, fmt.Errorf("kubernetes Service address %q: %w", service, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return nil, fmt.Errorf("kubernetes Service address %q: %w", service, err)
	}
	if err := nsexec.DoNamed(ns, func() error {
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		addr := &netlink.Addr{IPNet: &net.IPNet{IP: ip.AsSlice(), Mask: net.CIDRMask(ip.BitLen(), ip.BitLen())}}
		if err := netlink.AddrReplace(lo, addr); err != nil {
			return fmt.Errorf("adding %s to lo: %w", ip, err)
		}
		return nil
	}); err != nil {
		return nil, fmt.Errorf("kubernetes Service forwarder in netns %s: %w", ns, err)
	}
	return startForwarder(ns, service, apiServer)
}

func startForwarder(ns, listen, apiServer string) (*forwarder, error) {
	var ln net.Listener
	if err := nsexec.DoNamed(ns, func() error {
		var err error
		ln, err = net.Listen("tcp", listen)
		return err
	}); err != nil {
		return nil, fmt.Errorf("API server forwarder in netns %s on %s: %w", ns, listen, err)
	}
	return serveForwarder(ln, apiServer), nil
}

// serveForwarder copies each connection accepted on ln to a new TCP
// connection to target, dialled from the caller's network namespace.
func serveForwarder(ln net.Listener, target string) *forwarder {
	f := &forwarder{ln: ln}
	f.wg.Add(1)
	go func() {
		defer f.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				up, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				splice(c, up)
			}()
		}
	}()
	return f
}

func (f *forwarder) Close() {
	f.ln.Close()
	f.wg.Wait()
}

// splice copies both ways until either side is done, then closes both.
func splice(a, b net.Conn) {
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(a, b)
	go cp(b, a)
	<-done
	a.Close()
	b.Close()
	<-done
}

// KubeletProxy is an HTTP CONNECT proxy on a unix socket that the API
// server uses for its "cluster" egress (EgressSelectorConfig): connections
// to a registered node are dialled inside that node's namespace, all
// others (webhooks on loopback) in the root namespace, as without a proxy.
// It is how `kubectl logs/exec` reach kubelets that live in namespaces the
// API server's own cannot route to.
type KubeletProxy struct {
	socket string
	ln     net.Listener
	srv    *http.Server
	mu     sync.Mutex
	nodes  map[string]kubeletAddr // node name or IP → where to dial
	pods   []podNetwork
}

// podNetwork is a node's pod CIDR and the namespace that routes it.
type podNetwork struct {
	cidr netip.Prefix
	ns   string
}

type kubeletAddr struct{ ns, ip string }

// StartKubeletProxy listens on socket (removed first if stale).
func StartKubeletProxy(socket string) (*KubeletProxy, error) {
	_ = os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("kubelet proxy socket %s: %w", socket, err)
	}
	return serveKubeletProxy(ln, socket), nil
}

// StartKubeletProxyTCP listens on a TCP address instead: for an API server
// on another machine (the VM lane's, on the host, reaching the guest
// through a QEMU host forward). Its egress configuration is
// EgressSelectorConfigTCP.
func StartKubeletProxyTCP(addr string) (*KubeletProxy, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("kubelet proxy on %s: %w", addr, err)
	}
	return serveKubeletProxy(ln, ""), nil
}

func serveKubeletProxy(ln net.Listener, socket string) *KubeletProxy {
	p := &KubeletProxy{socket: socket, ln: ln, nodes: map[string]kubeletAddr{}}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.connect)}
	go func() { _ = p.srv.Serve(ln) }()
	return p
}

// Register makes connections to node (its name: the API server prefers the
// Hostname address, which is the node name here) or to ip go to ip inside
// namespace ns.
func (p *KubeletProxy) Register(node, ip, ns string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.nodes[node] = kubeletAddr{ns: ns, ip: ip}
	p.nodes[ip] = kubeletAddr{ns: ns, ip: ip}
}

// RegisterPodNetwork makes connections to an address of cidr (a node's
// pod network) be dialled inside namespace ns, which routes it to the
// pod. With --enable-aggregator-routing the API server calls webhooks at
// their endpoints' pod IPs through the "cluster" egress, i.e. here.
func (p *KubeletProxy) RegisterPodNetwork(cidr, ns string) error {
	prefix, err := netip.ParsePrefix(cidr)
	if err != nil {
		return fmt.Errorf("pod network %q of netns %s: %w", cidr, ns, err)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pods = append(p.pods, podNetwork{cidr: prefix.Masked(), ns: ns})
	return nil
}

// route tells in which namespace to dial host and which address to dial
// instead of it ("" namespace: the proxy's own).
func (p *KubeletProxy) route(host string) (ns, ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if node, ok := p.nodes[host]; ok {
		return node.ns, node.ip
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		for _, n := range p.pods {
			if n.cidr.Contains(addr) {
				return n.ns, host
			}
		}
	}
	return "", host
}

// Addr is the address the proxy listens on.
func (p *KubeletProxy) Addr() net.Addr { return p.ln.Addr() }

// Socket is the unix socket path ("" for a TCP proxy).
func (p *KubeletProxy) Socket() string { return p.socket }

// EgressSelectorConfig is the API server's --egress-selector-config-file
// content that sends "cluster" traffic through this proxy's unix socket.
func (p *KubeletProxy) EgressSelectorConfig() string { return EgressSelectorConfig(p.socket) }

// EgressSelectorConfig sends the API server's "cluster" traffic to the
// HTTP CONNECT proxy on a unix socket. (Its TCP transport with an http://
// URL, which its validation admits, crashes kube-apiserver v1.37.2 at
// start: egressselector.getTLSConfig dereferences the absent TLS config.
// A proxy elsewhere is reached through StartEgressRelay instead.)
func EgressSelectorConfig(socket string) string {
	return fmt.Sprintf(`apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %s
`, socket)
}

// EgressRelay carries the connections of an API server's unix-socket
// egress to a KubeletProxy listening on TCP elsewhere (the VM lane's
// guest, through a QEMU host forward).
type EgressRelay struct{ f *forwarder }

// StartEgressRelay listens on socket (removed first if stale) and relays
// each connection to proxyAddr.
func StartEgressRelay(socket, proxyAddr string) (*EgressRelay, error) {
	_ = os.Remove(socket)
	ln, err := net.Listen("unix", socket)
	if err != nil {
		return nil, fmt.Errorf("egress relay socket %s: %w", socket, err)
	}
	return &EgressRelay{f: serveForwarder(ln, proxyAddr)}, nil
}

// Close stops relaying and removes the socket.
func (r *EgressRelay) Close() error {
	r.f.Close()
	return nil
}

func (p *KubeletProxy) connect(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodConnect {
		http.Error(w, "only CONNECT", http.StatusMethodNotAllowed)
		return
	}
	host, port, err := net.SplitHostPort(r.Host)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ns, ip := p.route(host)
	target := net.JoinHostPort(ip, port)
	var up net.Conn
	dial := func() error {
		var err error
		up, err = (&net.Dialer{}).DialContext(context.Background(), "tcp", target)
		return err
	}
	if ns != "" {
		err = nsexec.DoNamed(ns, dial)
	} else {
		err = dial()
	}
	if err != nil {
		http.Error(w, fmt.Sprintf("dialling %s for %s (netns %q): %v", target, r.Host, ns, err), http.StatusBadGateway)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "no hijack", http.StatusInternalServerError)
		return
	}
	c, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	_, _ = c.Write([]byte("HTTP/1.1 200 Connection established\r\n\r\n"))
	// Bytes the client sent after the CONNECT request, already buffered.
	if n := buf.Reader.Buffered(); n > 0 {
		pending, _ := buf.Peek(n)
		_, _ = up.Write(pending)
	}
	splice(c, up)
}

// Close stops the proxy and removes its socket.
func (p *KubeletProxy) Close() error {
	err := p.srv.Close()
	if p.socket != "" {
		_ = os.Remove(p.socket)
	}
	return err
}
