package rollup_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/pipetel/pipetel/internal/rollup"
)

// TestAlertsOncePerGroup: KernelCI's rules over two windows find a broken device twice,
// and its error rule finds a runtime's error type at both scopes; each group pages once
// when its first anomaly opens and once when its last resolves. Other kinds alert per key.
func TestAlertsOncePerGroup(t *testing.T) {
	const t0, t1, t2, t3 = "2026-07-21T06:00:00.000000Z", "2026-07-21T06:01:00.000000Z", "2026-07-21T06:02:00.000000Z", "2026-07-21T06:03:00.000000Z"
	rec := func(scope, window, kind, group, since, confirmed string) rollup.AnomalyRecord {
		return rollup.AnomalyRecord{Key: scope + "/" + window + "/" + kind + "/" + group, Kind: kind, Scope: scope, Window: window,
			Since: since, LastConfirmed: confirmed}
	}
	resolved := func(r rollup.AnomalyRecord, at string) rollup.AnomalyRecord { r.ResolvedAt = &at; return r }
	device := "lab-a/rk3399/rk-1/"
	errType := "lab-a///callback_error"
	alerts := func(snap rollup.Snapshot) []string {
		var out []string
		for _, a := range rollup.Alerts(&snap) {
			var d struct{ State, Key string }
			if err := json.Unmarshal(a.Detail, &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, d.State+" "+d.Key)
		}
		return out
	}
	for _, c := range []struct {
		name string
		snap rollup.Snapshot
		want []string
	}{
		{"both windows and both scopes open at once: one alert each group", rollup.Snapshot{TakenAt: t0, OpenAnomalies: []rollup.AnomalyRecord{
			rec("device", "24h", "error", errType, t0, t0), rec("device", "24h", "result", device, t0, t0),
			rec("device", "6h", "error", errType, t0, t0), rec("device", "6h", "result", device, t0, t0),
			rec("device_type", "24h", "error", errType, t0, t0), rec("device_type", "24h", "result", "lab-a/rk3399//", t0, t0),
		}}, []string{"open device/24h/error/" + errType, "open device/24h/result/" + device, "open device_type/24h/result/lab-a/rk3399//"}},
		{"a second window opening later: no second alert", rollup.Snapshot{TakenAt: t1, OpenAnomalies: []rollup.AnomalyRecord{
			rec("device", "24h", "result", device, t0, t1), rec("device", "6h", "result", device, t1, t1),
		}}, nil},
		{"one window resolving while another is open: no alert", rollup.Snapshot{TakenAt: t2, OpenAnomalies: []rollup.AnomalyRecord{
			rec("device", "24h", "result", device, t0, t1),
		}, RecentlyResolved: []rollup.AnomalyRecord{resolved(rec("device", "6h", "result", device, t1, t1), t2)}}, nil},
		{"the last window resolving: one resolved", rollup.Snapshot{TakenAt: t3, RecentlyResolved: []rollup.AnomalyRecord{
			resolved(rec("device", "24h", "result", device, t0, t1), t3), resolved(rec("device", "6h", "result", device, t1, t1), t2),
		}}, []string{"resolved device/24h/result/" + device}},
		{"silences alert per key", rollup.Snapshot{TakenAt: t0, OpenAnomalies: []rollup.AnomalyRecord{
			rec("device_type", "", "silence", "lab-c/bbb//", t0, t0), rec("runtime", "", "silence", "lab-b///", t0, t0),
		}}, []string{"open device_type//silence/lab-c/bbb//", "open runtime//silence/lab-b///"}},
	} {
		if got := alerts(c.snap); !slices.Equal(got, c.want) {
			t.Errorf("%s:\n got %q\nwant %q", c.name, got, c.want)
		}
	}
}
