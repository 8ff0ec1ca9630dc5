package edge

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"testing"

	"github.com/edgecache/edgecache/edge/internal/engine"
)

// readRange reads chunk-sized range i of path through n with client, and
// checks it.
func readRange(t *testing.T, client *http.Client, n *Node, path string, data []byte, cs, i int) response {
	t.Helper()
	a, b := i*cs, min((i+1)*cs, len(data))-1
	req, _ := http.NewRequest(http.MethodGet, "http://"+n.Addr()+path, nil)
	req.Header.Set("Range", fmt.Sprintf("bytes=%d-%d", a, b))
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || res.StatusCode != http.StatusPartialContent || !bytes.Equal(body, data[a:b+1]) {
		t.Fatalf("range %d: %v, status %d, identical=%v", i, err, res.StatusCode, bytes.Equal(body, data[a:b+1]))
	}
	return response{status: res.StatusCode, header: res.Header, body: body}
}

// putSequential puts an object of 12 chunks of cs random bytes at path.
func putSequential(org *testOrigin, path string, seed uint64, cs int) []byte {
	data := randomBytes(rand.New(rand.NewPCG(seed, seed)), 12*cs)
	org.put(path, &testObject{data: data, etag: fmt.Sprintf("%q", path), modTime: confModTime})
	return data
}

// A player reading an object sequentially, one chunk per request, finds
// its next chunks fetched ahead: once the readahead lands, its next
// request is a hit, and the origin still sees each chunk once.
func TestReadaheadNextMakesSequentialReadsHits(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 64 << 10
	data := putSequential(org, "/seq.mp4", 5, cs)
	n := startNode(t, org.URL(), func(c *Config) { c.ChunkSize, c.ReadaheadNext = cs, 3 })
	if res := readRange(t, testClient, n, "/seq.mp4", data, cs, 0); res.header.Get("X-Cache") != "MISS" {
		t.Errorf("first request: X-Cache %q, want MISS", res.header.Get("X-Cache"))
	}
	o, err := lookupObject(n, context.Background(), "/seq.mp4")
	if err != nil {
		t.Fatal(err)
	}
	for i := 1; i < 12; i++ {
		waitFor(t, fmt.Sprintf("chunk %d to be read ahead", i), func() bool {
			return n.eng.Store().Contains(engine.ChunkEntry(o.ChunkKey(int64(i))))
		})
		if res := readRange(t, testClient, n, "/seq.mp4", data, cs, i); res.header.Get("X-Cache") != "HIT" {
			t.Errorf("request %d: X-Cache %q, want HIT", i, res.header.Get("X-Cache"))
		}
	}
	got := org.rangeGets("/seq.mp4")
	for i := range 12 {
		if r := fmt.Sprintf("bytes=%d-%d", i*cs, (i+1)*cs-1); got[r] != 1 {
			t.Errorf("chunk %d fetched %d times, want 1", i, got[r])
		}
	}
	if len(got) != 12 {
		t.Errorf("origin reads %v, want the 12 chunks", got)
	}
	if s := n.Stats(); s.ReadaheadNext < 11 {
		t.Errorf("%d chunks read ahead, want at least 11 (every chunk but the first)", s.ReadaheadNext)
	}
}

// A seek (a request whose preceding chunk nobody read) and a node with the
// readahead off fetch only what is asked.
func TestReadaheadNextOnlyForSequentialReads(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 64 << 10
	data := putSequential(org, "/seek.mp4", 6, cs)

	// The lookup's GET brings chunk 0 (it says what the object is); the
	// seek reads chunk 6 and nothing after it.
	n := startNode(t, org.URL(), func(c *Config) { c.ChunkSize, c.ReadaheadNext = cs, 3 })
	readRange(t, testClient, n, "/seek.mp4", data, cs, 6)
	if s, got := n.Stats(), org.rangeGets("/seek.mp4"); s.ReadaheadNext != 0 || len(got) != 2 || got["bytes=0-65535"] != 1 || got["bytes=393216-458751"] != 1 {
		t.Errorf("a seek read %d chunks ahead (origin reads %v), want none", s.ReadaheadNext, got)
	}

	off := startNode(t, org.URL(), func(c *Config) { c.ChunkSize, c.ReadaheadNext = cs, 0 })
	readRange(t, testClient, off, "/seek.mp4", data, cs, 0)
	readRange(t, testClient, off, "/seek.mp4", data, cs, 1)
	if s := off.Stats(); s.ReadaheadNext != 0 {
		t.Errorf("readahead off read %d chunks ahead", s.ReadaheadNext)
	}
}

// Readahead follows a connection, not the object: a range next to where
// another client's read ended is a seek for this one, so that many
// clients reading at random do not fetch ahead for each other.
func TestReadaheadNextFollowsTheConnection(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 64 << 10
	data := putSequential(org, "/conn.mp4", 7, cs)
	n := startNode(t, org.URL(), func(c *Config) { c.ChunkSize, c.ReadaheadNext = cs, 3 })
	get := func(client *http.Client, i int) { t.Helper(); readRange(t, client, n, "/conn.mp4", data, cs, i) }
	alice := &http.Client{Transport: &http.Transport{}}
	bob := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(alice.CloseIdleConnections)
	t.Cleanup(bob.CloseIdleConnections)

	get(alice, 3) // a seek
	get(bob, 4)   // next to alice's read, but bob's first: a seek too
	if got := n.Stats().ReadaheadNext; got != 0 {
		t.Errorf("%d chunks read ahead for two seeks", got)
	}
	get(alice, 4) // alice continues: readahead
	if got := n.Stats().ReadaheadNext; got == 0 {
		t.Error("alice's sequential read fetched nothing ahead")
	}
}

// Readahead runs in bounded slots: when as many readahead fetches as the
// edge allows are running, more are dropped (and counted), not queued
// behind or ahead of what players wait for; the response itself is served
// either way, and readahead resumes once slots are free.
func TestReadaheadNextDroppedWhenSlotsAreFull(t *testing.T) {
	org := newTestOrigin(t)
	const cs = 64 << 10
	data := putSequential(org, "/busy.mp4", 6, cs)
	n := startNode(t, org.URL(), func(c *Config) { c.ChunkSize, c.ReadaheadNext = cs, 3 })
	for range cap(n.ahead.slots) {
		n.ahead.slots <- struct{}{} // every slot taken by fetches still running
	}
	readRange(t, testClient, n, "/busy.mp4", data, cs, 0)
	if s := n.Stats(); s.ReadaheadNext != 0 || s.ReadaheadDropped != 3 {
		t.Fatalf("with every slot taken: %d read ahead, %d dropped; want 0 and 3", s.ReadaheadNext, s.ReadaheadDropped)
	}
	if got := len(org.rangeGets("/busy.mp4")); got != 1 {
		t.Errorf("origin chunk reads %d, want only the one asked for", got)
	}
	for range cap(n.ahead.slots) {
		<-n.ahead.slots
	}
	readRange(t, testClient, n, "/busy.mp4", data, cs, 1)
	if s := n.Stats(); s.ReadaheadNext != 3 {
		t.Errorf("with slots free: %d read ahead, want 3", s.ReadaheadNext)
	}
	waitFor(t, "the readahead slots to be handed back", func() bool { return len(n.ahead.slots) == 0 })
}
