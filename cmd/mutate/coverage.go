package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/tools/cover"
)

// CoverageMap says which tests run which code: for each file (module-relative, slash
// separated) the coverage blocks some test ran, each with the tests that ran it. The zero
// value is empty; Add fills it one test at a time.
type CoverageMap struct {
	files map[string]map[span][]string
}

// span is a coverage block's extent, as go's coverage profiles give it: 1-based lines,
// 1-based byte columns, the end column just past the block.
type span struct{ startLine, startCol, endLine, endCol int }

// contains reports whether the token at line:col (1-based, byte column) lies in the block.
// The end is taken inclusively, as gremlins does: a block ends at its closing brace.
func (s span) contains(line, col int) bool {
	after := line > s.startLine || line == s.startLine && col >= s.startCol
	before := line < s.endLine || line == s.endLine && col <= s.endCol
	return after && before
}

// Add records that test ran every block of profiles with a count above zero. Profiles name
// files by import path; module is stripped from them to give module-relative paths.
func (c *CoverageMap) Add(module, test string, profiles []*cover.Profile) {
	if c.files == nil {
		c.files = map[string]map[span][]string{}
	}
	for _, p := range profiles {
		file := strings.TrimPrefix(p.FileName, module+"/")
		for _, b := range p.Blocks {
			if b.Count == 0 {
				continue
			}
			blocks := c.files[file]
			if blocks == nil {
				blocks = map[span][]string{}
				c.files[file] = blocks
			}
			s := span{b.StartLine, b.StartCol, b.EndLine, b.EndCol}
			if !slices.Contains(blocks[s], test) {
				blocks[s] = append(blocks[s], test)
			}
		}
	}
}

// Select returns, sorted, the tests that ran a block holding the token at line:col of file
// (module-relative); none when no test's block holds it. Go's blocks leave out some code
// that runs (a switch's case expressions, say), so none does not mean no test runs it.
func (c *CoverageMap) Select(file string, line, col int) []string {
	var tests []string
	for s, ts := range c.files[file] {
		if s.contains(line, col) {
			for _, t := range ts {
				if !slices.Contains(tests, t) {
					tests = append(tests, t)
				}
			}
		}
	}
	slices.Sort(tests)
	return tests
}

// Baseline is what the unmutated package's tests do: which pass, how long each takes
// alone, and what each covers.
type Baseline struct {
	Tests  []string                 // top-level tests, fuzz targets and examples that pass, sorted
	Time   map[string]time.Duration // each test's wall time run alone, process included
	Cover  CoverageMap
	Failed []string // tests that fail unmutated: left out, as they would catch every mutant
}

// TestFilter chooses the tests mutants are checked against: those Run matches (all when
// nil) and Skip does not (none when nil).
type TestFilter struct{ Run, Skip *regexp.Regexp }

func (f TestFilter) keep(test string) bool {
	return (f.Run == nil || f.Run.MatchString(test)) && (f.Skip == nil || !f.Skip.MatchString(test))
}

// testNames picks the tests out of a test binary's -test.list output: benchmarks are not
// run by -test.run and are left out, as are the tests the filter does not keep.
func testNames(list string, f TestFilter) []string {
	var tests []string
	for _, name := range strings.Fields(list) {
		if strings.HasPrefix(name, "Benchmark") || !f.keep(name) {
			continue
		}
		tests = append(tests, name)
	}
	slices.Sort(tests)
	return tests
}

// runPattern is the -test.run regexp that runs exactly tests (and their subtests).
func runPattern(tests []string) string {
	quoted := make([]string, len(tests))
	for i, t := range tests {
		quoted[i] = regexp.QuoteMeta(t)
	}
	return "^(" + strings.Join(quoted, "|") + ")$"
}

// measure compiles the tests of the package in pkgDir once with coverage of the packages
// coverPkgs (import paths; its own when empty), runs each test alone and records what it
// covers and how long it takes. dir is a scratch directory. A package without tests gives
// an empty Baseline.
func measure(pkgDir, module, dir string, f TestFilter, coverPkgs []string, log io.Writer) (*Baseline, error) {
	bin := filepath.Join(dir, "cover.test")
	args := []string{"-n", "19", "go", "test", "-c", "-cover", "-covermode=set", "-ldflags=-w", "-o", bin}
	if len(coverPkgs) > 0 {
		args = append(args, "-coverpkg="+strings.Join(coverPkgs, ","))
	}
	build := exec.Command("nice", append(args, ".")...)
	build.Dir = pkgDir
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("building the tests with coverage: %v\n%s", err, out)
	}
	b := &Baseline{Time: map[string]time.Duration{}}
	if _, err := os.Stat(bin); err != nil {
		return b, nil // no test files
	}
	list := exec.Command(bin, "-test.list", ".")
	list.Dir = pkgDir
	out, err := list.Output()
	if err != nil {
		return nil, fmt.Errorf("listing the tests: %w", err)
	}
	for _, test := range testNames(string(out), f) {
		profile := filepath.Join(dir, "cover.out")
		cmd := exec.Command("nice", "-n", "19", bin, "-test.run", runPattern([]string{test}),
			"-test.coverprofile", profile, "-test.timeout", "20m")
		cmd.Dir = pkgDir
		start := time.Now()
		out, err := cmd.CombinedOutput()
		took := time.Since(start)
		if err != nil {
			fmt.Fprintf(log, "mutate: %s: %s fails unmutated, left out: %v\n%s\n", pkgDir, test, err, lastLines(out, 20))
			b.Failed = append(b.Failed, test)
			continue
		}
		profiles, err := cover.ParseProfiles(profile)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", test, err)
		}
		b.Cover.Add(module, test, profiles)
		b.Tests = append(b.Tests, test)
		b.Time[test] = took
	}
	return b, nil
}

// Choose returns the tests a mutant at line:col of file is checked against and how long
// they may run before it counts as timed out: coefficient times their own measured time,
// plus floor. all says no coverage block held the mutant, so every test was chosen.
func (b *Baseline) Choose(file string, line, col, coefficient int, floor time.Duration) (tests []string, timeout time.Duration, all bool) {
	tests = b.Cover.Select(file, line, col)
	if len(tests) == 0 {
		tests, all = b.Tests, true
	}
	return tests, b.timeout(tests, coefficient, floor), all
}

func (b *Baseline) timeout(tests []string, coefficient int, floor time.Duration) time.Duration {
	var sum time.Duration
	for _, t := range tests {
		sum += b.Time[t]
	}
	return time.Duration(coefficient)*sum + floor
}

// Check is one test package's part in checking a mutant: the tests of Package (module-
// relative) it runs, and their timeout as Choose gives it.
type Check struct {
	Package  string        `json:"package"`
	Tests    []string      `json:"tests"`
	AllTests bool          `json:"all_tests,omitempty"`
	Timeout  time.Duration `json:"timeout_ns"`
}

// Plan returns the checks of a mutant at line:col of file, in the order of candidates (its
// test packages, its own first; bases their measures, nil for one not measured): for each,
// its tests whose coverage blocks hold the position, and none for a package where no test
// does. When no block of any candidate holds it, the one check is every test of the first
// candidate with tests (its own package's when it has tests), AllTests set, as for a single
// package.
func Plan(candidates []string, bases map[string]*Baseline, file string, line, col, coefficient int, floor time.Duration) []Check {
	var checks []Check
	for _, p := range candidates {
		if b := bases[p]; b != nil {
			if tests := b.Cover.Select(file, line, col); len(tests) > 0 {
				checks = append(checks, Check{Package: p, Tests: tests, Timeout: b.timeout(tests, coefficient, floor)})
			}
		}
	}
	if len(checks) > 0 {
		return checks
	}
	for _, p := range candidates {
		if b := bases[p]; b != nil && len(b.Tests) > 0 {
			return []Check{{Package: p, Tests: b.Tests, AllTests: true, Timeout: b.timeout(b.Tests, coefficient, floor)}}
		}
	}
	return nil
}

// lastLines is the end of a command's output, for a log line.
func lastLines(out []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// testMutant builds the tests of file's package (in pkgDir) with file replaced by mutated,
// through go's -overlay so the tree is never touched, runs the chosen tests and returns
// the gremlins status the mutant earns: NOT VIABLE when it does not compile, TIMED OUT when
// the tests run past timeout, KILLED when they fail, LIVED when they pass.
func testMutant(dir, pkgDir, file string, mutated []byte, tests []string, timeout time.Duration) string {
	replacement := filepath.Join(dir, "mutant.go")
	overlay := filepath.Join(dir, "overlay.json")
	bin := filepath.Join(dir, "mutant.test")
	if err := writeOverlay(overlay, file, replacement, mutated); err != nil {
		return statusNotViable
	}
	_ = os.Remove(bin)
	build := exec.Command("nice", "-n", "19", "go", "test", "-c", "-overlay", overlay, "-ldflags=-w", "-o", bin, ".")
	build.Dir = pkgDir
	if build.Run() != nil {
		return statusNotViable
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nice", "-n", "19", bin, "-test.run", runPattern(tests))
	cmd.Dir = pkgDir
	cmd.WaitDelay = 10 * time.Second
	err := cmd.Run()
	switch {
	case ctx.Err() != nil:
		return statusTimedOut
	case err != nil:
		return statusKilled
	}
	return statusLived
}
