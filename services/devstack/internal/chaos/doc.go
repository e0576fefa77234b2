// Package chaos runs the whole Mongotron system on this machine and
// injects faults into it, for the fault-injection tests of this package
// and for the soak (services/devstack/cmd/soak).
//
// A [Harness] starts, all on 127.0.0.1: a 3-node NATS cluster with
// JetStream whose nodes do not advertise each other to clients, a
// FerretDB that can be stopped and started again on the same data, the
// chain simulator, one ingest and a number of edges, the last three as
// child processes in process groups of their own. Each edge reaches each
// NATS node through a proxy of its own, so that one edge's link to NATS
// can be cut while everything else carries on.
//
// A [Client] is a WebSocket stream client as a careful user writes one: it
// records every event it receives, never deduplicates, and when its stream
// ends with a code that says so it resumes after its last cursor, on the
// next edge. A [Receiver] is a webhook endpoint recording what it is sent.
// [CheckStream] and [CheckWebhook] compare what they got with the
// subscription's stored history: nothing missing, nothing twice, in order.
package chaos
