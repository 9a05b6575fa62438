package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"go/scanner"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// defaultRecheckTimeout bounds one rechecked mutant's test run; a mutant that makes the
// tests hang that long is caught, as gremlins counts a timeout. The store's tests need
// minutes; a package whose tests take a second can be given far less (-recheck-timeout).
const defaultRecheckTimeout = 15 * time.Minute

// recheck tests again, one at a time, the mutants gremlins reported NOT COVERED, and
// rewrites the report with what became of them. gremlins decides coverage from Go's
// coverage blocks, which leave out the expression of a switch's case clause and miss the
// bodies of closures passed to sort, so code the tests do run is reported not covered.
// Each such mutant is put into its file through `go test -overlay`, which leaves the tree
// untouched, and its package's tests are run: a failure is caught (marked rechecked), a
// pass is lived, a build failure not viable. testFlags choose the tests, as for gremlins.
func recheck(root, report string, testFlags []string, timeout time.Duration, log *os.File) error {
	raw, err := os.ReadFile(report)
	if err != nil {
		return err
	}
	var r gremlinsReport
	if err := json.Unmarshal(raw, &r); err != nil {
		return fmt.Errorf("not a gremlins report: %w", err)
	}
	dir, err := os.MkdirTemp("", "mutate-recheck-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	for fi := range r.Files {
		f := &r.Files[fi]
		file, err := filepath.Abs(filepath.Join(root, filepath.FromSlash(f.Name)))
		if err != nil {
			return err
		}
		for mi := range f.Mutations {
			m := &f.Mutations[mi]
			if m.Status != statusNotCovered {
				continue
			}
			src, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			mutated, err := Mutate(src, m.Line, m.Column, m.Type)
			if err != nil {
				fmt.Fprintf(log, "recheck %s:%d:%d %s: %v; left not covered\n", f.Name, m.Line, m.Column, m.Type, err)
				continue
			}
			m.Status = testMutant(dir, file, mutated, testFlags, timeout)
			m.Rechecked = true
			fmt.Fprintf(log, "recheck %s:%d:%d %s: %s\n", f.Name, m.Line, m.Column, m.Type, m.Status)
		}
	}
	out, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return os.WriteFile(report, out, 0o644)
}

// testMutant runs the tests of file's package with file replaced by mutated and returns
// the gremlins status it earns.
func testMutant(dir, file string, mutated []byte, testFlags []string, timeout time.Duration) string {
	replacement := filepath.Join(dir, "mutant.go")
	overlay := filepath.Join(dir, "overlay.json")
	ov, _ := json.Marshal(map[string]map[string]string{"Replace": {file: replacement}})
	if os.WriteFile(replacement, mutated, 0o644) != nil || os.WriteFile(overlay, ov, 0o644) != nil {
		return statusNotCovered
	}
	// timeout bounds the tests alone (go test -timeout), as a loaded machine can take
	// minutes to build; the context only stops a build or test that never ends.
	ctx, cancel := context.WithTimeout(context.Background(), timeout+time.Hour)
	defer cancel()
	goCmd := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "nice", append([]string{"-n", "19", "go"}, args...)...)
		cmd.Dir = filepath.Dir(file) // the package, in whichever module holds it
		return cmd.Run()
	}
	if goCmd("build", "-o", os.DevNull, "-overlay", overlay, ".") != nil {
		return statusNotViable
	}
	if goCmd(append(append([]string{"test", "-count=1", "-timeout=" + timeout.String(), "-overlay", overlay}, testFlags...), ".")...) != nil {
		return statusKilled
	}
	return statusLived
}

// Mutate applies one gremlins mutant to src: the operator token at line:column (1-based,
// the column in bytes, as gremlins reports it) is replaced as the mutant type says.
func Mutate(src []byte, line, column int, mutantType string) ([]byte, error) {
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	var s scanner.Scanner
	s.Init(file, src, nil, 0)
	for {
		pos, tok, _ := s.Scan()
		if tok == token.EOF {
			return nil, fmt.Errorf("no token at %d:%d", line, column)
		}
		p := fset.Position(pos)
		if p.Line < line || p.Line == line && p.Column < column {
			continue
		}
		if p.Line != line || p.Column != column {
			return nil, fmt.Errorf("no token starts at %d:%d", line, column)
		}
		to, ok := mutations[mutantType][tok]
		if !ok {
			return nil, fmt.Errorf("%s does not apply to %s", mutantType, tok)
		}
		off := file.Offset(pos)
		var b bytes.Buffer
		b.Write(src[:off])
		b.WriteString(to.String())
		b.Write(src[off+len(tok.String()):])
		return b.Bytes(), nil
	}
}

// mutations are gremlins' mutant types (those `make mutate` enables) as token swaps.
var mutations = map[string]map[token.Token]token.Token{
	"CONDITIONALS_NEGATION": {token.EQL: token.NEQ, token.NEQ: token.EQL, token.LSS: token.GEQ,
		token.GTR: token.LEQ, token.LEQ: token.GTR, token.GEQ: token.LSS},
	"CONDITIONALS_BOUNDARY": {token.LSS: token.LEQ, token.GTR: token.GEQ, token.LEQ: token.LSS, token.GEQ: token.GTR},
	"ARITHMETIC_BASE":       {token.ADD: token.SUB, token.SUB: token.ADD, token.MUL: token.QUO, token.QUO: token.MUL, token.REM: token.MUL},
	"INCREMENT_DECREMENT":   {token.INC: token.DEC, token.DEC: token.INC},
	"INVERT_NEGATIVES":      {token.SUB: token.ADD},
}

// gremlins' statuses.
const (
	statusKilled     = "KILLED"
	statusTimedOut   = "TIMED OUT"
	statusLived      = "LIVED"
	statusNotCovered = "NOT COVERED"
	statusNotViable  = "NOT VIABLE"
)
