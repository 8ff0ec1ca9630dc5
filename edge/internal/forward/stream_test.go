package forward

import (
	"bytes"
	"context"
	"errors"
	"io"
	"sync"
	"testing"
	"testing/synctest"
)

// published records what a stream handed to OnChunk.
type published struct {
	mu     sync.Mutex
	chunks map[int64][]byte
}

func (p *published) add(idx int64, data []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.chunks == nil {
		p.chunks = map[int64][]byte{}
	}
	p.chunks[idx] = data
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*13 + 1)
	}
	return b
}

// A stream cuts the body into whole chunks (the last one short), publishes
// each, and wakes the readers waiting for it; readers who come later are
// told the chunk passed.
func TestStreamCutsAndWakes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		body := payload(250)
		var pub published
		s := NewStream(100, 250, 0, pub.add)
		pr, pw := io.Pipe()
		got := make([][]byte, 3)
		var readers sync.WaitGroup
		for i := range 3 {
			readers.Go(func() {
				data, err := s.Wait(context.Background(), int64(i))
				if err != nil {
					t.Errorf("chunk %d: %v", i, err)
				}
				got[i] = data
			})
		}
		synctest.Wait() // every reader is waiting before a byte flows
		go func() {
			pw.Write(body[:150])
			pw.Write(body[150:])
			pw.Close()
		}()
		if err := s.Run(context.Background(), pr); err != nil {
			t.Fatal(err)
		}
		readers.Wait()
		for i := range 3 {
			want := body[i*100 : min(i*100+100, 250)]
			if !bytes.Equal(got[i], want) || !bytes.Equal(pub.chunks[int64(i)], want) {
				t.Errorf("chunk %d: got %d bytes, published %d, want %d", i, len(got[i]), len(pub.chunks[int64(i)]), len(want))
			}
		}
		if _, err := s.Wait(context.Background(), 1); !errors.Is(err, ErrPassed) {
			t.Errorf("a chunk already cut: %v, want ErrPassed", err)
		}
		if _, err := s.Wait(context.Background(), 3); err == nil {
			t.Error("a chunk past the end: no error")
		}
	})
}

// A body that breaks fails the readers of the chunks it did not reach, and
// only those; one that goes on past the object is broken too.
func TestStreamBroken(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pub published
		s := NewStream(100, 300, 1, pub.add) // the first chunk came another way
		errs := make([]error, 3)
		var readers sync.WaitGroup
		for i := 1; i < 3; i++ {
			readers.Go(func() { _, errs[i] = s.Wait(context.Background(), int64(i)) })
		}
		synctest.Wait()
		err := s.Run(context.Background(), io.NopCloser(bytes.NewReader(payload(150))))
		readers.Wait()
		if err == nil || errs[1] != nil || errs[2] == nil {
			t.Errorf("run %v; chunk 1 %v; chunk 2 %v: want chunk 1 served, chunk 2 failed", err, errs[1], errs[2])
		}
		long := NewStream(100, 100, 0, pub.add)
		if err := long.Run(context.Background(), io.NopCloser(bytes.NewReader(payload(101)))); err == nil {
			t.Error("a body longer than the object: no error")
		}
	})
}

// A reader that gives up does not stop the stream, which fills the cache
// for the others; a stopped stream closes its body.
func TestStreamReaderGivesUpAndStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var pub published
		s := NewStream(10, 30, 0, pub.add)
		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		gaveUp := make(chan error)
		go func() { _, err := s.Wait(ctx, 2); gaveUp <- err }()
		synctest.Wait()
		cancel()
		if err := <-gaveUp; !errors.Is(err, context.Canceled) {
			t.Errorf("a reader that gave up: %v", err)
		}
		go func() { pw.Write(payload(30)); pw.Close() }()
		if err := s.Run(context.Background(), pr); err != nil || len(pub.chunks) != 3 {
			t.Errorf("run %v, %d chunks published, want 3", err, len(pub.chunks))
		}

		stopped := NewStream(10, 30, 0, pub.add)
		pr, pw = io.Pipe()
		defer pw.Close()
		runCtx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- stopped.Run(runCtx, pr) }()
		synctest.Wait()
		stop()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("a stopped stream: %v, want context.Canceled", err)
		}
	})
}
