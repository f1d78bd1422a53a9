package hostnet

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestRetry(t *testing.T) {
	tests := map[string]struct {
		errs      []error // returned by successive calls; nil after the list
		wantCalls int
		wantErr   error
	}{
		"success at once":              {wantCalls: 1},
		"EBUSY then success":           {errs: []error{unix.EBUSY}, wantCalls: 2},
		"wrapped EAGAIN, EINTR":        {errs: []error{fmt.Errorf("add: %w", unix.EAGAIN), unix.EINTR}, wantCalls: 3},
		"interrupted dump":             {errs: []error{netlink.ErrDumpInterrupted}, wantCalls: 2},
		"permanent error: no retry":    {errs: []error{unix.EEXIST}, wantCalls: 1, wantErr: unix.EEXIST},
		"transient forever is bounded": {errs: []error{unix.EBUSY, unix.EBUSY, unix.EBUSY, unix.EBUSY, unix.EBUSY, unix.EBUSY}, wantCalls: retryAttempts, wantErr: unix.EBUSY},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			calls := 0
			err := retry(context.Background(), func() error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			})
			if calls != tc.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tc.wantCalls)
			}
			if (tc.wantErr == nil) != (err == nil) || (tc.wantErr != nil && !errors.Is(err, tc.wantErr)) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := 0
	err := retry(ctx, func() error { calls++; return unix.EBUSY })
	if calls != 1 || !errors.Is(err, context.Canceled) || !errors.Is(err, unix.EBUSY) {
		t.Errorf("calls = %d, err = %v; want 1 call and both EBUSY and context.Canceled", calls, err)
	}
}
