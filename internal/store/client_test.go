package store_test

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/pipetel/pipetel/internal/store"
)

// TestNewClientForAWS: without an endpoint the client signs with the credentials and
// region it is given (Lambda's environment), and refuses to start without them rather
// than fail on the first request.
func TestNewClientForAWS(t *testing.T) {
	creds := aws.Credentials{AccessKeyID: "AKIA", SecretAccessKey: "secret", SessionToken: "token"}
	client, err := store.NewClient(t.Context(), store.ClientOptions{Region: "eu-west-1", Credentials: creds})
	if err != nil {
		t.Fatal(err)
	}
	opts := client.Options()
	got, err := opts.Credentials.Retrieve(t.Context())
	if err != nil || got.AccessKeyID != "AKIA" || got.SessionToken != "token" {
		t.Errorf("credentials %+v, %v", got, err)
	}
	if opts.Region != "eu-west-1" || opts.BaseEndpoint != nil {
		t.Errorf("region %q, endpoint %v; want eu-west-1 and AWS's own", opts.Region, opts.BaseEndpoint)
	}
	for name, o := range map[string]store.ClientOptions{
		"no credentials": {Region: "eu-west-1"},
		"no region":      {Credentials: creds},
	} {
		if _, err := store.NewClient(t.Context(), o); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
