package objects

import "github.com/perouter/perouter/operator/api/v1alpha1"

// CRD defaults (the +kubebuilder:default markers in operator/api/v1alpha1).
const (
	DefaultVXLANPort    = 4789
	DefaultRouterIDCIDR = "10.0.0.0/24"
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
