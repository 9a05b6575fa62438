package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/lambdatest"
	"github.com/pipetel/pipetel/internal/store"
)

// newToken creates the run's tokens table and a token with ingest and read in it.
func (b *bench) newToken(ctx context.Context) (string, error) {
	if err := store.CreateTables(ctx, b.db, store.Tables{Events: tokensTable + "-unused", Tokens: tokensTable}); err != nil {
		return "", err
	}
	tok := auth.NewToken()
	err := store.NewTokens(b.db, tokensTable).Create(ctx, auth.Token{Name: "bench", Hash: auth.Hash(tok),
		Scopes: []auth.Scope{auth.ScopeIngest, auth.ScopeRead}, Created: b.now})
	return tok, err
}

// authorizerCost runs the authorizer and the query function warm, in turn, each in one
// process: the authorizer on the run's token, query on its sample event.
func (b *bench) authorizerCost(ctx context.Context, builds map[string]bootstraps) (Authorizer, error) {
	authz, query := builds["authorizer"].host, builds["query"].host
	if authz == "" || query == "" {
		return Authorizer{}, nil
	}
	const samples = 50
	b.section("authorizer: %d warm invocations against %d of query", samples, samples)
	table, err := b.newTable(ctx, "authorizer")
	if err != nil {
		return Authorizer{}, err
	}
	sample, err := os.ReadFile(filepath.Join(b.o.EventsDir, "authorizer.json"))
	if err != nil {
		return Authorizer{}, err
	}
	var req events.APIGatewayV2CustomAuthorizerV2Request
	if err := json.Unmarshal(sample, &req); err != nil {
		return Authorizer{}, err
	}
	header := "Bearer " + b.token
	req.IdentitySource, req.Headers["authorization"] = []string{header}, header
	authEvent, err := json.Marshal(req)
	if err != nil {
		return Authorizer{}, err
	}
	queryEvent, err := os.ReadFile(filepath.Join(b.o.EventsDir, "query.json"))
	if err != nil {
		return Authorizer{}, err
	}
	warm := func(bootstrap string, event []byte) ([]float64, error) {
		evs := make([][]byte, samples+1) // the first is the cold start, not counted
		for i := range evs {
			evs[i] = event
		}
		res, err := lambdatest.Run(ctx, lambdatest.Options{Bootstrap: bootstrap, Env: lambdaEnv(b.endpoint, table)}, evs...)
		if err != nil {
			return nil, err
		}
		var out []float64
		for _, r := range res.Responses[1:] {
			out = append(out, ms(r.Duration))
		}
		return out, nil
	}
	var a, q []float64
	for range 2 {
		as, err := warm(authz, authEvent)
		if err != nil {
			return Authorizer{}, fmt.Errorf("authorizer: %w", err)
		}
		qs, err := warm(query, queryEvent)
		if err != nil {
			return Authorizer{}, fmt.Errorf("query: %w", err)
		}
		a, q = append(a, as...), append(q, qs...)
	}
	out := Authorizer{Samples: len(a), WarmP50Ms: round(median(a), 2), WarmP95Ms: round(quantile(a, 0.95), 2), QueryP50Ms: round(median(q), 2)}
	out.RatioToQuery = round(ratio(out.WarmP50Ms, out.QueryP50Ms), 2)
	return out, b.dropTable(ctx, table)
}
