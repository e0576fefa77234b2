package testenv

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fixedPortTries bounds the random picks of [pickPort] before it gives up.
const fixedPortTries = 100

// pickPort returns a TCP port that is free on host now, for a server
// that must come back on the same port after a restart. It picks at
// random below the kernel's ephemeral range rather than asking for port
// 0: the kernel hands out ephemeral ports both to listen(0) and to every
// outgoing connection, so while the server is down a client socket of
// this very test could take its port, and the restart would fail for as
// long as that connection lives. Below the range only an explicit bind
// can take it.
func pickPort(host string) (int, error) {
	lo, hi := belowEphemeral()
	for range fixedPortTries {
		port := lo + rand.IntN(hi-lo)
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = l.Close()
		return port, nil
	}
	return 0, fmt.Errorf("testenv: no free port in [%d, %d) after %d tries", lo, hi, fixedPortTries)
}

// belowEphemeral returns the window pickPort draws from: the 10,000 ports
// just below the ephemeral range (32768 on Linux by default, 49152 per
// IANA elsewhere), and never below 1024.
func belowEphemeral() (lo, hi int) {
	hi = 49152
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil && n > 2048 {
				hi = n
			}
		}
	}
	return max(1024, hi-10000), hi
}

// listenRetry listens on addr, retrying for a while when the port is
// still taken: a server that just stopped may leave it bound for a
// moment (a socket still closing), and a picked port can be taken by
// someone else between the pick and the listen.
func listenRetry(addr string) (net.Listener, error) {
	var err error
	for i := range listenTries {
		var l net.Listener
		if l, err = net.Listen("tcp", addr); err == nil {
			return l, nil
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			break
		}
		time.Sleep(time.Duration(i+1) * 100 * time.Millisecond)
	}
	return nil, fmt.Errorf("testenv: listen %s: %w", addr, err)
}

// listenTries bounds the attempts of listenRetry and of a NATS node's
// restart; with the linear backoff they span about 2 s.
const listenTries = 6
