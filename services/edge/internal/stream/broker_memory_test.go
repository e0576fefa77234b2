package stream

import "sync"

// memoryBroker is an in-process [Broker] for the hub's unit tests: Publish
// calls the handlers synchronously, in subscription order.
type memoryBroker struct {
	mu   sync.Mutex
	next int
	subs map[string]map[int]func(Message)
}

func newMemoryBroker() *memoryBroker {
	return &memoryBroker{subs: make(map[string]map[int]func(Message))}
}

// memorySubscription is a [Subscription] of the memory broker; it drops
// nothing.
type memorySubscription func()

func (s memorySubscription) Unsubscribe() { s() }
func (memorySubscription) Dropped() int   { return 0 }

func (b *memoryBroker) Subscribe(subject string, handler func(Message)) (Subscription, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.subs[subject] == nil {
		b.subs[subject] = make(map[int]func(Message))
	}
	b.next++
	id := b.next
	b.subs[subject][id] = handler
	return memorySubscription(func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.subs[subject], id)
		if len(b.subs[subject]) == 0 {
			delete(b.subs, subject)
		}
	}), nil
}

// Publish publishes a message with no link (a control message).
func (b *memoryBroker) Publish(subject string, data []byte) {
	b.PublishMsg(subject, Message{Data: data})
}

// PublishMsg publishes m to subject's handlers.
func (b *memoryBroker) PublishMsg(subject string, m Message) {
	b.mu.Lock()
	hs := make([]func(Message), 0, len(b.subs[subject]))
	for _, h := range b.subs[subject] {
		hs = append(hs, h)
	}
	b.mu.Unlock()
	for _, h := range hs {
		h(m)
	}
}

func (b *memoryBroker) subjects() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}
