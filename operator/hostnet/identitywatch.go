package hostnet

import (
	"context"
	"errors"
	"io/fs"
	"time"
)

// DefaultIdentityPoll is IdentityWatch.Poll's default: one namespace
// open, setns and socket per tick.
const DefaultIdentityPoll = 2 * time.Second

// IdentityEvent is what an IdentityWatch reports: the namespace's new
// identity, or a failure to read it.
type IdentityEvent struct {
	// Identity is the namespace's identity; zero when it does not exist.
	// On a failed read it is the last identity read, unchanged.
	Identity NetnsIdentity
	// Err is a read that failed for another reason than a missing
	// namespace. It says nothing about the namespace being replaced.
	Err error
}

// IdentityWatch polls a namespace's identity (IdentityOf) and reports
// when it changes: the namespace was deleted, created, or replaced by
// another under the same name. A namespace that does not exist has
// identity zero. A read that fails otherwise (the namespace may still
// be there) is reported as an error, once per run of failures, and never
// as a change: the identity last read still stands. (`ip netns del` and
// `ip netns add` each leave a moment in which the path is a plain file: a
// read then fails, and the next one sees the change.)
type IdentityWatch struct {
	// Netns is the namespace's name under /run/netns or its path.
	Netns string
	// Poll is the interval between reads; zero means DefaultIdentityPoll.
	Poll time.Duration
}

// ReadIdentity is IdentityOf with a missing namespace read as identity
// zero and no error: that is a state of the namespace, not a failure.
func ReadIdentity(nameOrPath string) (NetnsIdentity, error) {
	id, err := IdentityOf(nameOrPath)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	return id, err
}

// Run reads the identity once, then every Poll, until ctx is done. The
// first successful read is the baseline; after it, emit is called (from
// Run's goroutine) on every change, and on the first error of a run of
// failed reads. A read that succeeds after failures is compared with the
// identity read before them: a namespace that was there all along makes
// no event.
func (w IdentityWatch) Run(ctx context.Context, emit func(IdentityEvent)) {
	poll := w.Poll
	if poll <= 0 {
		poll = DefaultIdentityPoll
	}
	var (
		last    NetnsIdentity
		known   bool // last was read at least once
		failing bool // the previous read failed
	)
	read := func() {
		id, err := ReadIdentity(w.Netns)
		if err != nil {
			if !failing {
				emit(IdentityEvent{Identity: last, Err: err})
			}
			failing = true
			return
		}
		failing = false
		if known && id == last {
			return
		}
		first := !known
		last, known = id, true
		if !first {
			emit(IdentityEvent{Identity: id})
		}
	}
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		read()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
