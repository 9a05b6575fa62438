package store

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestFirstReadLeavesFewPartitionsDry holds firstRead to its comment: about three times
// the page read at KernelCI's sizes, and a partition run dry (a second round) rarely, by
// the Poisson law of a partition's share of the page.
func TestFirstReadLeavesFewPartitionsDry(t *testing.T) {
	for _, tt := range []struct {
		need, partitions int
		want             int32
	}{
		{51, 32, 6}, // limit 50 and one to know of a next page, over the default shards
		{51, 24, 7},
		{51, 1, 73},    // one partition: the page and its margin
		{1, 24, 2},     // the floor: a partition that holds one needs to show it is done
		{1001, 24, 62}, // limit 1000
		{100000, 1, 1000},
	} {
		got := firstRead(tt.need, tt.partitions)
		if got != tt.want {
			t.Errorf("firstRead(%d, %d) = %d, want %d", tt.need, tt.partitions, got, tt.want)
		}
		share := float64(tt.need) / float64(tt.partitions)
		if got < 1000 && dryChance(share, int(got)) > 0.01 {
			t.Errorf("firstRead(%d, %d) = %d runs a partition dry with probability %.3f, want ≤ 1%%", tt.need, tt.partitions, got, dryChance(share, int(got)))
		}
	}
}

// dryChance is P(X ≥ k) for X Poisson with mean m: a partition holding k or more of the
// page's events empties its first read while the merge still needs it.
func dryChance(m float64, k int) float64 {
	p, term := 0.0, math.Exp(-m)
	for i := range k {
		if i > 0 {
			term *= m / float64(i)
		}
		p += term
	}
	return 1 - p
}

// TestClientErrorWrapsOnce: a failure passed up through several calls, each mapping it
// for the client, names its cause once (a log line read "unavailable: …: unavailable: …").
func TestClientErrorWrapsOnce(t *testing.T) {
	cause := &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	once := clientError(fmt.Errorf("mark rollup stale: %w", cause))
	twice := clientError(fmt.Errorf("put events: %w", once))
	var te *telemetry.Error
	if !errors.As(twice, &te) || te.Code != telemetry.CodeThrottled {
		t.Fatalf("%v: want a throttled telemetry.Error", twice)
	}
	if n := strings.Count(twice.Error(), "slow down"); n != 1 {
		t.Errorf("%q names its cause %d times, want once", twice.Error(), n)
	}
	if n := strings.Count(twice.Error(), string(telemetry.CodeThrottled)); n != 1 {
		t.Errorf("%q names its code %d times, want once", twice.Error(), n)
	}
}
