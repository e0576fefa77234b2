package testenv

import (
	"fmt"
	"os"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/event"
	"go.uber.org/goleak"

	"github.com/mongotron/mongotron/pkg/store/querycheck"
)

// QueryCheck checks every query a package's tests send against the
// indexes they create: one that no index would serve on MongoDB fails the
// package (see package querycheck). Give its monitor to the test clients
// (options.Client().SetMonitor(qc.Monitor())) and pass m.Run's code
// through [QueryCheck.Report]. [Main] does both for its shared client.
type QueryCheck struct {
	rec *querycheck.Recorder
}

// NewQueryCheck returns a check with nothing recorded.
func NewQueryCheck() *QueryCheck { return &QueryCheck{rec: querycheck.NewRecorder()} }

// Monitor returns the command monitor that records queries and indexes.
func (q *QueryCheck) Monitor() *event.CommandMonitor { return q.rec.Monitor() }

// Report returns code, or 1 after listing on stderr the queries no index
// serves when code is 0. With MONGOTRON_QUERYCHECK_LIST=1 in the
// environment it also lists every shape and index recorded.
func (q *QueryCheck) Report(code int) int {
	if os.Getenv("MONGOTRON_QUERYCHECK_LIST") == "1" {
		for _, s := range q.rec.Shapes() {
			fmt.Fprintln(os.Stderr, "querycheck: shape", s)
		}
		for _, ix := range q.rec.Indexes() {
			fmt.Fprintf(os.Stderr, "querycheck: index %s.%s %v\n", ix.Collection, ix.Name, ix.Keys)
		}
	}
	problems := q.rec.Check(querycheck.ProjectAllowed)
	if len(problems) == 0 || code != 0 {
		return code
	}
	fmt.Fprintln(os.Stderr, "querycheck: queries that no index serves; add an index, change the query, or list the shape in querycheck.Allowed with the reason:")
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "  "+p.String())
	}
	return 1
}

// MainChecked runs the package's tests like goleak.VerifyTestMain does,
// then passes their result through qc's [QueryCheck.Report]: for a
// package whose tests make their own clients, each with qc's monitor.
func MainChecked(m *testing.M, qc *QueryCheck) {
	VerifyTestMain(checkedMain{m: m, qc: qc})
}

type checkedMain struct {
	m  *testing.M
	qc *QueryCheck
}

func (c checkedMain) Run() int { return c.qc.Report(c.m.Run()) }

// leakPatience bounds how long a package's leak check waits for
// goroutines on their way out: nats-server's store and timer goroutines end
// a moment after Shutdown returns, later on a loaded machine than goleak's
// own retries (about 0.4 s) allow.
const leakPatience = 10 * time.Second

// VerifyTestMain runs m's tests and, when they pass, fails the package if
// a goroutine is still running after leakPatience, as
// goleak.VerifyTestMain does with more patience. It exits.
func VerifyTestMain(m interface{ Run() int }) {
	code := m.Run()
	if code == 0 {
		deadline := time.Now().Add(leakPatience)
		for {
			err := goleak.Find(GoleakOptions()...)
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				fmt.Fprintf(os.Stderr, "goleak: Errors on successful test run: %v\n", err)
				code = 1
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	os.Exit(code)
}
