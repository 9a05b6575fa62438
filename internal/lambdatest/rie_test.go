package lambdatest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/config"
)

// TestAgreesWithAWSRuntimeInterfaceEmulator runs one built function under this package's
// emulator and under AWS's own Runtime Interface Emulator (the one `sam local invoke` runs
// in its containers, a tool of go.mod) on the same events, and requires the same answers:
// the same payload for a success, the same errorType and errorMessage for a failure. This
// package stays the emulator of `make invoke` and the tests because it also does what
// RIE does not: it refuses a request over 6,291,456 bytes as Lambda does (RIE passes it
// on cut short), gives the function only the Lambda environment (RIE passes on the whole
// host environment, credentials included), and takes deadlines finer than a second.
// BENCHMARKS.md has the measurements behind that choice; this test keeps the two from
// drifting apart.
func TestAgreesWithAWSRuntimeInterfaceEmulator(t *testing.T) {
	root := moduleRoot(t)
	bootstrap := build(t, root, t.TempDir(), "web")
	env := map[string]string{
		// The web function reads no table, but its configuration names them.
		config.EnvEventsTable:    "events",
		config.EnvTokensTable:    "tokens",
		config.EnvSummaryTable:   "summary",
		config.EnvDynamoEndpoint: "http://127.0.0.1:1",
	}
	sample := readFile(t, filepath.Join(root, "events", "web.json"))
	invocations := map[string][]byte{
		"page":         sample,
		"openapi":      withPath(t, sample, "/openapi.json"),
		"unknown path": withPath(t, sample, "/no-such-page"),
		"not an event": []byte(`"a string is not an API Gateway request"`),
	}

	rie := startRIE(t, root, bootstrap, env)
	f, err := Start(t.Context(), Options{Bootstrap: bootstrap, Env: env})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })

	for name, event := range invocations {
		t.Run(name, func(t *testing.T) {
			theirs := rie.invoke(t, event)
			ours, err := f.Invoke(t.Context(), event)
			var fe *FunctionError
			switch {
			case errors.As(err, &fe):
				var got struct{ ErrorType, ErrorMessage string }
				if jerr := json.Unmarshal(theirs, &got); jerr != nil || got.ErrorType != fe.Type || got.ErrorMessage != fe.Message {
					t.Errorf("function error: ours %s: %q, RIE's payload %s", fe.Type, fe.Message, theirs)
				}
			case err != nil:
				t.Fatal(err)
			case !bytes.Equal(ours.Payload, theirs):
				t.Errorf("payloads differ:\nours %.300s\nRIE  %.300s", ours.Payload, theirs)
			}
		})
	}
}

// withPath is the sample request with another path.
func withPath(t *testing.T, sample []byte, path string) []byte {
	t.Helper()
	var ev map[string]any
	if err := json.Unmarshal(sample, &ev); err != nil {
		t.Fatal(err)
	}
	ev["rawPath"] = path
	ev["routeKey"] = "GET " + path
	ev["requestContext"].(map[string]any)["http"].(map[string]any)["path"] = path
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rieProcess is AWS's Runtime Interface Emulator serving one function.
type rieProcess struct{ url string }

// startRIE builds RIE through go.mod's tool directive and starts it on free loopback ports,
// with env as the whole environment it passes to the function.
func startRIE(t *testing.T, root, bootstrap string, env map[string]string) rieProcess {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "tool", "-n", "aws-lambda-rie")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go tool -n aws-lambda-rie: %v", err)
	}
	runtimeAPI, invokeAddr := freeAddr(t), freeAddr(t)
	rie := exec.Command(strings.TrimSpace(string(out)),
		"--runtime-api-address", runtimeAPI,
		"--runtime-interface-emulator-address", invokeAddr,
		bootstrap)
	rie.Env = []string{"AWS_LAMBDA_FUNCTION_TIMEOUT=30", "LOG_LEVEL=error", "AWS_REGION=us-east-1"}
	for k, v := range env {
		rie.Env = append(rie.Env, k+"="+v)
	}
	var logs bytes.Buffer
	rie.Stdout, rie.Stderr = &logs, &logs
	if err := rie.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = rie.Process.Kill()
		_ = rie.Wait()
		if t.Failed() {
			t.Logf("RIE's output:\n%s", logs.String())
		}
	})
	waitListening(t, invokeAddr)
	return rieProcess{url: "http://" + invokeAddr + "/2015-03-31/functions/function/invocations"}
}

func (p rieProcess) invoke(t *testing.T, event []byte) []byte {
	t.Helper()
	resp, err := http.Post(p.url, "application/json", bytes.NewReader(event))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("RIE invoke: status %d, %v: %s", resp.StatusCode, err, body)
	}
	return body
}

// freeAddr is a loopback address with a port the kernel just handed out and took back.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return "127.0.0.1:" + strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// waitListening is a readiness probe, as `curl --retry-connrefused` does: RIE says
// nothing when its port opens, so the test connects until it can (or a minute passes).
func waitListening(t *testing.T, addr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.Close()
			return
		}
		if ctx.Err() != nil {
			t.Fatal(fmt.Errorf("RIE did not listen on %s: %w", addr, err))
		}
		select {
		case <-ctx.Done():
		case <-time.After(5 * time.Millisecond):
		}
	}
}
