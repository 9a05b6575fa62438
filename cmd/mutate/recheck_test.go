package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMutateSwapsTheOperatorAtThePosition(t *testing.T) {
	src := "package p\n\nfunc f(a, b int) bool {\n\tswitch {\n\tcase a == b:\n\t\treturn a-b >= 0\n\t}\n\ta++\n\treturn a < b\n}\n"
	for _, c := range []struct {
		line, column int
		typ, want    string
	}{
		{5, 9, "CONDITIONALS_NEGATION", "\tcase a != b:\n"},
		{6, 11, "ARITHMETIC_BASE", "\t\treturn a+b >= 0\n"},
		{6, 11, "INVERT_NEGATIVES", "\t\treturn a+b >= 0\n"},
		{6, 14, "CONDITIONALS_BOUNDARY", "\t\treturn a-b > 0\n"},
		{6, 14, "CONDITIONALS_NEGATION", "\t\treturn a-b < 0\n"},
		{8, 3, "INCREMENT_DECREMENT", "\ta--\n"},
		{9, 11, "CONDITIONALS_BOUNDARY", "\treturn a <= b\n"},
	} {
		got, err := Mutate([]byte(src), c.line, c.column, c.typ)
		if err != nil {
			t.Errorf("%d:%d %s: %v", c.line, c.column, c.typ, err)
			continue
		}
		lines := strings.SplitAfter(string(got), "\n")
		if lines[c.line-1] != c.want {
			t.Errorf("%d:%d %s: line %q, want %q", c.line, c.column, c.typ, lines[c.line-1], c.want)
		}
		if strings.Count(string(got), "\n") != strings.Count(src, "\n") || len(got) < len(src)-1 || len(got) > len(src)+1 {
			t.Errorf("%d:%d %s changed more than the operator:\n%s", c.line, c.column, c.typ, got)
		}
	}
	for _, c := range []struct {
		line, column int
		typ          string
	}{
		{5, 8, "CONDITIONALS_NEGATION"}, // the a, not the ==
		{5, 9, "ARITHMETIC_BASE"},       // == is not arithmetic
		{99, 1, "CONDITIONALS_NEGATION"},
	} {
		if got, err := Mutate([]byte(src), c.line, c.column, c.typ); err == nil {
			t.Errorf("%d:%d %s: mutated where nothing applies:\n%s", c.line, c.column, c.typ, got)
		}
	}
}

// TestRecheckTestsNotCoveredMutants runs recheck on a throwaway module whose test does
// run a switch's case expression that gremlins would call not covered: negated, the test
// fails, so the mutant is caught; a mutant the test cannot see lives.
func TestRecheckTestsNotCoveredMutants(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod":    "module example.com/m\n\ngo 1.22\n",
		"m.go":      "package m\n\nfunc Sign(x int) int {\n\tswitch {\n\tcase x < 0:\n\t\treturn -1\n\tcase x > 100:\n\t\treturn 2\n\t}\n\treturn 1\n}\n",
		"m_test.go": "package m\n\nimport \"testing\"\n\nfunc TestSign(t *testing.T) {\n\tif Sign(-3) != -1 || Sign(3) != 1 {\n\t\tt.Fatal(\"wrong\")\n\t}\n}\n",
		"report.json": `{"go_module":"example.com/m","files":[{"file_name":"m.go","mutations":[` +
			`{"type":"CONDITIONALS_NEGATION","status":"NOT COVERED","line":5,"column":9},` +
			`{"type":"CONDITIONALS_BOUNDARY","status":"NOT COVERED","line":7,"column":9},` +
			`{"type":"CONDITIONALS_NEGATION","status":"KILLED","line":7,"column":9}]}]}`,
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	report := filepath.Join(dir, "report.json")
	if err := recheck(dir, report, nil, defaultRecheckTimeout, os.Stderr); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	scores, err := Summarize(".", raw)
	if err != nil {
		t.Fatal(err)
	}
	if len(scores) != 1 || scores[0].Killed != 2 || scores[0].Lived != 1 || scores[0].NotCovered != 0 || scores[0].Rechecked != 2 {
		t.Errorf("after recheck: %+v; want the negated case killed and the boundary one lived, both rechecked", scores)
	}
	if src, _ := os.ReadFile(filepath.Join(dir, "m.go")); string(src) != files["m.go"] {
		t.Error("recheck changed the source tree")
	}
}
