package httpcache

import (
	"testing"
)

func TestEndToEnd(t *testing.T) {
	in := fields("connection", "a, B", "a", "1", "b", "2", "c", "3", "Keep-Alive", "x", "transfer-encoding", "chunked",
		"Proxy-Authenticate", "x", "Content-Length", "9", "Set-Cookie", "k=v", "Set-Cookie", "k2=v2")
	got := EndToEnd(in, map[string]bool{"Content-Length": true})
	want := fields("C", "3", "Set-Cookie", "k=v", "Set-Cookie", "k2=v2")
	if len(got) != len(want) {
		t.Fatalf("EndToEnd = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("field %d = %v, want %v", i, got[i], want[i])
		}
	}
	if !IsHopByHop("te") || IsHopByHop("Content-Type") {
		t.Error("IsHopByHop misclassifies")
	}
}

func TestRefresh(t *testing.T) {
	stored := fields("Content-Type", "text/plain", "X-A", "old", "X-A", "old2", "Content-Length", "10", "X-Keep", "k")
	fresh := fields("X-A", "new", "Content-Length", "99", "Cache-Control", "max-age=5")
	got := Refresh(stored, fresh)
	want := fields("Content-Type", "text/plain", "Content-Length", "10", "X-Keep", "k", "X-A", "new", "Cache-Control", "max-age=5")
	if len(got) != len(want) {
		t.Fatalf("Refresh = %v, want %v", got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Errorf("field %d = %v, want %v", i, got[i], want[i])
		}
	}
	if got.Size() == 0 || !got.Has("x-keep") || got.Get("X-A") != "new" || len(got.Values("x-a")) != 1 {
		t.Error("Fields accessors disagree with the fields")
	}
}
