// Command controller runs on every node (DaemonSet) and makes the node's
// router match the perouter objects: FRR through the reloader sidecar's
// socket, the kernel datapath through netlink.
package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/controller"
	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/logging"
	"github.com/perouter/perouter/operator/redact"
	"github.com/perouter/perouter/operator/reloader"
)

func main() {
	// The controller runs on every node and is idle between changes; with
	// Go's default GOGC=100 the heap grows to twice the live data after
	// each large reconcile. At 500 L3VNIs GOGC=50 measured 6–8 MB less
	// RSS (about 12 %) for a few percent more CPU in the rare large
	// reconciles (docs/performance.md). GOGC in the environment wins.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(50)
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "controller:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		nodeName      = flag.String("node-name", os.Getenv("NODE_NAME"), "this node's name (default $NODE_NAME)")
		namespace     = flag.String("namespace", envOr("POD_NAMESPACE", controller.DefaultNamespace), "namespace of the RouterNodeStatus objects (default $POD_NAMESPACE)")
		socket        = flag.String("reloader-socket", reloader.DefaultSocket, "the reloader sidecar's unix socket")
		netns         = flag.String("router-netns", hostnet.DefaultNetns, "router network namespace (name under /run/netns or a path)")
		hostNetns     = flag.String("host-netns", "", "network namespace holding the host side and the underlay NICs (default: the controller's own, i.e. the node's with hostNetwork)")
		underlayMTU   = flag.Int("underlay-mtu", 0, "MTU of the underlay NIC (0: hostnet's default)")
		resync        = flag.Duration("resync-period", 3*time.Minute, "how often the datapath is re-applied when nothing changed (FRR is reloaded only on change)")
		vtySocketDir  = flag.String("vty-socket-dir", "/run/frr", "FRR daemons' vty socket directory, shared by the router pod; empty disables BGP state in the status")
		vtysh         = flag.String("vtysh", "vtysh", "vtysh binary used to read BGP state")
		metricsAddr   = flag.String("metrics-bind-address", ":9481", "metrics endpoint (0 disables); with hostNetwork it is open on every host interface, hence --metrics-secure")
		metricsSecure = flag.Bool("metrics-secure", true, "serve metrics over HTTPS to callers whose token may get /metrics (TokenReview, SubjectAccessReview); false serves plain HTTP: bind it to 127.0.0.1")
		probeAddr     = flag.String("health-probe-bind-address", "127.0.0.1:9482", "healthz/readyz endpoint (loopback: the kubelet probes a host-network pod from the host)")
		stateDir      = flag.String("underlay-state-dir", DefaultUnderlayStateDir, "directory on the node where what the host side of each underlay NIC had before its move is kept, so that a restarted controller can give it back (empty: memory only)")
		cniCacheDir   = flag.String("cni-cache-dir", DefaultCNICacheDir, "libcni's cache directory, which records the underlay links CNI plugins made (CNIDevice); must outlive the controller (a hostPath). host-local IPAM keeps its reservations under /var/lib/cni/networks by default, so the chart mounts the node's /var/lib/perouter/cni there")
		cniPluginDirs = flag.String("cni-plugin-dirs", strings.Join(hostnet.DefaultCNIPluginDirs, ","), "comma-separated directories holding the CNI plugins (Debian's containernetworking-plugins install them in /usr/lib/cni)")
		cniDHCPSocket = flag.String("cni-dhcp-socket", hostnet.DefaultDHCPSocket, "socket of the CNI dhcp daemon the controller runs for dhcp IPAM (the dhcp plugin's default)")
		pushTimeout   = flag.Duration("push-timeout", controller.DefaultPushTimeout, "bound on one push to the router (datapath and FRR reload); an overrun fails the reconcile, is reported in status and retried")
		stallTimeout  = flag.Duration("stall-timeout", controller.DefaultStallTimeout, "/healthz fails when no reconcile has finished for this long, so the kubelet restarts a wedged controller")
	)
	logLevel := flag.String("log-level", "info", "info or debug")
	flag.Parse()
	logger, err := logging.New(*logLevel)
	if err != nil {
		return err
	}
	// Every log line of the controller (and of controller-runtime, which
	// logs reconcile errors) passes the redaction of FRR's secrets.
	ctrl.SetLogger(redact.Logger(logger))
	if *nodeName == "" {
		return errors.New("--node-name or $NODE_NAME is required")
	}

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	rc := reloader.NewClient(*socket)
	var bgp controller.BGPStateReader
	var zebra controller.ZebraAddressReader
	if *vtySocketDir != "" {
		bgp = controller.VtyshBGPReader{Vtysh: *vtysh, SocketDir: *vtySocketDir}
		zebra = controller.VtyshZebraReader{Vtysh: *vtysh, SocketDir: *vtySocketDir}
	}
	datapath := hostnet.NewManager(hostnet.Options{RouterNetns: *netns, HostNetns: *hostNetns, StateDir: *stateDir, Logger: ctrl.Log.WithName("hostnet"),
		CNI: hostnet.CNIOptions{
			PluginDirs: strings.Split(*cniPluginDirs, ","), CacheDir: *cniCacheDir, DHCPSocket: *cniDHCPSocket,
			// Node-scoped: the dhcp plugin's client ID and host-local's
			// reservations carry it.
			ContainerID: hostnet.DefaultCNIContainerID + "-" + *nodeName,
		}})
	mgr, err := controller.NewNodeManager(ctrl.GetConfigOrDie(), controller.NodeManagerOptions{
		Scheme:        scheme,
		NodeName:      *nodeName,
		Namespace:     *namespace,
		FRR:           controller.ReloaderPusher{Client: rc},
		Datapath:      datapath,
		PlanOptions:   hostnet.PlanOptions{Netns: *netns, UnderlayMTU: *underlayMTU},
		BGP:           bgp,
		Zebra:         zebra,
		Addresses:     datapath,
		Resync:        *resync,
		RouterNetns:   *netns,
		MetricsAddr:   *metricsAddr,
		MetricsSecure: *metricsSecure,
		ProbeAddr:     *probeAddr,
		Guard:         datapath,
		Refreshers: hostnet.NewRefreshers(hostnet.RefresherOptions{
			Netns: *netns, Logger: ctrl.Log.WithName("refresher"), OnProbe: controller.CountNeighbourProbe,
		}),
		PushTimeout: *pushTimeout, StallTimeout: *stallTimeout,
		// Ready when the reloader answers and FRR's daemons are up:
		// before that no config can be applied.
		Ready: func(req *http.Request) error { return rc.Healthy(req.Context()) },
	})
	if err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

// DefaultCNICacheDir is libcni's default; the DaemonSet mounts a hostPath
// there.
const DefaultCNICacheDir = "/var/lib/cni"

// DefaultUnderlayStateDir is a hostPath in the DaemonSet: the state must
// outlive the pod.
const DefaultUnderlayStateDir = "/var/lib/perouter/underlay"

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
