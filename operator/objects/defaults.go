package objects

import "github.com/perouter/perouter/operator/api/v1alpha1"

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
	for i := range s.Underlays {
		if s.Underlays[i].Spec.RouterIDCIDR == "" {
			s.Underlays[i].Spec.RouterIDCIDR = DefaultRouterIDCIDR
		}
	}
	for i := range s.L3VNIs {
		if s.L3VNIs[i].Spec.VXLANPort == 0 {
			s.L3VNIs[i].Spec.VXLANPort = DefaultVXLANPort
		}
		if hs := s.L3VNIs[i].Spec.HostSession; hs != nil && hs.MaxPrefixes == 0 {
			hs.MaxPrefixes = DefaultMaxPrefixes
		}
	}
	for i := range s.L3Passthroughs {
		if hs := &s.L3Passthroughs[i].Spec.HostSession; hs.MaxPrefixes == 0 {
			hs.MaxPrefixes = DefaultMaxPrefixes
		}
	}
	for i := range s.L2VNIs {
		spec := &s.L2VNIs[i].Spec
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
	for i := range s.Secrets {
		sec := &s.Secrets[i]
		if len(sec.StringData) == 0 {
			continue
		}
		if sec.Data == nil {
			sec.Data = map[string][]byte{}
		}
		for k, v := range sec.StringData {
			sec.Data[k] = []byte(v)
		}
		sec.StringData = nil
	}
}
