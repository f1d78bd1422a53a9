package controller

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/perouter/perouter/operator/reloader"
)

// The controller asks the reloader which config FRR runs; a reloader
// older than GET /status must count as one that cannot tell, not as one
// that lost its config (which would push on every reconcile).
func TestReloaderPusherRunningConfigHash(t *testing.T) {
	tests := map[string]struct {
		handler  http.HandlerFunc
		want     string
		wantErr  error
		anyError bool
	}{
		"runs a config": {
			handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"runningHash":"abc"}`)) },
			want:    "abc",
		},
		"knows of none": {
			handler: func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"runningHash":""}`)) },
		},
		"reloader without GET /status": {
			handler: http.NotFound,
			wantErr: ErrRunningConfigUnsupported,
		},
		"reloader failing": {
			handler:  func(w http.ResponseWriter, _ *http.Request) { http.Error(w, "boom", http.StatusInternalServerError) },
			anyError: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			socket := filepath.Join(t.TempDir(), "reloader.sock")
			l, err := net.Listen("unix", socket)
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /status", tc.handler)
			srv := &http.Server{Handler: mux}
			go func() { _ = srv.Serve(l) }()
			t.Cleanup(func() { _ = srv.Close() })

			got, err := ReloaderPusher{Client: reloader.NewClient(socket)}.RunningConfigHash(context.Background())
			switch {
			case tc.wantErr != nil && !errors.Is(err, tc.wantErr):
				t.Errorf("error %v, want %v", err, tc.wantErr)
			case tc.anyError && err == nil:
				t.Errorf("no error, want one")
			case tc.wantErr == nil && !tc.anyError && err != nil:
				t.Errorf("error %v", err)
			}
			if got != tc.want {
				t.Errorf("hash %q, want %q", got, tc.want)
			}
		})
	}
	if _, err := (ReloaderPusher{Client: reloader.NewClient(filepath.Join(t.TempDir(), "none.sock"))}).RunningConfigHash(context.Background()); err == nil || errors.Is(err, ErrRunningConfigUnsupported) {
		t.Errorf("reloader not listening: error %v, want a connection error", err)
	}
}
