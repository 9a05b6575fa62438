package bench

import (
	"reflect"
	"testing"
	"time"
)

// TestCallRounds: calls sent before every call of their round answered share it; a call
// sent once they all had answered starts the next. By hand: a fan-out of three whose
// sends are spread over 3 ms while its first answer comes at 2 ms (one round), then a
// call sent after the last answer (a second round), then two calls overlapping it (the
// same round), then one sent exactly when the round's last answer came (a third).
func TestCallRounds(t *testing.T) {
	at := func(sent, done int, name string) capturedCall {
		return capturedCall{Body: []byte(name), sent: time.Duration(sent) * time.Millisecond, done: time.Duration(done) * time.Millisecond}
	}
	calls := []capturedCall{
		at(1, 4, "b"), at(0, 2, "a"), at(3, 6, "c"), // out of order, as the recorder may append them
		at(7, 9, "d"),
		at(8, 12, "e"), at(11, 13, "f"),
		at(13, 14, "g"),
	}
	var got [][]string
	for _, round := range callRounds(calls) {
		var names []string
		for _, c := range round {
			names = append(names, string(c.Body))
		}
		got = append(got, names)
	}
	want := [][]string{{"a", "b", "c"}, {"d", "e", "f"}, {"g"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rounds %v, want %v", got, want)
	}
}
