package rollup_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/rollup"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// TestDecodedRowGrownEncodesAsABuiltOne: a decoded row keeps its groups in the order they
// were encoded, so reads need not sort them again; a group added to it afterwards, by Add
// or Merge, must still take its sorted place, or the same row would encode to other bytes
// and reruns would not rewrite identical items.
func TestDecodedRowGrownEncodesAsABuiltOne(t *testing.T) {
	at := time.Date(2026, 6, 8, 10, 0, 0, 0, time.UTC)
	ev := func(device string) *telemetry.Event {
		return &telemetry.Event{ID: device, Kind: telemetry.KindJobResult, Runtime: "lava-a", DeviceType: "rk3399",
			DeviceID: device, Result: telemetry.ResultPass, TS: at, ReceivedAt: at}
	}
	built := func(devices ...string) *rollup.Row {
		r := rollup.NewRow()
		for _, d := range devices {
			r.Add(ev(d), 100)
		}
		return r
	}
	for _, c := range []struct {
		name string
		grow func(*rollup.Row)
	}{
		{"Add", func(r *rollup.Row) { r.Add(ev("rk-2"), 100) }},
		{"Merge", func(r *rollup.Row) { r.Merge(built("rk-2")) }},
	} {
		body, err := built("rk-1", "rk-3").Encode()
		if err != nil {
			t.Fatal(err)
		}
		decoded, err := rollup.DecodeRow(body, 100)
		if err != nil {
			t.Fatal(err)
		}
		c.grow(decoded)
		got, err1 := decoded.Encode()
		want, err2 := built("rk-3", "rk-2", "rk-1").Encode()
		if err1 != nil || err2 != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: a decoded row grown by a group encodes to %d bytes unlike the same row built (%d bytes): %v, %v", c.name, len(got), len(want), err1, err2)
		}
	}
}
