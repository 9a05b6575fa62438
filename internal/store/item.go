package store

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// eventItem is an event as the events table holds it. Each field is its own attribute so
// filters can match them; extra stays the JSON the client sent, since nobody filters on it.
type eventItem struct {
	PK           string   `dynamodbav:"pk"`
	SK           string   `dynamodbav:"sk"`
	RuntimeKey   string   `dynamodbav:"runtime_key"`
	KindKey      string   `dynamodbav:"kind_key"`
	InfraKey     string   `dynamodbav:"infra_key,omitempty"`
	ExpiresAt    int64    `dynamodbav:"expires_at"`
	ID           string   `dynamodbav:"id"`
	Kind         string   `dynamodbav:"kind"`
	Runtime      string   `dynamodbav:"runtime"`
	TS           string   `dynamodbav:"ts"`
	DeviceType   string   `dynamodbav:"device_type,omitempty"`
	DeviceID     string   `dynamodbav:"device_id,omitempty"`
	JobName      string   `dynamodbav:"job_name,omitempty"`
	TestName     string   `dynamodbav:"test_name,omitempty"`
	JobID        string   `dynamodbav:"job_id,omitempty"`
	NodeID       string   `dynamodbav:"node_id,omitempty"`
	Tree         string   `dynamodbav:"tree,omitempty"`
	Branch       string   `dynamodbav:"branch,omitempty"`
	Arch         string   `dynamodbav:"arch,omitempty"`
	ErrorType    string   `dynamodbav:"error_type,omitempty"`
	Result       string   `dynamodbav:"result,omitempty"`
	IsInfraError bool     `dynamodbav:"is_infra_error"`
	ErrorMsg     string   `dynamodbav:"error_msg,omitempty"`
	Retry        int      `dynamodbav:"retry"`
	Duration     *float64 `dynamodbav:"duration,omitempty"`
	Extra        string   `dynamodbav:"extra,omitempty"`
	ReceivedAt   string   `dynamodbav:"received_at"`
	Truncated    []string `dynamodbav:"truncated,omitempty"`
}

// keys derives where an event lives. Sharding by a hash of the id spreads one day's, one
// runtime's or one kind's writes over several partition key values, so no key value
// takes more than its share of the 1,000 writes/s a partition allows.
type keys struct {
	eventShards, runtimeShards, kindShards int
}

// eventShard is the shard of the day bucket an event with this id lives in.
func (k keys) eventShard(id string) int { return int(idHash(id) % uint32(k.eventShards)) }

// primary is the table key of e: all that ingest needs before it writes.
func (k keys) primary(e *telemetry.Event) (pk, sk string) {
	return k.partition(e), telemetry.FormatTime(e.TS) + "#" + e.ID
}

func (k keys) item(e *telemetry.Event, retention time.Duration) eventItem {
	pk, sk := k.primary(e)
	it := eventItem{
		PK:           pk,
		SK:           sk,
		RuntimeKey:   k.runtimeKey(e),
		KindKey:      k.kindKey(e),
		InfraKey:     k.infraKey(e),
		ExpiresAt:    expiry(e, retention),
		ID:           e.ID,
		Kind:         e.Kind,
		Runtime:      e.Runtime,
		TS:           telemetry.FormatTime(e.TS),
		DeviceType:   e.DeviceType,
		DeviceID:     e.DeviceID,
		JobName:      e.JobName,
		TestName:     e.TestName,
		JobID:        e.JobID,
		NodeID:       e.NodeID,
		Tree:         e.Tree,
		Branch:       e.Branch,
		Arch:         e.Arch,
		ErrorType:    e.ErrorType,
		Result:       e.Result,
		IsInfraError: e.IsInfraError,
		ErrorMsg:     e.ErrorMsg,
		Retry:        e.Retry,
		Duration:     e.Duration,
		Extra:        string(e.Extra),
		ReceivedAt:   telemetry.FormatTime(e.ReceivedAt),
		Truncated:    e.Truncated,
	}
	return it
}

func (it *eventItem) event() (telemetry.Event, error) {
	ts, err := time.Parse(telemetry.TimeLayout, it.TS)
	if err != nil {
		return telemetry.Event{}, fmt.Errorf("item %s: ts %q: %w", it.SK, it.TS, err)
	}
	received, _ := time.Parse(telemetry.TimeLayout, it.ReceivedAt)
	e := telemetry.Event{
		ID: it.ID, Kind: it.Kind, Runtime: it.Runtime, TS: ts, DeviceType: it.DeviceType,
		DeviceID: it.DeviceID, JobName: it.JobName, TestName: it.TestName, JobID: it.JobID,
		NodeID: it.NodeID, Tree: it.Tree, Branch: it.Branch, Arch: it.Arch,
		ErrorType: it.ErrorType, Result: it.Result, IsInfraError: it.IsInfraError,
		ErrorMsg: it.ErrorMsg, Retry: it.Retry, Duration: it.Duration, ReceivedAt: received,
		Truncated: it.Truncated,
	}
	if it.Extra != "" {
		e.Extra = []byte(it.Extra)
	}
	return e, nil
}

func decodeEvent(av map[string]types.AttributeValue) (telemetry.Event, string, error) {
	var it eventItem
	if err := attributevalue.UnmarshalMap(av, &it); err != nil {
		return telemetry.Event{}, "", fmt.Errorf("decode event item: %w", err)
	}
	e, err := it.event()
	return e, it.SK, err
}

// expiry is when e expires: retention after it was received, whatever its ts, so a
// backfilled event is kept as long as a fresh one.
func expiry(e *telemetry.Event, retention time.Duration) int64 {
	return e.ReceivedAt.Add(retention).Unix()
}

func idHash(id string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(id))
	return h.Sum32()
}

func dayOf(t time.Time) string { return t.UTC().Format("20060102") }

func dayPartition(day string, shard int) string { return "E#" + day + "#" + strconv.Itoa(shard) }

func shardKey(value string, shard int) string { return value + "#" + strconv.Itoa(shard) }

// skUpperInclusive is the largest sort key an event at ts can have: ids use only
// [A-Za-z0-9._:-], all of which sort before '~'.
func skUpperInclusive(ts time.Time) string { return telemetry.FormatTime(ts) + "#~" }

func skLowerInclusive(ts time.Time) string { return telemetry.FormatTime(ts) }
