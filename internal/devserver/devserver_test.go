package devserver

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/auth"
	"github.com/pipetel/pipetel/internal/config"
	"github.com/pipetel/pipetel/internal/dynamolocal"
	"github.com/pipetel/pipetel/internal/dynamotest"
	"github.com/pipetel/pipetel/internal/store"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestAddr(t *testing.T) {
	tests := []struct {
		flag, port, want string
	}{
		{"", "", "127.0.0.1:3000"},
		{"", "8080", "127.0.0.1:8080"},
		{"0.0.0.0:9000", "8080", "0.0.0.0:9000"},
		{":4000", "", ":4000"},
	}
	for _, tt := range tests {
		if got := Addr(tt.flag, envOf(map[string]string{EnvPort: tt.port})); got != tt.want {
			t.Errorf("Addr(%q) with PORT=%q = %q, want %q", tt.flag, tt.port, got, tt.want)
		}
	}
}

func TestLocalEnvDefaultsYieldToTheEnvironment(t *testing.T) {
	get := localEnv(envOf(map[string]string{config.EnvLogLevel: "debug"}), "http://127.0.0.1:8000")
	cfg, err := config.Load(get)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.EventsTable != DefaultEventsTable || cfg.DynamoEndpoint != "http://127.0.0.1:8000" || cfg.LogLevel != "debug" {
		t.Errorf("config %+v, want the dev table, the local endpoint and the environment's log level", cfg)
	}

	get = localEnv(envOf(map[string]string{
		config.EnvEventsTable:    "mine",
		config.EnvDynamoEndpoint: "http://db:8000",
	}), "http://127.0.0.1:8000")
	if cfg, err = config.Load(get); err != nil {
		t.Fatal(err)
	}
	if cfg.EventsTable != "mine" || cfg.DynamoEndpoint != "http://db:8000" {
		t.Errorf("config %+v, want the environment's table and endpoint", cfg)
	}
}

func TestBaseURL(t *testing.T) {
	tests := map[string]string{
		"127.0.0.1:3000": "http://127.0.0.1:3000",
		"0.0.0.0:3000":   "http://127.0.0.1:3000",
		"[::]:3000":      "http://127.0.0.1:3000",
		"[::1]:3000":     "http://[::1]:3000",
	}
	for addr, want := range tests {
		tcp, err := net.ResolveTCPAddr("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := baseURL(tcp); got != want {
			t.Errorf("baseURL(%s) = %s, want %s", addr, got, want)
		}
	}
}

// handTicker ticks when the test says so.
type handTicker struct {
	every   time.Duration
	c       chan time.Time
	stopped chan struct{}
}

func (h *handTicker) C() <-chan time.Time { return h.c }
func (h *handTicker) Stop()               { close(h.stopped) }

func TestScheduleRunsJobsOnEveryTickAndStops(t *testing.T) {
	made := make(chan *handTicker)
	tickers := map[time.Duration]*handTicker{}
	newHand := func(d time.Duration) ticker {
		h := &handTicker{every: d, c: make(chan time.Time), stopped: make(chan struct{})}
		made <- h
		return h
	}
	ran := make(chan string)
	jobs := []Job{
		{Name: "rollup", Every: time.Minute, Run: func(ctx context.Context) error {
			ran <- "rollup"
			return errors.New("summary table missing")
		}},
		{Name: "anomalies", Every: 5 * time.Minute, Run: func(ctx context.Context) error {
			ran <- "anomalies"
			panic("boom")
		}},
		{Name: "never", Run: func(context.Context) error { t.Error("a job with no interval ran"); return nil }},
	}
	var logBuf syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runSchedule(ctx, jobs, slog.New(slog.NewJSONHandler(&logBuf, nil)), newHand)
	}()
	for range 2 {
		h := <-made
		tickers[h.every] = h
	}
	if len(tickers) != 2 || tickers[time.Minute] == nil || tickers[5*time.Minute] == nil {
		t.Fatalf("tickers %v, want one of 1m and one of 5m", tickers)
	}

	// Two ticks each: a failing or panicking job keeps its schedule, and each ticker runs
	// its own job only.
	for range 2 {
		tickers[time.Minute].c <- time.Now()
		if got := <-ran; got != "rollup" {
			t.Fatalf("the one-minute tick ran %s", got)
		}
		tickers[5*time.Minute].c <- time.Now()
		if got := <-ran; got != "anomalies" {
			t.Fatalf("the five-minute tick ran %s", got)
		}
	}
	cancel()
	<-done
	for d, h := range tickers {
		select {
		case <-h.stopped:
		default:
			t.Errorf("ticker of %s not stopped", d)
		}
	}
	log := logBuf.String()
	for _, want := range []string{"summary table missing", "panic: boom", `"job":"never"`} {
		if !strings.Contains(log, want) {
			t.Errorf("log does not mention %q:\n%s", want, log)
		}
	}
}

func TestScheduleRunsTheRollupEveryMinute(t *testing.T) {
	// The dev server runs what the deployment schedules: the rollup, as often as its
	// EventBridge rule (template.yaml: rate(1 minute)).
	jobs := Schedule(api.Deps{Summary: store.NewSummary(nil, store.SummaryOptions{})})
	if len(jobs) != 1 || jobs[0].Name != "rollup" || jobs[0].Every != time.Minute {
		t.Errorf("Schedule() = %+v, want the rollup every minute", jobs)
	}
	if jobs := Schedule(api.Deps{}); len(jobs) != 0 {
		t.Errorf("Schedule() without a summary table = %+v, want none", jobs)
	}
}

// server is one Run in the background.
type server struct {
	base   string
	cancel context.CancelFunc
	exited chan struct{} // closed when Run has returned
	err    error         // what Run returned, once exited is closed
	log    *syncBuffer
	notes  *syncBuffer
	// tokenFile is where Run keeps the dev token, which do sends.
	tokenFile string
	token     string
}

func startRun(t *testing.T, o Options) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	s := &server{base: "http://" + ln.Addr().String(), cancel: cancel, exited: make(chan struct{}),
		log: &syncBuffer{}, notes: &syncBuffer{}}
	o.Log, o.Notes = s.log, s.notes
	if o.TokenFile == "" {
		o.TokenFile = filepath.Join(t.TempDir(), "dev-token")
	}
	s.tokenFile = o.TokenFile
	go func() {
		defer close(s.exited)
		s.err = Run(ctx, ln, o)
	}()
	t.Cleanup(func() {
		cancel()
		<-s.exited
	})
	return s
}

// stop ends Run as Ctrl-C does and returns its error.
func (s *server) stop() error {
	s.cancel()
	<-s.exited
	return s.err
}

// do sends a request with the dev token, as a user following the notes does.
func (s *server) do(t *testing.T, method, path, body string) (int, string) {
	t.Helper()
	return s.send(t, method, path, body, s.devToken(t))
}

// devToken is the token Run keeps in its token file. Run writes it before it serves, so
// it is read after a first request has been answered.
func (s *server) devToken(t *testing.T) string {
	t.Helper()
	if s.token == "" {
		s.send(t, "GET", "/nope", "", "")
		b, err := os.ReadFile(s.tokenFile)
		if err != nil {
			t.Fatalf("the dev token: %v", err)
		}
		s.token = strings.TrimSpace(string(b))
	}
	return s.token
}

// send sends a request, with token if not empty. The listener is bound before Run starts,
// so a request made while Run is still starting waits in the listen queue until Run
// serves it; if Run fails instead, its error is the one to report.
func (s *server) send(t *testing.T, method, path, body, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, s.base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Timeout: 2 * time.Minute}
	resp, err := client.Do(req)
	if err != nil {
		// Run failing closes the listener, so a failed request may mean Run failed: that
		// error is the one worth reporting, and the wait for it is short.
		select {
		case <-s.exited:
			ci, _ := strconv.ParseBool(os.Getenv("CI"))
			if errors.Is(s.err, dynamolocal.ErrNotInstalled) && !ci {
				t.Skipf("needs DynamoDB Local; `make test` installs it and runs every test: %v", s.err)
			}
			t.Fatalf("%s %s: %v; Run ended: %v", method, path, err, s.err)
		case <-time.After(30 * time.Second):
			t.Fatalf("%s %s: %v (Run still running)", method, path, err)
		}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

const oneEvent = `[{"kind":"job_result","runtime":"lava-collabora","device_type":"qemu-x86","job_name":"baseline","result":"pass","ts":"2026-08-20T14:00:00Z","duration":42.5}]`

func TestRunServesEveryRoute(t *testing.T) {
	endpoint := dynamotest.Endpoint(t)
	tables := dynamotest.NewTables(t)
	s := startRun(t, Options{Getenv: envOf(map[string]string{
		config.EnvDynamoEndpoint: endpoint,
		config.EnvEventsTable:    tables.Events,
		config.EnvTokensTable:    tables.Tokens,
	})})

	status, body := s.do(t, "POST", "/telemetry", oneEvent)
	if status != 200 || !strings.Contains(body, `"inserted":1`) {
		t.Fatalf("POST /telemetry: %d %s, want 200 with one inserted", status, body)
	}
	status, body = s.do(t, "POST", "/latest/telemetry", oneEvent)
	if status != 200 || !strings.Contains(body, `"duplicates":1`) {
		t.Errorf("POST /latest/telemetry again: %d %s, want 200 with one duplicate", status, body)
	}
	status, body = s.do(t, "GET", "/latest/telemetry?runtime=lava-collabora&kind=job_result", "")
	var page struct {
		Items []struct {
			Runtime string `json:"runtime"`
			JobName string `json:"job_name"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &page); status != 200 || err != nil ||
		len(page.Items) != 1 || page.Items[0].JobName != "baseline" {
		t.Errorf("GET /latest/telemetry: %d %s (%v), want the one event", status, body, err)
	}
	if status, body = s.do(t, "DELETE", "/telemetry", ""); status != 405 {
		t.Errorf("DELETE /telemetry: %d %s, want 405", status, body)
	}
	if status, body = s.do(t, "GET", "/nope", ""); status != 404 {
		t.Errorf("GET /nope: %d %s, want 404", status, body)
	}
	// The dev server is authenticated like a deployment.
	if status, body = s.send(t, "POST", "/telemetry", oneEvent, ""); status != 401 {
		t.Errorf("POST /telemetry without a token: %d %s, want 401", status, body)
	}
	if status, body = s.send(t, "GET", "/telemetry", "", auth.NewToken()); status != 401 {
		t.Errorf("GET /telemetry with an unknown token: %d %s, want 401", status, body)
	}
	// net/http's own refusals come in the API's error shape too (the listener is wrapped).
	if status, body := rawExchange(t, s.base, "GET /telemetry HTTP/9.9\r\nHost: x\r\n\r\n"); status != 505 || !strings.Contains(body, `"request_id"`) {
		t.Errorf("HTTP/9.9: %d %s, want 505 in the error shape", status, body)
	}

	if err := s.stop(); err != nil {
		t.Fatalf("Run after Ctrl-C: %v", err)
	}
	// The notes show the token to the person who started the server; the service's log
	// lines, which go wherever logs go, never hold it.
	if strings.Contains(s.log.String(), s.token) || strings.Contains(s.log.String(), auth.Hash(s.token)) {
		t.Errorf("the service log holds the dev token or its hash")
	}
	notes := s.notes.String()
	for _, want := range []string{s.base, "curl -sS -X POST " + s.base + "/telemetry", tables.Events, "(from DYNAMODB_ENDPOINT)",
		s.token, `-H "Authorization: Bearer $(cat ` + s.tokenFile + `)"`} {
		if !strings.Contains(notes, want) {
			t.Errorf("notes do not mention %q:\n%s", want, notes)
		}
	}
	if _, err := net.Dial("tcp", strings.TrimPrefix(s.base, "http://")); err == nil {
		t.Errorf("still listening on %s after Run returned", s.base)
	}
}

// The path `make dev` takes: Run starts DynamoDB Local on files of its own, which keep the
// data across restarts, and stops it on the way out.
func TestRunKeepsDataInItsOwnDynamoDBLocal(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "dynamodb")
	opts := Options{DataDir: dataDir, Getenv: envOf(map[string]string{
		dynamolocal.EnvDir: os.Getenv(dynamolocal.EnvDir),
	})}

	first := startRun(t, opts)
	status, body := first.do(t, "POST", "/telemetry", oneEvent)
	if status != 200 || !strings.Contains(body, `"inserted":1`) {
		t.Fatalf("POST /telemetry: %d %s, want 200 with one inserted", status, body)
	}
	endpoint := loggedEndpoint(t, first.log.String())
	if err := first.stop(); err != nil {
		t.Fatalf("first Run after Ctrl-C: %v", err)
	}
	if conn, err := net.Dial("tcp", strings.TrimPrefix(endpoint, "http://")); err == nil {
		conn.Close()
		t.Errorf("DynamoDB Local still answers on %s after Run returned", endpoint)
	}
	if entries, _ := os.ReadDir(dataDir); len(entries) == 0 {
		t.Errorf("nothing written under %s", dataDir)
	}

	opts.TokenFile = first.tokenFile
	second := startRun(t, opts)
	if second.devToken(t) != first.devToken(t) {
		t.Errorf("the dev token changed across a restart with the data kept")
	}
	status, body = second.do(t, "GET", "/telemetry?runtime=lava-collabora", "")
	if status != 200 || !strings.Contains(body, `"job_name":"baseline"`) {
		t.Errorf("GET after restart: %d %s, want the event stored before it", status, body)
	}
	if err := second.stop(); err != nil {
		t.Fatalf("second Run after Ctrl-C: %v", err)
	}
}

// loggedEndpoint is the DynamoDB endpoint Run announced in its log.
func loggedEndpoint(t *testing.T, log string) string {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		var line struct {
			Msg      string `json:"msg"`
			Endpoint string `json:"dynamodb_endpoint"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Endpoint != "" {
			return line.Endpoint
		}
	}
	t.Fatalf("no dynamodb_endpoint in the log:\n%s", log)
	return ""
}

// syncBuffer is a bytes.Buffer that Run's goroutines and the test can share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// rawExchange sends raw bytes to base and reads one answer.
func rawExchange(t *testing.T, base, raw string) (int, string) {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(raw)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestNotesNameTheSummaryTable: the banner names every table make dev creates, the
// summary table among them, so an operator can find the rollups.
func TestNotesNameTheSummaryTable(t *testing.T) {
	var b strings.Builder
	writeNotes(&b, "http://127.0.0.1:3000", "http://127.0.0.1:8000", "DynamoDB Local", config.Config{
		EventsTable: "ev", TokensTable: "tok", SummaryTable: "sum"}, nil, "token", ".local/dev-token")
	if !strings.Contains(b.String(), "tables    ev, tok, sum (summary") {
		t.Errorf("the banner does not name the summary table:\n%s", b.String())
	}
}
