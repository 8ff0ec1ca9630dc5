package testorigin

import (
	"io"
	"net/http"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func get(t *testing.T, url, rng string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if rng != "" {
		req.Header.Set("Range", rng)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRoutes(t *testing.T) {
	defer http.DefaultClient.CloseIdleConnections()
	o := New(t)
	o.Set("/ranged", Route{Body: []byte("0123456789"), Header: http.Header{"Etag": {`"a"`}}})
	o.Set("/whole", Route{Body: []byte("0123456789"), IgnoreRange: true})
	o.Set("/teapot?x=1", Route{Status: 418, Body: []byte("short and stout")})
	if resp, body := get(t, o.URL()+"/ranged", "bytes=2-4"); resp.StatusCode != 206 || body != "234" {
		t.Errorf("/ranged: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, o.URL()+"/whole", "bytes=2-4"); resp.StatusCode != 200 || body != "0123456789" {
		t.Errorf("/whole: %d %q", resp.StatusCode, body)
	}
	if resp, body := get(t, o.URL()+"/teapot?x=1", ""); resp.StatusCode != 418 || body != "short and stout" {
		t.Errorf("/teapot: %d %q", resp.StatusCode, body)
	}
	if resp, _ := get(t, o.URL()+"/none", ""); resp.StatusCode != 404 {
		t.Errorf("/none: %d", resp.StatusCode)
	}
	if o.Count("/ranged") != 1 || o.BodyBytes("/whole") != 10 || o.BodyBytes("/ranged") != 3 || len(o.Requests("")) != 4 {
		t.Errorf("counts: %d requests, %d and %d bytes", len(o.Requests("")), o.BodyBytes("/whole"), o.BodyBytes("/ranged"))
	}
	if got := o.Ranges("/ranged"); len(got) != 1 || got[0] != "bytes=2-4" || o.Methods("/whole") != "GET" {
		t.Errorf("ranges %q methods %q", got, o.Methods("/whole"))
	}
}
