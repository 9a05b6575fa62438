package invoke

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pipetel/pipetel/internal/dynamotest"
)

func getenv(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestMainUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"-bootstrap", "x"}, {"-event", "e.json"}, {"-bootstrap", "x", "-event", "e.json", "extra"}, {"-nope"}} {
		var stdout, stderr strings.Builder
		if code := Main(t.Context(), args, getenv(nil), &stdout, &stderr); code != ExitUsage {
			t.Errorf("Main(%q) = %d, want %d", args, code, ExitUsage)
		}
		if stdout.Len() != 0 || !strings.Contains(stderr.String(), "usage: invoke") {
			t.Errorf("Main(%q): stdout %q, stderr %q; want usage on stderr only", args, stdout.String(), stderr.String())
		}
	}
}

// A function that cannot start is a failed invocation: exit 1, its output on stderr,
// nothing on stdout. The table it was given exists, created by Run.
func TestMainFunctionFails(t *testing.T) {
	dir := t.TempDir()
	bootstrap := filepath.Join(dir, "bootstrap")
	script := "#!/bin/sh\necho \"table=$EVENTS_TABLE endpoint=$DYNAMODB_ENDPOINT shards=$EVENT_SHARDS\" >&2\nexit 3\n"
	if err := os.WriteFile(bootstrap, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	event := filepath.Join(dir, "event.json")
	if err := os.WriteFile(event, []byte(`{"version":"2.0"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	endpoint := dynamotest.Endpoint(t)
	// A name of our own, not dynamotest.NewTables, whose tables already exist.
	table := "pipetel-invoke-test-" + rand.Text()
	env := map[string]string{"DYNAMODB_ENDPOINT": endpoint, "EVENTS_TABLE": table, "EVENT_SHARDS": "4"}
	client := dynamotest.Client(t)
	t.Cleanup(func() {
		_, _ = client.DeleteTable(t.Context(), &dynamodb.DeleteTableInput{TableName: aws.String(table)})
	})

	var stdout, stderr strings.Builder
	code := Main(t.Context(), []string{"-bootstrap", bootstrap, "-event", event}, getenv(env), &stdout, &stderr)
	if code != ExitFunctionError {
		t.Errorf("Main = %d, want %d; stderr:\n%s", code, ExitFunctionError, stderr.String())
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout = %q, want nothing from a failed invocation", stdout.String())
	}
	want := fmt.Sprintf("table=%s endpoint=%s shards=4", table, endpoint)
	if !strings.Contains(stderr.String(), want) || !strings.Contains(stderr.String(), "exit status 3") {
		t.Errorf("stderr = %q, want the function's output %q and its exit status", stderr.String(), want)
	}
	if _, err := client.DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String(table)}); err != nil {
		t.Errorf("the events table was not created: %v", err)
	}
}

// TestTablesAreMakeDevs: with make dev's events table, the tokens and summary tables are
// make dev's too, so an invocation against make dev's endpoint reads what it holds.
func TestTablesAreMakeDevs(t *testing.T) {
	for events, want := range map[string][2]string{
		DefaultTable: {"pipetel-dev-tokens", "pipetel-dev-summary"},
		"mine":       {"mine-tokens", "mine-summary"},
	} {
		if got := [2]string{siblingTable(events, "tokens"), siblingTable(events, "summary")}; got != want {
			t.Errorf("events table %s: tokens and summary %v, want %v", events, got, want)
		}
	}
}
