package flight

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// One call runs for callers that come together; only its starter is told
// it started it, and every caller gets its result.
func TestDoSharesAndTellsTheStarter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[string, int]
		var runs atomic.Int32
		release := make(chan struct{})
		fn := func() (int, error) { runs.Add(1); <-release; return 42, nil }
		var starters atomic.Int32
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				v, started, err := g.Do(context.Background(), "k", fn)
				if v != 42 || err != nil {
					t.Errorf("Do = %d, %v", v, err)
				}
				if started {
					starters.Add(1)
				}
			})
		}
		synctest.Wait()
		close(release)
		wg.Wait()
		if runs.Load() != 1 || starters.Load() != 1 {
			t.Errorf("%d runs and %d starters, want 1 and 1", runs.Load(), starters.Load())
		}
		// Once it ended, the next caller starts a new call.
		if _, started, _ := g.Do(context.Background(), "k", func() (int, error) { return 1, nil }); !started {
			t.Error("a call after the first ended joined it")
		}
	})
}

// doneContext is a context that is already done, for a caller that only checks
// whether it would join.
func doneContext() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// A caller that gives up does not stop the call, whose result the others
// still get; Forget makes the next caller start afresh.
func TestDoGiveUpAndForget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var g Group[string, int]
		release := make(chan struct{})
		ctx, cancel := context.WithCancel(context.Background())
		gaveUp := make(chan error)
		go func() {
			_, _, err := g.Do(ctx, "k", func() (int, error) { <-release; return 7, nil })
			gaveUp <- err
		}()
		synctest.Wait()
		joined := make(chan int)
		go func() { v, _, _ := g.Do(context.Background(), "k", nil); joined <- v }()
		synctest.Wait()
		cancel()
		if err := <-gaveUp; !errors.Is(err, context.Canceled) {
			t.Errorf("the starter that gave up: %v", err)
		}
		g.Forget(func(k string) bool { return k == "k" })
		if _, started, _ := g.Do(context.Background(), "k", func() (int, error) { return 1, nil }); !started {
			t.Error("after Forget a caller joined the old call")
		}
		newer := make(chan struct{})
		go g.Do(context.Background(), "k", func() (int, error) { <-newer; return 2, nil })
		synctest.Wait()
		close(release) // the old call ends: it must not drop the newer one
		if v := <-joined; v != 7 {
			t.Errorf("the caller that joined got %d, want 7", v)
		}
		synctest.Wait()
		if _, started, _ := g.Do(doneContext(), "k", nil); started {
			t.Error("the old call's end dropped the newer call")
		}
		close(newer)
	})
}
