package chaos

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"time"
)

// DefaultLogsMax is how many bytes of log lines a [Logs] keeps in memory
// when its Max is zero; older lines are dropped first.
const DefaultLogsMax = 64 << 20

// Logs collects the children's output and the harness's own lines, each
// line stamped with the wall-clock time and prefixed with who wrote it
// ("edge-1 | …", "chaos | …"), so a failure can be read against the
// faults injected. It is safe for concurrent use.
type Logs struct {
	// Max bounds the bytes kept in memory. Zero means [DefaultLogsMax].
	Max int
	// Tee, if not nil, also receives every line (a log file, say); a
	// failing write is ignored.
	Tee io.Writer

	mu      sync.Mutex
	buf     []byte
	dropped int
}

// Logf writes one line as who.
func (l *Logs) Logf(who, format string, args ...any) {
	l.line(who, []byte(fmt.Sprintf(format, args...)))
}

func (l *Logs) line(who string, b []byte) {
	out := make([]byte, 0, 16+len(who)+3+len(b)+1)
	out = time.Now().AppendFormat(out, "15:04:05.000")
	out = append(out, ' ')
	out = append(out, who...)
	out = append(out, " | "...)
	out = append(out, b...)
	out = append(out, '\n')
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.Tee != nil {
		_, _ = l.Tee.Write(out)
	}
	l.buf = append(l.buf, out...)
	limit := l.Max
	if limit <= 0 {
		limit = DefaultLogsMax
	}
	if len(l.buf) > limit {
		// Drop the oldest half, at a line boundary.
		cut := len(l.buf) / 2
		if i := bytes.IndexByte(l.buf[cut:], '\n'); i >= 0 {
			cut += i + 1
		}
		l.dropped += cut
		l.buf = append(l.buf[:0], l.buf[cut:]...)
	}
}

// String returns every line kept.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := string(l.buf)
	if l.dropped > 0 {
		s = fmt.Sprintf("(%d bytes of older lines dropped)\n", l.dropped) + s
	}
	return s
}

// Tail returns about the last n bytes of lines.
func (l *Logs) Tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buf[max(0, len(l.buf)-n):]
	if i := bytes.IndexByte(b, '\n'); i >= 0 && len(b) < len(l.buf) {
		b = b[i+1:]
	}
	return string(b)
}

// lineWriter turns a child's output into [Logs] lines. The exec package
// copies stdout and stderr from one goroutine each; lineWriter locks, as
// both may share one.
type lineWriter struct {
	who  string
	logs *Logs

	mu  sync.Mutex
	buf []byte
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.logs.line(w.who, w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	return len(p), nil
}

// flush writes a last line that had no newline.
func (w *lineWriter) flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.logs.line(w.who, w.buf)
		w.buf = nil
	}
}
