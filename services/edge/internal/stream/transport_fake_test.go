package stream

import (
	"errors"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// fakeTransport is a [Transport] that records what the hub wrote and the
// reason it closed with, for the hub's unit tests (STYLE rule 9).
type fakeTransport struct {
	// stall makes WriteText block (as a client that stopped reading
	// would) until the write timeout below.
	stall        bool
	writeTimeout time.Duration

	peer   chan error    // the client "sends" a read error: disconnect
	closed chan struct{} // closed by Close

	mu      sync.Mutex
	written [][]byte
	reason  Disconnect
	closes  int
}

func newFakeTransport(stall bool) *fakeTransport {
	return &fakeTransport{
		stall:        stall,
		writeTimeout: 20 * time.Millisecond,
		peer:         make(chan error, 1),
		closed:       make(chan struct{}),
	}
}

var errFakeTimeout = errors.New("fake: write timeout")

func (f *fakeTransport) WriteText(msgs [][]byte) error {
	if f.stall {
		t := time.NewTimer(f.writeTimeout)
		defer t.Stop()
		<-t.C
		return errFakeTimeout
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closes > 0 {
		panic("fake: write after close")
	}
	f.written = append(f.written, msgs...)
	return nil
}

func (f *fakeTransport) WriteControl(int, []byte) error { return nil }

func (f *fakeTransport) ReadFrame() error {
	select {
	case err := <-f.peer:
		return err
	case <-f.closed:
		return errors.New("fake: closed")
	}
}

func (f *fakeTransport) Close(d Disconnect) {
	f.mu.Lock()
	f.closes++
	f.reason = d
	n := f.closes
	f.mu.Unlock()
	if n == 1 {
		close(f.closed)
	}
}

// disconnect makes the client go away with a close frame.
func (f *fakeTransport) disconnect() {
	select {
	case f.peer <- &websocket.CloseError{Code: websocket.CloseNormalClosure}:
	default:
	}
}

func (f *fakeTransport) state() (reason Disconnect, closes int, written [][]byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.reason, f.closes, append([][]byte(nil), f.written...)
}
