package auth_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/auth"
)

func TestNewTokenIsLongRandomAndWellFormed(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		tok := auth.NewToken()
		if seen[tok] {
			t.Fatalf("token %d repeated", len(seen))
		}
		seen[tok] = true
		if got, ok := auth.BearerToken("Bearer " + tok); !ok || got != tok {
			t.Fatalf("a fresh token is not accepted as a bearer token")
		}
		// 256 bits in base64url is 43 characters after the prefix.
		if n := len(strings.TrimPrefix(tok, auth.TokenPrefix)); n != 43 {
			t.Fatalf("token body has %d characters, want 43 (256 bits)", n)
		}
	}
}

func TestHashIsSHA256Hex(t *testing.T) {
	// SHA-256("abc"), FIPS 180-2 appendix B.1.
	if got := auth.Hash("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Fatalf("Hash(abc) = %s", got)
	}
}

func TestBearerToken(t *testing.T) {
	tok := auth.NewToken()
	cases := []struct {
		header string
		ok     bool
	}{
		{"Bearer " + tok, true},
		{"bearer " + tok, true},
		{"BEARER   " + tok + " ", true},
		{tok, false},
		{"Basic " + tok, false},
		{"Bearer", false},
		{"Bearer ", false},
		{"Bearer " + tok + "x", false},
		{"Bearer " + strings.TrimPrefix(tok, auth.TokenPrefix), false},
		{"Bearer ptl_" + strings.Repeat("!", 43), false},
	}
	for _, c := range cases {
		if _, ok := auth.BearerToken(c.header); ok != c.ok {
			t.Errorf("BearerToken(%q) ok = %v, want %v", strings.ReplaceAll(c.header, tok, "<token>"), ok, c.ok)
		}
	}
}

func TestParseScopes(t *testing.T) {
	cases := []struct {
		in   string
		want string
		err  bool
	}{
		{"ingest", "ingest", false},
		{"read,ingest", "ingest read", false},
		{"admin read read", "read admin", false},
		{"", "", true},
		{",", "", true},
		{"write", "", true},
	}
	for _, c := range cases {
		got, err := auth.ParseScopes(c.in)
		if (err != nil) != c.err || auth.JoinScopes(got, " ") != c.want {
			t.Errorf("ParseScopes(%q) = %v, %v; want %q, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

func TestParseLifetime(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"90d", 90 * 24 * time.Hour, false},
		{"36h", 36 * time.Hour, false},
		{"0d", 0, true},
		{"-1h", 0, true},
		{"9x", 0, true},
		{"1.5d", 0, true},
		{"d", 0, true},
	}
	for _, c := range cases {
		got, err := auth.ParseLifetime(c.in)
		if (err != nil) != c.err || got != c.want {
			t.Errorf("ParseLifetime(%q) = %v, %v; want %v, error %v", c.in, got, err, c.want, c.err)
		}
	}
}

// memTokens is a map standing in for the tokens table in the decision's unit tests; the
// store's own tests run the same decisions against DynamoDB Local.
type memTokens struct {
	byHash  map[string]auth.Token
	touched map[string]time.Time
	fail    error
}

func (m *memTokens) TokenByHash(_ context.Context, hash string) (auth.Token, error) {
	if m.fail != nil {
		return auth.Token{}, m.fail
	}
	t, ok := m.byHash[hash]
	if !ok {
		return auth.Token{}, auth.ErrNotFound
	}
	return t, nil
}

func (m *memTokens) TouchToken(_ context.Context, hash string, at time.Time) error {
	m.touched[hash] = at
	return nil
}

func TestDecide(t *testing.T) {
	now := time.Date(2026, 8, 21, 9, 30, 0, 0, time.UTC)
	good, expired, revoked, unknown := auth.NewToken(), auth.NewToken(), auth.NewToken(), auth.NewToken()
	store := &memTokens{byHash: map[string]auth.Token{}, touched: map[string]time.Time{}}
	add := func(tok, name string, mod func(*auth.Token)) {
		t := auth.Token{Name: name, Hash: auth.Hash(tok), Scopes: []auth.Scope{auth.ScopeIngest, auth.ScopeRead}, Created: now.Add(-time.Hour)}
		if mod != nil {
			mod(&t)
		}
		store.byHash[t.Hash] = t
	}
	add(good, "lab", func(t *auth.Token) { t.Expires = now.Add(time.Second) })
	add(expired, "old", func(t *auth.Token) { t.Expires = now })
	add(revoked, "gone", func(t *auth.Token) { t.Revoked = true })
	a := auth.Authorizer{Tokens: store, Now: func() time.Time { return now }}

	cases := []struct {
		name, header string
		want         auth.Outcome
	}{
		{"good", "Bearer " + good, auth.OutcomeAllowed},
		{"missing", "", auth.OutcomeMissing},
		{"no scheme", good, auth.OutcomeMalformed},
		// Sent twice, as API Gateway passes a repeated header: the values joined by a comma.
		{"repeated", "Bearer " + good + ",Bearer " + good, auth.OutcomeRepeated},
		{"repeated, spaced", "Bearer " + good + ", Bearer " + unknown, auth.OutcomeRepeated},
		{"unknown", "Bearer " + unknown, auth.OutcomeRefused},
		{"expired", "Bearer " + expired, auth.OutcomeRefused},
		{"revoked", "Bearer " + revoked, auth.OutcomeRefused},
	}
	for _, c := range cases {
		d, err := a.Decide(t.Context(), c.header)
		if err != nil || d.Outcome != c.want {
			t.Errorf("%s: %+v, %v; want %s", c.name, d, err, c.want)
		}
		// The context a refused request carries names no token and no reason beyond the outcome.
		back := auth.FromContext(d.Context())
		if back.Outcome != d.Outcome || back.Name != d.Name || auth.JoinScopes(back.Scopes, " ") != auth.JoinScopes(d.Scopes, " ") {
			t.Errorf("%s: context round trip %+v, want %+v", c.name, back, d)
		}
	}
	d, _ := a.Decide(t.Context(), "Bearer "+good)
	if d.Name != "lab" || !d.Allows(auth.ScopeIngest) || !d.Allows(auth.ScopeRead) || d.Allows(auth.ScopeAdmin) {
		t.Errorf("good token: %+v", d)
	}
	// The time of use, not its hour: 09:00 for a use at 09:30 would read, for a token
	// created at 09:10, as used before it existed.
	if got := store.touched[auth.Hash(good)]; !got.Equal(now) {
		t.Errorf("last used recorded as %v, want the time of use %v", got, now)
	}

	store.fail = errors.New("table unreachable")
	if _, err := a.Decide(t.Context(), "Bearer "+good); err == nil {
		t.Error("a store failure made a decision; it must be an error, so nothing is cached")
	}
}

func TestFromContextWithoutAnAuthorizerIsMissing(t *testing.T) {
	for _, c := range []map[string]any{nil, {}, {auth.ContextOutcome: "yes"}, {auth.ContextOutcome: 1}} {
		if d := auth.FromContext(c); d.Outcome != auth.OutcomeMissing || d.Allows(auth.ScopeRead) {
			t.Errorf("FromContext(%v) = %+v, want missing", c, d)
		}
	}
	d := auth.FromContext(map[string]any{auth.ContextOutcome: "allowed", auth.ContextScopes: "read root"})
	if !d.Allows(auth.ScopeRead) || len(d.Scopes) != 1 {
		t.Errorf("unknown scope names must be dropped: %+v", d)
	}
}

// TestLastUsedIsWrittenAtMostHourly: a token's use is recorded when the last record is an
// hour old or more, and not before, so a busy token costs one write an hour.
func TestLastUsedIsWrittenAtMostHourly(t *testing.T) {
	now := time.Date(2026, 8, 21, 9, 30, 0, 0, time.UTC)
	tok := auth.NewToken()
	for _, c := range []struct {
		name     string
		lastUsed time.Time
		touched  bool
	}{
		{"never used", time.Time{}, true},
		{"an hour ago", now.Add(-time.Hour), true},
		{"just under an hour ago", now.Add(-time.Hour + time.Second), false},
	} {
		store := &memTokens{byHash: map[string]auth.Token{}, touched: map[string]time.Time{}}
		store.byHash[auth.Hash(tok)] = auth.Token{Name: "lab", Hash: auth.Hash(tok), Scopes: []auth.Scope{auth.ScopeRead}, LastUsed: c.lastUsed}
		a := auth.Authorizer{Tokens: store, Now: func() time.Time { return now }}
		if d, err := a.Decide(t.Context(), "Bearer "+tok); err != nil || d.Outcome != auth.OutcomeAllowed {
			t.Fatalf("%s: %+v, %v", c.name, d, err)
		}
		if _, got := store.touched[auth.Hash(tok)]; got != c.touched {
			t.Errorf("%s: last used written %v, want %v", c.name, got, c.touched)
		}
	}
}
