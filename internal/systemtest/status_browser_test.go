package systemtest

import (
	"bytes"
	"context"
	"image/png"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/edgecache/edgecache/edge"
	"github.com/edgecache/edgecache/internal/localcluster"
	"github.com/edgecache/edgecache/internal/localcluster/clustertest"
	"github.com/edgecache/edgecache/internal/testutil"
	"github.com/edgecache/edgecache/origin"
)

// The status page renders in a real browser, without JavaScript, into a
// picture that is not blank: the ring bar's member colours and the charts
// are drawn. It lives here, not in edge, so that `go test ./edge/` does
// not wait for a browser.
func TestStatusPageInChromium(t *testing.T) {
	chromium := requireTool(t, "chromium", "chromium-browser", "google-chrome")
	diskDir := t.TempDir() // the first edge's disk tier, which its page shows
	nodes := clustertest.Start(t, localcluster.Config{
		Edges:  3,
		Origin: origin.ServerConfig{Synthetic: true},
		Edge: func(i int, cfg *edge.Config) {
			cfg.CacheSize, cfg.ChunkSize = 32<<20, 64<<10
			if i == 0 {
				cfg.DiskPaths, cfg.DiskSize = []string{diskDir}, 16<<20
			}
		},
	}).Nodes()
	path := origin.SyntheticPath(256<<10, "browser.mp4")
	for _, n := range nodes {
		testutil.Get(t, "http://"+n.Addr()+path, "")
	}
	testutil.WaitUntil(t, "traffic in the status history", func() bool {
		for _, h := range nodes[0].Status().History {
			if h.HitBytes+h.PeerBytes+h.OriginBytes > 0 {
				return true
			}
		}
		return false
	})

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,                                     // tests run as root in containers
		chromedp.Flag("blink-settings", "scriptEnabled=false"), // the page must not need scripts
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1100, 900),
	)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()

	if err := chromedp.Do(bctx, chromedp.Navigate("http://"+nodes[0].AdminAddr()+"/"), chromedp.WaitVisible(chromedp.CSS("footer"))); err != nil {
		t.Fatalf("loading the status page in %s: %v", chromium, err)
	}
	text, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		if !strings.Contains(text, n.Advertise()) {
			t.Errorf("the rendered page does not show member %s", n.Advertise())
		}
	}
	for _, want := range []string{"Disks", diskDir, "disk hits", "read p50 / p99"} {
		if !strings.Contains(text, want) {
			t.Errorf("the rendered page does not show %q of the disk tier", want)
		}
	}
	if !strings.Contains(text, "edgecache edge edge 1 "+nodes[0].Advertise()) {
		t.Errorf("the rendered page does not name its edge:\n%.300s", text)
	}
	// The origin's health is the first thing on the screen, above the ring.
	bannerBox, err := chromedp.Run(bctx, chromedp.Dimensions(chromedp.CSS("#origin-health")))
	if err != nil {
		t.Fatal(err)
	}
	ringBox, err := chromedp.Run(bctx, chromedp.Dimensions(chromedp.CSS("h2")))
	if err != nil {
		t.Fatal(err)
	}
	if top := bannerBox.Content[1]; top > 200 || top > ringBox.Content[1] {
		t.Errorf("the origin's health is drawn %v px down, the first section at %v: it must be at the top", top, ringBox.Content[1])
	}

	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("the screenshot is not a PNG: %v", err)
	}
	b := img.Bounds()
	if b.Dx() < 800 || b.Dy() < 900 {
		t.Fatalf("screenshot of %dx%d: the page is too small to hold its sections", b.Dx(), b.Dy())
	}
	colours := map[uint32]int{}
	plain := 0 // white and the page's near-white background
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if r>>8 >= 0xf0 && g>>8 >= 0xf0 && bl>>8 >= 0xf0 {
				plain++
				continue
			}
			colours[(r>>8)<<16|(g>>8)<<8|bl>>8]++
		}
	}
	total := b.Dx() * b.Dy()
	if inked := total - plain; inked < total/50 {
		t.Errorf("only %d of %d pixels are not background: the page looks blank", inked, total)
	}
	// The three members' colours in the ring bar, each a solid block.
	for _, want := range []uint32{0x1565c0, 0x2e7d32, 0xef6c00} {
		if colours[want] < 200 {
			t.Errorf("colour #%06x covers %d pixels; the ring bar or the charts did not render", want, colours[want])
		}
	}
	if len(colours) < 16 {
		t.Errorf("the screenshot has %d distinct colours: too few for text and charts", len(colours))
	}
}
