package store

import (
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/simulate"
	"github.com/pipetel/pipetel/internal/telemetry"
)

var benchKeys = keys{eventShards: 24, runtimeShards: 24, kindShards: 24}

const benchRetention = 14 * 24 * time.Hour

func benchEvents(b *testing.B) []telemetry.Event {
	b.Helper()
	start := time.Date(2026, 8, 20, 0, 0, 0, 0, time.UTC)
	events, err := simulate.Generate(simulate.Options{Seed: 1, Events: 1000, Start: start, End: start.Add(24 * time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	for i := range events {
		events[i].ReceivedAt = start.Add(24 * time.Hour)
	}
	return events
}

// BenchmarkMarshalItem turns simulated events into the attribute maps PutEvents sends:
// keys derived, then attributevalue's reflection. Compare runs with benchstat when the
// item's shape or its encoding changes.
func BenchmarkMarshalItem(b *testing.B) {
	events := benchEvents(b)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		it := benchKeys.item(&events[n%len(events)], benchRetention)
		n++
		if _, err := attributevalue.MarshalMap(it); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeItem is the way back, paid for every item a query or stats request reads.
func BenchmarkDecodeItem(b *testing.B) {
	events := benchEvents(b)
	avs := make([]map[string]types.AttributeValue, len(events))
	for i := range events {
		av, err := attributevalue.MarshalMap(benchKeys.item(&events[i], benchRetention))
		if err != nil {
			b.Fatal(err)
		}
		avs[i] = av
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, _, err := decodeEvent(avs[n%len(avs)]); err != nil {
			b.Fatal(err)
		}
		n++
	}
}
