// Package cluster wires the cluster-wide components that cmd/labeler runs
// under one leader election: the node labeler, the status aggregator and
// the validating webhook with its certificates (from cert-controller, or
// provided by the caller).
package cluster

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/open-policy-agent/cert-controller/pkg/rotator"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/webhook"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/controller"
	"github.com/perouter/perouter/operator/labeler"
	perouterwebhook "github.com/perouter/perouter/operator/webhook"
)

// Options configure the cluster manager.
type Options struct {
	Scheme *runtime.Scheme
	// Namespace holds the RouterNodeStatus objects, the leader Lease and
	// the webhook's certificate Secret.
	Namespace   string
	MaxIndex    int
	LeaderElect bool
	// MetricsAddr and ProbeAddr: "0" disables.
	MetricsAddr, ProbeAddr string
	// MetricsSecure: see controller.MetricsServer.
	MetricsSecure bool
	// Webhook, if set, serves the validating webhook.
	Webhook *WebhookOptions
}

// WebhookOptions configure the webhook and cert-controller.
type WebhookOptions struct {
	Port    int
	CertDir string
	// ExternalCerts serves the tls.crt and tls.key already in CertDir
	// (written by cert-manager, or by a test) without cert-controller:
	// CertSecret, Service and Configuration are then unused, and whoever
	// writes the certificate also keeps the configuration's caBundle
	// current. The server reloads the files when they change.
	ExternalCerts bool
	// CertSecret (in Namespace) holds the CA and serving certificate.
	CertSecret string
	// Service is the webhook's Service; the certificate is for
	// <Service>.<Namespace>.svc.
	Service string
	// Configuration is the ValidatingWebhookConfiguration whose caBundle
	// cert-controller keeps current.
	Configuration string
}

// NewManager returns the manager cmd/labeler runs.
func NewManager(cfg *rest.Config, o Options) (ctrl.Manager, error) {
	mgrOpts := ctrl.Options{
		Scheme:                  o.Scheme,
		Metrics:                 controller.MetricsServer(o.MetricsAddr, o.MetricsSecure),
		HealthProbeBindAddress:  o.ProbeAddr,
		LeaderElection:          o.LeaderElect,
		LeaderElectionID:        "perouter-labeler",
		LeaderElectionNamespace: o.Namespace,
		Cache: cache.Options{ByObject: map[client.Object]cache.ByObject{
			// The reports live in one namespace; a Role there suffices.
			&v1alpha1.RouterNodeStatus{}: {Namespaces: map[string]cache.Config{o.Namespace: {}}},
		}},
	}
	if o.Webhook != nil {
		mgrOpts.WebhookServer = webhook.NewServer(webhook.Options{Port: o.Webhook.Port, CertDir: o.Webhook.CertDir})
		if !o.Webhook.ExternalCerts {
			cfg = narrowCollections(cfg, map[string]string{
				"/api/v1/namespaces/" + o.Namespace + "/secrets":                        o.Webhook.CertSecret,
				"/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations": o.Webhook.Configuration,
			})
		}
	}
	mgr, err := ctrl.NewManager(cfg, mgrOpts)
	if err != nil {
		return nil, err
	}
	if err := (&labeler.Reconciler{
		Client: mgr.GetClient(), Reader: mgr.GetAPIReader(),
		Recorder: mgr.GetEventRecorder("perouter-labeler"), MaxIndex: o.MaxIndex,
	}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := (&controller.StatusAggregator{Client: mgr.GetClient(), Namespace: o.Namespace}).SetupWithManager(mgr); err != nil {
		return nil, err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return nil, err
	}
	if o.Webhook != nil {
		if err := addWebhook(mgr, o); err != nil {
			return nil, err
		}
	}
	return mgr, nil
}

func addWebhook(mgr ctrl.Manager, o Options) error {
	w := o.Webhook
	validator := perouterwebhook.NewValidator(mgr.GetAPIReader(), mgr.GetScheme(), o.Namespace)
	validator.StatusNamespace = o.Namespace
	if w.ExternalCerts {
		mgr.GetWebhookServer().Register(perouterwebhook.Path, &admission.Webhook{Handler: validator})
		return mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker())
	}
	certsReady := make(chan struct{})
	if err := rotator.AddRotator(mgr, &rotator.CertRotator{
		SecretKey:      types.NamespacedName{Namespace: o.Namespace, Name: w.CertSecret},
		CertDir:        w.CertDir,
		CAName:         "perouter-ca",
		CAOrganization: "perouter",
		DNSName:        fmt.Sprintf("%s.%s.svc", w.Service, o.Namespace),
		IsReady:        certsReady,
		Webhooks:       []rotator.WebhookInfo{{Name: w.Configuration, Type: rotator.Validating}},
		// Every replica serves the webhook, so every replica needs the
		// certificate, not only the leader.
		RequireLeaderElection: false,
	}); err != nil {
		return err
	}
	// The webhook server starts (GetWebhookServer adds it to the manager)
	// only once the certificate is mounted; until then readiness fails and
	// the Service sends no traffic.
	go func() {
		<-certsReady
		mgr.GetWebhookServer().Register(perouterwebhook.Path, &admission.Webhook{Handler: validator})
	}()
	return mgr.AddReadyzCheck("webhook", func(req *http.Request) error {
		select {
		case <-certsReady:
			return mgr.GetWebhookServer().StartedChecker()(req)
		default:
			return errors.New("webhook certificate not ready")
		}
	})
}
