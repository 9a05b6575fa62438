package api_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/pipetel/pipetel/internal/api/reports"
)

// TestEmptyFilterValueMatchesEmptyField: runtime= finds the events sent with runtime ""
// (as KernelCI's monitor sends them) and no other, in the listing and in stats; an empty
// device_type= finds those without one.
func TestEmptyFilterValueMatchesEmptyField(t *testing.T) {
	a := newAPI(t, nil)
	body := `[{"kind":"job_result","runtime":"","device_type":"dt","result":"pass"},` +
		`{"kind":"job_result","runtime":"lava","result":"fail"},` +
		`{"kind":"job_result","runtime":"","result":"fail"}]`
	if r := call(t, a.ingest, request("POST", "", body)); r.status != 200 {
		t.Fatalf("ingest: %d %s", r.status, r.raw)
	}
	stats := reports.NewStats(a.deps)
	for _, c := range []struct {
		query string
		total float64
	}{{"runtime=", 2}, {"lab=", 2}, {"runtime=&device_type=", 1}, {"device_type=", 2}, {"runtime=lava", 1}} {
		r := call(t, a.query, request("GET", c.query, ""))
		if r.status != 200 || r.body["total"] != c.total {
			t.Errorf("GET /telemetry?%s: %d total %v, want %v: %s", c.query, r.status, r.body["total"], c.total, r.raw)
		}
		s, err := stats(t.Context(), request("GET", c.query+"&group_by=kind", ""))
		if err != nil || s.StatusCode != 200 || !strings.Contains(s.Body, fmt.Sprintf(`"total":%v,`, c.total)) {
			t.Errorf("GET /telemetry/stats?%s: %d %v %s, want a total of %v", c.query, s.StatusCode, err, s.Body, c.total)
		}
	}
}
