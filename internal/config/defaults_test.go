package config_test

import (
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/config"
)

// TestDefaultsAreTheDocumentedOnes holds the defaults to the values README.md documents
// and the storage layout is sized for (32 shards keep each key value under 500 writes/s in
// every second at 10,000 events/s), not to the constants they are read from: a changed constant must fail
// here, since a table's shard counts are fixed for its life.
func TestDefaultsAreTheDocumentedOnes(t *testing.T) {
	c, err := config.Load(env(map[string]string{config.EnvEventsTable: "events"}))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []struct {
		name      string
		got, want int
	}{
		{config.EnvEventShards, c.EventShards, 32},
		{config.EnvRuntimeShards, c.RuntimeShards, 32},
		{config.EnvKindShards, c.KindShards, 32},
		{config.EnvWriteConcurrency, c.WriteConcurrency, 16},
	} {
		if d.got != d.want {
			t.Errorf("%s defaults to %d; README.md and template.yaml say %d", d.name, d.got, d.want)
		}
	}
	if c.Retention != 14*24*time.Hour {
		t.Errorf("%s defaults to %s; README.md says 14 days", config.EnvRetentionDays, c.Retention)
	}
	if c.LogLevel != "" {
		t.Errorf("log level %q without %s; empty means info", c.LogLevel, config.EnvLogLevel)
	}
}
