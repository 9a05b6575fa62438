package telemetrytest

import (
	"encoding/json"
	"testing"
)

// JSONEqual fails t unless got, encoded as JSON, is the JSON text want, whatever the
// spacing and key order of either: expected answers are written as readable JSON.
func JSONEqual(t testing.TB, what string, got any, want string) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(g, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(want), &b); err != nil {
		t.Fatalf("want of %s: %v", what, err)
	}
	ga, _ := json.Marshal(a)
	gb, _ := json.Marshal(b)
	if string(ga) != string(gb) {
		t.Errorf("%s:\n got %s\nwant %s", what, ga, gb)
	}
}
