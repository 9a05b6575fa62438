package store

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// RunMarkerPrefix opens the partition key of a run marker: RunMarkerPrefix + the id of
// the run's pipeline_result event, a hash of (project, pipeline_id). Each run has its own
// partition key, so markers spread over partitions as evenly as the hash.
const RunMarkerPrefix = "RUN#"

// runMarkerSK is the sort key of every run marker; the partition key alone identifies it.
const runMarkerSK = "RUN"

// runMarker is the item that says a pipeline run is stored. It has no runtime_key or
// kind_key, so no index and no event query sees it.
type runMarker struct {
	PK        string `dynamodbav:"pk"`
	SK        string `dynamodbav:"sk"`
	ExpiresAt int64  `dynamodbav:"expires_at"`
}

func runMarkerPK(run *telemetry.Event) string { return RunMarkerPrefix + run.ID }

// RunStored reports whether the run whose pipeline_result event is run has an unexpired
// marker, with the same strongly consistent, keys-only probe PutEvents uses.
func (s *Events) RunStored(ctx context.Context, run telemetry.Event) (bool, error) {
	pr, err := s.probe(ctx, []pending{{pk: runMarkerPK(&run), sk: runMarkerSK}})
	if err != nil {
		return false, clientError(err)
	}
	return len(pr.dups) == 1, nil
}

// MarkRunStored writes the marker of the run whose pipeline_result event is run, expiring
// with that event. The put is conditional: it reports false, writing nothing, when an
// unexpired marker is already there (another request stored the run first). An expired
// marker TTL has not deleted yet is replaced, as an expired event is.
func (s *Events) MarkRunStored(ctx context.Context, run telemetry.Event) (bool, error) {
	item, err := attributevalue.MarshalMap(runMarker{
		PK: runMarkerPK(&run), SK: runMarkerSK, ExpiresAt: expiry(&run, s.opts.Retention),
	})
	if err != nil {
		return false, fmt.Errorf("marshal run marker: %w", err)
	}
	cond := expression.AttributeNotExists(expression.Name(AttrPK)).
		Or(expression.Name(AttrExpiresAt).LessThanEqual(expression.Value(s.now().Unix())))
	wrote, err := conditionalPut(ctx, s.db, s.opts.Table, item, cond)
	if err != nil {
		return false, clientError(fmt.Errorf("mark run stored: %w", err))
	}
	return wrote, nil
}
