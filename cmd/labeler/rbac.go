package main

// The labeler's permissions, from which controller-gen generates
// operator/config/rbac/labeler/role.yaml. Each line says what uses it.
//
// Node index labels:
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch;patch
// Events on Nodes (labeler) and leader election:
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// Status aggregation: reads the objects, writes their status:
// +kubebuilder:rbac:groups=network.perouter.io,resources=underlays;l3vnis;l2vnis;l3passthroughs;rawfrrconfigs,verbs=get;list;watch
// +kubebuilder:rbac:groups=network.perouter.io,resources=underlays/status;l3vnis/status;l2vnis/status;l3passthroughs/status;rawfrrconfigs/status,verbs=update
// RouterNodeStatus objects, cached in the operator's namespace only:
// +kubebuilder:rbac:groups=network.perouter.io,namespace=perouter-system,resources=routernodestatuses,verbs=get;list;watch
// cert-controller keeps the webhook's certificate Secret and caBundle
// current, and nothing else: its lists and watches ask for these names only
// (operator/cluster narrows them), so resourceNames bound every verb. The
// names are the defaults of --cert-secret and --webhook-configuration. The
// webhook reads no Secret: the controller checks passwordSecret.
// +kubebuilder:rbac:groups="",namespace=perouter-system,resources=secrets,resourceNames=perouter-webhook-cert,verbs=get;list;watch;update
// +kubebuilder:rbac:groups=admissionregistration.k8s.io,resources=validatingwebhookconfigurations,resourceNames=perouter-validating-webhook-configuration,verbs=get;list;watch;update
// Leader election:
// +kubebuilder:rbac:groups=coordination.k8s.io,namespace=perouter-system,resources=leases,verbs=get;create;update
// +kubebuilder:rbac:groups="",namespace=perouter-system,resources=events,verbs=create;patch
// Metrics over HTTPS: each scrape's bearer token is checked with a
// TokenReview and its access to /metrics with a SubjectAccessReview:
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create
