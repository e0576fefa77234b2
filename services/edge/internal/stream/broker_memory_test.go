package stream

import "sync"

// memoryBroker is an in-process [Broker] for the hub's unit tests: Publish
// calls the handlers synchronously, in subscription order.
type memoryBroker struct {
	mu   sync.Mutex
	next int
	subs map[string]map[int]func([]byte)
}

func newMemoryBroker() *memoryBroker {
	return &memoryBroker{subs: make(map[string]map[int]func([]byte))}
}

func (b *memoryBroker) Subscribe(subject string, handler func([]byte)) (func(), error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[subject] == nil {
		b.subs[subject] = make(map[int]func([]byte))
	}
	b.next++
	id := b.next
	b.subs[subject][id] = handler
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs[subject], id)
		if len(b.subs[subject]) == 0 {
			delete(b.subs, subject)
		}
	}, nil
}

func (b *memoryBroker) Publish(subject string, data []byte) {
	b.mu.Lock()
	hs := make([]func([]byte), 0, len(b.subs[subject]))
	for _, h := range b.subs[subject] {
		hs = append(hs, h)
	}
	b.mu.Unlock()
	for _, h := range hs {
		h(data)
	}
}

func (b *memoryBroker) subjects() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
