package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/expression"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/pipetel/pipetel/internal/auth"
)

// The tokens table holds two kinds of item under one key attribute, AttrPK:
//
//	T#<sha256 hex>  the token: name, scopes, times, revoked. Never the token itself.
//	N#<name>        the name's claim, pointing at its token, so that names are unique
//	                among live tokens (created in one transaction with the token).
const (
	tokenPrefix = "T#"
	namePrefix  = "N#"

	// Expiry is "expires", not AttrExpiresAt, and the table has no TTL: an expired token
	// stays listed until it is revoked, so an operator sees why a client is refused.
	attrLastUsed = "last_used"
	attrRevoked  = "revoked"
	attrTokenPK  = "token_pk"
)

// TokensTableInput is the definition of the tokens table: one string key, on demand.
// template.yaml declares the same; a test holds the two together.
func TokensTableInput(name string) *dynamodb.CreateTableInput {
	return &dynamodb.CreateTableInput{
		TableName:            aws.String(name),
		BillingMode:          types.BillingModePayPerRequest,
		AttributeDefinitions: []types.AttributeDefinition{{AttributeName: aws.String(AttrPK), AttributeType: types.ScalarAttributeTypeS}},
		KeySchema:            []types.KeySchemaElement{{AttributeName: aws.String(AttrPK), KeyType: types.KeyTypeHash}},
	}
}

// TokensAPI is the part of the DynamoDB client the tokens store uses. Scan serves only
// List, which operators run by hand; the authorizer reads one item by key.
type TokensAPI interface {
	GetItem(context.Context, *dynamodb.GetItemInput, ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(context.Context, *dynamodb.UpdateItemInput, ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	TransactWriteItems(context.Context, *dynamodb.TransactWriteItemsInput, ...func(*dynamodb.Options)) (*dynamodb.TransactWriteItemsOutput, error)
	Scan(context.Context, *dynamodb.ScanInput, ...func(*dynamodb.Options)) (*dynamodb.ScanOutput, error)
}

// Tokens is the tokens table.
type Tokens struct {
	db    TokensAPI
	table string
}

var _ auth.TokenStore = (*Tokens)(nil)

// NewTokens returns the tokens store on db, in table.
func NewTokens(db TokensAPI, table string) *Tokens { return &Tokens{db: db, table: table} }

// ErrNameTaken is returned by Create when a live token already has the name.
var ErrNameTaken = errors.New("a live token already has that name")

type tokenItem struct {
	PK       string   `dynamodbav:"pk"`
	Name     string   `dynamodbav:"name"`
	Scopes   []string `dynamodbav:"scopes,stringset"`
	Created  int64    `dynamodbav:"created"`
	Expires  int64    `dynamodbav:"expires,omitempty"`
	LastUsed int64    `dynamodbav:"last_used,omitempty"`
	Revoked  bool     `dynamodbav:"revoked"`
}

func unixOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

func timeOrZero(s int64) time.Time {
	if s == 0 {
		return time.Time{}
	}
	return time.Unix(s, 0).UTC()
}

func (it tokenItem) token() auth.Token {
	t := auth.Token{
		Name:     it.Name,
		Hash:     strings.TrimPrefix(it.PK, tokenPrefix),
		Created:  timeOrZero(it.Created),
		Expires:  timeOrZero(it.Expires),
		LastUsed: timeOrZero(it.LastUsed),
		Revoked:  it.Revoked,
	}
	for _, sc := range auth.AllScopes {
		if slices.Contains(it.Scopes, string(sc)) {
			t.Scopes = append(t.Scopes, sc)
		}
	}
	return t
}

// Create stores t (its hash, never a token) and claims its name, both or neither. It
// returns ErrNameTaken when a live token has the name.
func (s *Tokens) Create(ctx context.Context, t auth.Token) error {
	if t.Name == "" || len(t.Hash) != 64 || len(t.Scopes) == 0 {
		return fmt.Errorf("a token needs a name, a SHA-256 hash and a scope")
	}
	it := tokenItem{PK: TokenPK(t.Hash), Name: t.Name, Created: t.Created.Unix(),
		Expires: unixOrZero(t.Expires), Revoked: false}
	for _, sc := range t.Scopes {
		it.Scopes = append(it.Scopes, string(sc))
	}
	tokenAV, err := attributevalue.MarshalMap(it)
	if err != nil {
		return err
	}
	nameAV, err := attributevalue.MarshalMap(map[string]string{AttrPK: namePrefix + t.Name, attrTokenPK: it.PK})
	if err != nil {
		return err
	}
	absent, err := expression.NewBuilder().WithCondition(expression.AttributeNotExists(expression.Name(AttrPK))).Build()
	if err != nil {
		return err
	}
	put := func(item map[string]types.AttributeValue) types.TransactWriteItem {
		return types.TransactWriteItem{Put: &types.Put{TableName: &s.table, Item: item,
			ConditionExpression: absent.Condition(), ExpressionAttributeNames: absent.Names()}}
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{
		TransactItems: []types.TransactWriteItem{put(nameAV), put(tokenAV)},
	})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) && len(cancelled.CancellationReasons) > 0 &&
		aws.ToString(cancelled.CancellationReasons[0].Code) == "ConditionalCheckFailed" {
		return ErrNameTaken
	}
	if err != nil {
		return fmt.Errorf("create token %q: %w", t.Name, clientError(err))
	}
	return nil
}

// TokenByHash returns the token whose hash is hash, or auth.ErrNotFound. It reads
// strongly consistently, so a revocation is seen as soon as the authorizer asks.
func (s *Tokens) TokenByHash(ctx context.Context, hash string) (auth.Token, error) {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: TokenPK(hash)}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		// The hash stays out of the error: errors end up in logs.
		return auth.Token{}, fmt.Errorf("read token: %w", clientError(err))
	}
	if out.Item == nil {
		return auth.Token{}, auth.ErrNotFound
	}
	var it tokenItem
	if err := attributevalue.UnmarshalMap(out.Item, &it); err != nil {
		return auth.Token{}, fmt.Errorf("decode token item: %w", err)
	}
	return it.token(), nil
}

// TouchToken records that the token with that hash was used at t, if it still exists.
func (s *Tokens) TouchToken(ctx context.Context, hash string, t time.Time) error {
	expr, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name(attrLastUsed), expression.Value(t.Unix()))).
		WithCondition(expression.AttributeExists(expression.Name(AttrPK))).Build()
	if err != nil {
		return err
	}
	_, err = s.db.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 &s.table,
		Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: TokenPK(hash)}},
		UpdateExpression:          expr.Update(),
		ConditionExpression:       expr.Condition(),
		ExpressionAttributeNames:  expr.Names(),
		ExpressionAttributeValues: expr.Values(),
	})
	if err != nil {
		return fmt.Errorf("record token use: %w", clientError(err))
	}
	return nil
}

// Revoke marks the live token named name revoked and frees the name, both or neither.
// It returns auth.ErrNotFound when no live token has the name.
func (s *Tokens) Revoke(ctx context.Context, name string) error {
	out, err := s.db.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      &s.table,
		Key:            map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: namePrefix + name}},
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", name, clientError(err))
	}
	var claim struct {
		TokenPK string `dynamodbav:"token_pk"`
	}
	if out.Item == nil {
		return auth.ErrNotFound
	}
	if err := attributevalue.UnmarshalMap(out.Item, &claim); err != nil || claim.TokenPK == "" {
		return fmt.Errorf("revoke token %q: the name's item is damaged", name)
	}
	revoke, err := expression.NewBuilder().
		WithUpdate(expression.Set(expression.Name(attrRevoked), expression.Value(true))).
		WithCondition(expression.AttributeExists(expression.Name(AttrPK))).Build()
	if err != nil {
		return err
	}
	stillOurs, err := expression.NewBuilder().
		WithCondition(expression.Name(attrTokenPK).Equal(expression.Value(claim.TokenPK))).Build()
	if err != nil {
		return err
	}
	_, err = s.db.TransactWriteItems(ctx, &dynamodb.TransactWriteItemsInput{TransactItems: []types.TransactWriteItem{
		{Update: &types.Update{
			TableName:                 &s.table,
			Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: claim.TokenPK}},
			UpdateExpression:          revoke.Update(),
			ConditionExpression:       revoke.Condition(),
			ExpressionAttributeNames:  revoke.Names(),
			ExpressionAttributeValues: revoke.Values(),
		}},
		{Delete: &types.Delete{
			TableName:                 &s.table,
			Key:                       map[string]types.AttributeValue{AttrPK: &types.AttributeValueMemberS{Value: namePrefix + name}},
			ConditionExpression:       stillOurs.Condition(),
			ExpressionAttributeNames:  stillOurs.Names(),
			ExpressionAttributeValues: stillOurs.Values(),
		}},
	}})
	var cancelled *types.TransactionCanceledException
	if errors.As(err, &cancelled) {
		// Revoked and freed by someone else between the read and the write.
		return auth.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", name, clientError(err))
	}
	return nil
}

// List returns every token, live, expired and revoked, sorted by name then creation. It
// scans the table, which only an operator's command does; no request path calls it.
func (s *Tokens) List(ctx context.Context) ([]auth.Token, error) {
	filter, err := expression.NewBuilder().
		WithFilter(expression.Name(AttrPK).BeginsWith(tokenPrefix)).Build()
	if err != nil {
		return nil, err
	}
	var out []auth.Token
	p := dynamodb.NewScanPaginator(s.db, &dynamodb.ScanInput{
		TableName:                 &s.table,
		FilterExpression:          filter.Filter(),
		ExpressionAttributeNames:  filter.Names(),
		ExpressionAttributeValues: filter.Values(),
		ConsistentRead:            aws.Bool(true),
	})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list tokens: %w", clientError(err))
		}
		for _, item := range page.Items {
			var it tokenItem
			if err := attributevalue.UnmarshalMap(item, &it); err != nil {
				return nil, fmt.Errorf("decode token item: %w", err)
			}
			out = append(out, it.token())
		}
	}
	slices.SortFunc(out, func(a, b auth.Token) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return a.Created.Compare(b.Created)
	})
	return out, nil
}
