package devserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/store"
)

// DevTokenName names the token `make dev` makes for its user.
const DevTokenName = "dev"

// EndpointFileName, beside the token file, holds the DynamoDB endpoint of a running dev
// server, for `make token`.
const EndpointFileName = "dynamodb-endpoint"

// DefaultTokenFile is where `make dev` keeps its token, beside its data, out of git.
const DefaultTokenFile = ".local/dev-token"

// ensureDevToken returns the token kept in path if the tokens table still takes it, and
// otherwise makes a new one with every scope, replacing any earlier dev token, and keeps
// it in path (readable by its owner only). The table holds only its hash, as for any
// other token.
func ensureDevToken(ctx context.Context, tokens *store.Tokens, path string, now time.Time) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		tok := strings.TrimSpace(string(b))
		d, err := auth.Authorizer{Tokens: tokens, Now: func() time.Time { return now }}.Decide(ctx, "Bearer "+tok)
		if err != nil {
			return "", err
		}
		if d.Outcome == auth.OutcomeAllowed {
			return tok, nil
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	if err := tokens.Revoke(ctx, DevTokenName); err != nil && !errors.Is(err, auth.ErrNotFound) {
		return "", err
	}
	tok := auth.NewToken()
	err := tokens.Create(ctx, auth.Token{Name: DevTokenName, Hash: auth.Hash(tok), Scopes: auth.AllScopes, Created: now})
	if err != nil {
		return "", fmt.Errorf("create the dev token: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	if err := os.WriteFile(path, []byte(tok+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("keep the dev token: %w", err)
	}
	return tok, nil
}
