package analytics_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
)

// TestParameterProblemsBelongToNoEvent: a bad query parameter is no event's problem, so
// it carries Index -1 and its JSON has no index, which would point a client at an event.
func TestParameterProblemsBelongToNoEvent(t *testing.T) {
	_, anomalyErr := analytics.ParseAnomalyParams(map[string]string{"window": "2h"})
	_, groupErr := analytics.ParseGroupBy("colour")
	for name, err := range map[string]error{"anomaly parameters": anomalyErr, "group_by": groupErr} {
		var e *telemetry.Error
		if !errors.As(err, &e) || len(e.Fields) != 1 {
			t.Errorf("%s: %v, want one problem", name, err)
			continue
		}
		if e.Fields[0].Index != -1 {
			t.Errorf("%s: index %d, want -1", name, e.Fields[0].Index)
		}
		b, _ := json.Marshal(e.Fields[0])
		if strings.Contains(string(b), "index") {
			t.Errorf("%s: %s names an event index", name, b)
		}
	}
}
