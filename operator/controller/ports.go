// Package controller holds the per-node reconciler that turns the perouter
// objects into a running router (FRR config + kernel datapath) and reports
// what it applied, and the status aggregator that sums those reports up on
// each user object.
package controller

import (
	"context"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/reloader"
)

// FRRPusher hands a complete FRR configuration to the router. An error
// means FRR still runs its previous configuration.
type FRRPusher interface {
	Reload(ctx context.Context, config string) error
}

// BGPStateReader reads the router's BGP sessions.
type BGPStateReader interface {
	Neighbors(ctx context.Context) ([]v1alpha1.BGPNeighborState, error)
}

// ReloaderPusher pushes through the reloader sidecar's unix socket.
type ReloaderPusher struct {
	Client *reloader.Client
}

// Reload implements FRRPusher.
func (p ReloaderPusher) Reload(ctx context.Context, config string) error {
	_, err := p.Client.Reload(ctx, config)
	return err
}
