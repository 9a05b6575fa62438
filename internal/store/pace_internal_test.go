package store

import (
	"slices"
	"testing"
	"time"
)

// TestPacerLimit: the chunks a request keeps in flight reach WriteConcurrency while the
// store answers as fast as ever, and fall to one while its answers slow as calls queue.
func TestPacerLimit(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for _, c := range []struct {
		name    string
		answers []time.Duration // of one kind of call, in turn
		want    int
	}{
		{"keeps up", []time.Duration{ms(100), ms(100), ms(110), ms(95), ms(100), ms(105), ms(100), ms(100)}, 16},
		{"one slow answer", []time.Duration{ms(100), ms(100), ms(100), ms(100), ms(100), ms(100), ms(100), ms(180), ms(100), ms(100), ms(100)}, 16},
		{"answers queue", []time.Duration{ms(100), ms(200), ms(300), ms(400), ms(400), ms(400), ms(400), ms(400)}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := newPacer(16)
			for _, rtt := range c.answers {
				p.observe("get", rtt)
			}
			if got := int(p.limit); got != c.want {
				t.Errorf("limit %d (%.2f), want %d", got, p.limit, c.want)
			}
		})
	}
}

// TestPacerServesTheOldestChunkFirst: a place freed goes to the lowest rank waiting,
// whatever the order the chunks asked in, so chunks end one after another.
func TestPacerServesTheOldestChunkFirst(t *testing.T) {
	p := newPacer(16)
	p.limit, p.inflight = 1, 1
	var ws []*waiter
	for _, rank := range []int{5, 2, 9, 3} {
		w := &waiter{rank: rank, ready: make(chan struct{})}
		ws = append(ws, w)
		p.waiting = append(p.waiting, w)
	}
	var order []int
	for range ws {
		p.done()
		for _, w := range ws {
			select {
			case <-w.ready:
				if !slices.Contains(order, w.rank) {
					order = append(order, w.rank)
				}
			default:
			}
		}
	}
	if want := []int{2, 3, 5, 9}; !slices.Equal(order, want) {
		t.Errorf("granted %v, want %v", order, want)
	}
}
