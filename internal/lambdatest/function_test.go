package lambdatest

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// helperEnv makes the test binary act as a Lambda function: the real aws-lambda-go
// runtime client against the emulator, with a handler whose behaviour the event picks.
const helperEnv = "LAMBDATEST_HELPER_FUNCTION"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) == "1" {
		lambda.Start(helperHandler)
		return
	}
	os.Exit(m.Run())
}

type helperEvent struct {
	Echo  string `json:"echo"`
	Fail  string `json:"fail"`
	Panic string `json:"panic"`
	Hang  bool   `json:"hang"`
	Env   string `json:"env"` // a variable to report
}

type helperReply struct {
	Echo         string `json:"echo"`
	RequestID    string `json:"request_id"`
	FunctionARN  string `json:"function_arn"`
	FunctionName string `json:"function_name"`
	HasDeadline  bool   `json:"has_deadline"`
	Env          string `json:"env"`
}

func helperHandler(ctx context.Context, in helperEvent) (helperReply, error) {
	switch {
	case in.Fail != "":
		return helperReply{}, errors.New(in.Fail)
	case in.Panic != "":
		panic(in.Panic)
	case in.Hang:
		// A function stuck past its deadline, such as one blocked on a call that ignores ctx.
		<-ctx.Done()
		time.Sleep(time.Hour)
	}
	lc, _ := lambdacontext.FromContext(ctx)
	_, hasDeadline := ctx.Deadline()
	return helperReply{
		Echo:         in.Echo,
		RequestID:    lc.AwsRequestID,
		FunctionARN:  lc.InvokedFunctionArn,
		FunctionName: lambdacontext.FunctionName,
		HasDeadline:  hasDeadline,
		Env:          os.Getenv(in.Env),
	}, nil
}

// lockedBuilder is a strings.Builder safe to read while the process writes to it.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// script writes an executable shell script as dir/<name>/bootstrap.
func script(t *testing.T, name, body string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), name)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "bootstrap")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

// helperBootstrap is a bootstrap that runs this test binary as the helper function.
func helperBootstrap(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return script(t, "probe", "exec '"+exe+"'")
}

func invokeJSON(t *testing.T, f *Function, event helperEvent) (Response, helperReply, error) {
	t.Helper()
	b, _ := json.Marshal(event)
	resp, err := f.Invoke(t.Context(), b)
	var reply helperReply
	if err == nil {
		if uerr := json.Unmarshal(resp.Payload, &reply); uerr != nil {
			t.Fatalf("payload %q: %v", resp.Payload, uerr)
		}
	}
	return resp, reply, err
}

func TestFunctionInvocations(t *testing.T) {
	// Our own AWS settings must not reach the function, as they would not in Lambda.
	t.Setenv("AWS_PROFILE", "developer-laptop")
	var log lockedBuilder
	opts := Options{
		Bootstrap: helperBootstrap(t),
		Region:    "eu-west-1",
		Env:       map[string]string{helperEnv: "1", "EVENTS_TABLE": "events-under-test"},
		Log:       &log,
	}
	f, err := Start(t.Context(), opts)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()

	resp, reply, err := invokeJSON(t, f, helperEvent{Echo: "cold", Env: "EVENTS_TABLE"})
	if err != nil {
		t.Fatalf("first Invoke: %v", err)
	}
	want := helperReply{Echo: "cold", RequestID: resp.RequestID, FunctionARN: opts.FunctionARN(),
		FunctionName: "probe", HasDeadline: true, Env: "events-under-test"}
	if reply != want {
		t.Errorf("first reply = %+v, want %+v", reply, want)
	}
	if !strings.HasPrefix(want.FunctionARN, "arn:aws:lambda:eu-west-1:") {
		t.Errorf("FunctionARN() = %q, want one in the configured region", want.FunctionARN)
	}
	if resp.InitDuration <= 0 || resp.SinceStart < resp.InitDuration {
		t.Errorf("first Response: InitDuration %s, SinceStart %s; want init measured and included", resp.InitDuration, resp.SinceStart)
	}

	if _, reply, err := invokeJSON(t, f, helperEvent{Env: "AWS_PROFILE"}); err != nil || reply.Env != "" {
		t.Errorf("function sees AWS_PROFILE=%q (err %v), want it unset", reply.Env, err)
	}

	_, _, err = invokeJSON(t, f, helperEvent{Fail: "table not found"})
	var fe *FunctionError
	if !errors.As(err, &fe) || fe.Init || fe.Message != "table not found" {
		t.Fatalf("Invoke of a failing handler = %v, want a *FunctionError", err)
	}

	// A handler error leaves the environment warm.
	resp, reply, err = invokeJSON(t, f, helperEvent{Echo: "warm"})
	if err != nil || reply.Echo != "warm" {
		t.Fatalf("Invoke after a handler error = %+v, %v", reply, err)
	}
	if resp.InitDuration != 0 {
		t.Errorf("warm Response.InitDuration = %s, want 0", resp.InitDuration)
	}

	// A panic is reported, then aws-lambda-go exits: the next invocation finds no process.
	if _, _, err = invokeJSON(t, f, helperEvent{Panic: "nil map"}); !errors.As(err, &fe) || fe.Message != "nil map" {
		t.Fatalf("Invoke of a panicking handler = %v, want its *FunctionError", err)
	}
	_, _, err = invokeJSON(t, f, helperEvent{Echo: "gone"})
	var exit *ExitError
	if !errors.As(err, &exit) || exit.ExitCode() == 0 {
		t.Fatalf("Invoke after the runtime exited = %v, want an *ExitError with a failing status", err)
	}
	// aws-lambda-go logs each error it reports. The process has ended, so all it wrote
	// has been read: it is in Options.Log and Output.
	for what, text := range map[string]string{"Options.Log": log.String(), "Output()": f.Output()} {
		if !strings.Contains(text, "table not found") || !strings.Contains(text, "nil map") {
			t.Errorf("%s = %q, want the function's logs of its errors", what, text)
		}
	}
	if _, _, again := invokeJSON(t, f, helperEvent{}); !errors.Is(again, exit) {
		t.Errorf("Invoke on a dead environment = %v, want the same error again", again)
	}
}

func TestRunExitDuringInit(t *testing.T) {
	bootstrap := script(t, "broken", `echo "EVENTS_TABLE is not set: name the DynamoDB events table" >&2; exit 3`)
	res, err := Run(t.Context(), Options{Bootstrap: bootstrap}, []byte(`{}`))
	var exit *ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("Run = %v, want an *ExitError with status 3", err)
	}
	if !strings.Contains(err.Error(), "EVENTS_TABLE is not set") {
		t.Errorf("error %q does not carry the process's output", err)
	}
	if !strings.Contains(res.Output, "EVENTS_TABLE is not set") || len(res.Responses) != 0 {
		t.Errorf("Result = %+v, want the output and no responses", res)
	}
}

func TestRunInitTimeout(t *testing.T) {
	// A bootstrap that never asks for an event fails init whatever the machine's speed.
	bootstrap := script(t, "silent", "exec sleep 600")
	f, err := Start(t.Context(), Options{Bootstrap: bootstrap, InitTimeout: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Invoke(t.Context(), []byte(`{}`)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Invoke = %v, want ErrTimeout", err)
	}
	if f.exited.Err() == nil {
		t.Error("the process still runs after its init timed out")
	}
	_ = f.Close()
	if _, err := f.Invoke(t.Context(), []byte(`{}`)); !errors.Is(err, ErrClosed) {
		t.Errorf("Invoke after Close = %v, want ErrClosed", err)
	}
}

func TestRunInvocationTimeout(t *testing.T) {
	opts := Options{
		Bootstrap: helperBootstrap(t),
		Timeout:   10 * time.Millisecond,
		Env:       map[string]string{helperEnv: "1"},
	}
	res, err := Run(t.Context(), opts, []byte(`{"echo":"x"}`), []byte(`{"hang":true}`), []byte(`{"echo":"never"}`))
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("Run = %v, want ErrTimeout", err)
	}
	if len(res.Responses) != 1 || res.FirstResponse != res.Responses[0].SinceStart || res.FirstResponse <= 0 {
		t.Errorf("Result = %+v, want the one answer before the timeout and its time since start", res)
	}
}
