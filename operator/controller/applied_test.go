package controller

import (
	"testing"
	"time"

	"github.com/perouter/perouter/operator/api/v1alpha1"
	"github.com/perouter/perouter/operator/hostnet"
)

func TestAppliedStateTransitions(t *testing.T) {
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 500, time.UTC)
	plan := hostnet.Plan{Netns: "perouter"}
	st := v1alpha1.RouterNodeStatusStatus{AppliedConfigHash: "h1"}
	const ns1, ns2 = hostnet.NetnsIdentity(7), hostnet.NetnsIdentity(8)
	steps := map[string]func(*appliedState){
		"reloaded":   func(s *appliedState) { s.reloaded("config 1", "h1", t0) },
		"applied":    func(s *appliedState) { s.applied("fp1", ns1, plan, st, t0) },
		"resynced":   func(s *appliedState) { s.resynced(t0.Add(time.Minute)) },
		"invalidate": func(s *appliedState) { s.invalidate() },
		"forget":     func(s *appliedState) { s.forget() },
	}
	// want is what the state then answers about fingerprint fp1, namespace
	// ns1 and ns2, config "config 1", and a router reporting FRR runs h1,
	// nothing known, or h0.
	type want struct {
		upToDate      bool
		replacedByNs1 bool
		replacedByNs2 bool
		needsReload   bool
		lostByH1      bool
		lostByNone    bool
		lostByH0      bool
		hash          string
		datapathAt    time.Time
	}
	tests := map[string]struct {
		steps []string
		want  want
	}{
		"just started: everything is pushed once": {
			want: want{needsReload: true},
		},
		"FRR accepted a config, the pass not done": {
			steps: []string{"reloaded"},
			want:  want{lostByNone: true, lostByH0: true, hash: "h1"},
		},
		"a whole pass": {
			steps: []string{"reloaded", "applied"},
			want:  want{upToDate: true, replacedByNs2: true, lostByNone: true, lostByH0: true, hash: "h1", datapathAt: t0},
		},
		"resync moves the datapath time only": {
			steps: []string{"reloaded", "applied", "resynced"},
			want:  want{upToDate: true, replacedByNs2: true, lostByNone: true, lostByH0: true, hash: "h1", datapathAt: t0.Add(time.Minute)},
		},
		"invalidated: full path, FRR config still known": {
			steps: []string{"reloaded", "applied", "invalidate"},
			want:  want{lostByNone: true, lostByH0: true, hash: "h1"},
		},
		"namespace replaced or config lost: full path and FRR pushed again, hash kept for the status": {
			steps: []string{"reloaded", "applied", "forget"},
			want:  want{needsReload: true, hash: "h1"},
		},
		"resync without a pass changes nothing": {
			steps: []string{"reloaded", "resynced"},
			want:  want{lostByNone: true, lostByH0: true, hash: "h1"},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var s appliedState
			for _, step := range tc.steps {
				steps[step](&s)
			}
			got := want{
				upToDate:      s.upToDate("fp1"),
				replacedByNs1: s.replacedBy(ns1),
				replacedByNs2: s.replacedBy(ns2),
				needsReload:   s.needsReload("config 1"),
				lostByH1:      s.lostBy("h1"),
				lostByNone:    s.lostBy(""),
				lostByH0:      s.lostBy("h0"),
				hash:          s.status().AppliedConfigHash,
			}
			if s.last != nil {
				got.datapathAt = s.last.datapathAt
			}
			if got != tc.want {
				t.Errorf("after %v:\n got %+v\nwant %+v", tc.steps, got, tc.want)
			}
			if s.upToDate("fp2") {
				t.Errorf("after %v: up to date for inputs never seen", tc.steps)
			}
			if at := s.status().LastAppliedTime; (tc.want.hash != "") != (at != nil) || at != nil && !at.Time.Equal(t0.Truncate(time.Second)) {
				t.Errorf("after %v: lastAppliedTime %v, want %v when a config was accepted", tc.steps, at, t0.Truncate(time.Second))
			}
		})
	}
}
