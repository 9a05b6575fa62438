package store_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
)

func newTokens(t *testing.T) (*store.Tokens, *dynamodb.Client, string) {
	t.Helper()
	tables := dynamotest.NewTables(t)
	client := dynamotest.Client(t)
	return store.NewTokens(client, tables.Tokens), client, tables.Tokens
}

func createToken(t *testing.T, s *store.Tokens, name string, mod func(*auth.Token)) string {
	t.Helper()
	tok := auth.NewToken()
	tk := auth.Token{Name: name, Hash: auth.Hash(tok), Scopes: []auth.Scope{auth.ScopeRead}, Created: testNow.Add(-time.Hour)}
	if mod != nil {
		mod(&tk)
	}
	if err := s.Create(t.Context(), tk); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	return tok
}

func TestTokensAtRestHoldOnlyHashes(t *testing.T) {
	s, client, table := newTokens(t)
	tok := createToken(t, s, "lab-a", nil)
	out, err := client.Scan(t.Context(), &dynamodb.ScanInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Items) != 2 {
		t.Fatalf("%d items after one create, want the token and its name", len(out.Items))
	}
	var items []map[string]any
	if err := attributevalue.UnmarshalListOfMaps(out.Items, &items); err != nil {
		t.Fatal(err)
	}
	dump := strings.ToLower(fmt.Sprint(items))
	body := strings.ToLower(strings.TrimPrefix(tok, auth.TokenPrefix))
	if strings.Contains(dump, body) || strings.Contains(dump, strings.ToLower(tok[:20])) {
		t.Fatalf("the table holds the token in plain text")
	}
	if !strings.Contains(dump, auth.Hash(tok)) {
		t.Fatalf("the table does not hold the token's hash: %s", dump)
	}
}

func TestTokensCreateListRevoke(t *testing.T) {
	s, _, _ := newTokens(t)
	expires := testNow.Add(90 * 24 * time.Hour)
	a := createToken(t, s, "lab-a", func(tk *auth.Token) {
		tk.Scopes = []auth.Scope{auth.ScopeIngest, auth.ScopeRead}
		tk.Expires = expires
	})
	createToken(t, s, "lab-b", nil)

	// A live name cannot be taken twice.
	dup := auth.Token{Name: "lab-a", Hash: auth.Hash(auth.NewToken()), Scopes: []auth.Scope{auth.ScopeRead}, Created: testNow}
	if err := s.Create(t.Context(), dup); !errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("second lab-a: %v, want ErrNameTaken", err)
	}

	got, err := s.TokenByHash(t.Context(), auth.Hash(a))
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "lab-a" || auth.JoinScopes(got.Scopes, ",") != "ingest,read" || !got.Expires.Equal(expires) ||
		!got.Created.Equal(testNow.Add(-time.Hour)) || got.Revoked || !got.LastUsed.IsZero() {
		t.Fatalf("read back %+v", got)
	}
	if _, err := s.TokenByHash(t.Context(), auth.Hash(auth.NewToken())); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("unknown hash: %v, want ErrNotFound", err)
	}

	if err := s.TouchToken(t.Context(), auth.Hash(a), testNow); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(t.Context(), "lab-a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Revoke(t.Context(), "lab-a"); !errors.Is(err, auth.ErrNotFound) {
		t.Fatalf("second revoke: %v, want ErrNotFound", err)
	}
	got, _ = s.TokenByHash(t.Context(), auth.Hash(a))
	if !got.Revoked || !got.LastUsed.Equal(testNow) {
		t.Fatalf("after touch and revoke: %+v", got)
	}
	// The name is free again; the revoked token stays listed, before the newer one.
	createToken(t, s, "lab-a", func(tk *auth.Token) { tk.Created = testNow })
	list, err := s.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tk := range list {
		names = append(names, tk.Name+map[bool]string{true: "(revoked)", false: ""}[tk.Revoked])
	}
	if strings.Join(names, " ") != "lab-a(revoked) lab-a lab-b" {
		t.Fatalf("list: %v", names)
	}
}

// TestAuthorizerOnTheTable runs the authorizer's decision against DynamoDB Local: a
// revoked or expired token is refused as soon as the table says so.
func TestAuthorizerOnTheTable(t *testing.T) {
	s, _, _ := newTokens(t)
	now := testNow
	a := auth.Authorizer{Tokens: s, Now: func() time.Time { return now }}
	tok := createToken(t, s, "lab-a", func(tk *auth.Token) { tk.Expires = testNow.Add(time.Hour) })
	decide := func() auth.Outcome {
		t.Helper()
		d, err := a.Decide(t.Context(), "Bearer "+tok)
		if err != nil {
			t.Fatal(err)
		}
		return d.Outcome
	}
	if got := decide(); got != auth.OutcomeAllowed {
		t.Fatalf("fresh token: %s", got)
	}
	now = testNow.Add(time.Hour)
	if got := decide(); got != auth.OutcomeRefused {
		t.Fatalf("at its expiry: %s, want refused", got)
	}
	now = testNow
	if err := s.Revoke(t.Context(), "lab-a"); err != nil {
		t.Fatal(err)
	}
	if got := decide(); got != auth.OutcomeRefused {
		t.Fatalf("revoked: %s, want refused", got)
	}
}
