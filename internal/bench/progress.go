package bench

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// meter shows how a load is getting on, every couple of seconds, so a person watching a
// run that takes minutes knows it is alive and roughly how long is left.
type meter struct {
	w     io.Writer
	label string
	total int
	start time.Time
	done  atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup
}

const meterEvery = 2 * time.Second

func startMeter(w io.Writer, label string, total int) *meter {
	m := &meter{w: w, label: label, total: total, start: time.Now(), stop: make(chan struct{})}
	m.wg.Go(func() {
		t := time.NewTicker(meterEvery)
		defer t.Stop()
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				m.print(false)
			}
		}
	})
	return m
}

func (m *meter) add(n int) { m.done.Add(int64(n)) }

func (m *meter) set(n int) { m.done.Store(int64(n)) }

// finish stops the meter and prints the final count and rate.
func (m *meter) finish() {
	close(m.stop)
	m.wg.Wait()
	m.print(true)
}

func (m *meter) print(final bool) {
	done := int(m.done.Load())
	elapsed := time.Since(m.start)
	rate := float64(done) / elapsed.Seconds()
	if final {
		fmt.Fprintf(m.w, "  %s: %d in %.1f s (%.0f/s)\n", m.label, done, elapsed.Seconds(), rate)
		return
	}
	pct := 0
	if m.total > 0 {
		pct = done * 100 / m.total
	}
	fmt.Fprintf(m.w, "  %s: %d/%d (%d%%), %.0f/s\n", m.label, done, m.total, pct, rate)
}
