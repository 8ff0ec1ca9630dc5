package testutil

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Writers on several goroutines all land in the buffer.
func TestSyncBuffer(t *testing.T) {
	var b SyncBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _, _ = b.Write([]byte("x")) })
	}
	wg.Wait()
	if b.String() != strings.Repeat("x", 8) {
		t.Errorf("buffer %q, want 8 x", b.String())
	}
}

// Get sends the Range header it is given, and none when it is empty.
func TestGetSendsRange(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("range=" + r.Header.Get("Range")))
	}))
	defer srv.Close()
	for rng, want := range map[string]string{"bytes=1-2": "range=bytes=1-2", "": "range="} {
		if resp, body := Get(t, srv.URL, rng); resp.StatusCode != 200 || string(body) != want {
			t.Errorf("Get(%q): %d %q, want 200 %q", rng, resp.StatusCode, body, want)
		}
	}
}

func TestWaitUntil(t *testing.T) {
	n := 0
	WaitUntil(t, "three polls", func() bool { n++; return n == 3 })
	if n != 3 {
		t.Errorf("polled %d times, want 3", n)
	}
}
