// Package retry is the one poll loop of the repository's non-test code (the
// tests use Gomega's Eventually): it calls a condition until it holds, with a
// deadline and a growing pause between tries. It lives under operator/ so
// that the operator and the simulator share it (operator/ must not import
// simulator/).
package retry

import (
	"context"
	"errors"
	"time"
)

// ErrTimeout is what Poll returns, wrapped in nothing, when the timeout
// passes before the condition holds. Callers say what did not happen.
var ErrTimeout = errors.New("timed out")

// Backoff is the pause between tries: Initial first, doubled after each try
// up to Max (Max below Initial means a fixed Initial).
type Backoff struct {
	Initial, Max time.Duration
}

// Every is a fixed pause.
func Every(d time.Duration) Backoff { return Backoff{Initial: d, Max: d} }

// Poll calls cond at once and then after each pause until it reports done,
// it returns an error (returned as is: the condition can give up), the
// timeout passes (ErrTimeout; zero or negative means no timeout) or ctx ends
// (ctx.Err()). It never sleeps past the deadline.
func Poll(ctx context.Context, timeout time.Duration, b Backoff, cond func() (done bool, err error)) error {
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	wait := b.Initial
	for {
		done, err := cond()
		if err != nil || done {
			return err
		}
		pause := wait
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return ErrTimeout
			}
			pause = min(pause, left)
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		if wait < b.Max {
			wait = min(2*wait, b.Max)
		}
	}
}
