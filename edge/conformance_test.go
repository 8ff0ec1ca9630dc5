package edge

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The range conformance suite: for hundreds of Range, If-Range and
// conditional headers the edge must answer as net/http's ServeContent does
// for the same bytes and validators — status, the headers that matter and
// the body — cold and warm, across chunk boundaries, on objects of 0 bytes,
// 1 byte, one chunk and one byte past a chunk. Where ServeContent departs
// from RFC 9110 the edge follows the RFC; rangeDepartures lists each case.

const confChunk = 4 << 10

var confModTime = time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)

// rangeDeparture is one deliberate difference from net/http. When match
// holds, the edge must answer as the oracle answers the rewritten header
// (or with 416 and Content-Range: bytes */size when unsatisfiable is set).
type rangeDeparture struct {
	why           string
	match         func(h string, size int64) bool
	rewrite       func(h string, size int64) string
	unsatisfiable bool
}

var hugeNumber = regexp.MustCompile(`\d{19,}`)

var rangeDepartures = []rangeDeparture{
	{
		why:           "RFC 9110 §14.1.1: a suffix-length of 0 is unsatisfiable; net/http sends an empty 206",
		match:         func(h string, size int64) bool { return regexp.MustCompile(`^bytes=-0+$`).MatchString(h) },
		unsatisfiable: true,
	},
	{
		why: "RFC 9110 §14.1.1: no range of an empty representation is satisfiable; net/http ignores Range on empty content",
		match: func(h string, size int64) bool {
			return size == 0 && strings.HasPrefix(strings.ToLower(h), "bytes=")
		},
		unsatisfiable: true,
	},
	{
		why: "RFC 9110 §14.1.2: positions are 1*DIGIT of any length; net/http refuses those past int64, the edge clamps them to the end",
		match: func(h string, size int64) bool {
			return strings.HasPrefix(h, "bytes=") && hugeNumber.MatchString(h) && validRangeSet(h)
		},
		rewrite: func(h string, size int64) string {
			return hugeNumber.ReplaceAllString(h, "9223372036854775806")
		},
	},
	{
		why: "RFC 9110 §14.1: range units are case-insensitive; net/http accepts only lower case",
		match: func(h string, size int64) bool {
			return !strings.HasPrefix(h, "bytes=") && strings.HasPrefix(strings.ToLower(h), "bytes=")
		},
		rewrite: func(h string, size int64) string { return "bytes=" + h[len("bytes="):] },
	},
	{
		why: "RFC 9110 §14.2: a Range with a unit the server does not know is ignored; net/http refuses it with 416",
		match: func(h string, size int64) bool {
			u, _, ok := strings.Cut(h, "=")
			return ok && !strings.EqualFold(strings.TrimSpace(u), "bytes") && regexp.MustCompile(`^[a-zA-Z]+$`).MatchString(strings.TrimSpace(u))
		},
		rewrite: func(h string, size int64) string { return "" },
	},
	{
		why:           "RFC 9110 §14.1.2: a range-set has at least one range-spec; net/http treats an empty one as no Range",
		match:         func(h string, size int64) bool { return regexp.MustCompile(`^bytes=[\s,]*$`).MatchString(h) },
		unsatisfiable: true,
	},
	{
		why:           "the edge caps a request at MaxRanges ranges (RFC 9110 §14.2 lets a server refuse many small ranges); net/http has no cap",
		match:         func(h string, size int64) bool { return strings.Count(h, ",") >= confMaxRanges },
		unsatisfiable: true,
	},
}

const confMaxRanges = 16

// validRangeSet is a rough syntax check used only to pick departures.
func validRangeSet(h string) bool {
	_, set, _ := strings.Cut(h, "=")
	specs := 0
	for s := range strings.SplitSeq(set, ",") {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !regexp.MustCompile(`^(\d+-\d*|-\d+)$`).MatchString(s) {
			return false
		}
		if a, b, _ := strings.Cut(s, "-"); a != "" && b != "" && len(a) <= 18 && len(b) <= 18 {
			x, _ := strconv.ParseInt(a, 10, 64)
			y, _ := strconv.ParseInt(b, 10, 64)
			if y < x {
				return false
			}
		}
		specs++
	}
	return specs > 0
}

func departureFor(h string, size int64) *rangeDeparture {
	for i := range rangeDepartures {
		if h != "" && rangeDepartures[i].match(h, size) {
			return &rangeDepartures[i]
		}
	}
	return nil
}

// confCase is one request of the suite.
type confCase struct {
	name string
	hdr  http.Header
}

func confCases(size int64, etag string, r *rand.Rand) []confCase {
	S, C := size, int64(confChunk)
	var cases []confCase
	add := func(name string, kv ...string) {
		h := http.Header{}
		for i := 0; i < len(kv); i += 2 {
			h.Set(kv[i], kv[i+1])
		}
		cases = append(cases, confCase{name: name, hdr: h})
	}
	rng := func(format string, args ...any) { add("range", "Range", fmt.Sprintf(format, args...)) }

	add("plain")
	for _, f := range []string{
		"bytes=0-0", "bytes=0-", "bytes=-1", "bytes=-0", "bytes=-00", "bytes=0-%[1]d", "bytes=0-%[2]d",
		"bytes=%[1]d-", "bytes=%[2]d-", "bytes=%[2]d-%[2]d", "bytes=-%[2]d", "bytes=-%[3]d",
		"bytes=%[4]d-%[5]d", "bytes=%[5]d-%[6]d", "bytes=%[4]d-%[7]d", "bytes=%[5]d-",
		"bytes=0-1,3-4", "bytes=0-0,%[1]d-%[1]d", "bytes=%[8]d-%[7]d,0-3", "bytes=0-10,5-15",
		"bytes=0-,0-", "bytes=5-2", "bytes=abc", "bytes=1-2-3", "bytes= 0-1", "bytes=0-1, 2-3",
		"bytes=0-1 ,2-3", "items=0-1", "BYTES=0-1", "Bytes=-2", "bytes=", "bytes=,", "bytes=, ,",
		"bytes=0-99999999999999999999", "bytes=99999999999999999999-", "bytes=-99999999999999999999",
		"bytes=--1", "bytes=-", "bytes=0-1,", "bytes=,0-1", "bytes=1-0", "bytes=0x10-20", "bytes=+1-2",
		"bytes=0-1;x", "bytes 0-1", "=0-1", "bytes=-1,-1", "bytes=%[2]d-,0-0",
	} {
		rng(f, S-1, S, S+10, C-1, C, 2*C-1, 2*C, C-2)
	}
	many := make([]string, confMaxRanges+1)
	for i := range many {
		many[i] = fmt.Sprintf("%d-%d", i, i)
	}
	rng("bytes=%s", strings.Join(many, ","))
	rng("bytes=%s", strings.Join(many[:confMaxRanges], ","))

	// Random single and multiple ranges, many across chunk boundaries.
	for range 60 {
		a := r.Int64N(S + 3)
		switch r.IntN(4) {
		case 0:
			rng("bytes=%d-", a)
		case 1:
			rng("bytes=-%d", r.Int64N(S+3))
		default:
			rng("bytes=%d-%d", a, a+r.Int64N(2*C+2))
		}
	}
	for range 25 {
		k := 2 + r.IntN(4)
		specs := make([]string, k)
		for i := range specs {
			a := r.Int64N(S + 2)
			specs[i] = fmt.Sprintf("%d-%d", a, a+r.Int64N(C/2+1))
		}
		rng("bytes=%s", strings.Join(specs, ","))
	}

	lm := confModTime.Format(http.TimeFormat)
	later := confModTime.Add(time.Hour).Format(http.TimeFormat)
	earlier := confModTime.Add(-time.Hour).Format(http.TimeFormat)
	offBy1 := confModTime.Add(time.Second).Format(http.TimeFormat)
	mid := fmt.Sprintf("bytes=%d-%d", C-3, C+3)
	weak := "W/" + etag
	if etag == "" {
		weak = `W/"none"`
	}
	for _, ir := range []string{etag, `"other"`, weak, lm, offBy1, "garbage"} {
		if ir != "" {
			add("if-range", "Range", mid, "If-Range", ir)
		}
	}
	for _, inm := range []string{etag, "*", `"other"`, `"x", ` + etag, weak, `"x" "y"`} {
		if inm != "" {
			add("if-none-match", "If-None-Match", inm)
			add("if-none-match+range", "If-None-Match", inm, "Range", mid)
		}
	}
	for _, ims := range []string{lm, earlier, later, "garbage"} {
		add("if-modified-since", "If-Modified-Since", ims)
		add("inm+ims", "If-None-Match", `"other"`, "If-Modified-Since", ims)
	}
	for _, im := range []string{etag, `"other"`, "*", weak} {
		if im != "" {
			add("if-match", "If-Match", im)
			add("if-match+range", "If-Match", im, "Range", mid)
		}
	}
	for _, ius := range []string{earlier, later, lm} {
		add("if-unmodified-since", "If-Unmodified-Since", ius)
	}
	return cases
}

// expectation is what the edge must answer for one case.
type expectation struct {
	res       response
	departure string
}

func oracleAnswer(obj *testObject, method string, hdr http.Header) response {
	req := httptest.NewRequest(method, "/obj", nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	serveOracle(rec, req, obj)
	res := rec.Result()
	b, _ := io.ReadAll(res.Body)
	return response{status: res.StatusCode, header: res.Header, body: b}
}

func expect(obj *testObject, method string, hdr http.Header) expectation {
	size := int64(len(obj.data))
	d := departureFor(hdr.Get("Range"), size)
	if d == nil {
		return expectation{res: oracleAnswer(obj, method, hdr)}
	}
	if d.unsatisfiable {
		// Preconditions still come first.
		pre := oracleAnswer(obj, method, withoutRange(hdr))
		if pre.status == http.StatusNotModified || pre.status == http.StatusPreconditionFailed {
			return expectation{res: pre, departure: d.why}
		}
		// If-Range that fails means the Range is not looked at.
		probe := *obj
		probe.data = make([]byte, 10)
		if hdr.Get("If-Range") != "" && oracleAnswer(&probe, method, withRange(hdr, "bytes=0-0")).status == http.StatusOK {
			return expectation{res: pre, departure: d.why}
		}
		h := http.Header{}
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", size))
		return expectation{res: response{status: http.StatusRequestedRangeNotSatisfiable, header: h}, departure: d.why}
	}
	return expectation{res: oracleAnswer(obj, method, withRange(hdr, d.rewrite(hdr.Get("Range"), size))), departure: d.why}
}

func withoutRange(h http.Header) http.Header { return withRange(h, "") }

func withRange(h http.Header, r string) http.Header {
	c := h.Clone()
	if r == "" {
		c.Del("Range")
	} else {
		c.Set("Range", r)
	}
	return c
}

// compare reports how got differs from want in the ways that matter.
func compare(want expectation, got response, method string) []string {
	var diffs []string
	w := want.res
	if got.status != w.status {
		return []string{fmt.Sprintf("status %d, want %d (oracle body %q)", got.status, w.status, trunc(w.body))}
	}
	for _, k := range []string{"Content-Range", "ETag"} {
		if wv := w.header.Get(k); wv != "" && got.header.Get(k) != wv {
			diffs = append(diffs, fmt.Sprintf("%s %q, want %q", k, got.header.Get(k), wv))
		}
	}
	if w.status == http.StatusRequestedRangeNotSatisfiable {
		if got.header.Get("Content-Range") == "" {
			diffs = append(diffs, "416 without Content-Range")
		}
		return diffs
	}
	if w.status != http.StatusOK && w.status != http.StatusPartialContent {
		return diffs
	}
	if got.header.Get("Accept-Ranges") != "bytes" {
		diffs = append(diffs, "no Accept-Ranges: bytes")
	}
	if got.header.Get("Last-Modified") != w.header.Get("Last-Modified") {
		diffs = append(diffs, fmt.Sprintf("Last-Modified %q, want %q", got.header.Get("Last-Modified"), w.header.Get("Last-Modified")))
	}
	if got.header.Get("Content-Length") != w.header.Get("Content-Length") {
		diffs = append(diffs, fmt.Sprintf("Content-Length %q, want %q", got.header.Get("Content-Length"), w.header.Get("Content-Length")))
	}
	wantMT, wantParams, _ := mime.ParseMediaType(w.header.Get("Content-Type"))
	gotMT, gotParams, _ := mime.ParseMediaType(got.header.Get("Content-Type"))
	if gotMT != wantMT {
		diffs = append(diffs, fmt.Sprintf("Content-Type %q, want %q", got.header.Get("Content-Type"), w.header.Get("Content-Type")))
		return diffs
	}
	if method == http.MethodHead {
		if len(got.body) != 0 {
			diffs = append(diffs, "HEAD with a body")
		}
		return diffs
	}
	if wantMT != "multipart/byteranges" {
		if !bytes.Equal(got.body, w.body) {
			diffs = append(diffs, fmt.Sprintf("body of %d bytes differs from the oracle's %d", len(got.body), len(w.body)))
		}
		return diffs
	}
	wantParts, err1 := readParts(w.body, wantParams["boundary"])
	gotParts, err2 := readParts(got.body, gotParams["boundary"])
	if err1 != nil || err2 != nil {
		return append(diffs, fmt.Sprintf("multipart: oracle %v, edge %v", err1, err2))
	}
	if len(gotParts) != len(wantParts) {
		return append(diffs, fmt.Sprintf("%d parts, want %d", len(gotParts), len(wantParts)))
	}
	for i := range wantParts {
		for _, k := range []string{"Content-Range", "Content-Type"} {
			if gotParts[i].header.Get(k) != wantParts[i].header.Get(k) {
				diffs = append(diffs, fmt.Sprintf("part %d %s %q, want %q", i, k, gotParts[i].header.Get(k), wantParts[i].header.Get(k)))
			}
		}
		if !bytes.Equal(gotParts[i].body, wantParts[i].body) {
			diffs = append(diffs, fmt.Sprintf("part %d body differs", i))
		}
	}
	return diffs
}

type part struct {
	header http.Header
	body   []byte
}

func readParts(body []byte, boundary string) ([]part, error) {
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var parts []part
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			return parts, nil
		}
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(p)
		if err != nil {
			return nil, err
		}
		parts = append(parts, part{header: http.Header(p.Header), body: b})
	}
}

func trunc(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "..."
	}
	return string(b)
}

func TestRangeConformance(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, confChunk - 1, confChunk, confChunk + 1, 3*confChunk + 17}
	for _, size := range sizes {
		for _, withETag := range []bool{true, false} {
			obj := &testObject{data: randomBytes(r, size), modTime: confModTime}
			if withETag {
				obj.etag = fmt.Sprintf(`"v1-%d"`, size)
			}
			name := fmt.Sprintf("size=%d/etag=%v", size, withETag)
			cases := confCases(int64(size), obj.etag, r)
			t.Run(name, func(t *testing.T) {
				t.Parallel() // mostly waiting: nodes drain on a 100 ms tick
				org := newTestOrigin(t)
				org.put("/obj", obj)
				warm := startNode(t, org.URL(), func(c *Config) { c.ChunkSize = confChunk; c.MaxRanges = confMaxRanges })
				departures := 0
				for i, c := range cases {
					for _, method := range []string{http.MethodGet, http.MethodHead} {
						want := expect(obj, method, c.hdr)
						if want.departure != "" {
							departures++
						}
						// Cold: a fresh edge for every case, on a sample
						// (each new node costs listeners); warm: one edge
						// that has served every case before.
						if i%8 == 0 && method == http.MethodGet {
							cold := startNode(t, org.URL(), func(c *Config) { c.ChunkSize = confChunk; c.MaxRanges = confMaxRanges })
							check(t, "cold", c, want, do(t, method, "http://"+cold.Addr()+"/obj", c.hdr), method)
						}
						check(t, "first", c, want, do(t, method, "http://"+warm.Addr()+"/obj", c.hdr), method)
						check(t, "warm", c, want, do(t, method, "http://"+warm.Addr()+"/obj", c.hdr), method)
					}
				}
				t.Logf("%d cases, %d answered per an RFC departure", len(cases)*2, departures)
			})
		}
	}
}

func check(t *testing.T, phase string, c confCase, want expectation, got response, method string) {
	t.Helper()
	if diffs := compare(want, got, method); len(diffs) > 0 {
		note := ""
		if want.departure != "" {
			note = " [departure: " + want.departure + "]"
		}
		t.Errorf("%s %s %s %v:%s\n  %s", phase, method, c.name, c.hdr, note, strings.Join(diffs, "\n  "))
	}
}

// TestRangeDeparturesListed keeps the list of departures honest: each one
// must actually differ from what net/http does, or it is not a departure.
func TestRangeDeparturesListed(t *testing.T) {
	examples := map[string]struct {
		h    string
		size int
	}{
		rangeDepartures[0].why: {"bytes=-0", 10},
		rangeDepartures[1].why: {"bytes=-5", 0},
		rangeDepartures[2].why: {"bytes=0-99999999999999999999", 10},
		rangeDepartures[3].why: {"BYTES=0-1", 10},
		rangeDepartures[4].why: {"items=0-1", 10},
		rangeDepartures[5].why: {"bytes=", 10},
		rangeDepartures[6].why: {"bytes=" + strings.Repeat("0-0,", confMaxRanges) + "0-0", 100},
	}
	for _, d := range rangeDepartures {
		ex, ok := examples[d.why]
		if !ok {
			t.Errorf("departure %q has no example", d.why)
			continue
		}
		obj := &testObject{data: make([]byte, ex.size), modTime: confModTime, etag: `"e"`, contentType: "video/mp4"}
		hdr := http.Header{"Range": {ex.h}}
		if departureFor(ex.h, int64(ex.size)) == nil {
			t.Errorf("%q does not match its departure", ex.h)
			continue
		}
		oracle := oracleAnswer(obj, http.MethodGet, hdr)
		want := expect(obj, http.MethodGet, hdr)
		if oracle.status == want.res.status && bytes.Equal(oracle.body, want.res.body) {
			t.Errorf("departure %q: net/http already answers %q with %d", d.why, ex.h, oracle.status)
		}
	}
}
