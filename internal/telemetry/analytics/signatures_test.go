package analytics_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/telemetry"
	"github.com/pipetel/pipetel/internal/telemetry/analytics"
	"github.com/pipetel/pipetel/internal/telemetry/telemetrytest"
)

func TestMaskMessage(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"bootloader-commands timed out after 180 seconds", "bootloader-commands timed out after <NUM> seconds"},
		{"at 2026-07-21T06:00:12.345Z and 06:05:40", "at <TS> and <TS>"},
		{"fetch https://a.example/x/y.gz: timed out", "fetch <URL>: timed out"},
		{"job 6f1c2b3a-1d2e-4f50-8a9b-0c1d2e3f4a5b", "job <ID>"},
		{"eth0 00:1a:2b:3c:4d:5e down", "eth0 <MAC> down"},
		{"dial tcp 10.0.3.17:5432: refused", "dial tcp <IP>: refused"},
		{"dial tcp [2001:db8::1]:443: timeout", "dial tcp <IP>: timeout"},
		{"exitcode=0x0000000b at ffff80000a3c2f18", "exitcode=<HEX> at <HEX>"},
		{"commit 4f2a9c1d8e: deadbeef stays", "commit <HEX>: deadbeef stays"},
		{"drivers/gpu/drm/panel/panel-edp.c:1204:12: error", "<PATH>: error"},
		{"open /var/lib/lava/dispatcher/tmp/1234/overlay.tar.gz failed", "open <PATH> failed"},
		{"rk3399 took 30ms, 2GB used, unknown-block(179,2)", "rk3399 took <NUM>, <NUM> used, unknown-block(<NUM>,<NUM>)"},
		{"Traceback (most recent call last):\n  File \"/x.py\", line 3, in f\nKeyError: 'device_type'", "Traceback: KeyError: 'device_type'"},
		{"  spaced \t out\n", "spaced out"},
	} {
		if got := analytics.MaskMessage(c.in); got != c.want {
			t.Errorf("MaskMessage(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestSignaturesGolden mines real-looking LAVA, kernel build, network and scheduler
// errors (testdata/signatures/messages.json) and shows which group together: each
// signature with its template and messages, in the order they were created.
func TestSignaturesGolden(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("testdata", "signatures", "messages.json"))
	if err != nil {
		t.Fatal(err)
	}
	var msgs []string
	if err := json.Unmarshal(raw, &msgs); err != nil {
		t.Fatal(err)
	}
	type group struct {
		ID       string   `json:"id"`
		Template string   `json:"template"`
		Messages []string `json:"messages"`
	}
	m := analytics.NewMiner(nil)
	var groups []*group
	byID := map[string]*group{}
	for _, msg := range msgs {
		id := m.Add(msg)
		g, ok := byID[id]
		if !ok {
			g = &group{ID: id}
			byID[id] = g
			groups = append(groups, g)
		}
		g.Messages = append(g.Messages, msg)
	}
	for _, g := range groups {
		g.Template = m.Template(g.ID)
	}
	out, err := json.MarshalIndent(groups, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	compareGolden(t, filepath.Join("testdata", "signatures", "signatures.golden.json"), append(out, '\n'))

	// The same messages from the templates mined: every message keeps its signature, and
	// the templates do not change.
	var known []analytics.SignatureTemplate
	for _, g := range groups {
		known = append(known, analytics.SignatureTemplate{ID: g.ID, Template: g.Template})
	}
	again := analytics.NewMiner(known)
	for _, g := range groups {
		for _, msg := range g.Messages {
			if id := again.Add(msg); id != g.ID {
				t.Errorf("from the mined templates %q is %s, was %s", msg, id, g.ID)
			}
		}
		if tpl := again.Template(g.ID); tpl != g.Template {
			t.Errorf("template of %s changed from %q to %q", g.ID, g.Template, tpl)
		}
	}
}

func sigEvent(id string, ts time.Time, runtime, msg string) *telemetry.Event {
	return &telemetry.Event{ID: id, Kind: telemetry.KindJobResult, Runtime: runtime, TS: ts, ErrorType: "Infrastructure", ErrorMsg: msg, Result: telemetry.ResultIncomplete}
}

// TestSignatureMinerNewSignatures: a signature is new when first seen in the window, with
// MinNew messages, once MinHistory has been tracked; one seen before (remembered from the
// previous section) is not, nor is one too rare, nor anything right after tracking starts;
// the window's signatures come first, the memory is bounded and forgets what is older than
// Keep.
func TestSignatureMinerNewSignatures(t *testing.T) {
	now := time.Date(2026, 7, 21, 12, 0, 0, 0, time.UTC)
	p := analytics.SignatureParams{MinNew: 3, MaxKept: 3}
	at := func(m int) time.Time { return now.Add(time.Duration(-m) * time.Minute) }
	known := &analytics.ErrorSignatures{TrackedSince: telemetry.FormatTime(now.Add(-10 * time.Hour)), Signatures: []analytics.ErrorSignature{
		{ID: "aaaaaaaaaaaa", Template: "bootloader-commands timed out after <NUM> seconds", FirstSeen: telemetry.FormatTime(now.Add(-5 * time.Hour)), LastSeen: telemetry.FormatTime(now.Add(-2 * time.Hour))},
		{ID: "bbbbbbbbbbbb", Template: "Connection closed by the serial console server", FirstSeen: telemetry.FormatTime(now.Add(-9 * 24 * time.Hour)), LastSeen: telemetry.FormatTime(now.Add(-8 * 24 * time.Hour))},
		{ID: "cccccccccccc", Template: "Device power cycle failed: PDU not responding", FirstSeen: telemetry.FormatTime(now.Add(-5 * time.Hour)), LastSeen: telemetry.FormatTime(now.Add(-3 * time.Hour))},
	}}
	for _, c := range []struct {
		name    string
		prev    *analytics.ErrorSignatures
		wantNew string
		wantIDs string
	}{
		{"tracked long enough", known, "panic:4", "panic:4 aaaaaaaaaaaa:3 rare:2"},
		{"tracking just started", nil, "", "panic:4 bootloader:3 rare:2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := analytics.NewSignatureMiner(p, c.prev, now)
			var evs []*telemetry.Event
			for i := range 4 {
				evs = append(evs, sigEvent(fmt.Sprint("p", i), at(40-i), "lava-a", "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b"))
			}
			for i := range 3 {
				evs = append(evs, sigEvent(fmt.Sprint("b", i), at(30-i), "lava-b", fmt.Sprintf("bootloader-commands timed out after %d seconds", 100+i)))
			}
			evs = append(evs, sigEvent("r0", at(20), "lava-a", "lava-test-shell timed out after 1800 seconds"),
				sigEvent("r1", at(10), "lava-c", "lava-test-shell timed out after 60 seconds"),
				sigEvent("old", at(90), "lava-a", "lava-test-shell timed out after 60 seconds"),
				&telemetry.Event{ID: "nomsg", TS: at(5), Runtime: "lava-a", Kind: telemetry.KindJobResult})
			for i := len(evs) - 1; i >= 0; i-- { // order does not matter
				s.Add(evs[i])
			}
			section, news := s.Result()
			names := map[string]string{}
			for _, sig := range section.Signatures {
				switch {
				case strings.HasPrefix(sig.Template, "Kernel panic"):
					names[sig.ID] = "panic"
				case strings.HasPrefix(sig.Template, "lava-test-shell"):
					names[sig.ID] = "rare"
				case strings.HasPrefix(sig.Template, "bootloader") && sig.ID != "aaaaaaaaaaaa":
					names[sig.ID] = "bootloader"
				default:
					names[sig.ID] = sig.ID
				}
			}
			var ids, newIDs []string
			for _, sig := range section.Signatures {
				ids = append(ids, fmt.Sprint(names[sig.ID], ":", sig.Count))
			}
			for _, n := range news {
				newIDs = append(newIDs, fmt.Sprint(names[n.ID], ":", n.Count))
			}
			if got := strings.Join(ids, " "); got != c.wantIDs {
				t.Errorf("signatures %q, want %q", got, c.wantIDs)
			}
			if got := strings.Join(newIDs, " "); got != c.wantNew {
				t.Errorf("new signatures %q, want %q", got, c.wantNew)
			}
			if section.EventsRead != 11 || section.Truncated {
				t.Errorf("events read %d truncated %v, want 11 and false", section.EventsRead, section.Truncated)
			}
			first := section.Signatures[0]
			jsonEqual(t, "the panic's signature", first, `{"id":"`+first.ID+`","template":"Kernel panic - not syncing: Attempted to kill init! exitcode=<HEX>",
			  "count":4,"first_seen":"2026-07-21T11:20:00.000000Z","last_seen":"2026-07-21T11:23:00.000000Z",
			  "runtimes":["lava-a"],"error_types":["Infrastructure"],
			  "sample":"Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b"}`)
		})
	}
}

func TestSignatureMinerStopsAtMaxEvents(t *testing.T) {
	now := time.Date(2026, 7, 21, 12, 0, 0, 0, time.UTC)
	s := analytics.NewSignatureMiner(analytics.SignatureParams{MaxEvents: 3}, nil, now)
	for i := range 5 {
		if s.Full() {
			break
		}
		s.Add(sigEvent(fmt.Sprint(i), now.Add(-time.Minute), "lava-a", "PDU not responding"))
	}
	section, _ := s.Result()
	if section.EventsRead != 3 || !section.Truncated || section.Signatures[0].Count != 3 {
		t.Errorf("read %d, truncated %v, count %d; want 3, true, 3", section.EventsRead, section.Truncated, section.Signatures[0].Count)
	}
}

// jsonEqual compares got, encoded, with the JSON text want, whatever their spacing.
var jsonEqual = telemetrytest.JSONEqual
