package controller

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/hostnet"
)

// appliedState is what the reconciler knows it applied to the router,
// carried from one reconcile to the next. It changes only through its
// methods, each one transition:
//
//	start ──reloaded──► FRR runs a config (text, hash, time)
//	      ──applied───► a whole pass succeeded (last: fingerprint, namespace, plan, status)
//	applied ──resynced──► the datapath was re-applied from last's plan
//	applied ──invalidate──► the next reconcile takes the full path (inputs changed, a failure)
//	any ──forget──► the router namespace was replaced, or FRR no longer runs
//	                the config (lostBy): everything is pushed again
//
// The zero value is the state of a controller that just started: nothing
// is known applied, so the first reconcile pushes once (the router may
// have restarted too, and reloading an identical config changes nothing).
type appliedState struct {
	// config is what FRR accepted last.
	config appliedConfig
	// last is what the last successful reconcile saw and did; nil when
	// the next reconcile must take the full path.
	last *appliedPass
}

// appliedConfig is the FRR configuration FRR accepted last.
type appliedConfig struct {
	text string
	hash string
	at   metav1.Time
}

// appliedPass is what one successful reconcile saw and did.
type appliedPass struct {
	fingerprint string
	// netns is the router namespace the plan was applied in.
	netns hostnet.NetnsIdentity
	plan  hostnet.Plan
	// status is the status written, without the BGP sessions.
	status     v1alpha1.RouterNodeStatusStatus
	datapathAt time.Time
}

// upToDate reports whether the last pass saw these inputs: the fast path
// may then skip building, rendering and reloading.
func (s *appliedState) upToDate(fingerprint string) bool {
	return s.last != nil && s.last.fingerprint == fingerprint
}

// replacedBy reports whether the last pass was applied in a namespace
// other than the one with this identity (zero: none exists).
func (s *appliedState) replacedBy(netns hostnet.NetnsIdentity) bool {
	return s.last != nil && s.last.netns != netns
}

// lostBy reports whether a router that answers that FRR runs the config
// with hash running ("" for none it knows of) lost the config FRR
// accepted last. Before any config was accepted, or after forget, there
// is nothing to lose: the full path pushes anyway.
func (s *appliedState) lostBy(running string) bool {
	return s.config.text != "" && running != s.config.hash
}

// needsReload reports whether FRR does not run this config yet.
// Comparing the text is cheaper than hashing it, and the hash is only
// needed for a config that changed.
func (s *appliedState) needsReload(text string) bool {
	return text != s.config.text
}

// status is the part of the node's status the applied config gives.
func (s *appliedState) status() v1alpha1.RouterNodeStatusStatus {
	st := v1alpha1.RouterNodeStatusStatus{AppliedConfigHash: s.config.hash}
	if !s.config.at.IsZero() {
		st.LastAppliedTime = s.config.at.DeepCopy()
	}
	return st
}

// forget drops everything the router held: with a replaced namespace the
// devices went with the old one, and the FRR in the new one may run
// nothing yet; a router that lost its config runs nothing of it. The hash
// and time FRR last accepted stay, for the status.
func (s *appliedState) forget() {
	s.last = nil
	s.config.text = ""
}

// invalidate makes the next reconcile take the full path. A pass calls it
// before it starts, so that a failure anywhere leaves it so.
func (s *appliedState) invalidate() {
	s.last = nil
}

// reloaded records that FRR accepted text (whose hash is hash) at now.
func (s *appliedState) reloaded(text, hash string, now time.Time) {
	s.config = appliedConfig{text: text, hash: hash, at: metav1.NewTime(now.Truncate(time.Second))}
}

// applied records a successful pass.
func (s *appliedState) applied(fingerprint string, netns hostnet.NetnsIdentity, plan hostnet.Plan,
	status v1alpha1.RouterNodeStatusStatus, datapathAt time.Time) {
	s.last = &appliedPass{fingerprint: fingerprint, netns: netns, plan: plan, status: status, datapathAt: datapathAt}
}

// resynced records that the last pass's plan was applied again at now.
func (s *appliedState) resynced(now time.Time) {
	if s.last != nil {
		s.last.datapathAt = now
	}
}
