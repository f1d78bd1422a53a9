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
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of every perouter kind.
	GroupVersion = schema.GroupVersion{Group: "network.perouter.io", Version: "v1alpha1"}

	// SchemeBuilder registers the perouter kinds with a runtime.Scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion} //nolint:staticcheck // the kubebuilder convention controller-gen expects

	// AddToScheme adds the perouter kinds to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
