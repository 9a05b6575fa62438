package store

import (
	"encoding/base64"
	"testing"

	"github.com/pipetel/pipetel/internal/telemetry"
)

// FuzzCursor: any cursor text, and any payload signed with the right key (a leaked key,
// or a bug in encoding), is either refused as the client's mistake or decodes to a
// position a query can resume from; never a panic. A cursor this store issues decodes to
// what it encoded.
func FuzzCursor(f *testing.F) {
	s := NewEvents(nil, EventsOptions{Table: "t", EventShards: 1, RuntimeShards: 1, KindShards: 1, CursorSecret: []byte("k")})
	good := s.encodeCursor(cursor{SK: "2026-08-20T10:00:00.000000Z#abc", Total: 7}, telemetry.Filter{})
	for _, seed := range []struct {
		raw     string
		payload string
		runtime string
	}{
		{good, `{"sk":"2026-08-20T10:00:00.000000Z#abc","total":7,"f":""}`, ""},
		{"", `{}`, "lava"},
		{"abc.def", `{"sk":"x"}`, ""},
		{good + "x", `{"sk":"2026-08-20T10:00:00.000000Z#","total":-1,"inexact":true}`, "x"},
		{".", `null`, ""},
	} {
		f.Add(seed.raw, []byte(seed.payload), seed.runtime)
	}
	f.Fuzz(func(t *testing.T, raw string, payload []byte, runtime string) {
		var filter telemetry.Filter
		if runtime != "" {
			filter.Equals = map[string]string{"runtime": runtime}
		}
		body := base64.RawURLEncoding.EncodeToString(payload)
		signed := body + "." + base64.RawURLEncoding.EncodeToString(s.sign(body))
		for _, text := range []string{raw, signed} {
			c, err := s.decodeCursor(text, filter)
			if err != nil {
				if telemetry.ErrorCode(err) != telemetry.CodeInvalid {
					t.Fatalf("cursor %q: error %v is not the client's to fix", text, err)
				}
				continue
			}
			if len(c.SK) < len(telemetry.TimeLayout) {
				t.Fatalf("cursor %q decoded to a sort key too short to resume from: %+v", text, c)
			}
			again, err := s.decodeCursor(s.encodeCursor(c, filter), filter)
			if err != nil || again != c {
				t.Fatalf("cursor %+v does not survive a round trip: %+v, %v", c, again, err)
			}
		}
	})
}
