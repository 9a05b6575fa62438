package dynamolocal_test

import (
	"context"
	"errors"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/store"
)

// skipIfNotInstalled skips t if err says DynamoDB Local is not installed, except in CI,
// which must run every test.
func skipIfNotInstalled(t *testing.T, err error) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); errors.Is(err, dynamolocal.ErrNotInstalled) && !ci {
		t.Skipf("skipped, this test needs DynamoDB Local; run `make test`, which installs it and runs every test: %v", err)
	}
}

// start starts a DynamoDB Local for one test, stopped when it ends.
func start(t *testing.T, o dynamolocal.Options) *dynamolocal.Server {
	t.Helper()
	srv, err := dynamolocal.Start(t.Context(), o)
	skipIfNotInstalled(t, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := srv.Stop(); err != nil {
			t.Error(err)
		}
	})
	return srv
}

func client(t *testing.T, endpoint, region string) *dynamodb.Client {
	t.Helper()
	c, err := store.NewClient(t.Context(), store.ClientOptions{Endpoint: endpoint, Region: region})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func listTables(t *testing.T, c *dynamodb.Client) []string {
	t.Helper()
	out, err := c.ListTables(t.Context(), &dynamodb.ListTablesInput{})
	if err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	return out.TableNames
}

func TestServerAnswersUntilStopped(t *testing.T) {
	t.Parallel()
	srv := start(t, dynamolocal.Options{})
	if names := listTables(t, client(t, srv.Endpoint(), "")); len(names) != 0 {
		t.Fatalf("a fresh in-memory server has tables %v", names)
	}

	// Clients in different regions must share tables, as the dev server's and a test's may.
	if err := store.CreateTables(t.Context(), client(t, srv.Endpoint(), "us-east-1"), store.Tables{Events: "events"}); err != nil {
		t.Fatal(err)
	}
	if names := listTables(t, client(t, srv.Endpoint(), "eu-west-1")); !slices.Equal(names, []string{"events"}) {
		t.Errorf("a client in another region sees tables %v, want [events]", names)
	}

	if err := srv.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-srv.Done():
	default:
		t.Error("Done is open after Stop returned")
	}
	u, err := url.Parse(srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	if conn, err := net.Dial("tcp", u.Host); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Stop", u.Host)
	}
	if err := srv.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
}

func TestDataDirKeepsTablesAcrossRestarts(t *testing.T) {
	t.Parallel()
	dataDir := filepath.Join(t.TempDir(), "db")

	first := start(t, dynamolocal.Options{DataDir: dataDir})
	if err := store.CreateTables(t.Context(), client(t, first.Endpoint(), ""), store.Tables{Events: "kept"}); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	second := start(t, dynamolocal.Options{DataDir: dataDir})
	out, err := client(t, second.Endpoint(), "").DescribeTable(t.Context(), &dynamodb.DescribeTableInput{TableName: aws.String("kept")})
	if err != nil {
		t.Fatalf("the table did not survive a restart: %v", err)
	}
	if got, want := len(out.Table.GlobalSecondaryIndexes), len(store.EventsTableInput("kept").GlobalSecondaryIndexes); got != want {
		t.Errorf("after a restart the table has %d GSIs, want %d", got, want)
	}
}

func TestStartOnATakenPortShowsJavasOutput(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port

	srv, err := dynamolocal.Start(t.Context(), dynamolocal.Options{Port: port})
	if err == nil {
		srv.Stop()
		t.Fatalf("Start on taken port %d succeeded", port)
	}
	skipIfNotInstalled(t, err)
	// The JVM's own words, not just an exit status, say what went wrong.
	if !strings.Contains(err.Error(), "Address already in use") {
		t.Errorf("err = %v, want DynamoDB Local's output naming the taken address", err)
	}
}

func TestStartReportsWhyJavaExited(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the stand-in java is a shell script")
	}
	t.Parallel()
	dir := t.TempDir()
	release := filepath.Join(dir, "lib", "dynamodb_local_2026-05-28")
	if err := os.MkdirAll(filepath.Join(release, "DynamoDBLocal_lib"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(release, "DynamoDBLocal.jar"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	java := filepath.Join(dir, "java")
	script := "#!/bin/sh\necho 'Error: UnsupportedClassVersionError' >&2\nexit 3\n"
	if err := os.WriteFile(java, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}

	_, err := dynamolocal.Start(t.Context(), dynamolocal.Options{Dir: dir, Java: java})
	if err == nil {
		t.Fatal("Start succeeded with a java that exits")
	}
	if errors.Is(err, dynamolocal.ErrNotInstalled) {
		t.Errorf("err = %v: an install that fails to run is not a missing install", err)
	}
	for _, want := range []string{"UnsupportedClassVersionError", "exit status 3"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to contain %q", err, want)
		}
	}
}

func TestStartNeedsJava(t *testing.T) {
	t.Parallel()
	_, err := dynamolocal.Start(context.Background(), dynamolocal.Options{Java: filepath.Join(t.TempDir(), "no-java")})
	if errors.Is(err, dynamolocal.ErrNotInstalled) && strings.Contains(err.Error(), "make dynamodb-local") {
		t.Skip("the jar is not installed, so Java is never looked for")
	}
	if !errors.Is(err, dynamolocal.ErrNotInstalled) || !strings.Contains(err.Error(), "Java 17") {
		t.Errorf("err = %v, want ErrNotInstalled asking for Java 17", err)
	}
}
