package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
)

// Targets the edge is measured against (docs/benchmarks.md, "Edge
// streams").
const (
	TargetDeliveredRate = 50_000 // messages/s
	TargetP99ms         = 100
	TargetKiBPerStream  = 20     // the aim is 12
	TargetReplayRate    = 10_000 // events/s
)

func verdict(ok bool) string {
	if ok {
		return "ok"
	}
	return "MISSED"
}

func closes(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
	}
	return strings.Join(parts, " ")
}

// WriteTable prints res as a table of figure, value and target.
func WriteTable(w io.Writer, res Results) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "scenario\tfigure\tvalue\ttarget\t")
	if f := res.Fanout; f != nil {
		fmt.Fprintf(tw, "fanout\tstreams up / subscriptions\t%d / %d\t%d\t\n", f.Connected, f.Subscriptions, f.Streams)
		fmt.Fprintf(tw, "fanout\tpublished events/s\t%.0f\t%.0f\t\n", f.PublishRate, f.TargetRate*float64(f.Subscriptions)/float64(max(f.Connected, 1)))
		fmt.Fprintf(tw, "fanout\tdelivered / expected\t%d / %d\t\t\n", f.Delivered, f.Expected)
		fmt.Fprintf(tw, "fanout\tdelivered msg/s\t%.0f\t≥ %d %s\t\n", f.DeliveredRate, TargetDeliveredRate, verdict(f.DeliveredRate >= TargetDeliveredRate))
		fmt.Fprintf(tw, "fanout\tlatency p50 / p90 / p99 / max\t%.1f / %.1f / %.1f / %.1f ms\tp99 ≤ %d ms %s\t\n", f.Latency.P50, f.Latency.P90, f.Latency.P99, f.Latency.Max, TargetP99ms, verdict(f.Latency.P99 <= TargetP99ms))
		fmt.Fprintf(tw, "fanout\tedge CPU per delivered msg\t%.2f µs\t\t\n", f.CPUPerMessage)
		fmt.Fprintf(tw, "fanout\tedge RSS at the end\t%.1f MiB\t\t\n", float64(f.EdgeRSS)/(1<<20))
		fmt.Fprintf(tw, "fanout\tCPU cores: edge / loadgen / NATS+FerretDB+publisher / other\t%.2f / %.2f / %.2f / %.2f (machine %.2f of 2)\t\t\n", f.CPU.Edge, f.CPU.Loadgen, f.CPU.Harness, f.CPU.Other, f.CPU.Total)
		fmt.Fprintf(tw, "fanout\tstreams closed by the edge / out of order\t%s / %d\t0\t\n", closes(f.Closes), f.OutOfOrder)
	}
	if i := res.Idle; i != nil {
		note := ""
		if i.Limited {
			note = " (open-files limit)"
		}
		fmt.Fprintf(tw, "idle\tstreams up\t%d / %d%s\t\t\n", i.Connected, i.Streams, note)
		fmt.Fprintf(tw, "idle\tedge RSS before / after\t%.1f / %.1f MiB\t\t\n", float64(i.RSSBefore)/(1<<20), float64(i.RSSAfter)/(1<<20))
		fmt.Fprintf(tw, "idle\tedge RSS per stream\t%.2f KiB\t≤ %d KiB %s (aim ≤ 12)\t\n", i.RSSPerStream, TargetKiBPerStream, verdict(i.RSSPerStream <= TargetKiBPerStream))
		fmt.Fprintf(tw, "idle\tedge Go heap+stacks per stream (stacks)\t%.2f KiB (%.2f)\t\t\n", i.GoPerStream, i.StackPerStream)
		fmt.Fprintf(tw, "idle\tedge goroutines\t%.0f\t\t\n", i.Goroutines)
		fmt.Fprintf(tw, "idle\tstreams closed by the edge\t%s\t0\t\n", closes(i.Closes))
	}
	if r := res.Replay; r != nil {
		fmt.Fprintf(tw, "replay\tevents delivered / to replay (served by)\t%d / %d (%s)\t\t\n", r.Delivered, r.Events, r.Source)
		fmt.Fprintf(tw, "replay\tevents/s (hello → last event)\t%.0f\t≥ %d %s\t\n", r.Rate, TargetReplayRate, verdict(r.Rate >= TargetReplayRate))
		fmt.Fprintf(tw, "replay\tedge CPU per event\t%.2f µs\t\t\n", r.CPUPerEvent)
		fmt.Fprintf(tw, "replay\tCPU cores: edge / FerretDB+harness / other (loadgen incl.)\t%.2f / %.2f / %.2f\t\t\n", r.CPU.Edge, r.CPU.Harness, r.CPU.Other)
		fmt.Fprintf(tw, "replay\tout of order\t%d\t0\t\n", r.OutOfOrder)
	}
	if st := res.Storm; st != nil {
		for _, row := range stormRows(st) {
			fmt.Fprintln(tw, row)
		}
	}
	return tw.Flush()
}

// WriteComparison prints one row per server and round: the fan-out's
// delivered rate, latency and CPU per delivered message, and the idle
// run's RSS per stream, so the edge can be read beside its peers.
func WriteComparison(w io.Writer, runs []Run) error {
	type row struct {
		fanout *FanoutResult
		idle   *IdleResult
	}
	var keys []string
	rows := map[string]*row{}
	for _, r := range runs {
		k := fmt.Sprintf("%s\t%d", r.Server, r.Round)
		if rows[k] == nil {
			rows[k] = &row{}
			keys = append(keys, k)
		}
		if r.Fanout != nil {
			rows[k].fanout = r.Fanout
		}
		if r.Idle != nil {
			rows[k].idle = r.Idle
		}
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "server\tround\tstreams/subs\tdelivered msg/s\tp50 / p99 ms\tCPU µs/msg\tCPU cores\tidle streams\tRSS KiB/stream (Go, stacks)\t")
	for _, k := range keys {
		r := rows[k]
		fan, idle := "-\t-\t-\t-\t-", "-\t-"
		if f := r.fanout; f != nil {
			fan = fmt.Sprintf("%d/%d\t%.0f\t%.1f / %.1f\t%.2f\t%.2f", f.Connected, f.Subscriptions, f.DeliveredRate, f.Latency.P50, f.Latency.P99, f.CPUPerMessage, f.CPU.Edge)
		}
		if i := r.idle; i != nil {
			idle = fmt.Sprintf("%d\t%.2f (%.2f, %.2f)", i.Connected, i.RSSPerStream, i.GoPerStream, i.StackPerStream)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t\n", k, fan, idle)
	}
	return tw.Flush()
}
