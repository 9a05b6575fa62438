package store

import (
	"maps"
	"testing"
	"time"
)

func TestDaysToRegister(t *testing.T) {
	const day = int64(24 * 3600)
	noon := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	late := time.Date(2026, 11, 29, 23, 30, 0, 0, time.UTC)
	slack := int64(RegistrySlack / time.Second)
	for _, tt := range []struct {
		name        string
		known, need map[string]int64
		now         time.Time
		want        map[string]int64
	}{
		{"a new day is written, slack past its need", nil, map[string]int64{"20261129": 14 * day}, noon,
			map[string]int64{"20261129": 14*day + slack}},
		{"a day known long enough is not", map[string]int64{"20261129": 14*day + slack}, map[string]int64{"20261129": 14 * day}, noon,
			map[string]int64{}},
		{"a backfilled day alone is written alone", nil, map[string]int64{"20261101": 14 * day}, late,
			map[string]int64{"20261101": 14*day + slack}},
		{"today within the slack of midnight brings tomorrow", nil, map[string]int64{"20261129": 14 * day}, late,
			map[string]int64{"20261129": 14*day + slack, "20261130": 14*day + slack}},
		{"tomorrow already covered is not written again", map[string]int64{"20261130": 15 * day}, map[string]int64{"20261129": 14 * day}, late,
			map[string]int64{"20261129": 14*day + slack}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := DaysToRegister(tt.known, tt.need, tt.now); !maps.Equal(got, tt.want) {
				t.Errorf("DaysToRegister = %v, want %v", got, tt.want)
			}
		})
	}
}
