package bench

import (
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// The HTML report is one self-contained page: no scripts, no fonts, no
// external assets, charts drawn as inline SVG computed here, so that it can
// be mailed, archived and opened years later, and read without JavaScript.
// Each point carries an SVG <title>, which browsers show on hover.

//go:embed report.html.tmpl
var htmlTemplate string

var pageTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct":        func(v float64) string { return fmt.Sprintf("%.1f%%", 100*v) },
	"f2":         func(v float64) string { return fmt.Sprintf("%.2f", v) },
	"f3":         func(v float64) string { return fmt.Sprintf("%.3f", v) },
	"bytes":      bytesStr,
	"errs":       errorsRow,
	"src":        sourceRow,
	"tiers":      tiersRow,
	"workingSet": workingSetRow,
	"num":        num,
	"add":        func(a, b int) int { return a + b },
	"sub":        func(a, b int) int { return a - b },
	"half":       func(a int) int { return a / 2 },
}).Parse(htmlTemplate))

// WriteHTML writes the report as one self-contained HTML page with charts
// of throughput over time and of the latency distribution.
func (r *Report) WriteHTML(w io.Writer) error {
	return pageTmpl.Execute(w, htmlPage{
		Report:      r,
		Description: r.Config.describe(),
		Throughput:  throughputChart(r.Runs),
		Latency:     latencyChart(r.Runs),
		Compare:     compareRows(r.Runs),
	})
}

type htmlPage struct {
	*Report
	Description string
	Throughput  chart
	Latency     chart
	Compare     *compareTable
}

// chart is an SVG line chart, laid out in Go so the template only prints.
type chart struct {
	Title, XLabel, YLabel string
	Width, Height         int
	// The plot area inside the margins.
	Left, Top, Right, Bottom int
	XTicks, YTicks           []tick
	Series                   []series
	Markers                  []marker
}

type tick struct {
	Pos   float64
	Label string
}

type series struct {
	Name   string
	Color  string
	Dashed bool
	Points string // for <polyline points>
	Dots   []dot
}

type dot struct {
	X, Y  float64
	Title string
}

type marker struct {
	X     float64
	Label string
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// newChart lays out a chart of 760 x 320 pixels. The plot area leaves 40
// pixels on the right, so that the label of the last x tick, centred on
// the plot's edge ("99.999%" on the latency chart), is not cut.
func newChart(title, xl, yl string) chart {
	return chart{Title: title, XLabel: xl, YLabel: yl, Width: 760, Height: 320, Left: 64, Top: 30, Right: 720, Bottom: 270}
}

func (c *chart) x(v, max float64) float64 {
	return float64(c.Left) + v/max*float64(c.Right-c.Left)
}

func (c *chart) y(v, max float64) float64 {
	return float64(c.Bottom) - v/max*float64(c.Bottom-c.Top)
}

// niceMax rounds v up to 1, 2 or 5 times a power of ten, for round ticks.
func niceMax(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if v <= m*p {
			return m * p
		}
	}
	return 10 * p
}

func (c *chart) yTicks(max float64) {
	for i := 0; i <= 4; i++ {
		v := max * float64(i) / 4
		c.YTicks = append(c.YTicks, tick{Pos: c.y(v, max), Label: num(v)})
	}
}

// throughputChart plots each run's per-second throughput, and its origin
// egress when known, with the faults marked.
func throughputChart(runs []*Result) chart {
	c := newChart("Throughput over time", "seconds since measurement began", "Gbit/s")
	var maxT, maxV float64
	for _, r := range runs {
		for _, s := range r.Timeseries {
			maxT = math.Max(maxT, s.AtS)
			maxV = math.Max(maxV, math.Max(s.Gbps(), s.originGbps()))
		}
	}
	maxT, maxV = math.Max(maxT, 1), niceMax(maxV)
	for i, r := range runs {
		color := palette[i%len(palette)]
		served := series{Name: runName(r, "served"), Color: color}
		egress := series{Name: runName(r, "origin egress"), Color: color, Dashed: true}
		var sp, ep []string
		for _, s := range r.Timeseries {
			x, y := c.x(s.AtS, maxT), c.y(s.Gbps(), maxV)
			sp = append(sp, fmt.Sprintf("%.1f,%.1f", x, y))
			served.Dots = append(served.Dots, dot{X: x, Y: y, Title: fmt.Sprintf("%s at %.0fs: %.3f Gbit/s, %d requests, %d errors", r.label(), s.AtS, s.Gbps(), s.Requests, s.Errors)})
			if s.OriginBytes != nil {
				ep = append(ep, fmt.Sprintf("%.1f,%.1f", x, c.y(s.originGbps(), maxV)))
			}
		}
		served.Points = strings.Join(sp, " ")
		c.Series = append(c.Series, served)
		if len(ep) > 0 {
			egress.Points = strings.Join(ep, " ")
			c.Series = append(c.Series, egress)
		}
		for _, f := range r.Faults {
			c.Markers = append(c.Markers, marker{X: c.x(f.AtS, maxT), Label: f.Name})
		}
	}
	for i := 0; i <= 5; i++ {
		v := maxT * float64(i) / 5
		c.XTicks = append(c.XTicks, tick{Pos: c.x(v, maxT), Label: fmt.Sprintf("%.0f", v)})
	}
	c.yTicks(maxV)
	return c
}

// latencyChart plots latency against percentile on the usual HDR scale,
// where 90%, 99%, 99.9%... are evenly spaced, so the tail is visible.
func latencyChart(runs []*Result) chart {
	c := newChart("Latency distribution", "percentile", "latency ms")
	const maxNines = 5 // 99.999%
	pos := func(p float64) float64 {
		if p >= 100 {
			return maxNines
		}
		return math.Min(-math.Log10(1-p/100), maxNines)
	}
	var maxV float64
	for _, r := range runs {
		for _, q := range r.LatencyDistribution {
			maxV = math.Max(maxV, q.LatencyMs)
		}
	}
	maxV = niceMax(maxV)
	for i, r := range runs {
		s := series{Name: runName(r, "latency"), Color: palette[i%len(palette)]}
		var pts []string
		for _, q := range r.LatencyDistribution {
			x, y := c.x(pos(q.Percentile), maxNines), c.y(q.LatencyMs, maxV)
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x, y))
			s.Dots = append(s.Dots, dot{X: x, Y: y, Title: fmt.Sprintf("%s p%g: %.2f ms", r.label(), q.Percentile, q.LatencyMs)})
		}
		s.Points = strings.Join(pts, " ")
		c.Series = append(c.Series, s)
	}
	for i, l := range []string{"0%", "90%", "99%", "99.9%", "99.99%", "99.999%"} {
		c.XTicks = append(c.XTicks, tick{Pos: c.x(float64(i), maxNines), Label: l})
	}
	c.yTicks(maxV)
	return c
}

func runName(r *Result, what string) string {
	if r.Name == "" {
		return what
	}
	return r.Name + " " + what
}

// compareTable is the side-by-side table of a comparison.
type compareTable struct {
	Names  []string
	Ratios []string
	Rows   []compareRow
}

type compareRow struct {
	Metric, Unit  string
	Values, Ratio []string
}

func compareRows(runs []*Result) *compareTable {
	if len(runs) < 2 {
		return nil
	}
	t := &compareTable{}
	for _, r := range runs {
		t.Names = append(t.Names, r.Name)
	}
	for _, r := range runs[1:] {
		t.Ratios = append(t.Ratios, r.Name+"/"+runs[0].Name)
	}
	for _, m := range compareMetrics {
		row := compareRow{Metric: m.name, Unit: m.unit}
		base, baseOK := m.get(runs[0])
		for _, r := range runs {
			if v, ok := m.get(r); ok {
				row.Values = append(row.Values, num(v))
			} else {
				row.Values = append(row.Values, "-")
			}
		}
		for _, r := range runs[1:] {
			if v, ok := m.get(r); ok && baseOK && base != 0 {
				row.Ratio = append(row.Ratio, fmt.Sprintf("%.2fx", v/base))
			} else {
				row.Ratio = append(row.Ratio, "-")
			}
		}
		t.Rows = append(t.Rows, row)
	}
	return t
}
