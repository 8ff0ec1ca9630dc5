package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgecache/edgecache/origin"
)

// fileServer serves fixed, non-synthetic objects with Range support;
// corrupt flips one byte of every body it serves.
func fileServer(t *testing.T, files map[string][]byte, corrupt bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, ok := files[r.URL.Path]
		if !ok {
			http.NotFound(w, r)
			return
		}
		if corrupt {
			data = bytes.Clone(data)
			for i := range data {
				data[i] ^= 1
			}
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func testFiles() (map[string][]byte, []Object) {
	r := rand.New(rand.NewPCG(1, 2))
	files := map[string][]byte{}
	var list []Object
	for i, name := range []string{"/a.bin", "/b.bin", "/c.bin"} {
		data := make([]byte, 100_000+i*7)
		for j := range data {
			data[j] = byte(r.Uint32())
		}
		files[name] = data
		o := Object{Path: name}
		if i == 0 {
			o.Size = int64(len(data)) // the others are sized with HEAD
		}
		list = append(list, o)
	}
	return files, list
}

func TestSampledVerification(t *testing.T) {
	files, list := testFiles()
	ref := fileServer(t, files, false)
	for _, tc := range []struct {
		name    string
		corrupt bool
	}{{"faithful", false}, {"corrupting", true}} {
		t.Run(tc.name, func(t *testing.T) {
			cdn := fileServer(t, files, tc.corrupt)
			cfg := smallConfig(cdn.URL)
			cfg.Catalogue = list
			cfg.VerifyOrigin = ref.URL
			cfg.VerifySample = 1
			cfg.Requests = 20
			res, err := Run(context.Background(), cfg)
			if res == nil {
				t.Fatal(err)
			}
			v := res.Verification
			if v.Mode != verifySampled || v.Sampled+v.Dropped != 20 || v.ReferenceErrors != 0 {
				t.Fatalf("verification %+v, want 20 sampled or dropped", v)
			}
			if tc.corrupt {
				if !errors.Is(err, ErrMismatch) || v.Mismatches != v.Sampled || v.Sampled == 0 {
					t.Errorf("err %v, verification %+v: every sampled response should mismatch", err, v)
				}
			} else if err != nil || v.Mismatches != 0 || v.CheckedBytes != v.Sampled*cfg.RangeSize {
				t.Errorf("err %v, verification %+v", err, v)
			}
		})
	}
}

func TestReadCatalogue(t *testing.T) {
	in := "# videos\n/a.mp4 1000\n\n  /synthetic/4096/x.bin  \n"
	got, err := ReadCatalogue(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []Object{{Path: "/a.mp4", Size: 1000}, {Path: "/synthetic/4096/x.bin"}}
	if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("got %+v, want %+v", got, want)
	}
	for _, bad := range []string{"", "a.mp4\n", "/a 1 2\n", "/a -5\n"} {
		if _, err := ReadCatalogue(strings.NewReader(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestShortBodyAndBadRange(t *testing.T) {
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		kind    string
	}{
		{"ignores range", func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write(make([]byte, 10))
		}, "bad_range"},
		{"cut short", func(w http.ResponseWriter, r *http.Request) {
			// The right first 100 bytes of the range, then the end.
			size, name, _ := origin.ParseSyntheticPath(r.URL.Path)
			rng := strings.TrimPrefix(r.Header.Get("Range"), "bytes=")
			first, _ := strconv.ParseInt(rng[:strings.IndexByte(rng, '-')], 10, 64)
			w.Header().Set("Content-Range", "bytes "+rng+"/"+strconv.FormatInt(size, 10))
			w.Header().Set("Content-Length", "40000")
			w.WriteHeader(http.StatusPartialContent)
			body := make([]byte, 100)
			origin.SyntheticFill(body, size, name, first)
			_, _ = w.Write(body)
		}, "short_body"},
		{"not found", http.NotFound, "status_4xx"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			cfg := smallConfig(srv.URL)
			cfg.Requests, cfg.Concurrency = 3, 1
			res, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Summary.ErrorsByKind[tc.kind]; got != 3 {
				t.Errorf("errors %v, want 3 %s", res.Summary.ErrorsByKind, tc.kind)
			}
		})
	}
}

// When the reference origin is the origin whose counters the run reads,
// the reference fetches are not counted as origin egress: here the CDN
// never asks the origin for anything, so the egress must be zero.
func TestReferenceFetchesAreNotOriginEgress(t *testing.T) {
	files, list := testFiles()
	var requests, bytesSent atomic.Int64
	serve := fileServer(t, files, false)
	ref := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == origin.StatsPath {
			fmt.Fprintf(w, `{"requests":%d,"body_bytes":%d}`, requests.Load(), bytesSent.Load())
			return
		}
		requests.Add(1)
		rec := httptest.NewRecorder()
		serve.Config.Handler.ServeHTTP(rec, r)
		bytesSent.Add(int64(rec.Body.Len()))
		maps.Copy(w.Header(), rec.Header())
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	t.Cleanup(ref.Close)
	cdn := fileServer(t, files, false)
	cfg := smallConfig(cdn.URL)
	cfg.Catalogue = list
	cfg.VerifyOrigin = ref.URL
	cfg.OriginStats = ref.URL
	cfg.VerifySample = 1
	cfg.Requests = 20
	res, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if v := res.Verification; v.Sampled == 0 || requests.Load() < v.Sampled {
		t.Fatalf("verification %+v, reference origin saw %d requests: the test did not exercise it", v, requests.Load())
	}
	if o := res.Summary.Origin; o == nil || o.Requests != 0 || o.BodyBytes != 0 {
		t.Errorf("origin egress %+v, want none: the only origin traffic was the bench's own checks", o)
	}
}
