package controller

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/perouter/perouter/operator/hostnet"
	"github.com/perouter/perouter/operator/reloader"
)

// silentReloader is a reloader socket that takes every reload and never
// answers it (an FRR wedged under frr-reload.py, a stopped reloader), and
// answers nothing else either (404: no running-config report).
func silentReloader(t *testing.T) (*reloader.Client, *atomic.Int32) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "reloader.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	var reloads atomic.Int32
	release := make(chan struct{})
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/reload" {
			http.NotFound(w, req)
			return
		}
		reloads.Add(1)
		select {
		case <-req.Context().Done():
		case <-release:
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() {
		close(release)
		_ = srv.Close()
	})
	return reloader.NewClient(sock), &reloads
}

// A push to a reloader that never answers ends at PushTimeout: the status
// says so, the push is retried, and the controller stays live.
func TestPushToASilentReloaderIsBounded(t *testing.T) {
	needAPIServer(t)
	createNode(t, "silent-0", 0, nil)
	ul, vni := labObjects()
	create(t, ul, vni)
	rc, reloads := silentReloader(t)
	rec := &NodeReconciler{
		NodeName: "silent-0", FRR: ReloaderPusher{Client: rc}, Datapath: &recordingDatapath{log: &callLog{}},
		PushTimeout: 2 * time.Second, StallTimeout: time.Minute,
	}
	startManager(t, managerOptions{reconcilers: []*NodeReconciler{rec}})
	eventually(t, "Applied=False naming the push timeout", func() (bool, string) {
		rns, err := getRNS("silent-0")
		if err != nil {
			return false, err.Error()
		}
		c := meta.FindStatusCondition(rns.Status.Conditions, ConditionApplied)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == ReasonReloadFailed &&
			strings.Contains(c.Message, "no answer within the push timeout (2s)"), fmt.Sprintf("%+v", rns.Status.Conditions)
	})
	eventually(t, "the push retried", func() (bool, string) {
		return reloads.Load() >= 2, fmt.Sprintf("%d reloads", reloads.Load())
	})
	if err := rec.Live(nil); err != nil {
		t.Errorf("Live with bounded, failing reconciles: %v", err)
	}
}

// wedgedDatapath is a datapath whose Prepare never returns and ignores
// its context, as an unbounded kernel call would.
type wedgedDatapath struct {
	recordingDatapath
	release chan struct{}
}

func (d *wedgedDatapath) Prepare(context.Context, hostnet.Plan) (hostnet.Changes, error) {
	<-d.release
	return nil, nil
}

// A reconcile that never returns makes Live fail after StallTimeout, and
// Live recovers once reconciles finish again.
func TestWedgedReconcileFailsLiveness(t *testing.T) {
	needAPIServer(t)
	createNode(t, "wedged-0", 0, nil)
	ul, vni := labObjects()
	create(t, ul, vni)
	dp := &wedgedDatapath{recordingDatapath: recordingDatapath{log: &callLog{}}, release: make(chan struct{})}
	rec := &NodeReconciler{
		NodeName: "wedged-0", FRR: &recordingFRR{log: &callLog{}}, Datapath: dp,
		StallTimeout: 2 * time.Second,
	}
	startManager(t, managerOptions{reconcilers: []*NodeReconciler{rec}})
	released := false
	t.Cleanup(func() {
		if !released {
			close(dp.release)
		}
	})
	eventually(t, "Live failing while the reconcile is wedged", func() (bool, string) {
		err := rec.Live(nil)
		return err != nil && strings.Contains(err.Error(), "no reconcile finished"), fmt.Sprint(err)
	})
	close(dp.release)
	released = true
	eventually(t, "Live passing once reconciles finish", func() (bool, string) {
		err := rec.Live(nil)
		return err == nil, fmt.Sprint(err)
	})
}
