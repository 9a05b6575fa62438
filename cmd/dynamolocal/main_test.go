//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
)

// helperArg makes this test binary act as the command run beside DynamoDB Local.
const helperArg = "dynamolocal-test-helper"

func TestMain(m *testing.M) {
	if len(os.Args) == 3 && os.Args[1] == helperArg {
		os.Exit(helper(os.Args[2]))
	}
	os.Exit(m.Run())
}

func helper(mode string) int {
	switch mode {
	case "list-tables":
		// Proves the endpoint reaches a working DynamoDB, then exits with a code the test
		// looks for.
		endpoint := os.Getenv(dynamotest.EnvEndpoint)
		client, err := store.NewClient(context.Background(), store.ClientOptions{Endpoint: endpoint})
		if err == nil {
			_, err = client.ListTables(context.Background(), &dynamodb.ListTablesInput{})
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		fmt.Println(endpoint)
		return 7
	case "trap-sigterm":
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		fmt.Println("ready")
		<-sigs
		return 5
	case "kill-self":
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {}
	}
	return 99
}

// requireInstall skips the test when DynamoDB Local is not installed, except in CI.
func requireInstall(t *testing.T, stderr string) {
	t.Helper()
	if ci, _ := strconv.ParseBool(os.Getenv("CI")); !ci && strings.Contains(stderr, dynamolocal.ErrNotInstalled.Error()) {
		t.Skipf("skipped, this test needs DynamoDB Local; run `make test`, which installs it and runs every test: %s", stderr)
	}
}

func TestRunGivesTheCommandAnEndpointAndItsExitCode(t *testing.T) {
	t.Parallel()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"run", "--", os.Args[0], helperArg, "list-tables"}, nil, &stdout, &stderr, nil)
	requireInstall(t, stderr.String())
	if code != 7 {
		t.Fatalf("exit code %d, want the command's 7; stderr:\n%s", code, &stderr)
	}
	endpoint := strings.TrimSpace(stdout.String())
	u, err := url.Parse(endpoint)
	if err != nil || u.Host == "" {
		t.Fatalf("the command saw endpoint %q", endpoint)
	}
	// The DynamoDB Local the command used is gone once run returns, whatever endpoint this
	// test binary itself was given.
	if conn, err := net.Dial("tcp", u.Host); err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after run returned", u.Host)
	}
}

func TestRunPassesSignalsToTheCommand(t *testing.T) {
	t.Parallel()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sigs := make(chan os.Signal, 1)
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		defer w.Close()
		done <- run(t.Context(), []string{"run", "--", os.Args[0], helperArg, "trap-sigterm"}, nil, w, &stderr, sigs)
	}()

	line, err := bufio.NewReader(r).ReadString('\n')
	if errors.Is(err, io.EOF) {
		code := <-done
		requireInstall(t, stderr.String())
		t.Fatalf("the command never got ready; exit code %d, stderr:\n%s", code, &stderr)
	}
	if line != "ready\n" {
		t.Fatalf("the command wrote %q, want ready", line)
	}
	sigs <- syscall.SIGTERM
	if code := <-done; code != 5 {
		t.Errorf("exit code %d, want 5 from the command's SIGTERM handler; stderr:\n%s", code, &stderr)
	}
}

func TestRunReportsACommandKilledBySignalAsAShellDoes(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	code := run(t.Context(), []string{"run", "--", os.Args[0], helperArg, "kill-self"}, nil, io.Discard, &stderr, nil)
	requireInstall(t, stderr.String())
	if want := 128 + int(syscall.SIGKILL); code != want {
		t.Errorf("exit code %d, want %d; stderr:\n%s", code, want, &stderr)
	}
}

func TestRunDoesNotStartTheCommandWhenInterruptedFirst(t *testing.T) {
	t.Parallel()
	sigs := make(chan os.Signal, 1)
	sigs <- os.Interrupt
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"run", "--", os.Args[0], helperArg, "list-tables"}, nil, &stdout, &stderr, sigs)
	requireInstall(t, stderr.String())
	if want := 128 + int(syscall.SIGINT); code != want {
		t.Errorf("exit code %d, want %d; stderr:\n%s", code, want, &stderr)
	}
	if stdout.Len() != 0 {
		t.Errorf("the command ran and wrote %q", &stdout)
	}
}

func TestRunUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"run"}, {"run", "--"}, {"run", "go", "test"}, {"start", "--", "true"}} {
		var stderr bytes.Buffer
		if code := run(context.Background(), args, nil, io.Discard, &stderr, nil); code != 2 {
			t.Errorf("run(%q) = %d, want 2", args, code)
		}
		if !strings.Contains(stderr.String(), "usage:") {
			t.Errorf("run(%q) wrote %q, want a usage line", args, &stderr)
		}
	}
}
