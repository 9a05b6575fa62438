// Package simulate generates KernelCI-shaped pipeline telemetry: labs with device types
// and devices running jobs that emit job_submission, then test_result events, then
// job_result; kernel builds; job skips and runtime errors in bursts, with one lab whose
// online check fails again and again; a device that never boots and one whose kernel
// always panics. The same Options always give the same events, byte for byte, on every
// platform, so tests can commit what it generates and benchmarks can compare runs.
package simulate

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// Options say what to generate.
type Options struct {
	Seed   int64 // different seeds give different, equally realistic, data
	Events int   // exactly this many events are generated
	// Start and End bound the timestamps: Start ≤ ts < End. Activity is spread evenly
	// over the span, so its length sets the event rate.
	Start, End time.Time
	// SilentLab, when set, is a runtime that sends nothing from SilentFrom on, as a lab
	// whose network or callback broke: its events at or after SilentFrom are not sent
	// (and not counted in Events), the rest of the world goes on.
	SilentLab  string
	SilentFrom time.Time
}

// Generate returns the events of opts, in the order Each produces them.
func Generate(opts Options) ([]telemetry.Event, error) {
	events := make([]telemetry.Event, 0, max(opts.Events, 0))
	err := Each(opts, func(e telemetry.Event) error {
		events = append(events, e)
		return nil
	})
	return events, err
}

// Each calls fn with every event of opts, one at a time, holding none of them, so that
// millions can be streamed into a store. Events come roughly in time order: activities
// start in time order, and each activity's events follow in its own time order, but a
// long job's result can come after the start of later activities. The last activity is
// cut short when the count is reached. Each stops at the first error fn returns and
// returns it. Event ids are "sim-<seed>-<sequence>", unique for a seed.
func Each(opts Options, fn func(telemetry.Event) error) error {
	if opts.Events < 0 {
		return fmt.Errorf("simulate: %d events asked for; ask for 0 or more", opts.Events)
	}
	if !opts.End.After(opts.Start) {
		return fmt.Errorf("simulate: End %s is not after Start %s", opts.End, opts.Start)
	}
	g := &generator{
		opts:  opts,
		rand:  newRandom(opts.Seed),
		emit:  fn,
		start: opts.Start.UTC().Truncate(time.Microsecond),
		end:   opts.End.UTC().Truncate(time.Microsecond),
	}
	g.nextOnlineCheck = g.start.Add(g.jitter(onlineCheckEvery / 2))
	for g.emitted < opts.Events {
		if err := g.activity(); err != nil {
			if errors.Is(err, errEnough) {
				return nil
			}
			return err
		}
	}
	return nil
}

// errEnough stops generation once the requested number of events has been emitted.
var errEnough = errors.New("enough events")

// onlineCheckEvery is how often, in simulated time, lava-cip's online check fails.
const onlineCheckEvery = 3 * time.Hour

type generator struct {
	opts            Options
	rand            *random
	emit            func(telemetry.Event) error
	start, end      time.Time
	emitted         int
	jobs            int // jobs scheduled so far, for job ids
	nextOnlineCheck time.Time
}

// clock is where activity has got to: the share of the span matching the share of the
// events already emitted, so that events spread evenly whatever their number.
func (g *generator) clock() time.Time {
	span := g.end.Sub(g.start)
	offset := time.Duration(float64(span) * float64(g.emitted) / float64(g.opts.Events))
	return g.start.Add(offset).Truncate(time.Microsecond)
}

// startFor returns when an activity lasting length starts: at the clock, plus a little
// jitter, moved earlier if needed so that it ends before End.
func (g *generator) startFor(length time.Duration) time.Time {
	t := g.clock().Add(g.jitter(2 * time.Minute))
	if latest := g.end.Add(-length - time.Microsecond); t.After(latest) {
		t = latest
	}
	if t.Before(g.start) {
		t = g.start
	}
	return t
}

// at returns t clamped to [Start, End), for activities longer than the whole span.
func (g *generator) at(t time.Time) time.Time {
	switch {
	case t.Before(g.start):
		return g.start
	case !t.Before(g.end):
		return g.end.Add(-time.Microsecond)
	}
	return t.Truncate(time.Microsecond)
}

func (g *generator) jitter(upTo time.Duration) time.Duration {
	return time.Duration(g.rand.float() * float64(upTo))
}

func (g *generator) send(e telemetry.Event) error {
	if g.emitted >= g.opts.Events {
		return errEnough
	}
	e.TS = g.at(e.TS)
	if g.opts.SilentLab != "" && e.Runtime == g.opts.SilentLab && !e.TS.Before(g.opts.SilentFrom) {
		return nil
	}
	e.ID = "sim-" + strconv.FormatInt(g.opts.Seed, 10) + "-" + fmt.Sprintf("%07d", g.emitted)
	g.emitted++
	return g.emit(e)
}

// activity generates one thing that happens in a CI system, chosen by how often each
// happens in KernelCI, plus lava-cip's online check failing whenever it is due.
func (g *generator) activity() error {
	if !g.clock().Before(g.nextOnlineCheck) {
		g.nextOnlineCheck = g.nextOnlineCheck.Add(onlineCheckEvery - time.Hour/2 + g.jitter(time.Hour))
		return g.onlineCheckBurst()
	}
	switch r := g.rand.float(); {
	case r < 0.72:
		return g.testJob()
	case r < 0.88:
		return g.build()
	case r < 0.93:
		return g.skipBurst()
	case r < 0.97:
		return g.runtimeErrorBurst()
	default:
		return g.warning()
	}
}

func (g *generator) pickTree() tree {
	weights := make([]int, len(trees))
	for i, t := range trees {
		weights[i] = t.weight
	}
	return trees[g.rand.weighted(weights)]
}

func (g *generator) pickLab() lab {
	weights := make([]int, len(labs))
	for i, l := range labs {
		weights[i] = l.weight
	}
	return labs[g.rand.weighted(weights)]
}

func labNamed(runtime string) lab {
	for _, l := range labs {
		if l.runtime == runtime {
			return l
		}
	}
	panic("simulate: no lab " + runtime)
}

func (g *generator) pickDevice(dt deviceType) device {
	weights := make([]int, len(dt.devices))
	for i, d := range dt.devices {
		weights[i] = d.weight
	}
	return dt.devices[g.rand.weighted(weights)]
}

// nodeID is a KernelCI node id: 24 hex digits, as MongoDB object ids are.
func (g *generator) nodeID() string {
	return fmt.Sprintf("%08x%016x", uint32(g.rand.next()), g.rand.next())
}

// seconds returns a duration around typical: mostly within ±50%, with a long tail up to
// ten times, rounded to milliseconds. Only arithmetic is used, no math.Exp or math.Log,
// whose last bits differ between architectures, so the output is the same everywhere.
func (g *generator) seconds(typical float64) float64 {
	u := g.rand.float()
	tail := u * u * u * u * u * u
	factor := 0.5 + g.rand.float() + 8.5*tail
	ms := int64(typical*factor*1000 + 0.5)
	return float64(ms) / 1000
}

func ptr(f float64) *float64 { return &f }

func durationOf(seconds float64) time.Duration {
	return time.Duration(seconds * float64(time.Second))
}
