// Package invoke is `make invoke`: one built function, one event, as `sam local invoke`
// runs them, but with the Runtime API emulator instead of Docker and an in-memory
// DynamoDB Local instead of a deployed table.
package invoke

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/lambdatest"
	"github.com/pipetel/pipetel/internal/store"
)

// DefaultTable is the events table an invocation uses unless told otherwise: make dev's,
// so that with make dev's DynamoDB endpoint the read functions read what it holds.
const DefaultTable = "pipetel-dev-events"

// Exit codes of Main.
const (
	ExitOK            = 0
	ExitFunctionError = 1 // the function failed, timed out or exited, or setup failed
	ExitUsage         = 2
)

// Main runs `invoke` with args (without the program name) and returns its exit code. The
// function's response goes to stdout, pretty-printed; its logs and ours go to stderr.
func Main(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("invoke", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: invoke -bootstrap <path> -event <file.json> [-endpoint URL] [-table NAME] [-timeout D]")
		fs.PrintDefaults()
	}
	var o Options
	fs.StringVar(&o.Bootstrap, "bootstrap", "", "the function's built bootstrap binary (for this machine)")
	fs.StringVar(&o.EventFile, "event", "", "the invocation event, e.g. events/ingest.json")
	fs.StringVar(&o.Endpoint, "endpoint", getenv(config.EnvDynamoEndpoint),
		"DynamoDB endpoint (default $"+config.EnvDynamoEndpoint+"; if empty, an in-memory DynamoDB Local is started)")
	fs.StringVar(&o.Table, "table", or(getenv(config.EnvEventsTable), DefaultTable), "events table, created if missing")
	fs.StringVar(&o.Region, "region", or(getenv(config.EnvRegion), "us-east-1"), "AWS region")
	fs.DurationVar(&o.Timeout, "timeout", 30*time.Second, "the function's timeout")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage
	}
	if o.Bootstrap == "" || o.EventFile == "" || fs.NArg() > 0 {
		fs.Usage()
		return ExitUsage
	}
	// The function reads the rest of its configuration (shard counts, log level...) from
	// the same variables as in a deployment, so a developer can set them here.
	o.Env = map[string]string{}
	for _, name := range config.Variables {
		if v := getenv(name); v != "" {
			o.Env[name] = v
		}
	}
	o.Log = stderr

	res, err := Run(ctx, o)
	if len(res.Responses) > 0 {
		r := res.Responses[0]
		fmt.Fprintf(stderr, "REPORT RequestId: %s\tDuration: %s\tInit Duration: %s\tFirst response: %s\n",
			r.RequestID, r.Duration.Round(time.Microsecond), r.InitDuration.Round(time.Microsecond), res.FirstResponse.Round(time.Microsecond))
		if _, werr := stdout.Write(pretty(r.Payload)); werr != nil {
			fmt.Fprintln(stderr, "invoke:", werr)
			return ExitFunctionError
		}
	}
	if err != nil {
		fmt.Fprintln(stderr, "invoke:", err)
		return ExitFunctionError
	}
	return ExitOK
}

// Options are what Run needs.
type Options struct {
	Bootstrap string
	EventFile string
	// Endpoint is the DynamoDB endpoint; empty starts an in-memory DynamoDB Local for the
	// length of the run.
	Endpoint string
	Table    string
	Region   string
	Timeout  time.Duration
	// Env is given to the function, under the table, endpoint and region set here.
	Env map[string]string
	// Log receives the function's output, and DynamoDB Local's when it fails to start.
	Log io.Writer
}

// Run creates the events table, then runs the bootstrap on the event under the Runtime
// API emulator, and stops whatever it started.
func Run(ctx context.Context, o Options) (lambdatest.Result, error) {
	event, err := os.ReadFile(o.EventFile)
	if err != nil {
		return lambdatest.Result{}, err
	}
	if !json.Valid(event) {
		return lambdatest.Result{}, fmt.Errorf("%s is not JSON", o.EventFile)
	}
	if o.Endpoint == "" {
		if o.Log != nil {
			fmt.Fprintf(o.Log, "invoke: a fresh in-memory DynamoDB Local, so reads find nothing; to use make dev's data, set %s to the DynamoDB endpoint make dev prints\n", config.EnvDynamoEndpoint)
		}
		ddb, err := dynamolocal.Start(ctx, dynamolocal.Options{})
		if err != nil {
			if errors.Is(err, dynamolocal.ErrNotInstalled) {
				err = fmt.Errorf("%w (run `make dynamodb-local`, or pass -endpoint)", err)
			}
			return lambdatest.Result{}, err
		}
		defer func() { _ = ddb.Stop() }()
		o.Endpoint = ddb.Endpoint()
	}
	client, err := store.NewClient(ctx, store.ClientOptions{Region: o.Region, Endpoint: o.Endpoint})
	if err != nil {
		return lambdatest.Result{}, err
	}
	// The tokens and summary tables are named after the events table as make dev names
	// them (pipetel-dev-events: pipetel-dev-tokens, pipetel-dev-summary), so that with make
	// dev's endpoint the function reads make dev's tables and creates none beside them.
	tokens, summary := o.Env[config.EnvTokensTable], o.Env[config.EnvSummaryTable]
	if tokens == "" {
		tokens = siblingTable(o.Table, "tokens")
	}
	if summary == "" {
		summary = siblingTable(o.Table, "summary")
	}
	if err := store.CreateTables(ctx, client, store.Tables{Events: o.Table, Tokens: tokens, Summary: summary}); err != nil {
		return lambdatest.Result{}, err
	}

	env := map[string]string{}
	maps.Copy(env, o.Env)
	env[config.EnvEventsTable] = o.Table
	env[config.EnvTokensTable] = tokens
	env[config.EnvSummaryTable] = summary
	env[config.EnvDynamoEndpoint] = o.Endpoint
	env[config.EnvRegion] = o.Region
	return lambdatest.Run(ctx, lambdatest.Options{
		Bootstrap: o.Bootstrap,
		Region:    o.Region,
		Timeout:   o.Timeout,
		Env:       env,
		Log:       o.Log,
	}, event)
}

// siblingTable names another table after the events table: its "-events" suffix replaced
// by "-"+role, or "-"+role appended when it has none.
func siblingTable(events, role string) string {
	return strings.TrimSuffix(events, "-events") + "-" + role
}

// pretty indents a JSON payload for reading; anything else is printed as it came.
func pretty(payload []byte) []byte {
	var buf bytes.Buffer
	if err := json.Indent(&buf, payload, "", "  "); err != nil {
		return append(payload, '\n')
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
