package devserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// AlertsFileName, beside the token file, is where the dev server writes the alerts a
// deployment would put on its EventBridge bus, one JSON line each.
const AlertsFileName = "alerts.jsonl"

// alertFile stands in for the event bus: each alert is appended to path as the EventBridge
// event a rule would match ({"source", "detail-type", "time", "detail"}) and logged.
type alertFile struct {
	path string
	log  *slog.Logger
	now  func() time.Time
	mu   sync.Mutex
}

var _ telemetry.AlertPublisher = (*alertFile)(nil)

type alertEvent struct {
	Source     string          `json:"source"`
	DetailType string          `json:"detail-type"`
	Time       string          `json:"time"`
	Detail     json.RawMessage `json:"detail"`
}

func (a *alertFile) Publish(_ context.Context, alerts []telemetry.Alert) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	var b []byte
	for _, al := range alerts {
		line, err := json.Marshal(alertEvent{Source: telemetry.AlertSource, DetailType: al.DetailType,
			Time: a.now().UTC().Format(time.RFC3339), Detail: al.Detail})
		if err != nil {
			return err
		}
		b = append(append(b, line...), '\n')
		a.log.Info("alert", "detail_type", al.DetailType, "detail", json.RawMessage(al.Detail))
	}
	f, err := os.OpenFile(a.path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
