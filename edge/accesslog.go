package edge

import (
	"bytes"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"
)

// Sizes of the access log's buffer. A request only appends its line to
// memory; the log's own goroutine writes the lines out, in one write per
// flush, so a slow disk or a blocked pipe never holds a response.
const (
	// accessLogFlushAt wakes the writer before its period is up, so that a
	// busy edge writes in blocks of about this size.
	accessLogFlushAt = 64 << 10
	// accessLogMaxPending bounds the lines waiting for a writer that has
	// fallen behind (about 16,000 lines): beyond it lines are dropped and
	// counted, because a CDN must not slow its players down for its logs.
	accessLogMaxPending = 4 << 20
)

// accessLog writes one JSON line per client request (the format is in the
// README, "Access log"). Requests append complete lines to pending under a
// short lock; run swaps pending out and writes it every period, when it
// passes accessLogFlushAt, and once more at close.
type accessLog struct {
	w      io.Writer
	period time.Duration
	log    *slog.Logger
	lines  sync.Pool // *accessLine, so that building a line allocates nothing

	mu      sync.Mutex
	pending []byte // complete lines waiting to be written; guarded by mu

	writeMu sync.Mutex // serialises writes to w
	spare   []byte     // the buffer being written; guarded by writeMu
	failing bool       // the last write failed; guarded by writeMu

	kick     chan struct{} // wakes run early; capacity 1
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}
	dropped  atomic.Int64 // lines lost: buffer full or a failed write
}

// accessLine is one line being built: begun when a response's headers are
// ready, ended when its body is.
type accessLine struct{ b []byte }

// newAccessLog starts a log writing to w every period until close.
func newAccessLog(w io.Writer, period time.Duration, log *slog.Logger) *accessLog {
	l := &accessLog{
		w:       w,
		period:  period,
		log:     log,
		pending: make([]byte, 0, 2*accessLogFlushAt),
		spare:   make([]byte, 0, 2*accessLogFlushAt),
		kick:    make(chan struct{}, 1),
		stop:    make(chan struct{}),
		done:    make(chan struct{}),
	}
	l.lines.New = func() any { return &accessLine{b: make([]byte, 0, 512)} }
	go l.run()
	return l
}

func (l *accessLog) run() {
	defer close(l.done)
	t := time.NewTicker(l.period)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-l.kick:
		case <-l.stop:
			l.flush()
			return
		}
		l.flush()
	}
}

// close stops the writer after a last flush of every line written so far,
// waiting for that at most wait: a stalled writer (a pipe nobody reads)
// must not keep the node from stopping. Lines of responses that end later
// are lost.
func (l *accessLog) close(wait time.Duration) {
	l.stopOnce.Do(func() { close(l.stop) })
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-l.done:
	case <-t.C:
		l.log.Error("access log: the last lines were not written in time", "waited", wait)
	}
}

// flush writes the pending lines out, outside the lock requests take.
func (l *accessLog) flush() {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	l.mu.Lock()
	l.pending, l.spare = l.spare[:0], l.pending
	l.mu.Unlock()
	if len(l.spare) == 0 {
		return
	}
	_, err := l.w.Write(l.spare)
	switch {
	case err != nil:
		l.dropped.Add(int64(bytes.Count(l.spare, []byte{'\n'})))
		if !l.failing {
			l.log.Error("access log write failed; dropping lines until it works again", "err", err)
		}
		l.failing = true
	case l.failing:
		l.log.Info("access log writes work again", "dropped_total", l.dropped.Load())
		l.failing = false
	}
	l.spare = l.spare[:0]
}

// write queues one complete line.
func (l *accessLog) write(line []byte) {
	l.mu.Lock()
	if len(l.pending)+len(line) > accessLogMaxPending {
		l.mu.Unlock()
		l.dropped.Add(1)
		return
	}
	l.pending = append(l.pending, line...)
	wake := len(l.pending) >= accessLogFlushAt
	l.mu.Unlock()
	if wake {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// begin starts the line of a request whose headers are ready, with what
// only the request can say: it is not kept after the handler returns.
func (l *accessLog) begin(ctx *fasthttp.RequestCtx, x *exchange) *accessLine {
	line := l.lines.Get().(*accessLine)
	b := append(line.b[:0], `{"time":"`...)
	b = x.start.UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, `","remote":"`...)
	b = appendRemote(b, ctx.RemoteAddr())
	b = append(b, `","method":"`...)
	b = appendJSONString(b, ctx.Method())
	b = append(b, `","uri":"`...)
	b = appendJSONString(b, ctx.RequestURI())
	b = append(b, `","range":"`...)
	b = appendJSONString(b, ctx.Request.Header.Peek("Range"))
	b = append(b, `","user_agent":"`...)
	b = appendJSONString(b, ctx.Request.Header.UserAgent())
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(x.status), 10)
	b = append(b, `,"cache":"`...)
	b = append(b, x.cache.String()...)
	b = append(b, '"')
	line.b = b
	return line
}

// end completes a line with what is known once the body is sent, queues
// it and recycles the line.
func (l *accessLog) end(line *accessLine, sent int64, ttfb, took time.Duration, complete bool) {
	b := append(line.b, `,"bytes":`...)
	b = strconv.AppendInt(b, sent, 10)
	b = append(b, `,"ttfb_s":`...)
	b = strconv.AppendFloat(b, ttfb.Seconds(), 'f', 6, 64)
	b = append(b, `,"duration_s":`...)
	b = strconv.AppendFloat(b, took.Seconds(), 'f', 6, 64)
	b = append(b, `,"complete":`...)
	b = strconv.AppendBool(b, complete)
	b = append(b, "}\n"...)
	l.write(b)
	line.b = b[:0]
	l.lines.Put(line)
}

// appendRemote appends a client's address as ip:port, an IPv4 client of a
// dual-stack listener as plain IPv4, without allocating.
func appendRemote(b []byte, a net.Addr) []byte {
	if ta, ok := a.(*net.TCPAddr); ok {
		ap := ta.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).AppendTo(b)
	}
	return appendJSONString(b, []byte(a.String()))
}

// appendJSONString appends s as the inside of a JSON string: quotes,
// backslashes and control bytes escaped, and bytes that are not UTF-8
// replaced by U+FFFD, so that any request (a URI, a User-Agent) makes a
// valid line.
func appendJSONString(b, s []byte) []byte {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20 || c == 0x7f:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return b
}
