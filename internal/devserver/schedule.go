package devserver

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pipetel/pipetel/internal/api"
	"github.com/pipetel/pipetel/internal/rollup"
)

// Job is one scheduled function: in a deployment an EventBridge rule invokes it every
// Every; here a ticker does.
type Job struct {
	Name  string
	Every time.Duration
	Run   func(context.Context) error
}

// Schedule is the dev server's list of scheduled functions, built from the same
// dependencies and constructors as the deployed ones: the rollup, every minute as its
// EventBridge rule runs it.
func Schedule(d api.Deps) []Job {
	if d.Summary == nil {
		return nil
	}
	return []Job{{Name: "rollup", Every: time.Minute, Run: rollup.NewScheduled(d)}}
}

// ticker is the part of time.Ticker the schedule uses, so tests can tick by hand.
type ticker interface {
	C() <-chan time.Time
	Stop()
}

type timeTicker struct{ t *time.Ticker }

func (t timeTicker) C() <-chan time.Time { return t.t.C }
func (t timeTicker) Stop()               { t.t.Stop() }

func newTicker(d time.Duration) ticker { return timeTicker{time.NewTicker(d)} }

// runSchedule runs each job on every tick of its own ticker until ctx ends, and returns
// once no job is running. Like EventBridge, it does not run a job at start, only on
// schedule. A run still going when its next tick comes makes that tick be skipped rather
// than queued, so a slow job never runs twice at once.
func runSchedule(ctx context.Context, jobs []Job, log *slog.Logger, newTicker func(time.Duration) ticker) {
	var wg sync.WaitGroup
	for _, j := range jobs {
		if j.Every <= 0 {
			log.Error("scheduled job has no interval; it will not run", "job", j.Name)
			continue
		}
		wg.Go(func() {
			t := newTicker(j.Every)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C():
					runJob(ctx, j, log)
				}
			}
		})
	}
	wg.Wait()
}

// runJob runs j once. A failure is logged and the schedule goes on, as a failed scheduled
// invocation does not stop the rule; a panic counts as a failure, not a crash of the server.
func runJob(ctx context.Context, j Job, log *slog.Logger) {
	start := time.Now()
	err := func() (err error) {
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("panic: %v", p)
			}
		}()
		return j.Run(ctx)
	}()
	ms := time.Since(start).Milliseconds()
	if err != nil {
		log.Error("scheduled job failed", "job", j.Name, "ms", ms, "error", err.Error())
		return
	}
	log.Info("scheduled job", "job", j.Name, "ms", ms)
}
