package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
)

// How bodies are verified. Synthetic objects are checked byte for byte in
// the client (see client.readBody): the expected bytes are recomputed from
// the URL, so nothing is stored and nothing is sampled. Other objects cannot
// be recomputed; for them a sampled fraction of responses is hashed
// (xxhash64) while it streams, and a refChecker fetches the same range from
// a trusted origin (Config.VerifyOrigin) and compares the hashes. The
// reference fetch runs on its own goroutine, off the timed path, so that
// verification never slows the workers; when it falls behind, samples are
// dropped and counted, never queued without bound.

// Verification modes, as reported.
const (
	verifySynthetic = "synthetic" // every byte of every response
	verifySampled   = "sampled"   // hashes of sampled responses against VerifyOrigin
	verifyLength    = "length"    // lengths and ranges only: no reference to compare with
)

// refQueue bounds the samples waiting for their reference fetch.
const refQueue = 256

// sample is a response whose hash awaits comparison with the reference.
type sample struct {
	rq    request
	sum   uint64
	phase int
}

// refChecker compares sampled responses with the same ranges fetched from
// the reference origin.
type refChecker struct {
	base    target
	hc      *http.Client
	rec     *recorder
	queue   chan sample
	wg      sync.WaitGroup
	sampled atomic.Int64 // samples compared
	dropped atomic.Int64 // samples dropped because the queue was full
	failed  atomic.Int64 // reference fetches that failed (not mismatches)
	// What the reference fetches asked of the origin, so that a run whose
	// reference origin is also the origin it measures does not count its
	// own checks as origin egress.
	fetches, fetchedBytes atomic.Int64
}

func newRefChecker(base target, timeout time.Duration, rec *recorder) *refChecker {
	v := &refChecker{base: base, hc: &http.Client{Timeout: timeout}, rec: rec, queue: make(chan sample, refQueue)}
	v.wg.Add(1)
	go v.loop()
	return v
}

// offer queues s without blocking the worker.
func (v *refChecker) offer(s sample) {
	select {
	case v.queue <- s:
	default:
		v.dropped.Add(1)
	}
}

// close waits for the queued samples to be checked.
func (v *refChecker) close() {
	close(v.queue)
	v.wg.Wait()
}

func (v *refChecker) loop() {
	defer v.wg.Done()
	buf := make([]byte, bufSize)
	for s := range v.queue {
		sum, err := v.reference(s.rq, buf)
		if err != nil {
			v.failed.Add(1)
			continue
		}
		v.sampled.Add(1)
		v.rec.addChecked(s.phase, s.rq.n, sum != s.sum)
	}
}

// reference returns the xxhash64 of the range of rq at the reference origin.
func (v *refChecker) reference(rq request, buf []byte) (uint64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), v.hc.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.base.url(rq.obj.path), nil)
	if err != nil {
		return 0, err
	}
	want := http.StatusOK
	if !rq.whole {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", rq.off, rq.off+rq.n-1))
		want = http.StatusPartialContent
	}
	v.fetches.Add(1)
	resp, err := v.hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != want {
		return 0, fmt.Errorf("reference %s: %s", req.URL, resp.Status)
	}
	d := xxhash.New()
	n, err := io.CopyBuffer(d, io.LimitReader(resp.Body, rq.n), buf)
	v.fetchedBytes.Add(n)
	if err != nil {
		return 0, err
	}
	if n != rq.n {
		return 0, fmt.Errorf("reference %s: %d of %d bytes", req.URL, n, rq.n)
	}
	return d.Sum64(), nil
}
