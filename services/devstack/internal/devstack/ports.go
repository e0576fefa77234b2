package devstack

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
)

// listenAddr is an address the stack will listen on: part is the server
// or child that listens, flag the flag that sets the address.
type listenAddr struct {
	part, flag, addr string
}

// listenAddrs returns every address the stack will listen on, those with
// port 0 included, in the order the parts start. c has its defaults, and
// Validate has checked its addresses.
func (c Config) listenAddrs() []listenAddr {
	// The embedded NATS server listens on loopback, whatever the host.
	_, natsPort, _ := net.SplitHostPort(c.NATSAddr)
	out := []listenAddr{
		{"nats", "nats-addr", net.JoinHostPort("127.0.0.1", natsPort)},
		{"ferretdb", "mongo-addr", c.MongoAddr},
	}
	if c.TronNode == "" {
		for i := range c.TronNodes {
			part := "tronsim"
			if c.TronNodes > 1 {
				part = "tronsim node " + strconv.Itoa(i+1)
			}
			out = append(out,
				listenAddr{part, "sim-addr", nthPort(c.SimAddr, i)},
				listenAddr{part + " gRPC", "sim-grpc-addr", nthPort(c.SimGRPCAddr, i)})
		}
	}
	out = append(out, listenAddr{"ingest", "ingest-addr", c.IngestAddr})
	host, p, _ := net.SplitHostPort(c.HTTPAddr)
	base, _ := strconv.Atoi(p)
	for i := range c.Edges {
		port := 0
		if base != 0 {
			port = base + i
		}
		out = append(out, listenAddr{"edge-" + strconv.Itoa(i+1), "http.addr", net.JoinHostPort(host, strconv.Itoa(port))})
	}
	return out
}

// nthPort returns addr with its port plus i; a port of 0 stays 0. addr has
// passed Validate.
func nthPort(addr string, i int) string {
	host, p, _ := net.SplitHostPort(addr)
	port, _ := strconv.Atoi(p)
	if port == 0 {
		return addr
	}
	return net.JoinHostPort(host, strconv.Itoa(port+i))
}

// checkPorts listens on every address with a fixed port, and reports each
// one it cannot listen on. It holds them all until it returns, so two
// parts given the same port are caught too.
func checkPorts(addrs []listenAddr) error {
	var errs []error
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}()
	held := map[int]string{}
	for _, a := range addrs {
		_, p, err := net.SplitHostPort(a.addr)
		if err != nil {
			errs = append(errs, fmt.Errorf("devstack: %s address %q (--%s): %w", a.part, a.addr, a.flag, err))
			continue
		}
		port, err := strconv.Atoi(p)
		if err != nil || port == 0 {
			// Validate refuses all but numbers; 0 is a free port.
			continue
		}
		ln, err := net.Listen("tcp", a.addr)
		if err == nil {
			lns = append(lns, ln)
			held[port] = a.part
			continue
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			errs = append(errs, fmt.Errorf("devstack: %s cannot listen on %s (--%s): %w", a.part, a.addr, a.flag, err))
			continue
		}
		pid, command := portOwner(a.addr)
		if other, ok := held[port]; ok && (pid == 0 || pid == os.Getpid()) {
			errs = append(errs, fmt.Errorf("devstack: %s cannot listen on %s (--%s): %s listens on port %d too", a.part, a.addr, a.flag, other, port))
			continue
		}
		by := ""
		if pid != 0 {
			by = fmt.Sprintf(" by pid %d (%s)", pid, command)
		}
		errs = append(errs, fmt.Errorf("devstack: %s cannot listen on %s (--%s): %w%s", a.part, a.addr, a.flag, syscall.EADDRINUSE, by))
	}
	return errors.Join(errs...)
}
