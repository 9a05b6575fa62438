package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/pipetel/pipetel/internal/lambdatest"
)

// bootstraps are one function's builds: the deployable one, whose size is the figure,
// and one for this machine, which the emulator runs.
type bootstraps struct {
	arm64 string
	host  string
}

// build compiles every function's bootstrap with the flags the Makefile deploys with.
// The arm64 builds are only needed for their sizes.
func (b *bench) build(ctx context.Context, withArm64 bool) (map[string]bootstraps, error) {
	b.section("building bootstraps (%d functions and the hello-world baseline)", len(b.o.Functions))
	out := map[string]bootstraps{}
	for _, fn := range append(slices.Clone(b.o.Functions), helloFunction) {
		var bs bootstraps
		targets := []struct {
			goos, goarch string
			dst          *string
		}{{runtime.GOOS, runtime.GOARCH, &bs.host}}
		if withArm64 {
			targets = append(targets, struct {
				goos, goarch string
				dst          *string
			}{"linux", "arm64", &bs.arm64})
		}
		for _, t := range targets {
			path := filepath.Join(b.o.BuildDir, t.goos+"-"+t.goarch, fn, "bootstrap")
			start := time.Now()
			if err := goBuild(ctx, b.o.Go, t.goos, t.goarch, functionPackage(fn), path); err != nil {
				return nil, err
			}
			fmt.Fprintf(b.progress, "  %s %s/%s in %.1f s\n", fn, t.goos, t.goarch, time.Since(start).Seconds())
			*t.dst = path
		}
		out[fn] = bs
	}
	// The replay runs on this machine only; it is no deployable function.
	path := filepath.Join(b.o.BuildDir, runtime.GOOS+"-"+runtime.GOARCH, replayFunction, "bootstrap")
	if err := goBuild(ctx, b.o.Go, runtime.GOOS, runtime.GOARCH, functionPackage(replayFunction), path); err != nil {
		return nil, err
	}
	out[replayFunction] = bootstraps{host: path}
	return out, nil
}

// helloFunction is the cold-start baseline: aws-lambda-go and one handler answering 200
// (testdata/hello), built and run as every function is. It answers query's sample event.
const helloFunction = "hello"

// replayFunction is the floor of each function's cold start: a hello-world that sends the
// DynamoDB requests the function's first invocation sent, and nothing else
// (testdata/replay).
const replayFunction = "replay"

// coldStartGoal is the most a function's first response may take, in hello-world's.
const coldStartGoal = 2.0

func functionPackage(fn string) string {
	if fn == helloFunction || fn == replayFunction {
		return "./internal/bench/testdata/" + fn
	}
	return "./functions/" + fn
}

// sampleEvent is the file of events/ a function's cold start answers.
func sampleEvent(fn string) string {
	if fn == helloFunction || fn == replayFunction {
		return "query.json"
	}
	return fn + ".json"
}

// goBuild is `make build`'s command: static, trimmed, no RPC shim, stripped.
func goBuild(ctx context.Context, goCmd, goos, goarch, pkg, out string) error {
	cmd := exec.CommandContext(ctx, goCmd, "build", "-trimpath", "-tags", "lambda.norpc", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch)
	if msg, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s for %s/%s: %w\n%s", pkg, goos, goarch, err, msg)
	}
	return nil
}

// coldStarts measures, for each function, its deployable size and the time from exec to
// its first answer to its sample event under the Runtime API emulator. Functions take
// turns, so that noise on the machine falls on all of them alike.
func (b *bench) coldStarts(ctx context.Context, builds map[string]bootstraps) (map[string]ColdStart, error) {
	b.section("cold starts: %d each, events/<function>.json", b.o.ColdStarts)
	table, err := b.newTable(ctx, "coldstart")
	if err != nil {
		return nil, err
	}
	out := map[string]ColdStart{}
	events := map[string][]byte{}
	first := map[string][]float64{}
	inits := map[string][]float64{}
	functions := append(slices.Clone(b.o.Functions), helloFunction)
	// The rollup runs first in each round: its run takes the summary snapshot that the
	// summary function's sample event reads (without one, it answers 503 "not yet").
	if i := slices.Index(functions, "rollup"); i > 0 {
		functions = append([]string{"rollup"}, slices.Delete(functions, i, i+1)...)
	}
	if events[replayFunction], err = os.ReadFile(filepath.Join(b.o.EventsDir, sampleEvent(replayFunction))); err != nil {
		return nil, err
	}
	for _, fn := range functions {
		fi, err := os.Stat(builds[fn].arm64)
		if err != nil {
			return nil, err
		}
		out[fn] = ColdStart{BootstrapBytes: fi.Size(), BootstrapMB: round(float64(fi.Size())/1e6, 2)}
		if events[fn], err = os.ReadFile(filepath.Join(b.o.EventsDir, sampleEvent(fn))); err != nil {
			return nil, err
		}
	}
	replays, err := b.captureFirstCalls(ctx, builds, table, functions, events, out)
	if err != nil {
		return nil, err
	}
	floors := map[string][]float64{}
	for run := range b.o.ColdStarts {
		for _, fn := range functions {
			res, err := lambdatest.Run(ctx, lambdatest.Options{
				Bootstrap: builds[fn].host,
				Name:      fn,
				Env:       lambdaEnv(b.endpoint, table),
			}, events[fn])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", fn, err)
			}
			if replay, ok := replays[fn]; ok {
				floor, err := b.replayCalls(ctx, builds, table, replay, events[replayFunction])
				if err != nil {
					return nil, fmt.Errorf("%s's calls replayed: %w", fn, err)
				}
				floors[fn] = append(floors[fn], ms(floor))
			}
			c := out[fn]
			if c.Status, err = statusOf(fn, res.Responses[0].Payload); err != nil {
				return nil, fmt.Errorf("%s: %w", fn, err)
			}
			if c.Status >= 500 {
				return nil, fmt.Errorf("%s answered its sample event with %d: %s", fn, c.Status, res.Responses[0].Payload)
			}
			out[fn] = c
			first[fn] = append(first[fn], ms(res.FirstResponse))
			inits[fn] = append(inits[fn], ms(res.Responses[0].InitDuration))
		}
		fmt.Fprintf(b.progress, "  run %d/%d done\n", run+1, b.o.ColdStarts)
	}
	for fn, c := range out {
		c.Runs = len(first[fn])
		c.FirstResponseMs = round(median(first[fn]), 1)
		c.MinMs = round(quantile(first[fn], 0), 1)
		c.MaxMs = round(quantile(first[fn], 1), 1)
		c.InitMs = round(median(inits[fn]), 1)
		if len(floors[fn]) > 0 {
			c.FloorMs = round(median(floors[fn]), 1)
			c.RatioToFloor = round(ratio(c.FirstResponseMs, c.FloorMs), 2)
		}
		out[fn] = c
	}
	hello := out[helloFunction]
	for fn, c := range out {
		c.RatioToHello = round(ratio(c.FirstResponseMs, hello.FirstResponseMs), 2)
		c.InitRatioToHello = round(ratio(c.InitMs, hello.InitMs), 2)
		c.FloorToHello = round(ratio(c.FloorMs, hello.FirstResponseMs), 2)
		out[fn] = c
	}
	return out, b.dropTable(ctx, table)
}

// statusOf reads the status code of an API Gateway proxy response; an authorizer's answer
// counts as 200.
func statusOf(fn string, payload []byte) (int, error) {
	if fn == "authorizer" {
		var answer struct {
			IsAuthorized *bool `json:"isAuthorized"`
		}
		if err := json.Unmarshal(payload, &answer); err != nil || answer.IsAuthorized == nil {
			return 0, fmt.Errorf("the answer is not an authorizer's simple response: %.200s", payload)
		}
		return 200, nil
	}
	if fn == "rollup" {
		// A scheduled function answers nothing; a failure is an error object.
		var failed struct {
			ErrorMessage string `json:"errorMessage"`
		}
		if err := json.Unmarshal(payload, &failed); err == nil && failed.ErrorMessage != "" {
			return 0, fmt.Errorf("the rollup failed: %.200s", payload)
		}
		return 200, nil
	}
	var resp struct {
		StatusCode int `json:"statusCode"`
	}
	if err := json.Unmarshal(payload, &resp); err != nil || resp.StatusCode == 0 {
		return 0, fmt.Errorf("the answer is not an API Gateway response: %.200s", payload)
	}
	return resp.StatusCode, nil
}

// captureFirstCalls runs two cold starts of each function but hello-world before the
// measured runs: one that leaves what its sample event writes in place, so the capture
// sees what the measured runs see (a run already stored, ids already claimed), then one
// through a recorder. It writes the DynamoDB requests of that second first invocation,
// grouped in rounds (callRounds), to a file the replay bootstrap reads, returns the files
// by function and sets each function's Calls and Rounds in out.
func (b *bench) captureFirstCalls(ctx context.Context, builds map[string]bootstraps, table string, functions []string, events map[string][]byte, out map[string]ColdStart) (map[string]string, error) {
	rec, err := newCallRecorder(b.endpoint)
	if err != nil {
		return nil, err
	}
	defer rec.Close()
	files := map[string]string{}
	for _, fn := range functions {
		if fn == helloFunction {
			continue
		}
		if _, err := lambdatest.Run(ctx, lambdatest.Options{
			Bootstrap: builds[fn].host, Name: fn, Env: lambdaEnv(b.endpoint, table),
		}, events[fn]); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		res, err := lambdatest.Run(ctx, lambdatest.Options{
			Bootstrap: builds[fn].host,
			Name:      fn,
			Env:       lambdaEnv(rec.URL(), table),
		}, events[fn])
		if err != nil {
			return nil, fmt.Errorf("%s, capturing its calls: %w", fn, err)
		}
		if _, err := statusOf(fn, res.Responses[0].Payload); err != nil {
			return nil, fmt.Errorf("%s, capturing its calls: %w", fn, err)
		}
		calls := rec.take()
		rounds := callRounds(calls)
		doc, err := json.Marshal(rounds)
		if err != nil {
			return nil, err
		}
		// The bootstrap runs in its own task root, so the path must not be relative.
		path, err := filepath.Abs(filepath.Join(filepath.Dir(builds[replayFunction].host), fn+".json"))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, doc, 0o644); err != nil {
			return nil, err
		}
		files[fn] = path
		c := out[fn]
		c.Calls, c.Rounds = len(calls), len(rounds)
		out[fn] = c
	}
	return files, nil
}

// replayCalls runs the replay bootstrap on the calls in file and returns its first
// response.
func (b *bench) replayCalls(ctx context.Context, builds map[string]bootstraps, table, file string, event []byte) (time.Duration, error) {
	env := lambdaEnv(b.endpoint, table)
	env["REPLAY_CALLS"] = file
	res, err := lambdatest.Run(ctx, lambdatest.Options{Bootstrap: builds[replayFunction].host, Name: replayFunction, Env: env}, event)
	if err != nil {
		return 0, err
	}
	if status, err := statusOf(replayFunction, res.Responses[0].Payload); err != nil || status != 200 {
		return 0, fmt.Errorf("the replay answered %d (%v): %.200s", status, err, res.Responses[0].Payload)
	}
	return res.FirstResponse, nil
}
