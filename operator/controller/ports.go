// Package controller holds the per-node reconciler that turns the perouter
// objects into a running router (FRR config + kernel datapath) and reports
// what it applied, and the status aggregator that sums those reports up on
// each user object.
package controller

import (
	"context"
	"errors"
	"net/http"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/reloader"
)

// FRRPusher hands a complete FRR configuration to the router. An error
// means FRR still runs its previous configuration.
type FRRPusher interface {
	Reload(ctx context.Context, config string) error
}

// RunningConfigReader is implemented by an FRRPusher that can tell which
// config FRR runs: the hash of the config the router side applied to the
// daemons now running, "" when it does not know. ErrRunningConfigUnsupported
// means it cannot tell at all (a reloader older than this controller).
//
// This is how the controller notices a router that lost its config while
// its namespace and the inputs stayed the same: the router pod restarted
// (FRR started empty, the reloader lost its memory), or FRR restarted and
// the reloader could not re-apply. One question covers every such case,
// where an instance or boot identity of the reloader would not: it would
// miss an FRR restart the reloader failed to repair, and would force a
// push after a restart the reloader had repaired already.
type RunningConfigReader interface {
	RunningConfigHash(ctx context.Context) (string, error)
}

// ErrRunningConfigUnsupported is a RunningConfigReader that cannot tell.
var ErrRunningConfigUnsupported = errors.New("the router does not report its running config")

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

// RunningConfigHash implements RunningConfigReader with the reloader's
// GET /status.
func (p ReloaderPusher) RunningConfigHash(ctx context.Context) (string, error) {
	st, err := p.Client.Status(ctx)
	var se *reloader.StatusError
	if errors.As(err, &se) && se.StatusCode == http.StatusNotFound {
		return "", ErrRunningConfigUnsupported
	}
	return st.RunningHash, err
}
