// Command mutate is `make mutate`: mutation testing of the product packages with
// gremlins (github.com/go-gremlins/gremlins, a tool of go.mod). Each mutant is one small
// change to the code (a < made <=, a + made -, a condition negated); the package's tests
// run against it and should fail. It prints the share of mutants caught per package as a
// table and writes the same figures to .local/mutate.json, to compare run with run. See
// TESTING.md.
//
// A run can be narrowed to fit the time there is: -exclude leaves files out, -run and
// -skip choose the tests each mutant is checked against (the slow ones of the store, say).
// The scores of such a run are partial, and .local/mutate.json says how it was narrowed.
//
// Tests needing DynamoDB Local find it through $PIPETEL_TEST_DYNAMODB_ENDPOINT, which
// `make mutate` sets by running this under cmd/dynamolocal.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// defaultRoots are the product packages, each with its subpackages.
var defaultRoots = []string{"./internal/telemetry", "./internal/store", "./internal/api", "./internal/rollup", "./internal/auth"}

func main() {
	roots := flag.String("pkgs", strings.Join(defaultRoots, ","), "comma-separated package roots to mutate, each with its subpackages")
	out := flag.String("out", ".local/mutate.json", "where to write the scores as JSON")
	workers := flag.Int("workers", 1, "mutants tested at once; each runs a package's tests")
	timeout := flag.Int("timeout-coefficient", 10, "a mutant's tests time out after this many times the unmutated run")
	from := flag.Bool("from-reports", false, "do not run gremlins; summarise the reports a previous run left beside -out")
	again := flag.Bool("recheck", true, "test again, one by one, the mutants gremlins reports not covered")
	recheckTimeout := flag.Duration("recheck-timeout", defaultRecheckTimeout, "a rechecked mutant whose tests run longer is caught (timed out)")
	var n Narrowing
	flag.StringVar(&n.Exclude, "exclude", "", "comma-separated regexps of files (as gremlins' -E sees their paths) not to mutate")
	flag.StringVar(&n.Run, "run", "", "run only the tests this regexp matches (go test -run) against each mutant")
	flag.StringVar(&n.Skip, "skip", "", "skip the tests this regexp matches (go test -skip) for each mutant")
	flag.Parse()
	if err := run(strings.Split(*roots, ","), *out, *workers, *timeout, *from, *again, *recheckTimeout, n, os.Stdout); err != nil {
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

// testFlags are go test's flags for the tests the narrowing chooses; spaces would split
// them in GOFLAGS, so they are refused.
func (n Narrowing) testFlags() ([]string, error) {
	var flags []string
	for _, f := range []struct{ name, re string }{{"run", n.Run}, {"skip", n.Skip}} {
		if f.re == "" {
			continue
		}
		if strings.ContainsAny(f.re, " \t\n") {
			return nil, fmt.Errorf("-%s %q: a regexp without spaces, please (use \\s)", f.name, f.re)
		}
		flags = append(flags, "-"+f.name+"="+f.re)
	}
	return flags, nil
}

func run(roots []string, out string, workers, timeout int, fromReports, again bool, recheckTimeout time.Duration, n Narrowing, stdout io.Writer) error {
	testFlags, err := n.testFlags()
	if err != nil {
		return err
	}
	reportDir := strings.TrimSuffix(out, filepath.Ext(out))
	if err := os.MkdirAll(reportDir, 0o755); err != nil {
		return err
	}
	var scores []Score
	for _, root := range roots {
		report := filepath.Join(reportDir, strings.ReplaceAll(strings.Trim(root, "./"), "/", "_")+".json")
		if !fromReports {
			if err := unleash(root, report, workers, timeout, n.Exclude, testFlags); err != nil {
				return fmt.Errorf("%s: %w", root, err)
			}
		}
		if again {
			if err := recheck(root, report, testFlags, recheckTimeout, os.Stderr); err != nil {
				return fmt.Errorf("%s: %w", root, err)
			}
		}
		raw, err := os.ReadFile(report)
		if err != nil {
			return fmt.Errorf("%s: %w", root, err)
		}
		s, err := Summarize(root, raw)
		if err != nil {
			return fmt.Errorf("%s: %w", report, err)
		}
		scores = append(scores, s...)
	}
	WriteTable(stdout, scores)
	if n != (Narrowing{}) {
		fmt.Fprintf(stdout, "partial: exclude %q, run %q, skip %q\n", n.Exclude, n.Run, n.Skip)
	}
	b, err := json.MarshalIndent(Run{Date: time.Now().UTC().Format(time.RFC3339), Narrowing: n, Packages: scores}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// unleash runs gremlins over root and its subpackages, at the lowest CPU priority: on a
// shared machine the mutants should only take what nothing else wants.
func unleash(root, report string, workers, timeout int, exclude string, testFlags []string) error {
	args := []string{"-n", "19", "go", "tool", "gremlins", "unleash",
		"--workers", fmt.Sprint(workers), "--timeout-coefficient", fmt.Sprint(timeout), "-o", report}
	for _, e := range strings.Split(exclude, ",") {
		if e != "" {
			args = append(args, "-E", e)
		}
	}
	cmd := exec.Command("nice", append(args, root)...)
	// gremlins times each mutant against one unmutated run; a cached result would make that
	// run take milliseconds and every mutant time out. gremlins has no flag for the tests
	// to run, but go test reads test flags from GOFLAGS, for the coverage run and each
	// mutant's alike.
	cmd.Env = append(os.Environ(), "GOFLAGS="+strings.Join(append([]string{"-count=1"}, testFlags...), " "))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return cmd.Run()
}

// Run is one `make mutate`, as written to .local/mutate.json.
type Run struct {
	Date string `json:"date"`
	// Narrowing is set when the run left files or tests out: its scores are partial.
	Narrowing Narrowing `json:"narrowing"`
	Packages  []Score   `json:"packages"`
}

// Score counts the mutants of one package by what became of them. Caught mutants made a
// test fail (Killed) or hang until the timeout (TimedOut). Lived mutants passed every
// test; NotCovered ones sit in code no test of the package runs, so they are survivors
// too. NotViable mutants did not compile and count for nothing.
type Score struct {
	Package    string `json:"package"`
	Killed     int    `json:"killed"`
	TimedOut   int    `json:"timed_out"`
	Lived      int    `json:"lived"`
	NotCovered int    `json:"not_covered"`
	NotViable  int    `json:"not_viable"`
	// Rechecked counts the mutants gremlins reported not covered that were tested again
	// one by one (see recheck); they are counted above by what that found.
	Rechecked int `json:"rechecked"`
	// Percent is the share caught among the mutants that compiled, in percent rounded down
	// to one decimal: (Killed+TimedOut) / (Killed+TimedOut+Lived+NotCovered).
	Percent float64 `json:"percent_caught"`
	// Survivors name each lived or uncovered mutant as file:line:column type, sorted.
	Survivors []string `json:"survivors"`
}

// gremlinsReport is the part of gremlins' JSON report that is read, and rewritten by
// recheck (which adds Rechecked).
type gremlinsReport struct {
	GoModule string `json:"go_module"`
	Files    []struct {
		Name      string `json:"file_name"`
		Mutations []struct {
			Type      string `json:"type"`
			Status    string `json:"status"`
			Line      int    `json:"line"`
			Column    int    `json:"column"`
			Rechecked bool   `json:"rechecked,omitempty"`
		} `json:"mutations"`
	} `json:"files"`
}

// Summarize splits a gremlins JSON report over root (file names relative to root) into
// one Score per package, sorted by package.
func Summarize(root string, raw []byte) ([]Score, error) {
	var r gremlinsReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("not a gremlins report: %w", err)
	}
	byPkg := map[string]*Score{}
	for _, f := range r.Files {
		file := path.Join(strings.TrimPrefix(root, "./"), filepath.ToSlash(f.Name))
		pkg := path.Dir(file)
		s := byPkg[pkg]
		if s == nil {
			s = &Score{Package: pkg, Survivors: []string{}}
			byPkg[pkg] = s
		}
		for _, m := range f.Mutations {
			survivor := false
			if m.Rechecked {
				s.Rechecked++
			}
			switch m.Status {
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
				return nil, fmt.Errorf("%s:%d: unknown status %q", file, m.Line, m.Status)
			}
			if survivor {
				s.Survivors = append(s.Survivors, fmt.Sprintf("%s:%d:%d %s (%s)", file, m.Line, m.Column, m.Type, strings.ToLower(m.Status)))
			}
		}
	}
	var out []Score
	for _, s := range byPkg {
		caught := s.Killed + s.TimedOut
		if all := caught + s.Lived + s.NotCovered; all > 0 {
			s.Percent = float64(caught*1000/all) / 10
		}
		slices.Sort(s.Survivors)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Score) int { return strings.Compare(a.Package, b.Package) })
	return out, nil
}

// WriteTable prints one line per package, in a fixed layout that diffs well run to run.
func WriteTable(w io.Writer, scores []Score) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "package\tcaught %\tkilled\ttimed out\tlived\tnot covered\tnot viable\trechecked\t")
	for _, s := range scores {
		fmt.Fprintf(tw, "%s\t%.1f\t%d\t%d\t%d\t%d\t%d\t%d\t\n", s.Package, s.Percent, s.Killed, s.TimedOut, s.Lived, s.NotCovered, s.NotViable, s.Rechecked)
	}
	_ = tw.Flush()
}
