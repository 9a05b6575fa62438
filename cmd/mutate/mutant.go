package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/scanner"
	"go/token"
	"os"
)

// writeOverlay writes mutated to replacement and the go -overlay file at overlay that puts
// it in place of file.
func writeOverlay(overlay, file, replacement string, mutated []byte) error {
	ov, err := json.Marshal(map[string]map[string]string{"Replace": {file: replacement}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(replacement, mutated, 0o644); err != nil {
		return err
	}
	return os.WriteFile(overlay, ov, 0o644)
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
	// statusSkipped is a mutant left out of the sample: not tested.
	statusSkipped = "SKIPPED"
)
