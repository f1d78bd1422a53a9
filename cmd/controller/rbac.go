package main

// The controller's permissions, from which controller-gen generates
// operator/config/rbac/controller/role.yaml. Each line says what uses it.
//
// Reads the perouter objects (cache):
// +kubebuilder:rbac:groups=network.perouter.io,resources=underlays;l3vnis;l2vnis;l3passthroughs;rawfrrconfigs,verbs=get;list;watch
// Its own Node (cache restricted to metadata.name, which still needs list/watch):
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// Secrets named by passwordSecret, read only in the operator's namespace
// (Role; the cache watches Secrets there only): metadata-only watch to
// notice changes, get for the data:
// +kubebuilder:rbac:groups="",namespace=perouter-system,resources=secrets,verbs=get;list;watch
// Its RouterNodeStatus, in the operator's namespace (Role):
// +kubebuilder:rbac:groups=network.perouter.io,namespace=perouter-system,resources=routernodestatuses,verbs=get;create
// +kubebuilder:rbac:groups=network.perouter.io,namespace=perouter-system,resources=routernodestatuses/status,verbs=update
// Events on Nodes and perouter objects:
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// Metrics over HTTPS: each scrape's bearer token is checked with a
// TokenReview and its access to /metrics with a SubjectAccessReview:
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
