package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/emitter"
	"github.com/pipetel/pipetel/internal/lambdatest"
	"github.com/pipetel/pipetel/internal/telemetry"
)

// memory runs the ingest bootstrap on one batch of MemoryBody bytes and reads its peak
// resident memory before it exits. lambdatest runs a bootstrap without telling its
// process id, so the bench starts the process itself against lambdatest's Runtime API.
func (b *bench) memory(ctx context.Context, bootstrap string) (Memory, error) {
	b.section("memory: ingest of a %.1f MB batch", float64(b.o.MemoryBody)/1e6)
	table, err := b.newTable(ctx, "memory")
	if err != nil {
		return Memory{}, err
	}
	evs, err := b.generate(b.o.Seed+2000, telemetry.MaxBatchEvents, b.now.Add(-23*time.Hour), b.now)
	if err != nil {
		return Memory{}, err
	}
	template, err := os.ReadFile(filepath.Join(b.o.EventsDir, "ingest.json"))
	if err != nil {
		return Memory{}, err
	}
	body, event, err := largestInvocation(evs, template, b.o.MemoryBody)
	if err != nil {
		return Memory{}, err
	}

	run, err := runForPeak(ctx, bootstrap, lambdaEnv(b.endpoint, table), event)
	if err != nil {
		return Memory{}, err
	}
	mem := Memory{
		PeakRSSMB: round(float64(run.peak)/(1<<20), 1), BodyBytes: len(body), Events: len(evs),
		Source: run.source, DurationMs: round(ms(run.took), 0),
	}
	var resp struct {
		StatusCode int    `json:"statusCode"`
		Body       string `json:"body"`
	}
	if err := json.Unmarshal(run.payload, &resp); err != nil {
		return Memory{}, fmt.Errorf("ingest answered %.200s", run.payload)
	}
	mem.Status = resp.StatusCode
	var ok struct {
		Inserted int `json:"inserted"`
	}
	_ = json.Unmarshal([]byte(resp.Body), &ok)
	mem.Inserted = ok.Inserted
	if mem.Status != 200 || mem.Inserted != len(evs) {
		return Memory{}, fmt.Errorf("ingest of the %d-byte batch answered %d, inserting %d of %d: %.300s",
			len(body), mem.Status, mem.Inserted, len(evs), resp.Body)
	}
	fmt.Fprintf(b.progress, "  %d events, %d bytes: peak RSS %.1f MB (%s), answered in %.0f ms\n",
		len(evs), len(body), mem.PeakRSSMB, mem.Source, mem.DurationMs)
	return mem, b.dropTable(ctx, table)
}

// paddedBody encodes events as one batch of about size bytes. Simulated events average
// about 300 bytes, so the largest batch allowed (10,000 events) reaches the 6 MB limit
// only if each carries more: here an extra.log_excerpt, as emitters attach log lines.
func paddedBody(evs []telemetry.Event, size int) ([]byte, error) {
	if size > telemetry.MaxBodyBytes {
		return nil, fmt.Errorf("a %d-byte body is over the %d-byte limit", size, telemetry.MaxBodyBytes)
	}
	plain, err := emitter.Encode(evs)
	if err != nil {
		return nil, err
	}
	const wrapper = len(`,"extra":{"log_excerpt":""}`)
	per := (size-len(plain))/len(evs) - wrapper
	if per > 0 {
		const unit = "[   12.345678] mmc0: new HS200 MMC card at address 0001 "
		line := strings.Repeat(unit, per/len(unit)+1)
		for i := range evs {
			excerpt, _ := json.Marshal(map[string]string{"log_excerpt": line[:per]})
			evs[i].Extra = excerpt
		}
	}
	body, err := emitter.Encode(evs)
	if err != nil {
		return nil, err
	}
	if len(body) > telemetry.MaxBodyBytes {
		return nil, fmt.Errorf("padded body is %d bytes, over the limit", len(body))
	}
	return body, nil
}

// largestInvocation is the body of about size bytes, or less if its API Gateway event
// would pass Lambda's payload limit (api.MaxPayloadBytes): escaping the body's quotes in
// the event makes a 6.0 MB body a 6.58 MB invocation, which Lambda refuses before the
// function runs. Each round shrinks the body by the excess; escaping grows it by less
// than twice, so a few rounds suffice.
func largestInvocation(evs []telemetry.Event, template []byte, size int) (body, event []byte, err error) {
	for range 10 {
		// paddedBody pads the events it is given, so each round starts from the originals.
		if body, err = paddedBody(slices.Clone(evs), size); err != nil {
			return nil, nil, err
		}
		if event, err = withBody(template, body); err != nil {
			return nil, nil, err
		}
		if len(event) <= api.MaxPayloadBytes {
			return body, event, nil
		}
		size -= len(event) - api.MaxPayloadBytes
	}
	return nil, nil, fmt.Errorf("no body near %d bytes fits a %d-byte invocation", size, api.MaxPayloadBytes)
}

// withBody is the sample API Gateway event with body in place of its own.
func withBody(template, body []byte) ([]byte, error) {
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(template, &req); err != nil {
		return nil, fmt.Errorf("events/ingest.json: %w", err)
	}
	req.Body = string(body)
	req.IsBase64Encoded = false
	if req.Headers == nil {
		req.Headers = map[string]string{}
	}
	req.Headers["content-length"] = strconv.Itoa(len(body))
	return json.Marshal(req)
}

type peakRun struct {
	payload []byte
	peak    int64 // bytes
	source  string
	took    time.Duration
}

// runForPeak starts bootstrap with the Lambda environment, invokes it once with event and
// reads its peak RSS: the kernel's high-water mark, read while the process still lives,
// else the maximum the kernel reports once it has been reaped.
func runForPeak(ctx context.Context, bootstrap string, env map[string]string, event []byte) (peakRun, error) {
	path, err := filepath.Abs(bootstrap)
	if err != nil {
		return peakRun{}, err
	}
	const arn = "arn:aws:lambda:" + region + ":000000000000:function:ingest"
	// The figure is memory, not time: on a loaded machine DynamoDB Local took over a minute
	// for the 10,000 events, and a request cut short at its deadline answers 503.
	rt, err := lambdatest.NewRuntimeAPI(arn, 3*time.Minute)
	if err != nil {
		return peakRun{}, err
	}
	defer rt.Close()
	cmd := exec.CommandContext(ctx, path)
	cmd.Dir = filepath.Dir(path)
	cmd.Env = []string{
		"AWS_LAMBDA_RUNTIME_API=" + rt.Addr(),
		"AWS_LAMBDA_FUNCTION_NAME=ingest",
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
		"AWS_REGION=" + region,
		"AWS_ACCESS_KEY_ID=bench",
		"AWS_SECRET_ACCESS_KEY=bench",
		"LAMBDA_TASK_ROOT=" + cmd.Dir,
		"_HANDLER=bootstrap",
		"TZ=:UTC",
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer // one writer for both streams: exec then writes from one goroutine
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = 2 * time.Second
	setDeathSignal(cmd)
	if err := cmd.Start(); err != nil {
		return peakRun{}, err
	}
	reaped := false
	defer func() {
		if !reaped {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	}()
	readyCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = rt.WaitReady(readyCtx)
	cancel()
	if err != nil {
		return peakRun{}, fmt.Errorf("ingest bootstrap did not start: %w", err)
	}
	start := time.Now()
	resp, err := rt.Invoke(ctx, event)
	run := peakRun{payload: resp.Payload, took: time.Since(start)}
	if err != nil {
		return peakRun{}, fmt.Errorf("invoke: %w", err)
	}
	run.peak, run.source = highWaterMark(cmd.Process.Pid)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	reaped = true
	if run.peak == 0 {
		run.peak, run.source = maxRSS(cmd.ProcessState)
	}
	if run.peak == 0 {
		return peakRun{}, fmt.Errorf("this system reports no peak RSS for a child process")
	}
	return run, nil
}
