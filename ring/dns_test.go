package ring

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/edgecache/edgecache/internal/testutil"
)

// fakeResolver answers lookups from a script, one step per call; the last
// step repeats.
type fakeResolver struct {
	mu    sync.Mutex
	steps []step
	calls int
}

type step struct {
	ips  []string
	err  error
	hang bool // block until the lookup's context ends
}

func (f *fakeResolver) LookupIPAddr(ctx context.Context, host string) ([]net.IPAddr, error) {
	f.mu.Lock()
	s := f.steps[min(f.calls, len(f.steps)-1)]
	f.calls++
	f.mu.Unlock()
	if host != "edge.default.svc" {
		return nil, errors.New("unexpected host " + host)
	}
	if s.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	var out []net.IPAddr
	for _, ip := range s.ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(ip)})
	}
	return out, s.err
}

func (f *fakeResolver) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// TestDNS drives a DNS source through an answer that changes, repeats,
// fails, hangs and comes back empty, on a fake clock: it sends only when
// the set changes and keeps the last known set through every failure.
func TestDNS(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = 5 * time.Second
		fake := &fakeResolver{steps: []step{
			{ips: []string{"10.0.0.2", "10.0.0.1"}},             // 1: first set
			{ips: []string{"10.0.0.1", "10.0.0.2", "10.0.0.1"}}, // 2: same set, other order
			{err: errors.New("SERVFAIL")},                       // 3: failure
			{hang: true},                                        // 4: timeout
			{},                                                  // 5: empty answer
			{ips: []string{"10.0.0.3", "10.0.0.1", "10.0.0.2"}}, // 6: a peer joins
			{ips: []string{"fe80::1", "10.0.0.3"}},              // 7: IPv6, two left
		}}
		var logs testutil.SyncBuffer
		src, err := DNS(DNSConfig{
			Name:     "edge.default.svc:7070",
			Resolver: fake,
			Logger:   slog.New(slog.NewTextHandler(&logs, nil)),
		})
		if err != nil {
			t.Fatal(err)
		}
		updates, cancel, done := runSource(t, src)

		expect := func(call int, want []string) {
			t.Helper()
			if want != nil {
				if got := <-updates; !slices.Equal(got, want) {
					t.Fatalf("lookup %d: sent %v, want %v", call, got, want)
				}
			}
			synctest.Wait()
			if n := fake.Calls(); n != call {
				t.Fatalf("%d lookups, want %d", n, call)
			}
			select {
			case u := <-updates:
				t.Fatalf("lookup %d: sent %v, want nothing", call, u)
			default:
			}
		}

		expect(1, []string{"10.0.0.1:7070", "10.0.0.2:7070"})
		for call := 2; call <= 5; call++ {
			time.Sleep(interval)
			expect(call, nil)
		}
		time.Sleep(interval)
		expect(6, []string{"10.0.0.1:7070", "10.0.0.2:7070", "10.0.0.3:7070"})
		time.Sleep(interval)
		expect(7, []string{"10.0.0.3:7070", "[fe80::1]:7070"})

		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
		out := logs.String()
		if n := strings.Count(out, "DNS lookup failed"); n != 1 {
			t.Errorf("logged %d lookup failures for one run of failures, want 1:\n%s", n, out)
		}
		if !strings.Contains(out, "failed_lookups=3") {
			t.Errorf("recovery after 3 failed lookups not logged:\n%s", out)
		}
	})
}

// TestDNSFirstLookupFails: nothing is sent until a lookup succeeds, and a
// Run whose context ends while it waits returns.
func TestDNSFirstLookupFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeResolver{steps: []step{{err: errors.New("NXDOMAIN")}, {ips: []string{"10.0.0.1"}}}}
		src, err := DNS(DNSConfig{Name: "edge.default.svc:7070", Resolver: fake, Interval: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		updates, cancel, done := runSource(t, src)
		synctest.Wait()
		select {
		case u := <-updates:
			t.Fatalf("sent %v after a failed lookup", u)
		default:
		}
		time.Sleep(time.Second)
		if got := <-updates; !slices.Equal(got, []string{"10.0.0.1:7070"}) {
			t.Fatalf("sent %v", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run returned %v, want nil", err)
		}
	})
}

func TestDNSConfigErrors(t *testing.T) {
	for _, cfg := range []DNSConfig{
		{},
		{Name: "edge.default.svc"},
		{Name: ":7070"},
		{Name: "edge:port"},
		{Name: "edge:7070", Interval: -time.Second},
	} {
		if _, err := DNS(cfg); err == nil {
			t.Errorf("DNS(%+v) returned no error", cfg)
		}
	}
}
