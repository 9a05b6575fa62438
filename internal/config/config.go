// Package config reads a function's configuration from its environment.
package config

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Environment variables read by Load. template.yaml sets the same names; a test holds the
// two together.
const (
	EnvEventsTable      = "EVENTS_TABLE"
	EnvDynamoEndpoint   = "DYNAMODB_ENDPOINT"
	EnvRegion           = "AWS_REGION"
	EnvEventShards      = "EVENT_SHARDS"
	EnvRuntimeShards    = "RUNTIME_SHARDS"
	EnvKindShards       = "KIND_SHARDS"
	EnvRetentionDays    = "RETENTION_DAYS"
	EnvWriteConcurrency = "WRITE_CONCURRENCY"
	EnvCursorSecret     = "CURSOR_SECRET"
	EnvLogLevel         = "LOG_LEVEL"
	// EnvPipelineRuntime names the CI system whose pipeline runs POST /pipelines receives.
	EnvPipelineRuntime = "PIPELINE_RUNTIME"
	EnvTokensTable     = "TOKENS_TABLE" // the authorizer's and the CLI's; empty elsewhere
	EnvPublicReads     = "PUBLIC_READS" // "true": GET routes need no token
	// The summary table (rollups); unset, stats and anomalies read raw events only.
	EnvSummaryTable        = "SUMMARY_TABLE"
	EnvRollupRetentionDays = "ROLLUP_RETENTION_DAYS"
	// The anomaly windows (comma-separated, of KernelCI's 1h, 3h, 6h, 12h, 24h, 48h) and
	// threshold (0..1) each rollup run evaluates, in both scopes, for the summary.
	EnvRollupAnomalyWindows   = "ROLLUP_ANOMALY_WINDOWS"
	EnvRollupAnomalyThreshold = "ROLLUP_ANOMALY_THRESHOLD"
	// The EventBridge bus the rollup publishes alerts to ("default": the account's);
	// unset, it publishes none.
	EnvAlertBus = "ALERT_BUS"
	// Set by Lambda from the function's role.
	EnvAccessKeyID     = "AWS_ACCESS_KEY_ID"
	EnvSecretAccessKey = "AWS_SECRET_ACCESS_KEY"
	EnvSessionToken    = "AWS_SESSION_TOKEN"
)

// Variables lists every variable Load reads.
var Variables = []string{
	EnvEventsTable, EnvDynamoEndpoint, EnvRegion, EnvEventShards, EnvRuntimeShards,
	EnvKindShards, EnvRetentionDays, EnvWriteConcurrency, EnvCursorSecret, EnvLogLevel,
	EnvAccessKeyID, EnvSecretAccessKey, EnvSessionToken, EnvTokensTable, EnvPublicReads,
	EnvPipelineRuntime, EnvSummaryTable, EnvRollupRetentionDays,
	EnvRollupAnomalyWindows, EnvRollupAnomalyThreshold,
	EnvAlertBus,
}

// Config is the configuration of one function.
type Config struct {
	EventsTable    string
	DynamoEndpoint string // empty: the AWS endpoint of Region
	Region         string
	// Shard counts spread writes so that no partition key value takes more than ~500
	// writes/s at the target load. They are fixed for the life of a table: readers fan out
	// over the same counts the writers used.
	EventShards      int
	RuntimeShards    int
	KindShards       int
	Retention        time.Duration
	WriteConcurrency int
	CursorSecret     string
	LogLevel         string
	Credentials      aws.Credentials
	// PipelineRuntime is the runtime of the events a pipeline run of POST /pipelines
	// becomes, unless the request names one (telemetry.DefaultPipelineRuntime when unset).
	PipelineRuntime string
	TokensTable     string // empty: this process checks no tokens
	PublicReads     bool
	SummaryTable    string
	RollupRetention time.Duration
	// RollupAnomalyWindows and RollupAnomalyThreshold are what the rollup's summary
	// evaluates KernelCI's anomaly rules with (defaults 6 h and 24 h, at 0.5).
	RollupAnomalyWindows   []time.Duration
	RollupAnomalyThreshold float64
	AlertBus               string // empty: no alerts published
}

// Defaults, sized so that at 10,000 events/s no key value takes more than ~400 writes/s in
// any second, even if one runtime or one kind sends everything (a partition allows 1,000;
// DESIGN §4 keeps half of that): 32 shards put the mean at 313 writes/s and the hottest
// second of a simulated hour at ~390, where 24 put them at 417 and 512 (BENCHMARKS.md,
// hot keys).
const (
	DefaultEventShards      = 32
	DefaultRuntimeShards    = 32
	DefaultKindShards       = 32
	DefaultRetentionDays    = 14
	DefaultWriteConcurrency = 16
	// DefaultRollupRetentionDays keeps rollups for 400 days, far beyond raw events.
	DefaultRollupRetentionDays = 400
	// DefaultRollupAnomalyWindows and DefaultRollupAnomalyThreshold: the summary's
	// anomaly evaluations, at KernelCI's default threshold.
	DefaultRollupAnomalyWindows   = "6h,24h"
	DefaultRollupAnomalyThreshold = 0.5
)

// anomalyWindowHours are the windows GET /telemetry/anomalies accepts (KernelCI's,
// analytics.AnomalyWindows), in hours; the summary evaluates only those, so each of its
// anomalies is one an operator can ask the anomalies route about.
var anomalyWindowHours = []int{1, 3, 6, 12, 24, 48}

// Load reads the configuration through getenv (os.Getenv in production, a map in tests).
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		EventsTable:    strings.TrimSpace(getenv(EnvEventsTable)),
		DynamoEndpoint: strings.TrimSpace(getenv(EnvDynamoEndpoint)),
		Region:         strings.TrimSpace(getenv(EnvRegion)),
		CursorSecret:   getenv(EnvCursorSecret),
		LogLevel:       strings.TrimSpace(getenv(EnvLogLevel)),
		Credentials: aws.Credentials{
			AccessKeyID:     getenv(EnvAccessKeyID),
			SecretAccessKey: getenv(EnvSecretAccessKey),
			SessionToken:    getenv(EnvSessionToken),
			Source:          "environment",
		},
	}
	c.PipelineRuntime = strings.TrimSpace(getenv(EnvPipelineRuntime))
	c.TokensTable = strings.TrimSpace(getenv(EnvTokensTable))
	switch v := strings.TrimSpace(getenv(EnvPublicReads)); strings.ToLower(v) {
	case "", "false":
	case "true":
		c.PublicReads = true
	default:
		return Config{}, fmt.Errorf("%s=%q: want true or false", EnvPublicReads, v)
	}
	if c.EventsTable == "" {
		return Config{}, fmt.Errorf("%s is not set: name the DynamoDB events table", EnvEventsTable)
	}
	var err error
	ints := []struct {
		name string
		dst  *int
		def  int
		max  int
	}{
		{EnvEventShards, &c.EventShards, DefaultEventShards, 1000},
		{EnvRuntimeShards, &c.RuntimeShards, DefaultRuntimeShards, 1000},
		{EnvKindShards, &c.KindShards, DefaultKindShards, 1000},
		{EnvWriteConcurrency, &c.WriteConcurrency, DefaultWriteConcurrency, 256},
	}
	for _, v := range ints {
		if *v.dst, err = positiveInt(getenv, v.name, v.def, v.max); err != nil {
			return Config{}, err
		}
	}
	days, err := positiveInt(getenv, EnvRetentionDays, DefaultRetentionDays, 3650)
	if err != nil {
		return Config{}, err
	}
	c.Retention = time.Duration(days) * 24 * time.Hour
	c.SummaryTable = strings.TrimSpace(getenv(EnvSummaryTable))
	c.AlertBus = strings.TrimSpace(getenv(EnvAlertBus))
	rollupDays, err := positiveInt(getenv, EnvRollupRetentionDays, DefaultRollupRetentionDays, 3650)
	if err != nil {
		return Config{}, err
	}
	c.RollupRetention = time.Duration(rollupDays) * 24 * time.Hour
	if c.RollupAnomalyWindows, err = anomalyWindows(getenv(EnvRollupAnomalyWindows)); err != nil {
		return Config{}, err
	}
	c.RollupAnomalyThreshold = DefaultRollupAnomalyThreshold
	if raw := strings.TrimSpace(getenv(EnvRollupAnomalyThreshold)); raw != "" {
		t, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(t) || t < 0 || t > 1 {
			return Config{}, fmt.Errorf("%s=%q: want a number from 0 to 1, such as 0.5", EnvRollupAnomalyThreshold, raw)
		}
		c.RollupAnomalyThreshold = t
	}
	if c.CursorSecret == "" {
		// Cursors are signed so a changed one is refused rather than misread; without a
		// configured secret the table name keys them, which still catches tampering.
		c.CursorSecret = "pipetel-cursor:" + c.EventsTable
	}
	return c, nil
}

// anomalyWindows reads a comma-separated list of windows such as "6h,24h" (empty: the
// default), each one of anomalyWindowHours, without repeats.
func anomalyWindows(raw string) ([]time.Duration, error) {
	if strings.TrimSpace(raw) == "" {
		raw = DefaultRollupAnomalyWindows
	}
	var out []time.Duration
	for _, part := range strings.Split(raw, ",") {
		name := strings.TrimSpace(part)
		hours, err := strconv.Atoi(strings.TrimSuffix(name, "h"))
		if err != nil || !strings.HasSuffix(name, "h") || !slices.Contains(anomalyWindowHours, hours) ||
			slices.Contains(out, time.Duration(hours)*time.Hour) {
			return nil, fmt.Errorf("%s=%q: want distinct windows from 1h, 3h, 6h, 12h, 24h, 48h, comma-separated, such as 6h,24h", EnvRollupAnomalyWindows, raw)
		}
		out = append(out, time.Duration(hours)*time.Hour)
	}
	return out, nil
}

func positiveInt(getenv func(string) string, name string, def, max int) (int, error) {
	raw := strings.TrimSpace(getenv(name))
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 || n > max {
		return 0, fmt.Errorf("%s=%q: want a whole number from 1 to %d", name, raw, max)
	}
	return n, nil
}

// LoadTokens reads the configuration of a process that works on the tokens table alone,
// such as the operator's CLI: the same variables as Load, of which it needs
// TOKENS_TABLE and not EVENTS_TABLE.
func LoadTokens(getenv func(string) string) (Config, error) {
	c := Config{
		TokensTable:    strings.TrimSpace(getenv(EnvTokensTable)),
		DynamoEndpoint: strings.TrimSpace(getenv(EnvDynamoEndpoint)),
		Region:         strings.TrimSpace(getenv(EnvRegion)),
		LogLevel:       strings.TrimSpace(getenv(EnvLogLevel)),
		Credentials: aws.Credentials{
			AccessKeyID:     getenv(EnvAccessKeyID),
			SecretAccessKey: getenv(EnvSecretAccessKey),
			SessionToken:    getenv(EnvSessionToken),
			Source:          "environment",
		},
	}
	if c.TokensTable == "" {
		return Config{}, fmt.Errorf("%s is not set: name the DynamoDB tokens table (the stack's TokensTableName output)", EnvTokensTable)
	}
	return c, nil
}
