package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// treeRSS returns the resident memory of process pid and all its
// descendants, in bytes, and each process's share ("devstack 310 MiB, …").
func treeRSS(pid int) (int64, string, error) {
	procs, err := readProcs("/proc")
	if err != nil {
		return 0, "", err
	}
	tree := descendants(procs, pid)
	var total int64
	parts := make([]string, 0, len(tree))
	for _, p := range tree {
		total += p.rss
		parts = append(parts, fmt.Sprintf("%s %.0f MiB", p.name, float64(p.rss)/(1<<20)))
	}
	return total, strings.Join(parts, ", "), nil
}

// proc is what treeRSS needs of a process.
type proc struct {
	pid, ppid int
	name      string
	rss       int64
}

// readProcs reads every process's name, parent and VmRSS from root
// (/proc).
func readProcs(root string) ([]proc, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("benchscale: %w", err)
	}
	var out []proc
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "status"))
		if err != nil {
			continue // gone meanwhile
		}
		p, ok := parseStatus(b)
		if ok {
			p.pid = pid
			out = append(out, p)
		}
	}
	return out, nil
}

// parseStatus reads Name, PPid and VmRSS (kB) from a /proc/PID/status.
func parseStatus(b []byte) (proc, bool) {
	var p proc
	seen := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch k {
		case "Name":
			p.name = v
			seen++
		case "PPid":
			p.ppid, _ = strconv.Atoi(v)
			seen++
		case "VmRSS":
			kb, _ := strconv.ParseInt(strings.TrimSuffix(v, " kB"), 10, 64)
			p.rss = kb << 10
		}
	}
	return p, seen == 2
}

// descendants returns root and every process below it, root first.
func descendants(procs []proc, root int) []proc {
	children := map[int][]proc{}
	var out []proc
	for _, p := range procs {
		children[p.ppid] = append(children[p.ppid], p)
		if p.pid == root {
			out = append(out, p)
		}
	}
	for i := 0; i < len(out); i++ {
		kids := children[out[i].pid]
		slices.SortFunc(kids, func(a, b proc) int { return a.pid - b.pid })
		out = append(out, kids...)
	}
	return out
}
