//go:build unix

package devstack

import "log/slog"

// Lifeline lets the tests cut a lifeline as a dying devstack does, also
// where the parent-death signal makes it unused.
type Lifeline = lifeline

// StartLifeline starts a lifeline that logs nowhere.
func StartLifeline() (*Lifeline, error) { return startLifeline(slog.New(slog.DiscardHandler)) }

func (l *lifeline) Add(pid int)    { l.add(pid) }
func (l *lifeline) Remove(pid int) { l.remove(pid) }

// Cut ends the pipe, as the kernel does when devstack dies, and returns
// once the shell has done its work.
func (l *lifeline) Cut() error { return l.close() }
