package chaos_test

import (
	"context"
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"

	"github.com/pipetel/pipetel/internal/chaos"
	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/telemetry"
)

func run(t *testing.T, cfg chaos.Config) chaos.Summary {
	t.Helper()
	dir, err := chaos.ScratchDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cfg.DataDir = dir
	sum, err := chaos.Run(t.Context(), cfg)
	if err != nil {
		ci, _ := strconv.ParseBool(os.Getenv("CI"))
		if errors.Is(err, dynamolocal.ErrNotInstalled) && !ci {
			t.Skipf("needs DynamoDB Local; `make test` installs it and runs every test: %v", err)
		}
		t.Fatalf("chaos run: %v", err)
	}
	t.Log(sum)
	return sum
}

// TestShortChaos is `make chaos` in small: every fault of the proxy, DynamoDB Local killed
// and restarted, the store cut off, and still every acknowledged event stored once.
func TestShortChaos(t *testing.T) {
	sum := run(t, chaos.Short())
	if v := sum.Violations(); len(v) > 0 {
		t.Fatalf("violations: %v", v)
	}
	// Which exchange draws which fault depends on scheduling, so only the scenario's fixed
	// steps and that faults happened at all are asserted; the line above gives the mix.
	p := sum.Proxy
	if sum.Restarts != 1 || sum.Outages != 1 || p.ResetBefore+p.ResetAfter+p.Delayed+p.Stalled+p.Refused == 0 {
		t.Errorf("the scenario did not play its restart, outage and faults: %s", sum)
	}
}

// dropOne acknowledges every event but never stores one of them: the first event of the
// first batch of two or more.
type dropOne struct {
	telemetry.EventStore
	once sync.Once
}

func (d *dropOne) PutEvents(ctx context.Context, events []telemetry.Event) ([]telemetry.PutOutcome, error) {
	drop := false
	if len(events) > 1 {
		d.once.Do(func() { drop = true })
	}
	if !drop {
		return d.EventStore.PutEvents(ctx, events)
	}
	outcomes, err := d.EventStore.PutEvents(ctx, events[1:])
	return append([]telemetry.PutOutcome{telemetry.Inserted}, outcomes...), err
}

// TestChaosCatchesALostEvent: a store that acknowledges a write and drops it fails the run.
func TestChaosCatchesALostEvent(t *testing.T) {
	sum := run(t, chaos.Config{Events: 100, Clients: 2, BatchMax: 25,
		WrapStore: func(s telemetry.EventStore) telemetry.EventStore { return &dropOne{EventStore: s} }})
	if sum.Lost != 1 || len(sum.Violations()) == 0 {
		t.Fatalf("want one lost event and a failed run: %s", sum)
	}
}
