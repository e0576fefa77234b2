package chaos

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
)

// picked remembers the ports handed out in this process, so that
// harnesses started side by side never pick the same one between the
// check and the child's listen.
var picked struct {
	sync.Mutex
	ports map[int]bool
}

// pickPort returns a port free on 127.0.0.1 now, for a child that must
// come back on the same port after a kill. It picks below the kernel's
// ephemeral range: ports there are handed to outgoing connections too,
// and one of this harness's own could take a killed child's port before
// its restart.
func pickPort() (int, error) {
	picked.Lock()
	defer picked.Unlock()
	if picked.ports == nil {
		picked.ports = make(map[int]bool)
	}
	lo, hi := belowEphemeral()
	for range 200 {
		port := lo + rand.IntN(hi-lo)
		if picked.ports[port] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		_ = l.Close()
		picked.ports[port] = true
		return port, nil
	}
	return 0, fmt.Errorf("chaos: no free port in [%d, %d)", lo, hi)
}

// belowEphemeral is the window pickPort draws from: the 10,000 ports
// below the ephemeral range, and none below 1024.
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
