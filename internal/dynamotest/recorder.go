package dynamotest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/smithy-go/middleware"
)

// OperationRecorder records the DynamoDB operations a client makes, so a test can check
// how a result was reached: that a query used Query and never Scan, that a batch took so
// many BatchWriteItem calls. A call counts once however many times the SDK retries it.
// The zero value is ready to use, from any number of goroutines.
type OperationRecorder struct {
	mu  sync.Mutex
	ops []string
}

// Option adds the recorder to a client, Client(t, rec.Option()), or to one call.
func (r *OperationRecorder) Option() func(*dynamodb.Options) {
	return func(o *dynamodb.Options) {
		o.APIOptions = append(o.APIOptions, r.addTo)
	}
}

func (r *OperationRecorder) addTo(stack *middleware.Stack) error {
	// The ID is per recorder, as a stack refuses two middlewares with one ID and a test may
	// record a client and, separately, one call.
	id := fmt.Sprintf("pipetel/dynamotest.OperationRecorder/%p", r)
	// Initialize runs once per call, before the SDK's retry loop.
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc(id, r.handle), middleware.Before)
}

func (r *OperationRecorder) handle(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
	middleware.InitializeOutput, middleware.Metadata, error,
) {
	r.mu.Lock()
	r.ops = append(r.ops, middleware.GetOperationName(ctx))
	r.mu.Unlock()
	return next.HandleInitialize(ctx, in)
}

// Ops are the operation names recorded so far, in the order the calls began.
func (r *OperationRecorder) Ops() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ops)
}

// Count is how many calls of the named operation were recorded, e.g. Count("Scan").
func (r *OperationRecorder) Count(name string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, op := range r.ops {
		if op == name {
			n++
		}
	}
	return n
}
