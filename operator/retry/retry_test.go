package retry_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/perouter/perouter/operator/retry"
)

func TestPollStopsWhenDone(t *testing.T) {
	tries := 0
	err := retry.Poll(context.Background(), time.Minute, retry.Every(time.Millisecond), func() (bool, error) {
		tries++
		return tries == 3, nil
	})
	if err != nil || tries != 3 {
		t.Fatalf("Poll = %v after %d tries, want nil after 3", err, tries)
	}
}

func TestPollTimesOutWithATryAtTheDeadline(t *testing.T) {
	start := time.Now()
	tries := 0
	err := retry.Poll(context.Background(), 50*time.Millisecond, retry.Backoff{Initial: 10 * time.Millisecond, Max: time.Hour}, func() (bool, error) {
		tries++
		return false, nil
	})
	if !errors.Is(err, retry.ErrTimeout) {
		t.Fatalf("Poll = %v, want ErrTimeout", err)
	}
	// At 0, 10 and 30 ms, then the pause is cut to the deadline and a
	// last try follows (fewer on a loaded machine, never more).
	if tries < 2 || tries > 4 || time.Since(start) < 50*time.Millisecond {
		t.Errorf("tries = %d in %v, want 2 to 4 and not before the deadline", tries, time.Since(start))
	}
}

func TestPollReturnsTheConditionsError(t *testing.T) {
	gaveUp := errors.New("gave up")
	if err := retry.Poll(context.Background(), time.Minute, retry.Every(time.Millisecond), func() (bool, error) { return false, gaveUp }); !errors.Is(err, gaveUp) {
		t.Fatalf("Poll = %v, want the condition's error", err)
	}
}

func TestPollEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := retry.Poll(ctx, 0, retry.Every(time.Hour), func() (bool, error) { return false, nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("Poll = %v, want context.Canceled", err)
	}
}
