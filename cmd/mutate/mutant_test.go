package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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

// TestMeasureAndTestMutantOnAModule runs the whole path on a throwaway module: the tests
// are measured one by one with coverage, each mutant gets the tests that cover it (or all
// of them when no block holds it, as for a switch's case expression), and its status is
// what those tests make of it.
func TestMeasureAndTestMutantOnAModule(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"go.mod": "module example.com/m\n\ngo 1.22\n",
		"m.go": "package m\n\nfunc Sign(x int) int {\n\tswitch {\n\tcase x < 0:\n\t\treturn -1\n\tcase x > 100:\n\t\treturn 2\n\t}\n\treturn 1\n}\n\n" +
			"func Sum(n int) int {\n\ts := 0\n\tfor i := 0; i < n; i++ {\n\t\ts += i\n\t}\n\treturn s\n}\n\nfunc Name() string { return \"a\" + \"b\" }\n",
		"m_test.go": "package m\n\nimport \"testing\"\n\n" +
			"func TestSign(t *testing.T) {\n\tif Sign(-3) != -1 || Sign(3) != 1 {\n\t\tt.Fatal(\"wrong\")\n\t}\n}\n\n" +
			"func TestSum(t *testing.T) {\n\tif Sum(4) != 6 {\n\t\tt.Fatal(\"wrong\")\n\t}\n}\n\n" +
			"func TestBroken(t *testing.T) { t.Fatal(\"fails unmutated\") }\n\n" +
			"func BenchmarkSum(b *testing.B) {\n\tfor b.Loop() {\n\t\tSum(10)\n\t}\n}\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	base, err := measure(dir, "example.com/m", t.TempDir(), TestFilter{}, nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(base.Tests, []string{"TestSign", "TestSum"}) || !slices.Equal(base.Failed, []string{"TestBroken"}) {
		t.Fatalf("tests %q, failed %q; want TestSign and TestSum, and TestBroken left out", base.Tests, base.Failed)
	}
	const long = time.Hour // never reached by a mutant that ends
	for _, c := range []struct {
		name         string
		line, column int
		typ          string
		wantTests    []string
		wantAll      bool
		timeout      time.Duration
		want         string
	}{
		// gremlins calls case expressions not covered; Go's blocks leave them out.
		{"case expression, negated", 5, 9, "CONDITIONALS_NEGATION", []string{"TestSign", "TestSum"}, true, long, statusKilled},
		{"case no test reaches", 7, 9, "CONDITIONALS_BOUNDARY", []string{"TestSign", "TestSum"}, true, long, statusLived},
		{"return of the negative branch", 6, 10, "INVERT_NEGATIVES", []string{"TestSign"}, false, long, statusKilled},
		{"loop bound", 15, 16, "CONDITIONALS_BOUNDARY", []string{"TestSum"}, false, long, statusKilled},
		// i-- from 0 below n never ends: caught as timed out.
		{"loop that never ends", 15, 22, "INCREMENT_DECREMENT", []string{"TestSum"}, false, time.Second, statusTimedOut},
		{"strings subtracted", 21, 33, "ARITHMETIC_BASE", []string{"TestSign", "TestSum"}, true, long, statusNotViable},
	} {
		file := filepath.Join(dir, "m.go")
		tests, _, all := base.Choose("m.go", c.line, c.column, 1, 0)
		if !slices.Equal(tests, c.wantTests) || all != c.wantAll {
			t.Errorf("%s: tests %q (all %v), want %q (all %v)", c.name, tests, all, c.wantTests, c.wantAll)
		}
		mutated, err := Mutate([]byte(files["m.go"]), c.line, c.column, c.typ)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if got := testMutant(t.TempDir(), dir, file, mutated, tests, c.timeout); got != c.want {
			t.Errorf("%s: %s, want %s", c.name, got, c.want)
		}
	}
	if src, _ := os.ReadFile(filepath.Join(dir, "m.go")); string(src) != files["m.go"] {
		t.Error("testing mutants changed the source tree")
	}
}
