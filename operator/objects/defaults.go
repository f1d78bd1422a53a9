package objects

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
)

// CRD defaults (the +kubebuilder:default markers in operator/api/v1alpha1).
const (
	DefaultVXLANPort    = 4789
	DefaultRouterIDCIDR = "10.0.0.0/24"
	// DefaultMaxPrefixes bounds what a host session accepts from the host
	// per address family when maxPrefixes is unset: far more than a node
	// announces (its pods' and services' prefixes), far less than a full
	// table a misconfigured host could leak.
	DefaultMaxPrefixes = 1000
)

// ApplyDefaults fills what the API server would from the CRDs' defaults,
// so objects read from files match those read from a cluster. Like the
// API server, it defaults a field only where its parent object is present.
// It also folds Secrets' stringData into data, as the API server does.
func ApplyDefaults(s *Set) {
	for _, k := range decodable() {
		for _, o := range k.In(s) {
			k.defaults(o)
		}
	}
}

func defaultUnderlay(u *v1alpha1.Underlay) {
	if u.Spec.RouterIDCIDR == "" {
		u.Spec.RouterIDCIDR = DefaultRouterIDCIDR
	}
	if rr := u.Spec.RouteReflector; rr != nil && rr.ClusterID == "" {
		rr.ClusterID = v1alpha1.DefaultClusterID
	}
	for i := range u.Spec.Interfaces {
		if d := u.Spec.Interfaces[i].CNIDevice; d != nil && d.InterfaceName == "" {
			d.InterfaceName = v1alpha1.DefaultCNIInterfaceName
		}
	}
}

func defaultL3VNI(l *v1alpha1.L3VNI) {
	if l.Spec.VXLANPort == 0 {
		l.Spec.VXLANPort = DefaultVXLANPort
	}
	if hs := l.Spec.HostSession; hs != nil && hs.MaxPrefixes == 0 {
		hs.MaxPrefixes = DefaultMaxPrefixes
	}
}

func defaultL3Passthrough(p *v1alpha1.L3Passthrough) {
	if hs := &p.Spec.HostSession; hs.MaxPrefixes == 0 {
		hs.MaxPrefixes = DefaultMaxPrefixes
	}
}

func defaultL2VNI(l *v1alpha1.L2VNI) {
	spec := &l.Spec
	if spec.VXLANPort == 0 {
		spec.VXLANPort = DefaultVXLANPort
	}
	if spec.RoutingDomain != nil && spec.RoutingDomain.Type == "" {
		spec.RoutingDomain.Type = "L3VNI"
	}
	if hm := spec.HostMaster; hm != nil {
		if hm.Type == "" {
			hm.Type = "LinuxBridge"
		}
		if hm.LinuxBridge != nil && hm.LinuxBridge.Lifecycle == "" {
			hm.LinuxBridge.Lifecycle = v1alpha1.LifecycleManaged
		}
	}
}

func defaultRawFRRConfig(r *v1alpha1.RawFRRConfig) {
	if r.Spec.Priority == nil {
		var zero int32
		r.Spec.Priority = &zero
	}
}

// defaultSecret folds stringData into data, as the API server does.
func defaultSecret(sec *corev1.Secret) {
	if len(sec.StringData) == 0 {
		return
	}
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	for k, v := range sec.StringData {
		sec.Data[k] = []byte(v)
	}
	sec.StringData = nil
}
