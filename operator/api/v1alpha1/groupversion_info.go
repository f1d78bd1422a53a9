// Package v1alpha1 holds the perouter API: the custom resources a user writes
// to turn nodes into EVPN provider-edge routers.
//
// Field names follow OpenPERouter's v1alpha1 so that manifests port by
// changing only the apiVersion.
//
// +kubebuilder:object:generate=true
// +groupName=network.perouter.io
package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var (
	// GroupVersion is the group and version of every perouter kind.
	GroupVersion = schema.GroupVersion{Group: "network.perouter.io", Version: "v1alpha1"}

	// SchemeBuilder registers the perouter kinds with a runtime.Scheme; each
	// *_types.go file adds its kinds with register. It is apimachinery's
	// builder, not controller-runtime's pkg/scheme (deprecated for API
	// packages): the pure core imports this package and must not depend on
	// controller-runtime (operator/layering_test.go).
	SchemeBuilder runtime.SchemeBuilder

	// AddToScheme adds the perouter kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)

// register adds kinds of this group and version to SchemeBuilder, with the
// meta/v1 types (ListOptions, WatchEvent, ...) every group version needs.
func register(kinds ...runtime.Object) {
	SchemeBuilder.Register(func(s *runtime.Scheme) error {
		s.AddKnownTypes(GroupVersion, kinds...)
		metav1.AddToGroupVersion(s, GroupVersion)
		return nil
	})
}
