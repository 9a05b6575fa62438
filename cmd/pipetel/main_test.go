package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
)

func TestTokenCommands(t *testing.T) {
	tables := dynamotest.NewTables(t)
	env := map[string]string{config.EnvTokensTable: tables.Tokens, config.EnvDynamoEndpoint: dynamotest.Endpoint(t)}
	now := time.Date(2026, 8, 21, 9, 0, 0, 0, time.UTC)
	pipetel := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(t.Context(), args, func(k string) string { return env[k] }, func() time.Time { return now }, &out, &errOut)
		return code, out.String(), errOut.String()
	}

	code, out, _ := pipetel("token", "create", "--name", "lab-collabora", "--scope", "ingest,read", "--expires", "90d")
	tok := strings.TrimSpace(out)
	if code != 0 || !strings.HasPrefix(tok, auth.TokenPrefix) {
		t.Fatalf("create: %d %q", code, out)
	}
	tokens := store.NewTokens(dynamotest.Client(t), tables.Tokens)
	got, err := tokens.TokenByHash(t.Context(), auth.Hash(tok))
	if err != nil || got.Name != "lab-collabora" || !got.Expires.Equal(now.Add(90*24*time.Hour)) || len(got.Scopes) != 2 {
		t.Fatalf("stored %+v, %v", got, err)
	}
	if code, _, errOut := pipetel("token", "create", "--name", "lab-collabora", "--scope", "read"); code != 1 || !strings.Contains(errOut, "already named") {
		t.Errorf("second lab-collabora: %d %s", code, errOut)
	}
	for _, bad := range [][]string{
		{"token", "create", "--scope", "read"},
		{"token", "create", "--name", "x", "--scope", "write"},
		{"token", "create", "--name", "x", "--scope", "read", "--expires", "soon"},
		{"token", "revoke"},
		{"token", "rotate"},
	} {
		if code, _, _ := pipetel(bad...); code == 0 {
			t.Errorf("%v succeeded", bad)
		}
	}

	code, out, _ = pipetel("token", "list")
	if code != 0 || !strings.Contains(out, "lab-collabora") || !strings.Contains(out, "ingest,read") || !strings.Contains(out, "active") {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if strings.Contains(out, tok) || strings.Contains(out, strings.TrimPrefix(tok, auth.TokenPrefix)[:16]) || strings.Contains(out, auth.Hash(tok)[:16]) {
		t.Fatalf("list shows a token or its hash:\n%s", out)
	}

	if code, out, _ := pipetel("token", "revoke", "lab-collabora"); code != 0 || !strings.Contains(out, "revoked lab-collabora") {
		t.Fatalf("revoke: %d %s", code, out)
	}
	if code, _, errOut := pipetel("token", "revoke", "lab-collabora"); code != 1 || !strings.Contains(errOut, "no live token") {
		t.Errorf("revoke again: %d %s", code, errOut)
	}
	if _, out, _ = pipetel("token", "list"); !strings.Contains(out, "revoked") {
		t.Errorf("list after revoke:\n%s", out)
	}
}
