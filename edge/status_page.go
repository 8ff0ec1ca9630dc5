package edge

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The status page is rendered on the server from Status: plain HTML with
// inline SVG charts and inline CSS, no script and no external asset, so it
// reads in any browser (or curl) that can reach the admin port, and
// refreshes itself with a meta refresh.

// Chart geometry, in SVG user units (the SVGs scale to the page width).
const (
	chartW = 600
	chartH = 110
	barH   = 22
)

// Colours of the sources and outcomes, shared by charts and legends.
const (
	colHit    = "#2e7d32"
	colDisk   = "#81c784"
	colPeer   = "#1565c0"
	colOrigin = "#ef6c00"
	colError  = "#c62828"
	colOK     = "#78909c"
	colFill   = "#6a1b9a"
)

// memberColours tell members apart in the ring bar; they repeat past ten.
var memberColours = [...]string{"#1565c0", "#2e7d32", "#ef6c00", "#6a1b9a", "#00838f", "#ad1457", "#5d4037", "#9e9d24", "#283593", "#d84315"}

type rect struct {
	X, Y, W, H float64
	Fill       string
	Title      string
}

type chart struct {
	W, H   int
	Rects  []rect
	Lines  []polyline
	YLabel string // the top of the scale
	Empty  bool   // no interval sampled yet
}

// add appends r with its coordinates rounded to a tenth of a unit: more
// digits only make the page longer.
func (c *chart) add(r rect) {
	r.X, r.Y, r.W, r.H = round1(r.X), round1(r.Y), round1(r.W), round1(r.H)
	c.Rects = append(c.Rects, r)
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

type polyline struct {
	Points string
	Stroke string
}

type memberView struct {
	MemberStatus
	Colour string
	Pct    string
}

type pageView struct {
	S           Status
	Origin      originBanner
	Refresh     int
	Uptime      string
	Members     []memberView
	RingBar     chart
	Traffic     chart
	Ratio       chart
	OriginChart chart
	CacheBar    chart
	Disks       []diskView
	Window      string
	Colours     map[string]string
}

var statusTemplate = template.Must(template.New("status").Funcs(template.FuncMap{
	"bytes": formatBytes,
	"pct":   formatPct,
	"ago":   func(now, t time.Time) string { return formatAgo(now.Sub(t)) },
	"ratio": func(r *float64) string {
		if r == nil {
			return "–"
		}
		return formatPct(*r)
	},
}).Parse(statusHTML + disksHTML))

// serveStatusPage is GET / on the admin listener.
func (n *Node) serveStatusPage(w http.ResponseWriter, _ *http.Request) {
	var buf bytes.Buffer
	if err := statusTemplate.Execute(&buf, buildPage(n.Status())); err != nil {
		n.log.Error("rendering the status page", "err", err)
		http.Error(w, "rendering the status page failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

// buildPage lays out the page's charts from a Status.
func buildPage(s Status) pageView {
	v := pageView{
		S:       s,
		Refresh: max(5, int(s.SampleSeconds+0.5)),
		Uptime:  formatAgo(s.Time.Sub(s.Started)),
		Window:  formatAgo(time.Duration(float64(statusSamples) * s.SampleSeconds * float64(time.Second))),
		Colours: map[string]string{"hit": colHit, "disk": colDisk, "peer": colPeer, "origin": colOrigin, "error": colError, "ok": colOK, "fill": colFill},
	}
	v.Origin = originHealth(s, v.Window)

	v.RingBar = chart{W: chartW, H: barH}
	x := 0.0
	for i, m := range s.Members {
		c := memberColours[i%len(memberColours)]
		v.Members = append(v.Members, memberView{MemberStatus: m, Colour: c, Pct: formatPct(m.Share)})
		w := m.Share * chartW
		title := m.Addr + ": " + formatPct(m.Share)
		if m.Self {
			title += " (this edge)"
		}
		v.RingBar.add(rect{X: x, Y: 0, W: w, H: barH, Fill: c, Title: title})
		x += w
	}

	v.CacheBar = chart{W: chartW, H: barH}
	v.CacheBar.add(rect{W: min(s.Cache.Fill, 1) * chartW, H: barH, Fill: colFill,
		Title: formatBytes(s.Cache.Bytes) + " of " + formatBytes(s.Cache.Budget)})
	v.Disks = diskViews(s.Disks)

	slot := float64(chartW) / statusSamples
	// Bars are placed from the right edge, so the newest interval is
	// always at "now" whatever the history's length.
	xOf := func(i int) float64 { return float64(chartW) - float64(len(s.History)-i)*slot }

	v.Traffic = stackedBars(s.History, xOf, slot, func(h StatusSample) []barPart {
		return []barPart{{h.HitBytes, colHit, "hit"}, {h.DiskBytes, colDisk, "disk"}, {h.PeerBytes, colPeer, "peer"}, {h.OriginBytes, colOrigin, "origin"}}
	}, formatBytes)

	v.Ratio = chart{W: chartW, H: chartH, Empty: len(s.History) == 0, YLabel: "100%"}
	for _, line := range []struct {
		colour string
		get    func(StatusSample) *float64
	}{{colPeer, func(h StatusSample) *float64 { return h.OffloadRatio }}, {colHit, func(h StatusSample) *float64 { return h.HitRatio }}} {
		var pts []string
		for i, h := range s.History {
			if r := line.get(h); r != nil {
				pts = append(pts, strconv.FormatFloat(xOf(i)+slot/2, 'f', 1, 64)+","+strconv.FormatFloat(chartH-*r*(chartH-4)-2, 'f', 1, 64))
			}
		}
		if len(pts) == 1 {
			pts = append(pts, pts[0]) // a lone point still draws
		}
		v.Ratio.Lines = append(v.Ratio.Lines, polyline{Points: strings.Join(pts, " "), Stroke: line.colour})
	}

	v.OriginChart = stackedBars(s.History, xOf, slot, func(h StatusSample) []barPart {
		return []barPart{{h.OriginRequests, colOK, "answered"}, {h.OriginErrors, colError, "failed"}}
	}, func(n int64) string { return strconv.FormatInt(n, 10) })
	return v
}

// originBanner is the origin's health as the top of the page says it: an
// operator must not have to scroll to learn that the origin is down while
// the edge looks healthy (it stays ready: the cache still serves).
type originBanner struct {
	Class    string // ok, warn, bad or idle: the banner's colour
	Headline string
	Detail   string
}

// originHealth words the origin's health for the banner.
func originHealth(s Status, window string) originBanner {
	o := s.Origin
	lastAnswer := "never answered since this edge started"
	if o.LastSuccessAt != nil {
		lastAnswer = "last answer " + formatAgo(s.Time.Sub(*o.LastSuccessAt)) + " ago"
	}
	lastError := ""
	if o.LastErrorAt != nil {
		lastError = "last error " + formatAgo(s.Time.Sub(*o.LastErrorAt)) + " ago: " + o.LastError
	}
	switch {
	case o.Failing:
		return originBanner{"bad", "Origin failing",
			"Its last request failed (" + lastError + "); " + lastAnswer + ". This edge stays ready and serves what the ring " +
				"holds; requests that need the origin fail with 502 or 504."}
	case o.RecentErrors > 0:
		return originBanner{"warn", fmt.Sprintf("Origin answering, %d failed in the last %s", o.RecentErrors, window),
			strings.ToUpper(lastAnswer[:1]) + lastAnswer[1:] + "; " + lastError + "."}
	case o.LastSuccessAt != nil:
		return originBanner{"ok", "Origin answering", strings.ToUpper(lastAnswer[:1]) + lastAnswer[1:] + "; no failure in the last " + window + "."}
	default:
		return originBanner{"idle", "Origin not asked yet", "This edge has sent the origin no request since it started."}
	}
}

// barPart is one coloured part of an interval's stacked bar.
type barPart struct {
	n      int64
	colour string
	name   string
}

// stackedBars draws a bar per interval of history at xOf(i), slot wide,
// stacked from the parts, scaled to the tallest bar; format prints a
// count for the axis and the titles.
func stackedBars(history []StatusSample, xOf func(int) float64, slot float64, parts func(StatusSample) []barPart, format func(int64) string) chart {
	c := chart{W: chartW, H: chartH, Empty: len(history) == 0}
	var top int64
	for _, h := range history {
		var sum int64
		for _, p := range parts(h) {
			sum += p.n
		}
		top = max(top, sum)
	}
	c.YLabel = format(top) + " per interval"
	for i, h := range history {
		y := float64(chartH)
		for _, p := range parts(h) {
			if p.n == 0 || top == 0 {
				continue
			}
			hh := float64(p.n) / float64(top) * chartH
			y -= hh
			c.add(rect{X: xOf(i) + 0.5, Y: y, W: slot - 1, H: hh, Fill: p.colour,
				Title: fmt.Sprintf("%s: %s (%s)", p.name, format(p.n), h.End.Format(time.TimeOnly))})
		}
	}
	return c
}

// formatBytes prints a byte count in binary units with three digits.
func formatBytes(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "KiB", "MiB", "GiB", "TiB"} {
		if f < 1024 || u == "TiB" {
			if u == "B" {
				return strconv.FormatInt(n, 10) + " B"
			}
			return strconv.FormatFloat(f, 'f', 1, 64) + " " + u
		}
		f /= 1024
	}
	return strconv.FormatInt(n, 10) + " B"
}

func formatPct(r float64) string { return strconv.FormatFloat(r*100, 'f', 1, 64) + "%" }

// formatAgo prints a duration the way people read uptimes: 42s, 5m10s,
// 3h05m, 2d04h.
func formatAgo(d time.Duration) string {
	d = max(d, 0).Round(time.Second)
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	default:
		return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
	}
}

const statusHTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="{{.Refresh}}">
<title>edgecache {{with .S.Name}}{{.}} · {{end}}{{.S.Node}}</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; margin: 1.5em auto; max-width: 960px; padding: 0 1em; color: #212121; background: #fafafa; }
h1 { font-size: 1.4em; margin: 0 0 .2em; }
h2 { font-size: 1.1em; margin: 1.6em 0 .4em; border-bottom: 1px solid #ddd; }
.sub { color: #616161; }
.ok { color: #2e7d32; font-weight: 600; }
.bad { color: #c62828; font-weight: 600; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .25em .6em; border-bottom: 1px solid #eee; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.self td { background: #e3f2fd; font-weight: 600; }
.sw { display: inline-block; width: .9em; height: .9em; vertical-align: -.1em; margin-right: .3em; border-radius: 2px; }
svg { width: 100%; height: auto; display: block; background: #fff; border: 1px solid #e0e0e0; }
.legend span { margin-right: 1.2em; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: .5em 1.5em; margin: .5em 0; }
.grid div b { display: block; font-size: 1.25em; }
code { background: #eee; padding: 0 .25em; }
footer { margin-top: 2em; color: #757575; }
.banner { margin: .8em 0 0; padding: .5em .8em; border-radius: 4px; border-left: 6px solid; }
.banner b { margin-right: .5em; }
.banner.ok { background: #e8f5e9; border-color: #2e7d32; }
.banner.warn { background: #fff8e1; border-color: #f9a825; }
.banner.bad { background: #ffebee; border-color: #c62828; }
.banner.idle { background: #eceff1; border-color: #78909c; }
</style>
</head>
<body>
<h1>edgecache edge {{with .S.Name}}{{.}} {{end}}<code>{{.S.Node}}</code></h1>
<div class="sub">{{if .S.Ready}}<span class="ok">ready</span>{{else}}<span class="bad">not ready</span>{{end}}
 · up {{.Uptime}} · {{len .S.Members}} ring members · origin <code>{{.S.Origin.URL}}</code> · {{.S.Time.UTC.Format "2006-01-02 15:04:05 UTC"}}</div>
<div class="banner {{.Origin.Class}}" id="origin-health"><b>{{.Origin.Headline}}</b>{{.Origin.Detail}} <a href="#origin">details</a></div>

<h2>Ring</h2>
<svg viewBox="0 0 {{.RingBar.W}} {{.RingBar.H}}" role="img" aria-label="share of keys led by each member">
{{range .RingBar.Rects}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Fill}}" stroke="#fff" stroke-width="1"><title>{{.Title}}</title></rect>
{{end}}</svg>
<table>
<tr><th>member</th><th>health</th><th class="num">share of keys</th></tr>
{{range .Members}}<tr{{if .Self}} class="self"{{end}}><td><span class="sw" style="background: {{.Colour}}"></span><code>{{.Addr}}</code>{{if .Self}} (this edge){{end}}</td>
<td>{{if .Suspect}}<span class="bad">suspect</span>{{else}}<span class="ok">ok</span>{{end}}</td><td class="num">{{.Pct}}</td></tr>
{{end}}</table>

<h2>Traffic (last {{.Window}}, one bar per {{.S.SampleSeconds}} s)</h2>
<div class="grid">
<div>requests<b>{{.S.Totals.Requests}}</b></div>
<div>hit ratio<b>{{ratio .S.Totals.HitRatio}}</b></div>
<div>offload (hit + peer)<b>{{ratio .S.Totals.OffloadRatio}}</b></div>
<div>from memory<b>{{bytes .S.Totals.HitBytes}}</b></div>
<div>from disk<b>{{bytes .S.Totals.DiskBytes}}</b></div>
<div>from peers<b>{{bytes .S.Totals.PeerBytes}}</b></div>
<div>from origin<b>{{bytes .S.Totals.OriginBytes}}</b></div>
</div>
<div class="legend"><span><span class="sw" style="background: {{index .Colours "hit"}}"></span>hit</span><span><span class="sw" style="background: {{index .Colours "disk"}}"></span>disk</span><span><span class="sw" style="background: {{index .Colours "peer"}}"></span>peer</span><span><span class="sw" style="background: {{index .Colours "origin"}}"></span>origin</span> · bytes sent, since start totals above</div>
{{template "chart" .Traffic}}
<div class="legend"><span><span class="sw" style="background: {{index .Colours "peer"}}"></span>offload ratio</span><span><span class="sw" style="background: {{index .Colours "hit"}}"></span>hit ratio</span></div>
{{template "chart" .Ratio}}

<h2>Cache</h2>
<div class="grid">
<div>used<b>{{bytes .S.Cache.Bytes}}</b></div>
<div>budget<b>{{bytes .S.Cache.Budget}}</b></div>
<div>fill<b>{{pct .S.Cache.Fill}}</b></div>
<div>chunks and shards<b>{{.S.Cache.Entries}}</b></div>
<div>evictions<b>{{.S.Cache.Evictions}}</b></div>
<div>objects<b>{{.S.Cache.Objects}} / {{.S.Cache.ObjectsMax}}</b></div>
</div>
<svg viewBox="0 0 {{.CacheBar.W}} {{.CacheBar.H}}" role="img" aria-label="cache fill against budget">
{{range .CacheBar.Rects}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Fill}}"><title>{{.Title}}</title></rect>{{end}}
</svg>
{{template "disks" .}}

<h2 id="origin">Origin</h2>
<div class="grid">
<div>answered (recent)<b>{{.S.Origin.RecentRequests}}</b></div>
<div>failed (recent)<b{{if .S.Origin.RecentErrors}} class="bad"{{end}}>{{.S.Origin.RecentErrors}}</b></div>
<div>answered (since start)<b>{{.S.Origin.Requests}}</b></div>
<div>failed (since start)<b>{{.S.Origin.Errors}}</b></div>
<div>last answer<b>{{with .S.Origin.LastSuccessAt}}{{ago $.S.Time .}} ago{{else}}never{{end}}</b></div>
<div>purges<b>{{.S.Purges.Count}}</b></div>
</div>
<p>{{with .S.Origin.LastErrorAt}}Last error {{ago $.S.Time .}} ago ({{.UTC.Format "15:04:05 UTC"}}): <code>{{$.S.Origin.LastError}}</code>{{else}}No origin error since start.{{end}}</p>
<div class="legend"><span><span class="sw" style="background: {{index .Colours "ok"}}"></span>answered</span><span><span class="sw" style="background: {{index .Colours "error"}}"></span>failed</span></div>
{{template "chart" .OriginChart}}

<footer>The same data as JSON: <a href="/status.json">/status.json</a> · <a href="/metrics">/metrics</a> · <a href="/stats">/stats</a> · <a href="/readyz">/readyz</a> · <a href="/debug/pprof/">/debug/pprof/</a></footer>
</body>
</html>
{{define "chart"}}<svg viewBox="0 0 {{.W}} {{.H}}" role="img">
<line x1="0" y1="{{.H}}" x2="{{.W}}" y2="{{.H}}" stroke="#bdbdbd"/>
{{range .Rects}}<rect x="{{.X}}" y="{{.Y}}" width="{{.W}}" height="{{.H}}" fill="{{.Fill}}"><title>{{.Title}}</title></rect>
{{end}}{{range .Lines}}{{if .Points}}<polyline points="{{.Points}}" fill="none" stroke="{{.Stroke}}" stroke-width="2" stroke-linecap="round"/>{{end}}
{{end}}{{if .Empty}}<text x="{{.W}}" y="60" dx="-300" text-anchor="middle" fill="#9e9e9e" font-size="14">collecting the first interval…</text>{{else}}<text x="4" y="12" fill="#757575" font-size="10">{{.YLabel}}</text>{{end}}
</svg>{{end}}`
