//go:build !unix

package decode_test

import "time"

// cpuTime is not measured here; benchmarks then skip blocks/cpu-s.
func cpuTime() time.Duration { return 0 }
