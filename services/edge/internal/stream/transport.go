package stream

// Transport is the socket I/O of one stream. Its methods are split between
// the connection's two goroutines and nobody else: ReadFrame belongs to the
// reader; WriteText, WriteControl and Close belong to the sender. That split
// is what makes a concurrent write impossible.
type Transport interface {
	// WriteText writes each message as one text frame, back to back,
	// in as few writes to the socket as its buffer allows.
	WriteText(msgs [][]byte) error
	// WriteControl writes a ping or pong frame (websocket.PingMessage,
	// websocket.PongMessage).
	WriteControl(messageType int, payload []byte) error
	// ReadFrame waits for what the client sends next and handles it:
	// data frames are discarded, a ping is passed on to be answered, a
	// close frame ends the reader. An error ends the reader: ReadFrame is
	// not called again after one.
	ReadFrame() error
	// Close writes the close frame for d, waits a short, bounded time for
	// the peer to answer (or for the reader to stop), then drops the
	// connection. The sender calls it exactly once.
	Close(d Disconnect)
}
