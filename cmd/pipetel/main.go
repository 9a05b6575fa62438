// Command pipetel is the operator's CLI. `pipetel token create|list|revoke` manages the
// bearer tokens of a deployment (or of `make dev`, through `make token ARGS=...`) in its
// tokens table, reading the same environment as the functions: TOKENS_TABLE, AWS_REGION,
// the AWS_* credentials, or DYNAMODB_ENDPOINT for DynamoDB Local.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/store"
)

const usage = `usage:
  pipetel token create --name NAME --scope SCOPES [--expires LIFETIME]
      SCOPES: one or more of ingest, read, admin, comma-separated
      LIFETIME: days (90d) or a duration (36h); default: never expires
  pipetel token list
  pipetel token revoke NAME
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, time.Now, os.Stdout, os.Stderr))
}

// run is the whole command, with its environment passed in; it returns the exit status
// (2 for a usage error).
func run(ctx context.Context, args []string, getenv func(string) string, now func() time.Time, stdout, stderr io.Writer) int {
	if len(args) < 2 || args[0] != "token" {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cfg, err := config.LoadTokens(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "pipetel: %v\n", err)
		return 1
	}
	client, err := store.NewClient(ctx, store.ClientOptions{Region: cfg.Region, Endpoint: cfg.DynamoEndpoint, Credentials: cfg.Credentials})
	if err != nil {
		fmt.Fprintf(stderr, "pipetel: %v\n", err)
		return 1
	}
	tokens := store.NewTokens(client, cfg.TokensTable)
	switch args[1] {
	case "create":
		err = create(ctx, tokens, args[2:], now(), stdout, stderr)
	case "list":
		err = list(ctx, tokens, now(), stdout)
	case "revoke":
		if len(args) != 3 {
			err = errUsage
			break
		}
		err = tokens.Revoke(ctx, args[2])
		if errors.Is(err, auth.ErrNotFound) {
			err = fmt.Errorf("no live token is named %q (see pipetel token list)", args[2])
		} else if err == nil {
			fmt.Fprintf(stdout, "revoked %s; API Gateway may accept it for up to %s more, while its answer for the token is cached\n",
				args[2], api.AuthorizerCacheTTL)
		}
	default:
		err = errUsage
	}
	switch {
	case errors.Is(err, errUsage):
		fmt.Fprint(stderr, usage)
		return 2
	case err != nil:
		fmt.Fprintf(stderr, "pipetel: %v\n", err)
		return 1
	}
	return 0
}

var errUsage = errors.New("usage")

func create(ctx context.Context, tokens *store.Tokens, args []string, now time.Time, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("token create", flag.ContinueOnError)
	fs.SetOutput(stderr)
	name := fs.String("name", "", "the token's name, such as the lab or pipeline that uses it")
	scope := fs.String("scope", "", "ingest, read, admin, comma-separated")
	expires := fs.String("expires", "", "lifetime: days (90d) or a duration (36h); default never")
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 || strings.TrimSpace(*name) == "" {
		return errUsage
	}
	scopes, err := auth.ParseScopes(*scope)
	if err != nil {
		return err
	}
	t := auth.Token{Name: strings.TrimSpace(*name), Scopes: scopes, Created: now}
	if *expires != "" {
		lifetime, err := auth.ParseLifetime(*expires)
		if err != nil {
			return err
		}
		t.Expires = now.Add(lifetime)
	}
	tok := auth.NewToken()
	t.Hash = auth.Hash(tok)
	if err := tokens.Create(ctx, t); errors.Is(err, store.ErrNameTaken) {
		return fmt.Errorf("a live token is already named %q: revoke it first or choose another name", t.Name)
	} else if err != nil {
		return err
	}
	// The token goes to stdout alone, so `$(pipetel token create ...)` captures it; what a
	// person reads goes to stderr. It is shown this once: the table keeps only its hash.
	fmt.Fprintln(stdout, tok)
	fmt.Fprintf(stderr, "created token %s (scopes %s, expires %s); it is shown only this once\n",
		t.Name, auth.JoinScopes(scopes, ", "), when(t.Expires, "never"))
	return nil
}

func list(ctx context.Context, tokens *store.Tokens, now time.Time, stdout io.Writer) error {
	all, err := tokens.List(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tSTATUS")
	for _, t := range all {
		status := "active"
		switch {
		case t.Revoked:
			status = "revoked"
		case !t.Usable(now):
			status = "expired"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", t.Name, auth.JoinScopes(t.Scopes, ","), when(t.Created, "-"),
			when(t.Expires, "never"), when(t.LastUsed, "never"), status)
	}
	return w.Flush()
}

func when(t time.Time, zero string) string {
	if t.IsZero() {
		return zero
	}
	return t.UTC().Format(time.RFC3339)
}
