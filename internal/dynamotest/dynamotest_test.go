package dynamotest

import (
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/store"
)

func TestNewTablesCreatesTheEventsTable(t *testing.T) {
	t.Parallel()
	tables := NewTables(t)
	client := Client(t)

	out, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(tables.Events)})
	if err != nil {
		t.Fatalf("DescribeTable: %v", err)
	}
	if out.Table.TableStatus != types.TableStatusActive {
		t.Errorf("table status %s, want ACTIVE", out.Table.TableStatus)
	}
	var indexes []string
	for _, gsi := range out.Table.GlobalSecondaryIndexes {
		indexes = append(indexes, aws.ToString(gsi.IndexName))
	}
	slices.Sort(indexes)
	if want := []string{store.IndexByInfraError, store.IndexByKind, store.IndexByRuntime}; !slices.Equal(indexes, want) {
		t.Errorf("GSIs %v, want %v", indexes, want)
	}

	ttl, err := client.DescribeTimeToLive(t.Context(), &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(tables.Events)})
	if err != nil {
		t.Fatalf("DescribeTimeToLive: %v", err)
	}
	// Test tables keep expired items, as DynamoDB does for days after expiry, so readers'
	// own expiry checks are what tests exercise.
	if d := ttl.TimeToLiveDescription; d.TimeToLiveStatus == types.TimeToLiveStatusEnabled {
		t.Errorf("TTL is enabled on %q; test tables must keep expired items", aws.ToString(d.AttributeName))
	}
}

func TestNewTablesNamesEveryTableUniquely(t *testing.T) {
	t.Parallel()
	valid := regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
	seen := map[string]bool{}
	for range 2 {
		tables := reflect.ValueOf(NewTables(t))
		// Every table the store defines must get a name, or a test of it would fail on a
		// table named "".
		for i := range tables.NumField() {
			field, name := tables.Type().Field(i).Name, tables.Field(i).String()
			if !valid.MatchString(name) {
				t.Errorf("Tables.%s = %q, not a valid DynamoDB table name", field, name)
			}
			if seen[name] {
				t.Errorf("Tables.%s = %q, given twice", field, name)
			}
			seen[name] = true
		}
	}
}

func TestNewTablesDeletesTheTablesWhenTheTestEnds(t *testing.T) {
	t.Parallel()
	var tables store.Tables
	t.Run("user", func(t *testing.T) { tables = NewTables(t) })

	_, err := Client(t).DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(tables.Events)})
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) {
		t.Errorf("DescribeTable after the test ended: err = %v, want ResourceNotFoundException", err)
	}
}

func TestOperationRecorderRecordsEveryCall(t *testing.T) {
	t.Parallel()
	var rec OperationRecorder
	client := Client(t, rec.Option())

	if _, err := client.ListTables(t.Context(), &dynamodb.ListTablesInput{}); err != nil {
		t.Fatal(err)
	}
	tables := store.Tables{Events: "t-" + randomHex(8) + "-recorded"}
	t.Cleanup(func() { deleteTables(t, client, tables) })
	if err := store.CreateTables(t.Context(), client, tables); err != nil {
		t.Fatal(err)
	}
	ops := rec.Ops()
	if len(ops) < 2 || ops[0] != "ListTables" || ops[1] != "CreateTable" {
		t.Fatalf("Ops() = %v, want ListTables then CreateTable first", ops)
	}
	for _, op := range []string{"ListTables", "CreateTable", "UpdateTimeToLive"} {
		if n := rec.Count(op); n != 1 {
			t.Errorf("Count(%q) = %d, want 1; Ops() = %v", op, n, ops)
		}
	}

	// Concurrent calls are all counted, and a recorder given to one call sees that call
	// alone while the client's recorder sees it as well.
	var once OperationRecorder
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			var optFns []func(*dynamodb.Options)
			if i == 0 {
				optFns = append(optFns, once.Option())
			}
			if _, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(tables.Events)}, optFns...); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if n := rec.Count("DescribeTable") - countIn(ops, "DescribeTable"); n != 8 {
		t.Errorf("the client's recorder counted %d of 8 concurrent DescribeTable calls", n)
	}
	if got := once.Ops(); !slices.Equal(got, []string{"DescribeTable"}) {
		t.Errorf("the one call's recorder has %v, want [DescribeTable]", got)
	}
}

func countIn(ops []string, name string) int {
	n := 0
	for _, op := range ops {
		if op == name {
			n++
		}
	}
	return n
}

func TestEndpointPrefersTheEnvironment(t *testing.T) {
	const want = "http://127.0.0.1:1"
	t.Setenv(EnvEndpoint, want)
	if got := Endpoint(t); got != want {
		t.Errorf("Endpoint() = %q, want $%s %q", got, EnvEndpoint, want)
	}
}

// outcomeTB records how a test would have ended, in place of ending it.
type outcomeTB struct {
	testing.TB
	outcome string
}

func (o *outcomeTB) Helper()                     {}
func (o *outcomeTB) Skipf(f string, args ...any) { o.outcome = "skip: " + fmt.Sprintf(f, args...) }
func (o *outcomeTB) Fatalf(f string, args ...any) {
	o.outcome = "fatal: " + fmt.Sprintf(f, args...)
}

func TestUnavailableSkipsOnlyOutsideCI(t *testing.T) {
	t.Parallel()
	notInstalled := fmt.Errorf("%w: no jar", dynamolocal.ErrNotInstalled)
	broken := errors.New("DynamoDB Local exited before answering")
	tests := []struct {
		name string
		ci   string
		err  error
		want *regexp.Regexp
	}{
		{"not installed, locally", "", notInstalled, regexp.MustCompile("^skip: .*run `make test`")},
		{"not installed, in CI", "true", notInstalled, regexp.MustCompile("^fatal: .*no jar")},
		{"not installed, CI=1", "1", notInstalled, regexp.MustCompile("^fatal: ")},
		{"broken, locally", "", broken, regexp.MustCompile("^fatal: .*exited before answering")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tb := &outcomeTB{}
			unavailable(tb, func(k string) string { return map[string]string{"CI": tt.ci}[k] }, tt.err)
			if !tt.want.MatchString(tb.outcome) {
				t.Errorf("outcome %q, want one matching %s", tb.outcome, tt.want)
			}
		})
	}
}
