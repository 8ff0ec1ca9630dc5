package ring

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/memberlist"
	"go.uber.org/goleak"
)

// fastGossip tunes memberlist for a loopback test cluster: the LAN preset
// probes every second and pushes state every 30s, far too slow to wait for.
func fastGossip(c *memberlist.Config) {
	c.ProbeInterval = 50 * time.Millisecond
	c.ProbeTimeout = 25 * time.Millisecond
	c.GossipInterval = 10 * time.Millisecond
	c.PushPullInterval = 200 * time.Millisecond
	c.TCPTimeout = 500 * time.Millisecond
	c.SuspicionMult = 2
	c.GossipToTheDeadTime = 200 * time.Millisecond
	c.DeadNodeReclaimTime = 100 * time.Millisecond
}

// gossipNode is one running gossip source and the last list it sent.
type gossipNode struct {
	advertise string
	addr      string // gossip address, known once memberlist listens
	cancel    context.CancelFunc
	done      chan error

	mu   sync.Mutex
	last []string
	sent int
}

func (n *gossipNode) members() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.last
}

// startGossip runs a gossip source for member i bound to bind (host:port)
// and joining join.
func startGossip(t *testing.T, i int, bind string, join []string) *gossipNode {
	t.Helper()
	return startGossipKeys(t, i, bind, join, nil)
}

// startGossipKeys is startGossip with encryption: keys[0] encrypts, every
// key decrypts.
func startGossipKeys(t *testing.T, i int, bind string, join []string, keys [][]byte) *gossipNode {
	t.Helper()
	n := &gossipNode{advertise: fmt.Sprintf("10.0.0.%d:7070", i), done: make(chan error, 1)}
	started := make(chan string, 1)
	cfg := GossipConfig{
		BindAddr:     bind,
		Advertise:    n.advertise,
		Join:         join,
		JoinRetry:    100 * time.Millisecond,
		LeaveTimeout: time.Second,
		Logger:       slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
		tune:         fastGossip,
		started:      func(addr string) { started <- addr },
	}
	if len(keys) > 0 {
		cfg.SecretKey, cfg.AcceptedKeys = keys[0], keys[1:]
	}
	src, err := Gossip(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	updates := make(chan []string)
	go func() { n.done <- src.Run(ctx, updates) }()
	go func() {
		for {
			select {
			case u := <-updates:
				n.mu.Lock()
				n.last, n.sent = u, n.sent+1
				n.mu.Unlock()
			case <-ctx.Done():
				return
			}
		}
	}()
	select {
	case n.addr = <-started:
	case err := <-n.done:
		t.Fatalf("node %d: Run returned %v before listening", i, err)
	}
	return n
}

// stop ends the node's Run and waits for it to return.
func (n *gossipNode) stop(t *testing.T) {
	t.Helper()
	n.cancel()
	select {
	case err := <-n.done:
		if err != nil {
			t.Errorf("%s: Run returned %v", n.advertise, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: Run did not return within 5s of its context ending", n.advertise)
	}
}

// testWriter sends memberlist's warnings to the test log, so that a
// failure shows what gossip saw.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitFor polls cond until it holds or the deadline passes: memberlist runs
// on real time and real sockets.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGossip starts three memberlists on loopback, the second and third
// joining the first, waits for all three to send the same member list, then
// stops one and waits for the other two to drop it.
func TestGossip(t *testing.T) {
	defer goleak.VerifyNone(t)
	start := time.Now()

	a := startGossip(t, 1, "127.0.0.1:0", nil)
	b := startGossip(t, 2, "127.0.0.1:0", []string{a.addr})
	c := startGossip(t, 3, "127.0.0.1:0", []string{a.addr, b.addr})
	nodes := []*gossipNode{a, b, c}
	defer func() {
		for _, n := range nodes {
			n.cancel()
		}
	}()

	all := []string{a.advertise, b.advertise, c.advertise}
	waitFor(t, 5*time.Second, "three nodes agree on three members", func() bool {
		for _, n := range nodes {
			if !slices.Equal(n.members(), all) {
				return false
			}
		}
		return true
	})
	t.Logf("converged on %v after %v", all, time.Since(start).Round(time.Millisecond))

	left := time.Now()
	c.stop(t)
	t.Logf("c left gracefully in %v", time.Since(left).Round(time.Millisecond))
	waitFor(t, 5*time.Second, "a and b see c leave", func() bool {
		return slices.Equal(a.members(), all[:2]) && slices.Equal(b.members(), all[:2])
	})
	t.Logf("a and b dropped c %v after it left", time.Since(left).Round(time.Millisecond))

	a.stop(t)
	b.stop(t)
	nodes = nil
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("gossip test took %v, want < 10s", d)
	}
}

// TestGossipJoinRetry: an edge that starts before the member it joins
// sends itself alone, keeps trying, and joins once that member is up, so
// edges started together converge in any order.
func TestGossipJoinRetry(t *testing.T) {
	defer goleak.VerifyNone(t)

	// Find a free gossip address, then leave it empty.
	a := startGossip(t, 1, "127.0.0.1:0", nil)
	a.stop(t)
	seed := a.addr

	b := startGossip(t, 2, "127.0.0.1:0", []string{seed})
	defer b.cancel()
	waitFor(t, 2*time.Second, "b sends itself alone after its first join fails", func() bool {
		return slices.Equal(b.members(), []string{b.advertise})
	})

	a = startGossip(t, 1, seed, nil)
	defer a.cancel()
	want := []string{a.advertise, b.advertise}
	waitFor(t, 5*time.Second, "b joins the seed once it is up", func() bool {
		return slices.Equal(a.members(), want) && slices.Equal(b.members(), want)
	})
	b.stop(t)
	a.stop(t)
}

// TestGossipKeyRotation: a key is rotated in three rolling steps (accept
// the new key, encrypt with it, drop the old one), and at every step a
// member already moved and one not yet moved gossip with each other. A
// member that holds only the old key cannot read one that encrypts with
// the new key, which is why the new key is accepted everywhere before
// anyone encrypts with it.
func TestGossipKeyRotation(t *testing.T) {
	defer goleak.VerifyNone(t)
	oldKey, newKey := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	steps := [][2][][]byte{
		{{oldKey}, {oldKey, newKey}},         // accept the new key
		{{oldKey, newKey}, {newKey, oldKey}}, // encrypt with it
		{{newKey, oldKey}, {newKey}},         // drop the old one
	}
	var nodes []*gossipNode
	defer func() {
		for _, n := range nodes {
			n.cancel()
		}
	}()
	for i, step := range steps {
		before := startGossipKeys(t, 2*i+1, "127.0.0.1:0", nil, step[0])
		after := startGossipKeys(t, 2*i+2, "127.0.0.1:0", []string{before.addr}, step[1])
		nodes = append(nodes, before, after)
	}
	for i := range steps {
		before, after := nodes[2*i], nodes[2*i+1]
		want := []string{before.advertise, after.advertise}
		waitFor(t, 5*time.Second, fmt.Sprintf("step %d: a member before and one after it see each other", i+1), func() bool {
			return slices.Equal(before.members(), want) && slices.Equal(after.members(), want)
		})
	}
	for _, n := range nodes {
		n.stop(t)
	}
	nodes = nil
}

func TestGossipConfigErrors(t *testing.T) {
	for _, cfg := range []GossipConfig{
		{},
		{Advertise: "nohostport"},
		{Advertise: "a:1", BindAddr: "127.0.0.1"},
		{Advertise: "a:1", GossipAdvertise: "host.example:7946"},
		{Advertise: "a:1", SecretKey: []byte("short")},
		{Advertise: "a:1", AcceptedKeys: [][]byte{make([]byte, 32)}},
		{Advertise: "a:1", SecretKey: make([]byte, 32), AcceptedKeys: [][]byte{[]byte("short")}},
		{Advertise: "a:1", SecretKey: make([]byte, 32), AcceptedKeys: [][]byte{nil}},
		{Advertise: "a:1", JoinRetry: -time.Second},
		{Advertise: "a:" + strings.Repeat("1", 600)},
	} {
		if _, err := Gossip(cfg); err == nil {
			t.Errorf("Gossip(%+v) returned no error", cfg)
		}
	}
}

func TestGossipBindError(t *testing.T) {
	src, err := Gossip(GossipConfig{BindAddr: "203.0.113.1:0", Advertise: "a:1"})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Run(t.Context(), make(chan []string)); err == nil {
		t.Fatal("Run on an address this host does not have returned nil")
	}
}

func TestLogWriter(t *testing.T) {
	var buf bytes.Buffer
	w := logWriter{slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	fmt.Fprintln(w, "[WARN] memberlist: Refuting a suspect message")
	fmt.Fprintln(w, "[DEBUG] memberlist: Stream connection")
	fmt.Fprintln(w, "no prefix")
	out := buf.String()
	for _, want := range []string{
		`level=WARN msg="memberlist: Refuting a suspect message"`,
		`level=DEBUG msg="memberlist: Stream connection"`,
		`level=INFO msg="no prefix"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s:\n%s", want, out)
		}
	}
}
