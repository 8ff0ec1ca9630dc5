package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"net"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/edgecache/edgecache/internal/testutil"
	"github.com/edgecache/edgecache/media"
)

// demoStartTimeout bounds waiting for the demo to print its URLs, and for
// it to stop once cancelled.
const demoStartTimeout = 30 * time.Second

// demoRun is `edgecache demo` running in the background.
type demoRun struct {
	out    string // stdout up to and including "Press Ctrl-C to stop."
	rest   chan string
	stderr *testutil.SyncBuffer
	code   chan int
	cancel context.CancelFunc
}

// startDemo runs `edgecache demo args...` through Run, as main does, and
// waits until it has printed what to open.
func startDemo(t *testing.T, args ...string) *demoRun {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	d := &demoRun{rest: make(chan string, 1), stderr: &testutil.SyncBuffer{}, code: make(chan int, 1), cancel: cancel}
	go func() {
		d.code <- Run(ctx, append([]string{"demo"}, args...), pw, d.stderr)
		pw.Close()
	}()
	printed := make(chan string, 1)
	go func() {
		var out strings.Builder
		lines := bufio.NewScanner(pr)
		for lines.Scan() {
			out.WriteString(lines.Text() + "\n")
			if lines.Text() == "Press Ctrl-C to stop." {
				printed <- out.String()
				out.Reset()
			}
		}
		close(printed)
		d.rest <- out.String()
	}()
	t.Cleanup(cancel)
	select {
	case out, ok := <-printed:
		if !ok {
			t.Fatalf("demo exited with %d before printing its URLs; stderr:\n%s", <-d.code, d.stderr)
		}
		d.out = out
	case <-time.After(demoStartTimeout):
		t.Fatalf("demo printed no URLs within %v; stderr:\n%s", demoStartTimeout, d.stderr)
	}
	return d
}

// stop cancels the demo and returns its exit status and what it printed
// after the URLs.
func (d *demoRun) stop(t *testing.T) (int, string) {
	t.Helper()
	d.cancel()
	select {
	case code := <-d.code:
		return code, <-d.rest
	case <-time.After(demoStartTimeout):
		t.Fatalf("demo did not stop within %v of its context's end", demoStartTimeout)
		return 0, ""
	}
}

func mustMatch(t *testing.T, re, text string) []string {
	t.Helper()
	m := regexp.MustCompile(re).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("output lacks %s:\n%s", re, text)
	}
	return m
}

// TestDemoServesPlayerAndMovie runs `edgecache demo` as a person would,
// but on a free port, and opens what it prints: the player page, ranges
// of the movie and the HLS playlist through the first edge, and every
// edge's metrics. Cancelling the context (Ctrl-C) stops it cleanly.
func TestDemoServesPlayerAndMovie(t *testing.T) {
	d := startDemo(t, "--listen", "127.0.0.1:0")
	player := mustMatch(t, `(?m)^  browser  (http://127\.0\.0\.1:\d+)/player\.html$`, d.out)
	base := player[1]
	mustMatch(t, `(?m)^  ffplay   ffplay `+regexp.QuoteMeta(base+media.MoviePath)+`$`, d.out)
	mustMatch(t, `(?m)^  VLC      vlc `+regexp.QuoteMeta(base+media.HLSPath)+`$`, d.out)
	edges := regexp.MustCompile(`(?m)^  edge (\d)  (http://\S+)  admin (http://\S+/)$`).FindAllStringSubmatch(d.out, -1)
	if len(edges) != 3 || edges[0][2] != base {
		t.Fatalf("want 3 edges, the first at %s; output:\n%s", base, d.out)
	}

	resp, body := testutil.Get(t, base+media.PlayerPath, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(body, []byte("<video")) {
		t.Errorf("player page: status %d, Content-Type %q, %d bytes", resp.StatusCode, resp.Header.Get("Content-Type"), len(body))
	}
	movie, err := fs.ReadFile(media.Library(), media.MoviePath[1:])
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		rng    string
		status int
		want   []byte
	}{
		{"bytes=0-1023", 206, movie[:1024]},
		{"bytes=-4096", 206, movie[len(movie)-4096:]}, // the moov box, as a player reads it first
		{"", 200, movie},
	} {
		resp, body := testutil.Get(t, base+media.MoviePath, c.rng)
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "video/mp4" || !bytes.Equal(body, c.want) {
			t.Errorf("movie %q: status %d, Content-Type %q, %d bytes; want %d, video/mp4 and the file's %d bytes",
				c.rng, resp.StatusCode, resp.Header.Get("Content-Type"), len(body), c.status, len(c.want))
		}
	}
	if resp, _ := testutil.Get(t, base+media.HLSPath, ""); resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/vnd.apple.mpegurl" {
		t.Errorf("HLS playlist: status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, e := range edges {
		if resp, _ := testutil.Get(t, e[3]+"metrics", ""); resp.StatusCode != 200 {
			t.Errorf("edge %s metrics: status %d", e[1], resp.StatusCode)
		}
		// Each edge is named as the demo prints it, on its status page
		// and in /status.json.
		var st struct{ Name string }
		if _, body := testutil.Get(t, e[3]+"status.json", ""); json.Unmarshal(body, &st) != nil || st.Name != "edge "+e[1] {
			t.Errorf("edge %s: /status.json names it %q", e[1], st.Name)
		}
		if _, page := testutil.Get(t, e[3], ""); !bytes.Contains(page, []byte("edgecache edge edge "+e[1]+" ")) {
			t.Errorf("edge %s: the status page does not show its name", e[1])
		}
	}

	// The printed origin URL shows the media it serves and its counters.
	originURL := mustMatch(t, `(?m)^Origin .*:\n  (http://\S+)/$`, d.out)[1]
	resp, body = testutil.Get(t, originURL+"/", "")
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(`href="`+media.MoviePath+`"`)) || !bytes.Contains(body, []byte("requests")) {
		t.Errorf("origin page: status %d:\n%s", resp.StatusCode, body)
	}

	code, after := d.stop(t)
	if code != 0 || !strings.Contains(after, "stopping") {
		t.Errorf("after cancel: exit %d, stdout %q; want 0 and a stopping line", code, after)
	}
	if strings.Contains(d.stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", d.stderr)
	}
}

// TestDemoListenInUse: a taken --listen address (here through its
// environment twin) is one line that names the flag, and exit status 1.
func TestDemoListenInUse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	env := map[string]string{"EDGECACHE_LISTEN": ln.Addr().String()}
	code, out, msg := runCmd(t, []string{"demo"}, env)
	if code != 1 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, "--listen "+ln.Addr().String()) ||
		!strings.Contains(msg, "address already in use") {
		t.Errorf("exit %d, stderr %q; want exit 1 and one line naming --listen and the address in use", code, msg)
	}
	if strings.Contains(out, "Press Ctrl-C") {
		t.Errorf("printed URLs although it could not listen:\n%s", out)
	}
}

func TestDemoBadFlags(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--listen", "nonsense"}, "--listen"},
		{[]string{"--listen", "127.0.0.1:70000"}, "--listen"},
		{[]string{"--listen", "127.0.0.1:http"}, "--listen"},
		{[]string{"--edges", "0"}, "--edges"},
		{[]string{"--edges", "17"}, "--edges"},
		{[]string{"--cache-size", "0"}, "--cache-size"},
		{[]string{"--log-level", "loud"}, "--log-level"},
		{[]string{"extra"}, "unexpected argument"},
	} {
		code, _, msg := runCmd(t, append([]string{"demo"}, c.args...), nil)
		if code != 2 || strings.Count(msg, "\n") != 1 || !strings.Contains(msg, c.want) {
			t.Errorf("demo %v: exit %d, stderr %q; want exit 2 and one line naming %s", c.args, code, msg, c.want)
		}
	}
}

func TestDemoHelp(t *testing.T) {
	code, stdout, stderr := runCmd(t, []string{"demo", "--help"}, nil)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"--listen", "default 127.0.0.1:8080; env EDGECACHE_LISTEN", "--edges", "default 3"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("help lacks %q:\n%s", want, stdout)
		}
	}
	_, stdout, _ = runCmd(t, nil, nil)
	if !strings.Contains(stdout, "\n  demo ") {
		t.Errorf("top-level usage does not list demo:\n%s", stdout)
	}
}

func TestBrowsable(t *testing.T) {
	for in, want := range map[string]string{
		"http://[::]:8080":       "http://127.0.0.1:8080",
		"http://0.0.0.0:8080":    "http://127.0.0.1:8080",
		"http://127.0.0.1:8080":  "http://127.0.0.1:8080",
		"http://[::1]:8080":      "http://[::1]:8080",
		"http://192.0.2.7:80":    "http://192.0.2.7:80",
		"http://not-a-host-port": "http://not-a-host-port",
	} {
		if got := browsable(in); got != want {
			t.Errorf("browsable(%q) = %q, want %q", in, got, want)
		}
	}
}
