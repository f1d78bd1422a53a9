// Command labeler runs once per cluster (a Deployment, leader-elected) and
// does the cluster-wide work: it gives Nodes their index label, sums the
// RouterNodeStatus reports up into each perouter object's status, and
// serves the validating webhook (with certificates from cert-controller,
// or from --cert-dir with --cert-rotation=false).
package main

import (
	"flag"
	"fmt"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/cluster"
	"github.com/perouter/perouter/operator/controller"
	"github.com/perouter/perouter/operator/ipam"
	"github.com/perouter/perouter/operator/logging"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "labeler:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		namespace     = flag.String("namespace", envOr("POD_NAMESPACE", controller.DefaultNamespace), "namespace of the RouterNodeStatus objects, the leader lease and the webhook Secret")
		maxIndex      = flag.Int("max-index", ipam.MaxNodeIndex, "highest node index to hand out; set it to the last index your smallest tunnel or router-id pool can address (e.g. 254 for a /24), nodes beyond it get none and are marked")
		leaderElect   = flag.Bool("leader-elect", true, "elect a leader so that only one replica labels nodes")
		metricsAddr   = flag.String("metrics-bind-address", ":8443", "metrics endpoint (0 disables)")
		metricsSecure = flag.Bool("metrics-secure", true, "serve metrics over HTTPS to callers whose token may get /metrics (TokenReview, SubjectAccessReview); false serves plain HTTP: bind it to 127.0.0.1")
		probeAddr     = flag.String("health-probe-bind-address", ":8081", "healthz/readyz endpoint (the pod's address: the kubelet probes a pod-network pod there)")
		webhookPort   = flag.Int("webhook-port", 9443, "port of the validating webhook (0 disables the webhook)")
		certDir       = flag.String("cert-dir", "/tmp/k8s-webhook-server/serving-certs", "where the webhook's serving certificate is (tls.crt, tls.key): written there by cert-controller, or by you with --cert-rotation=false")
		certRotation  = flag.Bool("cert-rotation", true, "generate and rotate the webhook's CA and certificate with cert-controller (Secret --cert-secret, caBundle of --webhook-configuration); false serves the certificate already in --cert-dir, e.g. from cert-manager, and leaves the caBundle to its issuer")
		certSecret    = flag.String("cert-secret", "perouter-webhook-cert", "Secret (in --namespace) holding the webhook CA and certificate")
		serviceName   = flag.String("webhook-service", "perouter-webhook-service", "Service in front of the webhook, the certificate's DNS name")
		webhookConfig = flag.String("webhook-configuration", "perouter-validating-webhook-configuration", "ValidatingWebhookConfiguration whose caBundle cert-controller keeps current")
		logLevel      = flag.String("log-level", "info", "info or debug")
	)
	flag.Parse()
	logger, err := logging.New(*logLevel)
	if err != nil {
		return err
	}
	ctrl.SetLogger(logger)

	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return err
	}
	if err := v1alpha1.AddToScheme(scheme); err != nil {
		return err
	}
	opts := cluster.Options{
		Scheme: scheme, Namespace: *namespace, MaxIndex: *maxIndex, LeaderElect: *leaderElect,
		MetricsAddr: *metricsAddr, MetricsSecure: *metricsSecure, ProbeAddr: *probeAddr,
	}
	if *webhookPort != 0 {
		opts.Webhook = &cluster.WebhookOptions{Port: *webhookPort, CertDir: *certDir, CertSecret: *certSecret,
			Service: *serviceName, Configuration: *webhookConfig, ExternalCerts: !*certRotation}
	}
	mgr, err := cluster.NewManager(ctrl.GetConfigOrDie(), opts)
	if err != nil {
		return err
	}
	return mgr.Start(ctrl.SetupSignalHandler())
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
