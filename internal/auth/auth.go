// Package auth is pipetel's bearer tokens: how they are made, how they are kept (as
// hashes only), their scopes, and the authorizer's decision about a request's
// Authorization header. It imports no AWS package: the store keeps tokens, the API
// carries decisions between API Gateway's authorizer and the handlers.
package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scope is one thing a token may do.
type Scope string

// The scopes. A route needs exactly one; a token may hold several.
const (
	ScopeIngest Scope = "ingest" // POST /telemetry
	ScopeRead   Scope = "read"   // every GET route
	ScopeAdmin  Scope = "admin"  // token management
)

// AllScopes lists every scope, in the order they are printed.
var AllScopes = []Scope{ScopeIngest, ScopeRead, ScopeAdmin}

// ParseScopes reads a list of scopes separated by commas or spaces ("ingest,read"). It
// refuses an empty list and unknown names; repeats count once. The result is in
// AllScopes' order.
func ParseScopes(s string) ([]Scope, error) {
	seen := map[Scope]bool{}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		sc := Scope(strings.ToLower(f))
		if !slices.Contains(AllScopes, sc) {
			return nil, fmt.Errorf("unknown scope %q: want %s", f, JoinScopes(AllScopes, ", "))
		}
		seen[sc] = true
	}
	if len(seen) == 0 {
		return nil, fmt.Errorf("no scope given: want one or more of %s", JoinScopes(AllScopes, ", "))
	}
	var out []Scope
	for _, sc := range AllScopes {
		if seen[sc] {
			out = append(out, sc)
		}
	}
	return out, nil
}

// JoinScopes writes scopes separated by sep.
func JoinScopes(scopes []Scope, sep string) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, sep)
}

// TokenPrefix starts every token, so that secret scanners and people recognise one.
const TokenPrefix = "ptl_"

// tokenBytes is the entropy of a token: 256 bits, beyond any guessing, which is also why
// one unsalted SHA-256 is the right way to keep it (there is no dictionary to try).
const tokenBytes = 32

// NewToken makes a token: TokenPrefix and 256 random bits from the operating system's
// CSPRNG, base64url without padding (47 characters in all).
func NewToken() string {
	var b [tokenBytes]byte
	_, _ = rand.Read(b[:]) // never fails: crypto/rand crashes the program instead
	return TokenPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// Hash is what the tokens table keeps of a token: its SHA-256, in lowercase hex.
func Hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// wellFormed reports whether s could be a token NewToken made. The check costs nothing
// and keeps junk away from the table.
func wellFormed(s string) bool {
	rest, ok := strings.CutPrefix(s, TokenPrefix)
	if !ok || len(rest) != base64.RawURLEncoding.EncodedLen(tokenBytes) {
		return false
	}
	_, err := base64.RawURLEncoding.DecodeString(rest)
	return err == nil
}

// BearerToken takes the token out of an Authorization header value ("Bearer <token>",
// the scheme in any case, as RFC 6750 allows and KernelCI's clients send). ok is false
// when the value is not of that form.
func BearerToken(header string) (token string, ok bool) {
	scheme, rest, found := strings.Cut(strings.TrimSpace(header), " ")
	if !found || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(rest)
	return token, wellFormed(token)
}

// Token is what the tokens table keeps of one token: never the token itself.
type Token struct {
	Name     string
	Hash     string // Hash of the token, the table's key
	Scopes   []Scope
	Created  time.Time
	Expires  time.Time // zero: never
	LastUsed time.Time // zero: never used; written at most hourly, so up to an hour behind (see Authorizer)
	Revoked  bool
}

// Usable reports whether t may be used at now: not revoked and not expired.
func (t Token) Usable(now time.Time) bool {
	return !t.Revoked && (t.Expires.IsZero() || now.Before(t.Expires))
}

// ErrNotFound is returned by a TokenStore for a hash or name it does not hold.
var ErrNotFound = errors.New("no such token")

// TokenStore is what the authorizer needs of the tokens table.
type TokenStore interface {
	// TokenByHash returns the token with that hash, or ErrNotFound.
	TokenByHash(ctx context.Context, hash string) (Token, error)
	// TouchToken records that the token with that hash was used at t.
	TouchToken(ctx context.Context, hash string, t time.Time) error
}

// Outcome is the authorizer's verdict on an Authorization header.
type Outcome string

const (
	OutcomeAllowed   Outcome = "allowed"   // a usable token; Decision.Scopes says what for
	OutcomeMissing   Outcome = "missing"   // no Authorization header
	OutcomeMalformed Outcome = "malformed" // a header, but not "Bearer <token>"
	// OutcomeRepeated is an Authorization header sent more than once. API Gateway (HTTP API,
	// payload 2.0) joins the values of a repeated header with commas, and a token never
	// holds a comma, so a comma means the client sent the header twice.
	OutcomeRepeated Outcome = "repeated"
	// OutcomeRefused covers unknown, expired and revoked tokens alike: telling them apart
	// would tell a holder of a stolen or guessed token which it has.
	OutcomeRefused Outcome = "refused"
)

// Decision is the authorizer's answer for one request.
type Decision struct {
	Outcome Outcome
	Name    string  // the token's name, when allowed
	Scopes  []Scope // when allowed
}

// Allows reports whether d lets a request needing scope through.
func (d Decision) Allows(scope Scope) bool {
	return d.Outcome == OutcomeAllowed && slices.Contains(d.Scopes, scope)
}

// touchEvery bounds how often the authorizer writes a token's last-used time: a busy
// token costs one write an hour, not one per request.
const touchEvery = time.Hour

// Authorizer decides on Authorization headers against a TokenStore.
type Authorizer struct {
	Tokens TokenStore
	Now    func() time.Time
}

// Decide looks the bearer token of header up and returns the decision. It never says why
// a token was refused beyond OutcomeRefused. An error means the store could not answer;
// no decision is made then, so none is cached.
func (a Authorizer) Decide(ctx context.Context, header string) (Decision, error) {
	if strings.TrimSpace(header) == "" {
		return Decision{Outcome: OutcomeMissing}, nil
	}
	if strings.Contains(header, ",") {
		return Decision{Outcome: OutcomeRepeated}, nil
	}
	token, ok := BearerToken(header)
	if !ok {
		return Decision{Outcome: OutcomeMalformed}, nil
	}
	hash := Hash(token)
	t, err := a.Tokens.TokenByHash(ctx, hash)
	if errors.Is(err, ErrNotFound) {
		return Decision{Outcome: OutcomeRefused}, nil
	}
	if err != nil {
		return Decision{}, err
	}
	now := a.Now()
	// The store found the item by its key, but the key is compared again in constant
	// time so that no code path ever compares token material with an early exit.
	if subtle.ConstantTimeCompare([]byte(t.Hash), []byte(hash)) != 1 || !t.Usable(now) {
		return Decision{Outcome: OutcomeRefused}, nil
	}
	if now.Sub(t.LastUsed) >= touchEvery {
		// Last-used is bookkeeping: failing to record it must not refuse a good token.
		// The time itself, not the hour it falls in: an hour would read as used before it
		// was created for a token used in its first hour.
		_ = a.Tokens.TouchToken(ctx, hash, now)
	}
	return Decision{Outcome: OutcomeAllowed, Name: t.Name, Scopes: t.Scopes}, nil
}

// Keys of the authorizer's context, which API Gateway hands to the route's function as
// requestContext.authorizer.lambda. Simple responses allow only strings, numbers and
// booleans as values, so scopes travel as one space-separated string.
const (
	ContextOutcome = "outcome"
	ContextName    = "token_name"
	ContextScopes  = "scopes"
)

// Context is d as the authorizer's context.
func (d Decision) Context() map[string]any {
	c := map[string]any{ContextOutcome: string(d.Outcome)}
	if d.Outcome == OutcomeAllowed {
		c[ContextName] = d.Name
		c[ContextScopes] = JoinScopes(d.Scopes, " ")
	}
	return c
}

// FromContext reads a decision back from an authorizer context. No context, or one
// that is not a decision, is OutcomeMissing: no authorizer vouched for the request.
func FromContext(c map[string]any) Decision {
	outcome, _ := c[ContextOutcome].(string)
	d := Decision{Outcome: Outcome(outcome)}
	switch d.Outcome {
	case OutcomeAllowed:
		d.Name, _ = c[ContextName].(string)
		scopes, _ := c[ContextScopes].(string)
		for _, f := range strings.Fields(scopes) {
			if sc := Scope(f); slices.Contains(AllScopes, sc) {
				d.Scopes = append(d.Scopes, sc)
			}
		}
	case OutcomeMalformed, OutcomeRepeated, OutcomeRefused:
	default:
		d.Outcome = OutcomeMissing
	}
	return d
}

// ParseLifetime reads a token lifetime: a whole number of days ("90d"), or anything
// time.ParseDuration reads ("36h"). It must be positive.
func ParseLifetime(s string) (time.Duration, error) {
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if _, err := fmt.Sscanf(days, "%d", &n); err != nil || fmt.Sprint(n) != days {
			return 0, fmt.Errorf("lifetime %q: want a number of days such as 90d, or a duration such as 36h", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return 0, fmt.Errorf("lifetime %q: want a number of days such as 90d, or a duration such as 36h", s)
		}
	}
	if d <= 0 {
		return 0, fmt.Errorf("lifetime %q: want more than zero", s)
	}
	return d, nil
}
