package testenv

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// proxyDialTimeout bounds the proxy's dial of its target, so a target
// that drops SYNs cannot hold a connection (and Close) for the kernel's
// minutes-long default.
const proxyDialTimeout = 5 * time.Second

// Proxy is a TCP proxy on a loopback port for link-cut tests: a client
// dials [Proxy.Addr] instead of the server, and the test cuts and
// restores the link between them. All its methods are safe for
// concurrent use, and every goroutine it starts has ended by the time
// [Proxy.Close] returns.
type Proxy struct {
	addr     string
	refuse   bool          // a cut closes the listener rather than accepting and closing
	done     chan struct{} // closed by Close
	wg       sync.WaitGroup
	accepted atomic.Int64

	mu     sync.Mutex
	ln     net.Listener // nil while a refusing proxy is cut
	target string
	cut    bool
	gen    uint64 // counts Cut and Restore calls, so a CutFor timer never undoes a later one
	conns  map[*proxyConn]struct{}
	closed bool
}

// proxyConn is one forwarded connection: the client's side and, once the
// dial has succeeded, the target's.
type proxyConn struct {
	client  net.Conn
	up      net.Conn
	cancel  context.CancelFunc // aborts the dial of the target
	dropped bool
}

// StartProxy starts a proxy on 127.0.0.1 and a random port that forwards
// each connection to target (host:port).
func StartProxy(target string) (*Proxy, error) {
	return startProxy("127.0.0.1:0", target, false)
}

// RunProxy starts a proxy to target for a test and closes it on cleanup.
func RunProxy(tb testing.TB, target string) *Proxy {
	tb.Helper()
	p, err := StartProxy(target)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(p.Close)
	return p
}

// startProxy starts a proxy on addr. With refuse set, a cut closes the
// listener so that clients get "connection refused", as from a server
// that died; the restore then listens on the same port again, which can
// fail, so only [Mongo] uses it.
func startProxy(addr, target string, refuse bool) (*Proxy, error) {
	l, err := listenRetry(addr)
	if err != nil {
		return nil, fmt.Errorf("testenv: proxy: %w", err)
	}
	p := &Proxy{
		addr:   l.Addr().String(),
		refuse: refuse,
		done:   make(chan struct{}),
		ln:     l,
		target: target,
		conns:  make(map[*proxyConn]struct{}),
	}
	p.wg.Add(1)
	go p.acceptLoop(l)
	return p, nil
}

// Addr is the host:port clients dial instead of the target. It stays the
// same for the proxy's life.
func (p *Proxy) Addr() string { return p.addr }

// Accepted is the number of connections the proxy has accepted and
// forwarded; connections it turned away while cut do not count. Tests
// use it to check that a client came back through the proxy after a
// cut.
func (p *Proxy) Accepted() int { return int(p.accepted.Load()) }

// Active is the number of forwarded connections open now.
func (p *Proxy) Active() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

// SetTarget points connections accepted from now on at addr; open ones
// keep their target.
func (p *Proxy) SetTarget(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = addr
}

// Cut drops every open connection at once, with a TCP reset on both
// sides so that neither peer sees an orderly close, and turns new
// connections away (accepted and reset at once) until [Proxy.Restore].
func (p *Proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutLocked()
}

// CutFor cuts the link as [Proxy.Cut] does and restores it d later,
// without blocking. A Cut or Restore call in the meantime cancels the
// pending restore, and so does Close.
func (p *Proxy) CutFor(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	gen := p.cutLocked()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			p.mu.Lock()
			defer p.mu.Unlock()
			if p.gen == gen {
				_ = p.restoreLocked()
			}
		case <-p.done:
		}
	}()
}

// Restore lets connections through again after a cut. Connections the
// cut dropped stay dropped; clients have to dial again.
func (p *Proxy) Restore() { _ = p.restore() }

// restore is Restore with the error a refusing proxy can meet.
func (p *Proxy) restore() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.restoreLocked()
}

// Close stops the proxy: it closes the listener and every connection and
// returns once all of the proxy's goroutines have ended. Calling it again
// does nothing.
func (p *Proxy) Close() {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
		if p.ln != nil {
			_ = p.ln.Close()
			p.ln = nil
		}
		p.dropLocked()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// cutLocked cuts the link and returns the new generation.
func (p *Proxy) cutLocked() uint64 {
	p.gen++
	p.cut = true
	if p.refuse && p.ln != nil {
		_ = p.ln.Close()
		p.ln = nil
	}
	p.dropLocked()
	return p.gen
}

// restoreLocked ends a cut. Only a refusing proxy can fail, when its port
// cannot be listened on again; it stays cut then.
func (p *Proxy) restoreLocked() error {
	p.gen++
	if p.closed || !p.cut {
		return nil
	}
	if p.refuse {
		// Under the lock: a concurrent Restore must not race for the
		// port, and nothing else needs the lock while the link is down.
		l, err := listenRetry(p.addr)
		if err != nil {
			return fmt.Errorf("testenv: proxy: %w", err)
		}
		p.ln = l
		p.wg.Add(1)
		go p.acceptLoop(l)
	}
	p.cut = false
	return nil
}

// dropLocked resets every open connection and forgets it; the goroutines
// serving them notice and end.
func (p *Proxy) dropLocked() {
	for pc := range p.conns {
		pc.dropped = true
		pc.cancel()
		reset(pc.client)
		if pc.up != nil {
			reset(pc.up)
		}
		delete(p.conns, pc)
	}
}

// acceptLoop accepts on l until l is closed, by Close or by a cut of a
// refusing proxy.
func (p *Proxy) acceptLoop(l net.Listener) {
	defer p.wg.Done()
	for {
		c, err := l.Accept()
		if errors.Is(err, net.ErrClosed) {
			return
		}
		if err != nil {
			// Out of descriptors or similar: back off rather than spin.
			select {
			case <-p.done:
				return
			case <-time.After(10 * time.Millisecond):
			}
			continue
		}
		p.mu.Lock()
		if p.closed || p.cut {
			p.mu.Unlock()
			reset(c)
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		pc := &proxyConn{client: c, cancel: cancel}
		p.conns[pc] = struct{}{}
		target := p.target
		p.wg.Add(1)
		p.mu.Unlock()
		p.accepted.Add(1)
		go p.serve(ctx, pc, target)
	}
}

// serve dials target for pc and copies between the two until both
// directions are done or the connection is dropped.
func (p *Proxy) serve(ctx context.Context, pc *proxyConn, target string) {
	defer p.wg.Done()
	defer pc.cancel()
	d := net.Dialer{Timeout: proxyDialTimeout}
	up, err := d.DialContext(ctx, "tcp", target)
	p.mu.Lock()
	if err != nil || pc.dropped {
		if err == nil {
			reset(up)
		}
		if !pc.dropped {
			// The target is down: the client sees what it would
			// have seen without the proxy, a connection that fails.
			delete(p.conns, pc)
			reset(pc.client)
		}
		p.mu.Unlock()
		return
	}
	pc.up = up
	p.mu.Unlock()

	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		copyHalf(up, pc.client)
	}()
	copyHalf(pc.client, up)
	wg.Wait()

	p.mu.Lock()
	delete(p.conns, pc)
	p.mu.Unlock()
	_ = pc.client.Close()
	_ = up.Close()
}

// copyHalf copies src to dst. At the end of src it passes the half-close
// on, so the far end sees what it would see without the proxy; on an
// error it closes both, so that the other direction ends too.
func copyHalf(dst, src net.Conn) {
	if _, err := io.Copy(dst, src); err == nil {
		if tc, ok := dst.(*net.TCPConn); ok && tc.CloseWrite() == nil {
			return
		}
	}
	_ = src.Close()
	_ = dst.Close()
}

// reset closes c with a TCP reset rather than an orderly close, as a
// peer that vanished would.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}
