package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/pipetel/pipetel/internal/config"
)

func env(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := config.Load(env(map[string]string{config.EnvEventsTable: "events"}))
	if err != nil {
		t.Fatal(err)
	}
	if c.EventShards != config.DefaultEventShards || c.RuntimeShards != config.DefaultRuntimeShards ||
		c.KindShards != config.DefaultKindShards || c.WriteConcurrency != config.DefaultWriteConcurrency {
		t.Errorf("defaults not applied: %+v", c)
	}
	if c.Retention != 14*24*time.Hour {
		t.Errorf("retention %v, want 14 days", c.Retention)
	}
	if c.RollupRetention != 400*24*time.Hour || c.SummaryTable != "" {
		t.Errorf("rollup retention %v, summary table %q; want 400 days and none", c.RollupRetention, c.SummaryTable)
	}
	if c.CursorSecret == "" {
		t.Error("no cursor secret")
	}
	if !reflect.DeepEqual(c.RollupAnomalyWindows, []time.Duration{6 * time.Hour, 24 * time.Hour}) || c.RollupAnomalyThreshold != 0.5 {
		t.Errorf("rollup anomaly windows %v at %v; want 6h and 24h at 0.5", c.RollupAnomalyWindows, c.RollupAnomalyThreshold)
	}
}

func TestLoadReadsEveryVariable(t *testing.T) {
	c, err := config.Load(env(map[string]string{
		config.EnvEventsTable: "t", config.EnvDynamoEndpoint: "http://127.0.0.1:8000", config.EnvRegion: "eu-west-1",
		config.EnvEventShards: "4", config.EnvRuntimeShards: "5", config.EnvKindShards: "6",
		config.EnvRetentionDays: "30", config.EnvWriteConcurrency: "7", config.EnvCursorSecret: "s3cret",
		config.EnvLogLevel: "debug", config.EnvAccessKeyID: "AKIA", config.EnvSecretAccessKey: "secret",
		config.EnvSessionToken: "token",
		config.EnvSummaryTable: "sum", config.EnvRollupRetentionDays: "500",
		config.EnvRollupAnomalyWindows: " 1h, 48h ", config.EnvRollupAnomalyThreshold: "0.25", config.EnvAlertBus: "default",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Config{EventsTable: "t", DynamoEndpoint: "http://127.0.0.1:8000", Region: "eu-west-1",
		EventShards: 4, RuntimeShards: 5, KindShards: 6, Retention: 30 * 24 * time.Hour,
		WriteConcurrency: 7, CursorSecret: "s3cret", LogLevel: "debug",
		Credentials:  aws.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "secret", SessionToken: "token", Source: "environment"},
		SummaryTable: "sum", RollupRetention: 500 * 24 * time.Hour,
		RollupAnomalyWindows: []time.Duration{time.Hour, 48 * time.Hour}, RollupAnomalyThreshold: 0.25,
		AlertBus: "default"}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v\nwant %+v", c, want)
	}
}

func TestLoadRejectsBadValuesNamingTheVariable(t *testing.T) {
	for name, vars := range map[string]map[string]string{
		config.EnvEventsTable:                        {},
		config.EnvEventShards:                        {config.EnvEventsTable: "t", config.EnvEventShards: "0"},
		config.EnvKindShards:                         {config.EnvEventsTable: "t", config.EnvKindShards: "many"},
		config.EnvRetentionDays:                      {config.EnvEventsTable: "t", config.EnvRetentionDays: "-1"},
		config.EnvWriteConcurrency:                   {config.EnvEventsTable: "t", config.EnvWriteConcurrency: "100000"},
		config.EnvRollupAnomalyWindows:               {config.EnvEventsTable: "t", config.EnvRollupAnomalyWindows: "6h,2h"},
		config.EnvRollupAnomalyWindows + " repeated": {config.EnvEventsTable: "t", config.EnvRollupAnomalyWindows: "6h,6h"},
		config.EnvRollupAnomalyThreshold:             {config.EnvEventsTable: "t", config.EnvRollupAnomalyThreshold: "1.5"},
	} {
		_, err := config.Load(env(vars))
		if err == nil || !strings.Contains(err.Error(), strings.Fields(name)[0]) {
			t.Errorf("%s: got %v, want an error naming it", name, err)
		}
	}
}

func TestTokensAndPublicReads(t *testing.T) {
	for _, c := range []struct {
		value string
		want  bool
		err   bool
	}{{"", false, false}, {"false", false, false}, {"true", true, false}, {"TRUE", true, false}, {"yes", false, true}} {
		cfg, err := config.Load(env(map[string]string{config.EnvEventsTable: "e", config.EnvTokensTable: "tk", config.EnvPublicReads: c.value}))
		if (err != nil) != c.err || cfg.PublicReads != c.want {
			t.Errorf("%s=%q: %v, %v; want %v, error %v", config.EnvPublicReads, c.value, cfg.PublicReads, err, c.want, c.err)
		}
		if err == nil && cfg.TokensTable != "tk" {
			t.Errorf("tokens table %q", cfg.TokensTable)
		}
		if err != nil && !strings.Contains(err.Error(), config.EnvPublicReads) {
			t.Errorf("error %v does not name %s", err, config.EnvPublicReads)
		}
	}
	// The CLI needs the tokens table, not the events table.
	if _, err := config.LoadTokens(env(map[string]string{config.EnvEventsTable: "e"})); err == nil || !strings.Contains(err.Error(), config.EnvTokensTable) {
		t.Errorf("LoadTokens without %s: %v", config.EnvTokensTable, err)
	}
	if c, err := config.LoadTokens(env(map[string]string{config.EnvTokensTable: "tk", config.EnvRegion: "eu-west-1"})); err != nil || c.TokensTable != "tk" || c.Region != "eu-west-1" {
		t.Errorf("LoadTokens: %+v, %v", c, err)
	}
}
