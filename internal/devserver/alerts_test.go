package devserver

import (
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestAlertFile: each alert is one JSON line shaped as the EventBridge event, appended.
func TestAlertFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), AlertsFileName)
	a := &alertFile{path: path, log: slog.New(slog.DiscardHandler), now: func() time.Time { return time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC) }}
	for _, detail := range []string{`{"state":"open","key":"a"}`, `{"state":"resolved","key":"a"}`} {
		if err := a.Publish(t.Context(), []telemetry.Alert{{DetailType: "pipetel anomaly silence", Detail: []byte(detail)}}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"source":"pipetel","detail-type":"pipetel anomaly silence","time":"2026-06-01T12:00:00Z","detail":{"state":"open","key":"a"}}
{"source":"pipetel","detail-type":"pipetel anomaly silence","time":"2026-06-01T12:00:00Z","detail":{"state":"resolved","key":"a"}}
`
	if string(got) != want {
		t.Errorf("alerts file:\n%s\nwant\n%s", got, want)
	}
}
