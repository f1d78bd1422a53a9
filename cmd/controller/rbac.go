package main

// The controller's permissions, from which controller-gen generates
// operator/config/rbac/controller/role.yaml. Each line says what uses it.
//
// Reads the perouter objects (cache):
// +kubebuilder:rbac:groups=network.perouter.io,resources=underlays;l3vnis;l2vnis;l3passthroughs,verbs=get;list;watch
// Its own Node (cache restricted to metadata.name, which still needs list/watch):
// +kubebuilder:rbac:groups="",resources=nodes,verbs=get;list;watch
// Secrets named by passwordSecret: metadata-only watch to notice changes, get for the data:
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get;list;watch
// Its RouterNodeStatus, in the operator's namespace (Role):
// +kubebuilder:rbac:groups=network.perouter.io,namespace=perouter-system,resources=routernodestatuses,verbs=get;create
// +kubebuilder:rbac:groups=network.perouter.io,namespace=perouter-system,resources=routernodestatuses/status,verbs=update
// Events on Nodes and perouter objects:
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
