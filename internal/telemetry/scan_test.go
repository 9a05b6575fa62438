package telemetry

import (
	"bytes"
	"fmt"
	"testing"
)

// scanSamples are valid objects whose every strict prefix is malformed JSON.
var scanSamples = []string{
	`{}`,
	` { "a" : 1 } `,
	`{"a":1}`,
	`{"a":-1.5e+3,"b":true,"c":null}`,
	"{ \"a\" :\t\"x\\\"y\" ,\n\"b\" : [ {\"}\" : \"]\\\"{\" } , [] ] , \"c\":{\"x\":{\"y\":[1,2]}} }",
	`{"\"k\\":"v\\","a\u0062":"\ud83d\ude00","n":0}`,
}

// TestEachMemberRefusesTruncatedObjects holds eachMember to its word: malformed input
// (here every strict prefix of a valid object, and a few broken ones) reports false and
// never reads past the end. The decoders only pass it JSON already validated, so this is
// the one place its bounds are reached.
func TestEachMemberRefusesTruncatedObjects(t *testing.T) {
	var objs []string
	for _, s := range scanSamples {
		s = string(bytes.TrimSpace([]byte(s)))
		for k := 1; k < len(s); k++ {
			objs = append(objs, s[:k])
		}
	}
	objs = append(objs, `{"a" 1}`, `{1:2}`, `{"a":1 "b":2}`, `{"a":}`, `{"a":1,}`, "{ \t")
	for _, obj := range objs {
		t.Run(fmt.Sprintf("%q", obj), func(t *testing.T) {
			members := 0
			ok := eachMember([]byte(obj), func(_, _ []byte) { members++ })
			if ok {
				t.Fatalf("eachMember(%s) = true (%d members), want false", obj, members)
			}
		})
	}
}

// TestEndOfJSONValue checks where each kind of value ends, also at the end of the slice,
// and that a value cut short has no end (-1).
func TestEndOfJSONValue(t *testing.T) {
	for _, tc := range []struct {
		in   string
		at   int
		want int
	}{
		{`123`, 0, 3},
		{`[123]`, 1, 4},
		{`true,`, 0, 4},
		{`-1 `, 0, 2},
		{`"a\"b"`, 0, 6},
		{`"a\\"x`, 0, 5},
		{`{"a":"}"}`, 0, 9},
		{`[[],{}] `, 0, 7},
		{`["]"]`, 0, 5},
		{`"abc`, 0, -1},
		{`"a\"`, 0, -1},
		{`{"a":1`, 0, -1},
		{`[[]`, 0, -1},
		{`["]`, 0, -1},
		{`[1]`, 3, -1},
		{`,`, 0, -1},
		{`}`, 0, -1},
	} {
		if got := endOfJSONValue([]byte(tc.in), tc.at); got != tc.want {
			t.Errorf("endOfJSONValue(%s, %d) = %d, want %d", tc.in, tc.at, got, tc.want)
		}
	}
}

// TestArrayElementsKeepsTheFirstLimit checks that elements past the limit are counted
// but not kept: a batch over the limit is refused without holding its events.
func TestArrayElementsKeepsTheFirstLimit(t *testing.T) {
	for _, tc := range []struct {
		arr   string
		limit int
		kept  []string
		n     int
	}{
		{`[]`, 2, nil, 0},
		{`[ ]`, 2, nil, 0},
		{`[1]`, 2, []string{`1`}, 1},
		{`[1,2]`, 2, []string{`1`, `2`}, 2},
		{`[ 1 , {"a":[2]} , "3" ] `, 2, []string{`1`, `{"a":[2]}`}, 3},
		{`[1,2,3,4]`, 0, nil, 4},
	} {
		elems, n := arrayElements([]byte(tc.arr), tc.limit)
		var kept []string
		for _, e := range elems {
			kept = append(kept, string(e))
		}
		if n != tc.n || fmt.Sprint(kept) != fmt.Sprint(tc.kept) {
			t.Errorf("arrayElements(%s, %d) = %q, %d; want %q, %d", tc.arr, tc.limit, kept, n, tc.kept, tc.n)
		}
	}
}

// TestHasLoneSurrogate checks the \u escapes of UTF-16 halves, paired and not, also at the
// end of the text.
func TestHasLoneSurrogate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{`"\ud83d\ude00"`, false},
		{`"\ud83d\ude00`, false},
		{`"\ud83d"`, true},
		{`"\ud83d\u0041"`, true},
		{`"\ud83d\n\ude00"`, true},
		{`"\ude00"`, true},
		{`"\udbff\udfff"`, false},
		{`"\udc00"`, true},
		{`"\udfff"`, true},
		{`"\ud7ff\ue000"`, false},
		{`"\\ud83d"`, false},
		{`"\\\ud83d"`, true},
		{`"\u0041\ud800\udc00x"`, false},
		{`"\ud800\udbff"`, true},
		{`"\ud800\ue000"`, true},
	} {
		if got := hasLoneSurrogate([]byte(tc.in)); got != tc.want {
			t.Errorf("hasLoneSurrogate(%s) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

// TestFirstInvalidUTF8 checks the offset reported for a body that is not UTF-8, counted
// in bytes, and -1 for text that is.
func TestFirstInvalidUTF8(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int
	}{
		{"", -1},
		{"abc", -1},
		{"é€😀", -1},
		{"\xff", 0},
		{"ab\xe9", 2},
		{"é\xc3(", 2},
		{"😀\xf0\x9f", 4},
	} {
		if got := firstInvalidUTF8([]byte(tc.in)); got != tc.want {
			t.Errorf("firstInvalidUTF8(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}
