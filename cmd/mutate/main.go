// Command mutate is `make mutate`: mutation testing of the product packages. gremlins
// (github.com/go-gremlins/gremlins, a tool of go.mod) lists the mutants, each one small
// change to the code (a < made <=, a + made -, a condition negated); this command tests
// them, since gremlins runs a package's whole test suite against every mutant, which takes
// days for the packages whose tests run against DynamoDB Local.
//
// Tests are chosen by coverage, as PIT does: a package's mutants are checked against the
// tests of every product package whose tests import it (its own first), since a mutant is
// caught when any test of the suite catches it. Each such test package is compiled once per
// run with coverage of the mutated packages and its tests run one at a time, which says
// which tests run each line; a mutant then runs, package by package until one catches it,
// only the tests that run its position (all of its own package's when no coverage block
// holds it, as for a switch's case expressions). -sample N tests N mutants per package, chosen at
// random with a fixed -seed so that runs compare, and the score carries its 95% interval.
//
// It prints the share of mutants caught per package as a table and writes the same figures
// to .local/mutate.json. See TESTING.md. Tests needing DynamoDB Local find it through
// $PIPETEL_TEST_DYNAMODB_ENDPOINT, which `make mutate` sets by running this under
// cmd/dynamolocal.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"text/tabwriter"
	"time"
)

// defaultRoots are the product packages, each with its subpackages.
var defaultRoots = []string{"./internal/telemetry", "./internal/store", "./internal/api", "./internal/rollup", "./internal/auth"}

// Config is one run's settings, as the flags give them.
type Config struct {
	Roots []string `json:"roots"`
	// Workers is how many mutants are tested at once.
	Workers int `json:"workers"`
	// Coefficient and Floor set a mutant's timeout: Coefficient times its chosen tests'
	// own measured time, plus Floor.
	Coefficient int           `json:"timeout_coefficient"`
	Floor       time.Duration `json:"timeout_floor_ns"`
	// Sample is the number of mutants tested per package; 0 tests them all.
	Sample int    `json:"sample"`
	Seed   uint64 `json:"seed"`
	// Budget bounds the time spent testing one package's mutants (its tests' measure not
	// included); once spent, no more are started. 0 is no bound.
	Budget time.Duration `json:"budget_ns,omitempty"`
	Narrowing
}

func main() {
	var c Config
	roots := flag.String("pkgs", strings.Join(defaultRoots, ","), "comma-separated package roots to mutate, each with its subpackages")
	out := flag.String("out", ".local/mutate.json", "where to write the scores as JSON; per-mutant reports go to the directory of that name without .json")
	flag.IntVar(&c.Workers, "workers", 1, "mutants tested at once")
	flag.IntVar(&c.Coefficient, "timeout-coefficient", 5, "a mutant times out (and is caught) after this many times its tests' own measured time, plus -timeout-floor")
	flag.DurationVar(&c.Floor, "timeout-floor", 30*time.Second, "added to every mutant's timeout")
	flag.IntVar(&c.Sample, "sample", 0, "mutants tested per package, chosen at random with -seed; 0 tests all")
	flag.DurationVar(&c.Budget, "budget", 0, "stop starting mutants of a package after this long (0: no bound); those tested, taken in random order, are still a uniform sample")
	flag.Uint64Var(&c.Seed, "seed", 1, "the seed of -sample's choice: the same seed over the same code tests the same mutants")
	flag.StringVar(&c.Exclude, "exclude", "", "comma-separated regexps of files (as gremlins' -E sees their paths) not to mutate")
	flag.StringVar(&c.Run, "run", "", "check mutants only against the top-level tests this regexp matches")
	flag.StringVar(&c.Skip, "skip", "", "never check mutants against the top-level tests this regexp matches")
	flag.Parse()
	c.Roots = strings.Split(*roots, ",")
	if err := run(c, *out, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "mutate: %v\n", err)
		os.Exit(1)
	}
}

// Narrowing is what a partial run leaves out: files not mutated, tests not run. The zero
// value is the whole run.
type Narrowing struct {
	Exclude string `json:"exclude,omitempty"`
	Run     string `json:"run,omitempty"`
	Skip    string `json:"skip,omitempty"`
}

// filter compiles the narrowing's test regexps.
func (n Narrowing) filter() (TestFilter, error) {
	var f TestFilter
	for _, r := range []struct {
		name, re string
		to       **regexp.Regexp
	}{{"run", n.Run, &f.Run}, {"skip", n.Skip, &f.Skip}} {
		if r.re == "" {
			continue
		}
		re, err := regexp.Compile(r.re)
		if err != nil {
			return f, fmt.Errorf("-%s: %w", r.name, err)
		}
		*r.to = re
	}
	return f, nil
}

// Run is one `make mutate`, as written to .local/mutate.json.
type Run struct {
	Date   string `json:"date"`
	Config Config `json:"config"`
	// Partial is set when the run left files or tests out: its scores are partial.
	Partial  bool    `json:"partial"`
	Packages []Score `json:"packages"`
}

func run(c Config, out string, stdout, log io.Writer) error {
	f, err := c.filter()
	if err != nil {
		return err
	}
	reportDir := strings.TrimSuffix(out, filepath.Ext(out))
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		return err
	}
	scratch, err := os.MkdirTemp("", "mutate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	result := Run{Date: time.Now().UTC().Format(time.RFC3339), Config: c, Partial: c.Narrowing != (Narrowing{})}
	var module string
	byPkg := map[string][]Mutant{}
	for _, root := range c.Roots {
		mod, ms, err := listMutants(root, c.Exclude, filepath.Join(reportDir, "gremlins-"+slug(root)+".json"))
		if err != nil {
			return fmt.Errorf("%s: %w", root, err)
		}
		module = mod
		for pkg, m := range ms {
			if !strings.HasSuffix(pkg, "test") { // test helpers (telemetrytest) are not product code
				byPkg[pkg] = m
			}
		}
	}
	pkgs := slices.Sorted(maps.Keys(byPkg))
	testDeps, err := listTestDeps(module, append(slices.Clone(defaultRoots), c.Roots...))
	if err != nil {
		return err
	}
	candidates := TestCandidates(pkgs, testDeps)
	bases := map[string]*Baseline{}
	for _, pkg := range pkgs {
		ms := byPkg[pkg]
		start := time.Now()
		chosen := Sample(ms, c.Sample, c.Seed, pkg)
		for i := range ms {
			ms[i].Status = statusSkipped
		}
		for _, tp := range candidates[pkg] {
			if bases[tp] != nil || len(chosen) == 0 {
				continue
			}
			// One measure per test package and run, covering every package of the run its
			// tests import, so that it serves each of them.
			var covered []string
			for _, p := range pkgs {
				if slices.Contains(testDeps[tp], p) {
					covered = append(covered, module+"/"+p)
				}
			}
			dir := filepath.Join(scratch, slug(tp))
			if err := os.Mkdir(dir, 0o755); err != nil {
				return err
			}
			begin := time.Now()
			base, err := measure(filepath.FromSlash(tp), module, dir, f, covered, log)
			if err != nil {
				return fmt.Errorf("%s: %w", tp, err)
			}
			bases[tp] = base
			fmt.Fprintf(log, "mutate: %s: %d tests measured in %s\n", tp, len(base.Tests), time.Since(begin).Round(time.Second))
		}
		if len(chosen) > 0 {
			if err := testPackage(pkg, candidates[pkg], bases, ms, chosen, c, log); err != nil {
				return fmt.Errorf("%s: %w", pkg, err)
			}
		}
		s, err := Summarize(pkg, ms)
		if err != nil {
			return err
		}
		s.TestPackages = candidates[pkg]
		s.Seconds = time.Since(start).Round(time.Second).Seconds()
		result.Packages = append(result.Packages, s)
		fmt.Fprintf(log, "mutate: %s: %.1f%% caught (%.1f–%.1f) of %d tested in %s\n", pkg, s.Percent, s.Low, s.High, s.Tested, time.Since(start).Round(time.Second))
		// Written after each package, so that a run stopped part way keeps what it found.
		if err := writeJSON(filepath.Join(reportDir, slug(pkg)+".json"), ms); err != nil {
			return err
		}
		if err := writeJSON(out, result); err != nil {
			return err
		}
	}
	WriteTable(stdout, result.Packages)
	if result.Partial {
		fmt.Fprintf(stdout, "partial: exclude %q, run %q, skip %q\n", c.Exclude, c.Run, c.Skip)
	}
	return nil
}

func slug(pkg string) string { return strings.ReplaceAll(strings.Trim(pkg, "./"), "/", "_") }

func writeJSON(file string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(file, append(b, '\n'), 0o644)
}

// listMutants has gremlins list the mutants of root and its subpackages (--dry-run) and
// returns them by package (module-relative directory), with the module path. gremlins'
// dry run also runs the tests with coverage to call mutants covered or not; that is done
// better per test here, so its run is given no test to run (-run=^$) and its statuses are
// ignored.
func listMutants(root, exclude, report string) (string, map[string][]Mutant, error) {
	args := []string{"-n", "19", "go", "tool", "gremlins", "unleash", "--dry-run", "-o", report}
	for _, e := range strings.Split(exclude, ",") {
		if e != "" {
			args = append(args, "-E", e)
		}
	}
	cmd := exec.Command("nice", append(args, root)...)
	cmd.Env = append(os.Environ(), "GOFLAGS=-count=1 -run=^$")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", nil, fmt.Errorf("gremlins --dry-run: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(report)
	if err != nil {
		return "", nil, err
	}
	return ParseDryRun(root, raw)
}

// gremlinsReport is the part of gremlins' JSON report that is read.
type gremlinsReport struct {
	GoModule string `json:"go_module"`
	Files    []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type   string `json:"type"`
			Line   int    `json:"line"`
			Column int    `json:"column"`
		} `json:"mutations"`
	} `json:"files"`
}

// Mutant is one mutant and what became of it.
type Mutant struct {
	File   string `json:"file"` // module-relative, slash separated
	Line   int    `json:"line"`
	Column int    `json:"column"` // 1-based, in bytes
	Type   string `json:"type"`   // gremlins' mutant type
	// Status is gremlins' name for what became of it: KILLED, TIMED OUT, LIVED, NOT COVERED
	// (its package has no test), NOT VIABLE (it does not compile), SKIPPED (not sampled).
	Status string `json:"status"`
	// Checks are the test packages and tests it was checked against, in order, up to the
	// one that caught it; AllTests says no coverage block held it, so one check ran every
	// test of its package.
	Checks   []Check `json:"checks,omitempty"`
	AllTests bool    `json:"all_tests,omitempty"`
	Seconds  float64 `json:"seconds,omitempty"` // its build and test run
}

// ParseDryRun reads a gremlins report over root (its file names relative to root) into
// mutants by package directory, each package's in sortMutants' order, and the module path.
func ParseDryRun(root string, raw []byte) (string, map[string][]Mutant, error) {
	var r gremlinsReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return "", nil, fmt.Errorf("not a gremlins report: %w", err)
	}
	byPkg := map[string][]Mutant{}
	for _, f := range r.Files {
		file := path.Join(strings.TrimPrefix(root, "./"), filepath.ToSlash(f.Name))
		for _, m := range f.Mutations {
			pkg := path.Dir(file)
			byPkg[pkg] = append(byPkg[pkg], Mutant{File: file, Line: m.Line, Column: m.Column, Type: m.Type})
		}
	}
	for _, ms := range byPkg {
		sortMutants(ms)
	}
	return r.GoModule, byPkg, nil
}

// listTestDeps lists, for each package under roots that has tests, the packages its test
// binary imports, directly or not, itself included: module-relative directories, test
// variants ("store [store.test]", "store_test") named as the package they test.
func listTestDeps(module string, roots []string) (map[string][]string, error) {
	args := append([]string{"list", "-test", "-f", "{{.ImportPath}}{{range .Deps}} {{.}}{{end}}"}, roots...)
	out, err := exec.Command("go", args...).Output()
	if err != nil {
		return nil, fmt.Errorf("go list -test: %w", err)
	}
	return ParseTestDeps(module, string(out)), nil
}

// ParseTestDeps reads listTestDeps' go list output: one line per package, its import path
// then its dependencies. Only the test binaries' lines ("<pkg>.test …") are kept.
func ParseTestDeps(module, out string) map[string][]string {
	// A test variant's path has a space in it ("store [store.test]"): cut there, and an
	// external test package ("store_test") is named as the package it tests.
	rel := func(p string) (string, bool) {
		p, _, _ = strings.Cut(p, "[")
		p, ok := strings.CutPrefix(p, module+"/")
		return strings.TrimSuffix(p, "_test"), ok
	}
	deps := map[string][]string{}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Fields(strings.ReplaceAll(line, " [", "["))
		if len(fields) == 0 || !strings.HasSuffix(fields[0], ".test") {
			continue
		}
		pkg, ok := rel(strings.TrimSuffix(fields[0], ".test"))
		if !ok {
			continue
		}
		deps[pkg] = []string{}
		for _, d := range fields[1:] {
			if d, ok := rel(d); ok && !slices.Contains(deps[pkg], d) {
				deps[pkg] = append(deps[pkg], d)
			}
		}
		slices.Sort(deps[pkg])
	}
	return deps
}

// TestCandidates maps each of pkgs (module-relative directories) to the test packages
// whose tests may catch its mutants: the packages of testDeps (each package with tests, to
// what its tests import, directly or not, itself included) whose tests import it. Its own
// comes first when it has tests, then the others by path. A mutant is caught when a test
// of any of them fails, as a mutation score means: the store's rollup-row reads are run by
// the rollup's and the API's tests.
func TestCandidates(pkgs []string, testDeps map[string][]string) map[string][]string {
	out := map[string][]string{}
	for _, pkg := range pkgs {
		var others []string
		for tp, deps := range testDeps {
			if tp != pkg && slices.Contains(deps, pkg) {
				others = append(others, tp)
			}
		}
		slices.Sort(others)
		if _, ok := testDeps[pkg]; ok {
			others = append([]string{pkg}, others...)
		}
		out[pkg] = others
	}
	return out
}

// testPackage tests the chosen mutants of ms (of the package pkg) against the tests of
// candidates, its test packages (module-relative) in order, measured in bases, and sets
// their Status.
func testPackage(pkg string, candidates []string, bases map[string]*Baseline, ms []Mutant, chosen []int, c Config, log io.Writer) error {
	scratch, err := os.MkdirTemp("", "mutate-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(scratch)
	jobs := make(chan int)
	var wg sync.WaitGroup
	var logMu sync.Mutex
	for w := range max(1, c.Workers) {
		dir := filepath.Join(scratch, fmt.Sprint("worker", w))
		if err := os.Mkdir(dir, 0o755); err != nil {
			return err
		}
		wg.Go(func() {
			for i := range jobs {
				m := &ms[i]
				begin := time.Now()
				note := testOne(dir, m, candidates, bases, c)
				m.Seconds = time.Since(begin).Round(100 * time.Millisecond).Seconds()
				var checked []string
				for _, k := range m.Checks {
					checked = append(checked, fmt.Sprintf("%s: %d tests%s", k.Package, len(k.Tests), map[bool]string{true: ", none covers it: all"}[k.AllTests]))
				}
				logMu.Lock()
				fmt.Fprintf(log, "mutate: %s:%d:%d %s: %s (%s; %.1f s)%s\n", m.File, m.Line, m.Column, m.Type, m.Status, strings.Join(checked, "; "), m.Seconds, note)
				logMu.Unlock()
			}
		})
	}
	start := time.Now()
	for n, i := range chosen {
		if c.Budget > 0 && time.Since(start) > c.Budget {
			fmt.Fprintf(log, "mutate: %s: budget of %s spent after %d of %d mutants\n", pkg, c.Budget, n, len(chosen))
			break
		}
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	return nil
}

// testOne tests one mutant against its checks, as Plan gives them, in order until one
// catches it, and sets its Status and Checks (those run); it returns a note for the log.
func testOne(dir string, m *Mutant, candidates []string, bases map[string]*Baseline, c Config) string {
	checks := Plan(candidates, bases, m.File, m.Line, m.Column, c.Coefficient, c.Floor)
	if len(checks) == 0 {
		m.Status = statusNotCovered
		return ": no tests"
	}
	file, err := filepath.Abs(filepath.FromSlash(m.File))
	if err != nil {
		m.Status = statusNotCovered
		return ": " + err.Error()
	}
	src, err := os.ReadFile(file)
	if err != nil {
		m.Status = statusNotCovered
		return ": " + err.Error()
	}
	mutated, err := Mutate(src, m.Line, m.Column, m.Type)
	if err != nil {
		// A mutant gremlins makes that Mutate cannot: counted as a survivor, so that it is
		// looked at rather than lost.
		m.Status = statusNotCovered
		return ": not put in: " + err.Error()
	}
	for _, k := range checks {
		testDir, err := filepath.Abs(filepath.FromSlash(k.Package))
		if err != nil {
			m.Status = statusNotCovered
			return ": " + err.Error()
		}
		m.Checks = append(m.Checks, k)
		m.AllTests = m.AllTests || k.AllTests
		if m.Status = testMutant(dir, testDir, file, mutated, k.Tests, k.Timeout); m.Status != statusLived {
			break // caught, or it does not compile
		}
	}
	return ""
}

// Score counts the tested mutants of one package by what became of them. Caught mutants
// made a test fail (Killed) or run past its timeout (TimedOut). Lived mutants passed every
// test chosen for them; NotCovered ones are in a package without tests (or could not be
// put in), so they are survivors too. NotViable mutants did not compile and count for
// nothing.
type Score struct {
	Package string `json:"package"`
	// TestPackages are those whose tests its mutants may be checked against
	// (TestCandidates), its own first.
	TestPackages []string `json:"test_packages"`
	// Mutants is how many gremlins found in the package; Tested how many of them were
	// tested (the sample, or all).
	Mutants    int `json:"mutants"`
	Tested     int `json:"tested"`
	Killed     int `json:"killed"`
	TimedOut   int `json:"timed_out"`
	Lived      int `json:"lived"`
	NotCovered int `json:"not_covered"`
	NotViable  int `json:"not_viable"`
	// AllTests counts the tested mutants no coverage block held, checked against every test.
	AllTests int `json:"all_tests"`
	// Percent is the share caught among the tested mutants that compiled, in percent
	// rounded down to one decimal: (Killed+TimedOut) / (Killed+TimedOut+Lived+NotCovered).
	// Low and High bound it at 95% (Wilson), as the share of all the package's mutants
	// that a sample estimates.
	Percent float64 `json:"percent_caught"`
	Low     float64 `json:"low"`
	High    float64 `json:"high"`
	// Seconds is the package's wall time: measuring its tests and testing its mutants.
	Seconds float64 `json:"seconds"`
	// Survivors name each lived or not covered mutant as file:line:column type (status), sorted.
	Survivors []string `json:"survivors"`
}

// Summarize counts the mutants of pkg, whose Status testPackage set.
func Summarize(pkg string, ms []Mutant) (Score, error) {
	s := Score{Package: pkg, Mutants: len(ms), Survivors: []string{}}
	for _, m := range ms {
		survivor := false
		switch m.Status {
		case statusSkipped:
			continue
		case statusKilled:
			s.Killed++
		case statusTimedOut:
			s.TimedOut++
		case statusLived:
			s.Lived++
			survivor = true
		case statusNotCovered:
			s.NotCovered++
			survivor = true
		case statusNotViable:
			s.NotViable++
		default:
			return s, fmt.Errorf("%s:%d:%d: unknown status %q", m.File, m.Line, m.Column, m.Status)
		}
		s.Tested++
		if m.AllTests {
			s.AllTests++
		}
		if survivor {
			s.Survivors = append(s.Survivors, fmt.Sprintf("%s:%d:%d %s (%s)", m.File, m.Line, m.Column, m.Type, strings.ToLower(m.Status)))
		}
	}
	caught := s.Killed + s.TimedOut
	all := caught + s.Lived + s.NotCovered
	if all > 0 {
		s.Percent = float64(caught*1000/all) / 10
	}
	s.Low, s.High = Wilson(caught, all)
	s.Low, s.High = roundDown(s.Low), roundUp(s.High)
	slices.Sort(s.Survivors)
	return s, nil
}

// roundDown and roundUp round to one decimal outwards, so the printed interval still holds.
func roundDown(x float64) float64 { return math.Floor(x*10) / 10 }
func roundUp(x float64) float64   { return math.Ceil(x*10) / 10 }

// WriteTable prints one line per package, in a fixed layout that diffs well run to run.
func WriteTable(w io.Writer, scores []Score) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "package\tcaught %\t95% interval\ttested/mutants\tkilled\ttimed out\tlived\tnot covered\tnot viable\tall tests\ttime\t")
	for _, s := range scores {
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f–%.1f\t%d/%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", s.Package, s.Percent, s.Low, s.High, s.Tested, s.Mutants,
			s.Killed, s.TimedOut, s.Lived, s.NotCovered, s.NotViable, s.AllTests, time.Duration(s.Seconds)*time.Second)
	}
	_ = tw.Flush()
}
