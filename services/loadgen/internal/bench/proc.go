package bench

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times: 100 on
// every Linux architecture Go supports, and reading sysconf would need cgo.
const clockTick = 100

// ProcSample is a process's CPU time and resident memory at one moment.
type ProcSample struct {
	// CPU is user plus system time.
	CPU time.Duration
	// RSS is VmRSS.
	RSS int64
}

// SampleProc reads /proc/<pid>/stat and /proc/<pid>/status.
func SampleProc(pid int) (ProcSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("bench: %w", err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return ProcSample{}, err
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, fmt.Errorf("bench: %w", err)
	}
	rss, err := parseStatusRSS(status)
	if err != nil {
		return ProcSample{}, err
	}
	return ProcSample{CPU: cpu, RSS: rss}, nil
}

// parseStatCPU returns utime+stime (fields 14 and 15) of a stat line; the
// command name in parentheses may hold spaces, so fields count from the
// last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("bench: malformed stat %.40q", stat)
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state): utime is field 14, f[11].
	if len(f) < 13 {
		return 0, fmt.Errorf("bench: short stat %.40q", stat)
	}
	var ticks int64
	for _, s := range f[11:13] {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: stat cpu %q: %w", s, err)
		}
		ticks += v
	}
	return time.Duration(ticks) * time.Second / clockTick, nil
}

func parseStatusRSS(status []byte) (int64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 2 && f[1] == "kB" {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("bench: VmRSS %q: %w", rest, err)
				}
				return kb << 10, nil
			}
		}
	}
	return 0, fmt.Errorf("bench: no VmRSS in status")
}

// SystemSample is the machine's CPU time from /proc/stat.
type SystemSample struct {
	Busy, Total time.Duration
}

// SampleSystem reads the aggregate cpu line of /proc/stat.
func SampleSystem() (SystemSample, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return SystemSample{}, fmt.Errorf("bench: %w", err)
	}
	return parseSystemStat(b)
}

func parseSystemStat(b []byte) (SystemSample, error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 5 || f[0] != "cpu" {
		return SystemSample{}, fmt.Errorf("bench: malformed /proc/stat %.40q", line)
	}
	var s SystemSample
	for i, x := range f[1:] {
		v, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return SystemSample{}, fmt.Errorf("bench: /proc/stat %q: %w", x, err)
		}
		d := time.Duration(v) * time.Second / clockTick
		s.Total += d
		// idle and iowait are fields 4 and 5.
		if i != 3 && i != 4 {
			s.Busy += d
		}
	}
	return s, nil
}
