package store

import (
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// The exported key functions below are the very ones the store writes with, so that
// `make bench` can count the writes each key value takes at a simulated load without
// DynamoDB and without a copy of a key formula (internal/bench, hot keys).

// Keys derives the keys of the events table for one shard configuration.
type Keys struct{ k keys }

// NewKeys returns the keys an events store with o's shard counts writes (a count below
// 1 means 1, as in NewEvents).
func NewKeys(o EventsOptions) Keys {
	return Keys{keys{eventShards: max(o.EventShards, 1), runtimeShards: max(o.RuntimeShards, 1), kindShards: max(o.KindShards, 1)}}
}

// EventKeys are the partition key values that storing one event writes to.
type EventKeys struct {
	PK         string // the events table (AttrPK)
	RuntimeKey string // the by_runtime index (AttrRuntimeKey)
	KindKey    string // the by_kind index (AttrKindKey)
	InfraKey   string // the by_infra_error index (AttrInfraKey); "" when e is not in it
	// GuardPK is the events-table partition key of the event's id guard, written when
	// the client gave the id; "" when it did not.
	GuardPK string
	// Day is the sort key of the day registry item (partition key DayRegistryPK).
	Day string
	// Unit is the rollup unit whose staleness mark the write refreshes (MarkPK).
	Unit telemetry.RollupUnit
}

// Event returns the keys storing e writes.
func (k Keys) Event(e *telemetry.Event) EventKeys {
	day := dayOf(e.TS)
	out := EventKeys{PK: k.k.partitionOn(day, e.ID), RuntimeKey: k.k.runtimeKey(e), KindKey: k.k.kindKey(e), InfraKey: k.k.infraKey(e), Day: day, Unit: k.k.unit(e)}
	if e.IDGiven {
		out.GuardPK = guardPK(e.ID)
	}
	return out
}

// partition is the events-table partition key of e: its day bucket's shard.
func (k keys) partition(e *telemetry.Event) string { return k.partitionOn(dayOf(e.TS), e.ID) }

// partitionOn is the partition key of the event with id in the day bucket day.
func (k keys) partitionOn(day, id string) string { return dayPartition(day, k.eventShard(id)) }

func (k keys) runtimeKey(e *telemetry.Event) string {
	return shardKey(e.Runtime, int(idHash(e.ID)%uint32(k.runtimeShards)))
}

func (k keys) kindKey(e *telemetry.Event) string {
	return shardKey(e.Kind, int(idHash(e.ID)%uint32(k.kindShards)))
}

// infraValue is the partition key value of the by_infra_error index before its shard.
const infraValue = "infra"

// infraKey is e's key in the by_infra_error index, "" (no attribute, not in the index)
// unless e is an infrastructure error. It has as many shards as the kind index: at worst
// every event is one, as at worst every event is of one kind.
func (k keys) infraKey(e *telemetry.Event) string {
	if !e.IsInfraError {
		return ""
	}
	return shardKey(infraValue, int(idHash(e.ID)%uint32(k.kindShards)))
}

// unit is the rollup unit e belongs to: its fine bucket in its day partition's shard.
func (k keys) unit(e *telemetry.Event) telemetry.RollupUnit {
	return telemetry.UnitOf(e.TS, k.eventShard(e.ID))
}

// RegistrySlack is how far past the expiry it needs a process extends a day registry
// item, so that a steady stream costs each process one registry write per day per
// RegistrySlack rather than one per request.
const RegistrySlack = registrySlackSeconds * time.Second

// MarkPK is the summary-table partition key of u's staleness mark (its sort key is u's
// bucket).
func MarkPK(u telemetry.RollupUnit) string { return markPK(u.Shard) }

// LeasePK is the summary-table partition key of the lease l.
func LeasePK(l telemetry.RollupLease) string {
	return stringAttr(leaseKey(l), AttrPK)
}

// RowPK is the summary-table partition key of the rollup rows of one bucket (every
// shard's row of the bucket shares it).
func RowPK(resolution string, start time.Time) string { return rowPK(resolution, start) }

// SnapshotPK is the summary-table partition key of the summary snapshot taken at at.
func SnapshotPK(at time.Time) string { return snapshotPrefix + dayOf(at) }

// RunMarkerPK is the events-table partition key of the marker of the pipeline run whose
// pipeline_result event is run.
func RunMarkerPK(run *telemetry.Event) string { return runMarkerPK(run) }

// MetricsPK is the partition key of the metric totals and the rollup's watermark: one
// value, written once per rollup commit and once per rollup run.
func MetricsPK() string { return metricsPK }

// TokenPK is the tokens-table partition key of the token whose SHA-256 hex is hash.
func TokenPK(hash string) string { return tokenPrefix + hash }

// DaysToRegister returns the day registry writes a process owes at now: of the days in
// need (day bucket → the expiry, epoch seconds, its events need), those whose expiry known
// (what the process last wrote) does not cover, each with the expiry to write,
// RegistrySlack past the need. Within RegistrySlack of midnight, a process that writes
// today's item writes tomorrow's as well: otherwise every warm process would write the
// new day in the same second after midnight, all to one key value (DayRegistryPK) — a
// thousand writes in that second at a thousand instances, where the goal is 500. Each
// process refreshes today's item once per RegistrySlack at a moment of its own, so the
// early writes of tomorrow spread over the last hour of the day.
func DaysToRegister(known, need map[string]int64, now time.Time) map[string]int64 {
	due := map[string]int64{}
	for day, expires := range need {
		if known[day] < expires {
			due[day] = expires + registrySlackSeconds
		}
	}
	today := now.UTC().Truncate(24 * time.Hour)
	if target, ok := due[dayOf(today)]; ok && !now.Add(RegistrySlack).Before(today.Add(24*time.Hour)) {
		if tomorrow := dayOf(today.Add(24 * time.Hour)); known[tomorrow] < target {
			due[tomorrow] = max(due[tomorrow], target)
		}
	}
	return due
}
