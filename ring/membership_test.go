package ring

import (
	"context"
	"slices"
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: every
// Source's Run must release everything when its context ends.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// runSource starts src.Run and returns its updates, a cancel function and
// a channel that yields Run's result once it returns.
func runSource(t *testing.T, src Source) (<-chan []string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	updates := make(chan []string)
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, updates) }()
	return updates, cancel, done
}

func TestStatic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		updates, cancel, done := runSource(t, Static([]string{"b:1", "a:1", "", "b:1", "[::1]:2"}))
		if got, want := <-updates, []string{"[::1]:2", "a:1", "b:1"}; !slices.Equal(got, want) {
			t.Fatalf("Static sent %v, want %v", got, want)
		}
		synctest.Wait()
		select {
		case u := <-updates:
			t.Fatalf("Static sent a second list %v", u)
		case err := <-done:
			t.Fatalf("Run returned %v before its context ended", err)
		default:
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
	})
}

func TestStaticBadAddress(t *testing.T) {
	for _, addr := range []string{"nohostport", ":7070", "a:", "a:http", "a:0", "a:70000"} {
		err := Static([]string{"a:1", addr}).Run(t.Context(), make(chan []string, 1))
		if err == nil {
			t.Errorf("Static with %q: Run returned nil, want an error", addr)
		}
	}
}

// TestStaticStopsWhileSending: a receiver that never reads does not keep
// Run alive after its context ends.
func TestStaticStopsWhileSending(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		_, cancel, done := runSource(t, Static([]string{"a:1"}))
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
	})
}
