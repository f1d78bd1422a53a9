package v1alpha1

// NodeIndexLabel holds a Node's index in decimal. The labeler gives every
// Node one; ipam derives the node's VTEP, router ID and host-session
// addresses from it, and a nodeSelector may match on it.
const NodeIndexLabel = "network.perouter.io/node-index"
