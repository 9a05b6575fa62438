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
	return out, nil
}

// helloFunction is the cold-start baseline: aws-lambda-go and one handler answering 200
// (testdata/hello), built and run as every function is. It answers query's sample event.
const helloFunction = "hello"

// coldStartGoal is the most a function's first response may take, in hello-world's.
const coldStartGoal = 2.0

func functionPackage(fn string) string {
	if fn == helloFunction {
		return "./internal/bench/testdata/hello"
	}
	return "./functions/" + fn
}

// sampleEvent is the file of events/ a function's cold start answers.
func sampleEvent(fn string) string {
	if fn == helloFunction {
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
		out[fn] = c
	}
	hello := out[helloFunction]
	for fn, c := range out {
		c.RatioToHello = round(ratio(c.FirstResponseMs, hello.FirstResponseMs), 2)
		c.InitRatioToHello = round(ratio(c.InitMs, hello.InitMs), 2)
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
