package lambdatest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Options describe a function to run.
type Options struct {
	// Bootstrap is the path of the built executable, as deployed in the function's zip.
	Bootstrap string
	// Name is the function name; default: the name of the folder holding Bootstrap.
	Name string
	// MemoryMB is reported in AWS_LAMBDA_FUNCTION_MEMORY_SIZE (nothing enforces it);
	// default 128.
	MemoryMB int
	// Region sets AWS_REGION and the region in the function ARN; default us-east-1.
	Region string
	// Timeout is the function's configured timeout: each invocation's deadline is this
	// long after the runtime takes the event. Default 30s.
	Timeout time.Duration
	// InitTimeout bounds the time from starting the process to its first request for an
	// event. Default 10s, Lambda's own limit on init.
	InitTimeout time.Duration
	// Env is added to the Lambda environment and overrides it. The process inherits
	// nothing else from ours, as in Lambda, so a developer's own AWS settings and
	// credentials never reach it.
	Env map[string]string
	// Log, if set, receives the process's stdout and stderr as they are written, as
	// CloudWatch Logs would. Without it, errors carry the end of that output instead.
	// Output has it either way.
	Log io.Writer
}

func (o Options) withDefaults() Options {
	if o.Name == "" {
		o.Name = filepath.Base(filepath.Dir(o.Bootstrap))
	}
	if o.MemoryMB <= 0 {
		o.MemoryMB = 128
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.InitTimeout <= 0 {
		o.InitTimeout = 10 * time.Second
	}
	return o
}

// FunctionARN is the ARN invocations of the function carry, in a dummy account.
func (o Options) FunctionARN() string {
	o = o.withDefaults()
	return fmt.Sprintf("arn:aws:lambda:%s:000000000000:function:%s", o.Region, o.Name)
}

// environ is the environment Lambda gives a provided.al2023 function, with dummy
// credentials, then o.Env, then the emulator's address.
func (o Options) environ(taskRoot, runtimeAPI string) []string {
	env := map[string]string{
		"AWS_LAMBDA_FUNCTION_NAME":        o.Name,
		"AWS_LAMBDA_FUNCTION_VERSION":     "$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": strconv.Itoa(o.MemoryMB),
		"AWS_LAMBDA_LOG_GROUP_NAME":       "/aws/lambda/" + o.Name,
		"AWS_LAMBDA_LOG_STREAM_NAME":      "lambdatest",
		"AWS_LAMBDA_INITIALIZATION_TYPE":  "on-demand",
		"AWS_REGION":                      o.Region,
		"AWS_DEFAULT_REGION":              o.Region,
		"AWS_ACCESS_KEY_ID":               "AKIDLAMBDATEST",
		"AWS_SECRET_ACCESS_KEY":           "lambdatest",
		"AWS_SESSION_TOKEN":               "lambdatest",
		"LAMBDA_TASK_ROOT":                taskRoot,
		"LAMBDA_RUNTIME_DIR":              taskRoot,
		"_HANDLER":                        "bootstrap",
		"TZ":                              ":UTC",
		"LANG":                            "en_US.UTF-8",
		"PATH":                            "/usr/local/bin:/usr/bin:/bin",
	}
	maps.Copy(env, o.Env)
	env["AWS_LAMBDA_RUNTIME_API"] = runtimeAPI
	list := make([]string, 0, len(env))
	for _, k := range slices.Sorted(maps.Keys(env)) {
		list = append(list, k+"="+env[k])
	}
	return list
}

// Function is one running bootstrap process and the Runtime API it polls: one warm
// execution environment. Invoke it any number of times, one invocation at a time; Close
// it when done.
type Function struct {
	opts    Options
	api     *RuntimeAPI
	cmd     *exec.Cmd
	output  *outputBuffer
	started time.Time

	// exited ends, with an *ExitError as its cause, when the process has ended and all
	// its output has been read.
	exited context.Context

	mu        sync.Mutex // one invocation at a time
	invoked   bool
	broken    error // set once the environment cannot serve another invocation
	closed    atomic.Bool
	closeOnce sync.Once
}

// Start starts the bootstrap with the Lambda environment, pointed at a new RuntimeAPI.
// It does not wait for init: the first Invoke does. The process is killed when ctx ends,
// when Close is called, and, on Linux, when this process dies.
func Start(ctx context.Context, o Options) (*Function, error) {
	o = o.withDefaults()
	if o.Bootstrap == "" {
		return nil, errors.New("lambdatest: Options.Bootstrap is empty")
	}
	path, err := filepath.Abs(o.Bootstrap)
	if err != nil {
		return nil, fmt.Errorf("lambdatest: %w", err)
	}
	api, err := NewRuntimeAPI(o.FunctionARN(), o.Timeout)
	if err != nil {
		return nil, err
	}
	f := &Function{opts: o, api: api, output: &outputBuffer{tee: o.Log}}
	f.cmd = exec.CommandContext(ctx, path)
	f.cmd.Dir = filepath.Dir(path) // Lambda runs the bootstrap from its task root
	f.cmd.Env = o.environ(f.cmd.Dir, api.Addr())
	// One writer for both streams: exec then shares one pipe, keeping their order.
	f.cmd.Stdout, f.cmd.Stderr = f.output, f.output
	// A child that inherited the pipes must not hold Wait, and so Close, forever.
	f.cmd.WaitDelay = 2 * time.Second
	setDeathSignal(f.cmd)

	f.started = time.Now()
	if err := f.cmd.Start(); err != nil {
		_ = api.Close()
		return nil, fmt.Errorf("lambdatest: start %s: %w", o.Bootstrap, err)
	}
	exited, markExited := context.WithCancelCause(context.Background())
	f.exited = exited
	go func() { markExited(&ExitError{Err: f.cmd.Wait()}) }()
	return f, nil
}

// Invoke sends event to the function and returns its answer. The error is a
// *FunctionError when the function (or its init) reported one, an *ExitError when the
// process ended before answering, ErrTimeout (wrapped) when it overran Options.Timeout or
// Options.InitTimeout, or ctx's cause. Unless Options.Log is set, errors carry the end
// of the process's output: all of it for an *ExitError; otherwise what has been read so
// far, as output travels through a pipe independently of the Runtime API.
// After any error but an invocation's *FunctionError the environment is gone, as in
// Lambda, and further calls return the same error.
func (f *Function) Invoke(ctx context.Context, event []byte) (Response, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed.Load() {
		return Response{}, ErrClosed
	}
	if f.broken != nil {
		return Response{}, f.broken
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(f.exited, func() { cancel(context.Cause(f.exited)) })
	defer stop()

	first := !f.invoked
	f.invoked = true
	if first {
		initCtx, cancelInit := context.WithTimeoutCause(ctx, time.Until(f.started.Add(f.opts.InitTimeout)),
			fmt.Errorf("%w: the runtime did not ask for an event within %s of starting", ErrTimeout, f.opts.InitTimeout))
		err := f.api.WaitReady(initCtx)
		cancelInit()
		if err != nil {
			return Response{}, f.fail(err)
		}
	}
	resp, err := f.api.Invoke(ctx, event)
	if !resp.answeredAt.IsZero() {
		resp.SinceStart = resp.answeredAt.Sub(f.started)
	}
	if first {
		resp.InitDuration = f.api.readyAt.Sub(f.started)
	}
	if err != nil {
		var fe *FunctionError
		if errors.As(err, &fe) && !fe.Init {
			// The runtime reported the failure and goes on to the next event.
			return resp, f.withOutput(err)
		}
		return resp, f.fail(err)
	}
	return resp, nil
}

// fail marks the environment unusable after err and stops the process, so nothing is
// left running on behalf of an environment nobody can use.
func (f *Function) fail(err error) error {
	f.kill() // first, so that all the output has been read for the error
	f.broken = f.withOutput(err)
	return f.broken
}

func (f *Function) withOutput(err error) error {
	if f.opts.Log != nil {
		return err // the caller has seen the output already
	}
	if tail := f.output.tail(outputInErrors); tail != "" {
		return fmt.Errorf("%w\n--- output of %s ---\n%s", err, f.opts.Name, tail)
	}
	return err
}

// outputInErrors is how much of the process's output an error carries: enough for a
// stack trace or the last few log lines.
const outputInErrors = 8 << 10

func (f *Function) kill() {
	_ = f.cmd.Process.Kill()
	<-f.exited.Done()
}

// Output is what the process has written to stdout and stderr so far (the last 4 MiB,
// if it wrote more).
func (f *Function) Output() string { return f.output.tail(maxOutput) }

// Close kills the process, waits for it to end and stops the Runtime API.
func (f *Function) Close() error {
	var err error
	f.closeOnce.Do(func() {
		f.closed.Store(true)
		f.kill()
		err = f.api.Close()
	})
	return err
}

// Result is the outcome of Run.
type Result struct {
	// Responses are the answers, one per event, until the first error.
	Responses []Response
	// FirstResponse is the time from starting the process to its first answer: the cold
	// start as a caller sees it. Zero when there was no answer.
	FirstResponse time.Duration
	// Output is everything the process wrote to stdout and stderr (the last 4 MiB).
	Output string
}

// Run starts o.Bootstrap, invokes it with each event in turn in the same process (the
// first cold, the rest warm), stops it and returns the answers. It stops at the first
// error, returning the answers before it.
func Run(ctx context.Context, o Options, events ...[]byte) (Result, error) {
	f, err := Start(ctx, o)
	if err != nil {
		return Result{}, err
	}
	var res Result
	for _, event := range events {
		resp, ierr := f.Invoke(ctx, event)
		if ierr != nil {
			err = ierr
			break
		}
		if len(res.Responses) == 0 {
			res.FirstResponse = resp.SinceStart
		}
		res.Responses = append(res.Responses, resp)
	}
	_ = f.Close()
	res.Output = f.Output()
	return res, err
}
