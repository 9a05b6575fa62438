package analytics

import (
	"sort"
	"strings"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Flaky and broken tests. A test is one test_name run by one job (job_name) on one tree
// and branch on one device type; its runs are its test_result events, oldest first. Only
// a pass or a fail that is not an infrastructure error is a verdict on the test: skips,
// incompletes and infra errors say the run did not judge it, so they are left out.
//
// Over its last LastN verdicts a test is
//   - broken when every one failed (it fails for a reason, every time: not flaky), and
//   - flaky when they change between pass and fail at least MinTransitions times (once
//     is a regression or a fix, not flakiness), the more changes the flakier.

// The classes of a FlakyTest.
const (
	ClassFlaky  = "flaky"
	ClassBroken = "broken"
)

// FlakyParams configure flaky and broken tests. Zero fields mean DefaultFlakyParams'.
type FlakyParams struct {
	// Window is how far back test results are read.
	Window time.Duration
	// LastN is how many of a test's newest verdicts are judged.
	LastN int
	// MinRuns is the fewest verdicts a test needs to be judged at all.
	MinRuns int
	// MinTransitions is the fewest pass↔fail changes that make a test flaky.
	MinTransitions int
	// Every is how often the analysis is recomputed; between, the summary carries the last
	// one over (test results over a day are the rollup's largest read).
	Every time.Duration
	// MaxEvents bounds the test results read per computation; past it the window is
	// judged in part and the section says so.
	MaxEvents int
	// MaxRows bounds each of the flaky and broken lists (the most flaky, the most runs).
	MaxRows int
}

// DefaultFlakyParams: the last 10 verdicts within 24 h, at least 4 of them, flaky from 2
// changes; recomputed every 10 minutes from at most 50,000 test results; 25 rows each.
func DefaultFlakyParams() FlakyParams {
	return FlakyParams{Window: 24 * time.Hour, LastN: 10, MinRuns: 4, MinTransitions: 2, Every: 10 * time.Minute, MaxEvents: 50_000, MaxRows: 25}
}

// WithDefaults fills the zero fields of p from DefaultFlakyParams.
func (p FlakyParams) WithDefaults() FlakyParams {
	d := DefaultFlakyParams()
	if p.Window <= 0 {
		p.Window = d.Window
	}
	if p.LastN <= 0 {
		p.LastN = d.LastN
	}
	if p.MinRuns <= 0 {
		p.MinRuns = d.MinRuns
	}
	if p.MinTransitions <= 0 {
		p.MinTransitions = d.MinTransitions
	}
	if p.Every <= 0 {
		p.Every = d.Every
	}
	if p.MaxEvents <= 0 {
		p.MaxEvents = d.MaxEvents
	}
	if p.MaxRows <= 0 {
		p.MaxRows = d.MaxRows
	}
	return p
}

// TestRun names one run of a test, as evidence.
type TestRun struct {
	TS       string  `json:"ts"`
	JobID    *string `json:"job_id"`
	Runtime  string  `json:"runtime"`
	DeviceID *string `json:"device_id"`
}

// FlakyTest is one test judged flaky or broken, with the evidence.
type FlakyTest struct {
	Class      string  `json:"class"` // ClassFlaky or ClassBroken
	TestName   string  `json:"test_name"`
	DeviceType *string `json:"device_type"`
	JobName    *string `json:"job_name"`
	Tree       *string `json:"tree"`
	Branch     *string `json:"branch"`
	// History is its last verdicts, oldest first: "P" a pass, "F" a fail.
	History     string   `json:"history"`
	Runs        int      `json:"runs"` // len(History)
	Passes      int      `json:"passes"`
	Failures    int      `json:"failures"`
	Transitions int      `json:"transitions"` // changes between neighbours in History
	Runtimes    []string `json:"runtimes"`    // that ran these, sorted
	LastPass    *TestRun `json:"last_pass"`   // nil when none
	LastFail    *TestRun `json:"last_fail"`
}

// FlakyTests is the summary's section of flaky and broken tests.
type FlakyTests struct {
	ComputedAt string      `json:"computed_at"`
	WindowFrom string      `json:"window_from"`
	EventsRead int         `json:"events_read"`
	Truncated  bool        `json:"truncated"` // more than MaxEvents test results in the window
	Flaky      []FlakyTest `json:"flaky"`     // most transitions first, then most failures
	Broken     []FlakyTest `json:"broken"`    // most runs first
}

type testKey struct{ jobName, tree, branch, testName, deviceType string }

type verdict struct {
	ts                       time.Time
	id                       string
	pass                     bool
	jobID, runtime, deviceID string
}

// FlakyAccumulator collects test results and judges them.
type FlakyAccumulator struct {
	p     FlakyParams
	now   time.Time
	since time.Time
	read  int
	full  bool
	tests map[testKey][]verdict
}

// NewFlakyAccumulator returns an empty accumulator for the judgement at now.
func NewFlakyAccumulator(p FlakyParams, now time.Time) *FlakyAccumulator {
	p = p.WithDefaults()
	return &FlakyAccumulator{p: p, now: now, since: now.Add(-p.Window).UTC().Truncate(time.Microsecond), tests: map[testKey][]verdict{}}
}

// Since is the start of the window read.
func (a *FlakyAccumulator) Since() time.Time { return a.since }

// Full says MaxEvents events have been taken: read no more.
func (a *FlakyAccumulator) Full() bool { return a.full }

// Add takes one event; only test results with a verdict count (see the package note).
func (a *FlakyAccumulator) Add(e *telemetry.Event) {
	if a.full {
		return
	}
	a.read++
	if a.read >= a.p.MaxEvents {
		a.full = true
	}
	if e.Kind != telemetry.KindTestResult || e.TestName == "" || e.IsInfraError || e.TS.Before(a.since) {
		return
	}
	if e.Result != telemetry.ResultPass && e.Result != telemetry.ResultFail {
		return
	}
	k := testKey{e.JobName, e.Tree, e.Branch, e.TestName, e.DeviceType}
	a.tests[k] = append(a.tests[k], verdict{ts: e.TS, id: e.ID, pass: e.Result == telemetry.ResultPass, jobID: e.JobID, runtime: e.Runtime, deviceID: e.DeviceID})
}

// Result judges the tests collected.
func (a *FlakyAccumulator) Result() *FlakyTests {
	out := &FlakyTests{ComputedAt: telemetry.FormatTime(a.now), WindowFrom: telemetry.FormatTime(a.since), EventsRead: a.read, Truncated: a.full,
		Flaky: []FlakyTest{}, Broken: []FlakyTest{}}
	for k, vs := range a.tests {
		sort.Slice(vs, func(i, j int) bool {
			if !vs[i].ts.Equal(vs[j].ts) {
				return vs[i].ts.Before(vs[j].ts)
			}
			return vs[i].id < vs[j].id
		})
		if len(vs) > a.p.LastN {
			vs = vs[len(vs)-a.p.LastN:]
		}
		if len(vs) < a.p.MinRuns {
			continue
		}
		t := FlakyTest{TestName: k.testName, DeviceType: telemetry.Nullable(k.deviceType), JobName: telemetry.Nullable(k.jobName),
			Tree: telemetry.Nullable(k.tree), Branch: telemetry.Nullable(k.branch), Runs: len(vs)}
		var history strings.Builder
		runtimes := map[string]bool{}
		for i, v := range vs {
			run := &TestRun{TS: telemetry.FormatTime(v.ts), JobID: telemetry.Nullable(v.jobID), Runtime: v.runtime, DeviceID: telemetry.Nullable(v.deviceID)}
			if v.pass {
				history.WriteByte('P')
				t.Passes++
				t.LastPass = run
			} else {
				history.WriteByte('F')
				t.Failures++
				t.LastFail = run
			}
			if i > 0 && v.pass != vs[i-1].pass {
				t.Transitions++
			}
			runtimes[v.runtime] = true
		}
		t.History, t.Runtimes = history.String(), sortedKeys(runtimes)
		switch {
		case t.Passes == 0:
			t.Class = ClassBroken
			out.Broken = append(out.Broken, t)
		case t.Transitions >= a.p.MinTransitions:
			t.Class = ClassFlaky
			out.Flaky = append(out.Flaky, t)
		}
	}
	sort.Slice(out.Flaky, func(i, j int) bool {
		a, b := out.Flaky[i], out.Flaky[j]
		if a.Transitions != b.Transitions {
			return a.Transitions > b.Transitions
		}
		if a.Failures != b.Failures {
			return a.Failures > b.Failures
		}
		return flakyKey(a) < flakyKey(b)
	})
	sort.Slice(out.Broken, func(i, j int) bool {
		a, b := out.Broken[i], out.Broken[j]
		if a.Runs != b.Runs {
			return a.Runs > b.Runs
		}
		return flakyKey(a) < flakyKey(b)
	})
	if len(out.Flaky) > a.p.MaxRows {
		out.Flaky = out.Flaky[:a.p.MaxRows]
	}
	if len(out.Broken) > a.p.MaxRows {
		out.Broken = out.Broken[:a.p.MaxRows]
	}
	return out
}

func flakyKey(t FlakyTest) string {
	return strings.Join([]string{t.TestName, deref(t.DeviceType), deref(t.JobName), deref(t.Tree), deref(t.Branch)}, "\x00")
}
