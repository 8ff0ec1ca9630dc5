package cli

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// healthcheck runs `edgecache healthcheck args...` through Run, as the
// container's HEALTHCHECK does, with env added to the environment, and
// returns its exit code and stderr.
func healthcheck(t *testing.T, env map[string]string, args ...string) (int, string) {
	t.Helper()
	code, _, stderr := runCmd(t, append([]string{"healthcheck"}, args...), env)
	return code, stderr
}

func TestHealthcheckExitCodes(t *testing.T) {
	block := make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "not ready\n(draining)", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/healthz", http.StatusFound) })
	mux.HandleFunc("/slow", func(http.ResponseWriter, *http.Request) { <-block })
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(block) }) // runs before srv.Close: unblock /slow first

	// A port nothing listens on: bind one, then free it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String() + "/healthz"
	ln.Close()

	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		wantErr  string // substring of stderr; "" means stderr must be empty
	}{
		{"2xx", []string{"--url", srv.URL + "/healthz"}, 0, ""},
		{"204 is 2xx", []string{"--url", srv.URL + "/nocontent"}, 0, ""},
		{"503 names status and reason", []string{"--url", srv.URL + "/readyz"}, 1, "503 Service Unavailable: not ready (draining)"},
		{"404", []string{"--url", srv.URL + "/nope"}, 1, "404 Not Found"},
		{"redirect is not followed", []string{"--url", srv.URL + "/moved"}, 1, "302 Found"},
		{"refused", []string{"--url", closed}, 1, "connection refused"},
		{"timeout", []string{"--url", srv.URL + "/slow", "--timeout", "100ms"}, 1, "no answer within 100ms"},
		{"bad url is a usage error", []string{"--url", "127.0.0.1:8082/healthz"}, 2, "invalid value"},
		{"bad timeout", []string{"--url", srv.URL + "/healthz", "--timeout", "0s"}, 2, "--timeout must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			code, stderr := healthcheck(t, nil, tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.wantCode, stderr)
			}
			if tc.wantErr == "" && stderr != "" {
				t.Errorf("stderr %q, want none", stderr)
			}
			if !strings.Contains(stderr, tc.wantErr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantErr)
			}
			if n := strings.Count(stderr, "\n"); n > 1 {
				t.Errorf("stderr has %d lines, want one: %q", n, stderr)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v: the probe must be bounded by --timeout", d)
			}
		})
	}
}

// The URL comes from EDGECACHE_URL like any flag, and otherwise follows the
// admin port the edge was given in the same environment.
func TestHealthcheckURLFromEnvironment(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))

	if code, stderr := healthcheck(t, map[string]string{"EDGECACHE_URL": srv.URL + "/healthz"}); code != 0 {
		t.Errorf("EDGECACHE_URL: exit %d, stderr %q", code, stderr)
	}
	if code, stderr := healthcheck(t, map[string]string{"EDGECACHE_ADMIN_LISTEN": ":" + port}); code != 0 {
		t.Errorf("EDGECACHE_ADMIN_LISTEN=:%s: exit %d, stderr %q", port, code, stderr)
	}
	// --url wins over the admin listener.
	code, _ := healthcheck(t, map[string]string{"EDGECACHE_ADMIN_LISTEN": ":1"}, "--url", srv.URL+"/healthz")
	if code != 0 {
		t.Errorf("--url with EDGECACHE_ADMIN_LISTEN set: exit %d, want 0", code)
	}
}

func TestHealthURLFor(t *testing.T) {
	for in, want := range map[string]string{
		"":             defaultHealthURL,
		":8082":        "http://127.0.0.1:8082/healthz",
		"0.0.0.0:9090": "http://127.0.0.1:9090/healthz",
		"[::]:9091":    "http://127.0.0.1:9091/healthz",
		":0":           defaultHealthURL,
		"garbage":      defaultHealthURL,
	} {
		if got := healthURLFor(in); got != want {
			t.Errorf("healthURLFor(%q) = %q, want %q", in, got, want)
		}
	}
}
