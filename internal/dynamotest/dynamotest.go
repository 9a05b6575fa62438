// Package dynamotest gives tests a real DynamoDB, Amazon's DynamoDB Local, and fresh
// uniquely named tables in it, so tests run in parallel against one server without
// seeing each other's data.
package dynamotest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/store"
)

// EnvEndpoint names the DynamoDB endpoint tests use; `make test` sets it to the one
// DynamoDB Local it starts for all test binaries.
const EnvEndpoint = "PIPETEL_TEST_DYNAMODB_ENDPOINT"

// own is the DynamoDB Local this test binary starts when EnvEndpoint is unset, so a plain
// `go test` works too. It serves every test of the binary, so no test can stop it; the
// JVM dies with the binary (Pdeathsig).
var own struct {
	once     sync.Once
	endpoint string
	err      error
}

// Endpoint is the DynamoDB endpoint for t: $PIPETEL_TEST_DYNAMODB_ENDPOINT, else one
// DynamoDB Local started for this test binary. If DynamoDB Local is not installed, t is
// skipped, except under CI=true, where it fails: integration tests never skip in CI.
func Endpoint(t testing.TB) string {
	t.Helper()
	if ep := os.Getenv(EnvEndpoint); ep != "" {
		return ep
	}
	own.once.Do(func() {
		srv, err := dynamolocal.Start(context.Background(), dynamolocal.Options{})
		if err != nil {
			own.err = err
			return
		}
		own.endpoint = srv.Endpoint()
	})
	if own.err != nil {
		unavailable(t, os.Getenv, own.err)
		return ""
	}
	return own.endpoint
}

// unavailable ends t for want of DynamoDB Local.
func unavailable(t testing.TB, getenv func(string) string, err error) {
	t.Helper()
	ci, _ := strconv.ParseBool(getenv("CI"))
	if errors.Is(err, dynamolocal.ErrNotInstalled) && !ci {
		t.Skipf("skipped, this test needs DynamoDB Local; run `make test`, which installs it and runs every test: %v", err)
		return
	}
	t.Fatalf("DynamoDB Local: %v", err)
}

// Client is a DynamoDB client for Endpoint(t), built as the service builds its own, with
// optFns applied after: a test adds middleware to count operations or inject faults.
func Client(t testing.TB, optFns ...func(*dynamodb.Options)) *dynamodb.Client {
	t.Helper()
	client, err := store.NewClient(t.Context(), store.ClientOptions{Endpoint: Endpoint(t)})
	if err != nil {
		t.Fatalf("dynamotest: DynamoDB client: %v", err)
	}
	if len(optFns) == 0 {
		return client
	}
	return dynamodb.New(client.Options(), optFns...)
}

// NewTables creates a fresh set of the service's tables under names no other test uses,
// and deletes them when t ends.
func NewTables(t testing.TB) store.Tables {
	t.Helper()
	client := Client(t)
	prefix := "t-" + randomHex(8) + "-"
	tables := store.Tables{
		Events:  prefix + "events",
		Tokens:  prefix + "tokens",
		Summary: prefix + "summary",
	}
	// Registered before creating, so tables made before a failure are removed too.
	t.Cleanup(func() { deleteTables(t, client, tables) })
	if err := store.CreateTables(t.Context(), client, tables, store.KeepExpired()); err != nil {
		t.Fatalf("dynamotest: create tables: %v", err)
	}
	return tables
}

func deleteTables(t testing.TB, client *dynamodb.Client, tables store.Tables) {
	t.Helper()
	// t.Context is already cancelled when cleanups run.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, name := range []string{tables.Events, tables.Tokens, tables.Summary} {
		if name == "" {
			continue // not created
		}
		_, err := client.DeleteTable(ctx, &dynamodb.DeleteTableInput{TableName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		if err != nil && !errors.As(err, &notFound) {
			t.Errorf("dynamotest: delete table %s: %v", name, err)
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails: crypto/rand crashes the program instead
	return hex.EncodeToString(b)
}
