package chaos

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Faults are what the proxy does to the exchanges between the service and its store. Each
// rate is a probability in [0, 1], drawn per exchange (Refuse: per connection) from a
// generator seeded with Seed, so a run's mix of faults is reproducible (their timing,
// which depends on the scheduler, is not).
type Faults struct {
	// ResetBefore resets the connection on receiving a request, before the store sees it.
	ResetBefore float64
	// ResetAfter passes the request to the store, which does the work, then resets the
	// connection instead of answering: the service cannot know the write happened.
	ResetAfter float64
	// Delay holds the store's answer back for up to DelayMax.
	Delay    float64
	DelayMax time.Duration
	// Stall holds a request for StallFor without answering, then resets the connection.
	Stall    float64
	StallFor time.Duration
	// Refuse resets a new connection at once, as a store that is not listening does.
	Refuse float64
	Seed   uint64
}

// ProxyCounts are the faults a proxy has injected so far.
type ProxyCounts struct {
	Exchanges, ResetBefore, ResetAfter, Delayed, Stalled, Refused int64
}

// Proxy is a fault-injecting HTTP proxy in front of DynamoDB: the service's client talks
// to it as to the store. It can be taken down (every connection reset, new ones refused)
// and brought up again on the same address, as a store outage looks to the service.
type Proxy struct {
	addr      string // host:port it listens on, the same across Down and Up
	target    string // the store's host:port
	faults    Faults
	transport *http.Transport

	calm atomic.Bool // no faults while set: setup and verification are not under test

	mu    sync.Mutex
	rand  *rand.Rand
	ln    net.Listener
	conns map[net.Conn]bool
	down  chan struct{} // closed by Down, to end delays and stalls at once

	exchanges, resetBefore, resetAfter, delayed, stalled, refused atomic.Int64
}

// StartProxy listens on a free loopback port and forwards to target (host:port). It starts
// calm: no faults until SetCalm(false).
func StartProxy(target string, f Faults) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fault proxy: %w", err)
	}
	p := &Proxy{
		addr:      ln.Addr().String(),
		target:    target,
		faults:    f,
		transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		rand:      rand.New(rand.NewPCG(f.Seed, 0x6368616f73)),
		conns:     map[net.Conn]bool{},
	}
	p.calm.Store(true)
	p.serve(ln)
	return p, nil
}

// URL is the endpoint to give the service's DynamoDB client.
func (p *Proxy) URL() string { return "http://" + p.addr }

// SetCalm turns faults off (true) or on (false).
func (p *Proxy) SetCalm(calm bool) { p.calm.Store(calm) }

// Counts reports the faults injected so far.
func (p *Proxy) Counts() ProxyCounts {
	return ProxyCounts{p.exchanges.Load(), p.resetBefore.Load(), p.resetAfter.Load(),
		p.delayed.Load(), p.stalled.Load(), p.refused.Load()}
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.down = make(chan struct{})
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return // closed by Down or Close
			}
			if p.chance(func(f Faults) float64 { return f.Refuse }) {
				p.refused.Add(1)
				reset(c)
				continue
			}
			if !p.track(c) {
				reset(c)
				continue
			}
			go p.handle(c)
		}
	}()
}

// track records c so Down can reset it; false when the proxy went down meanwhile.
func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return false
	}
	p.conns[c] = true
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// Down stops listening, so connections are refused, and resets every open connection.
func (p *Proxy) Down() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln == nil {
		return
	}
	p.ln.Close()
	p.ln = nil
	close(p.down)
	for c := range p.conns {
		reset(c)
	}
	clear(p.conns)
	p.transport.CloseIdleConnections()
}

// Up listens again on the same address after Down.
func (p *Proxy) Up() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return fmt.Errorf("fault proxy back up on %s: %w", p.addr, err)
	}
	p.serve(ln)
	return nil
}

// Close takes the proxy down for good.
func (p *Proxy) Close() {
	p.Down()
	p.transport.CloseIdleConnections()
}

func (p *Proxy) chance(rate func(Faults) float64) bool {
	if p.calm.Load() {
		return false
	}
	r := rate(p.faults)
	if r <= 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.rand.Float64() < r
}

type fault int

const (
	none fault = iota
	resetBefore
	resetAfter
	delay
	stall
)

// pick draws the fault of one exchange: at most one, each with its own rate.
func (p *Proxy) pick() (fault, time.Duration) {
	if p.calm.Load() {
		return none, 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	x := p.rand.Float64()
	f := p.faults
	for _, c := range []struct {
		rate  float64
		fault fault
	}{{f.ResetBefore, resetBefore}, {f.ResetAfter, resetAfter}, {f.Delay, delay}, {f.Stall, stall}} {
		if x < c.rate {
			d := time.Duration(0)
			if c.fault == delay && f.DelayMax > 0 {
				d = time.Duration(p.rand.Int64N(int64(f.DelayMax))) + 1
			}
			return c.fault, d
		}
		x -= c.rate
	}
	return none, 0
}

// handle serves one connection from the service, one exchange at a time.
func (p *Proxy) handle(c net.Conn) {
	defer p.untrack(c)
	defer c.Close()
	p.mu.Lock()
	down := p.down
	p.mu.Unlock()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		p.exchanges.Add(1)
		fault, wait := p.pick()
		switch fault {
		case resetBefore:
			p.resetBefore.Add(1)
			reset(c)
			return
		case stall:
			p.stalled.Add(1)
			pause(p.faults.StallFor, down)
			reset(c)
			return
		}
		req.URL.Scheme, req.URL.Host, req.RequestURI = "http", p.target, ""
		resp, err := p.transport.RoundTrip(req)
		if err != nil {
			reset(c) // the store is down: the service sees its connection fail
			return
		}
		if fault == resetAfter {
			p.resetAfter.Add(1)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			reset(c)
			return
		}
		if fault == delay {
			p.delayed.Add(1)
			if !pause(wait, down) {
				resp.Body.Close()
				reset(c)
				return
			}
		}
		err = resp.Write(c)
		resp.Body.Close()
		if err != nil || resp.Close {
			return
		}
	}
}

// pause waits d, or less if the proxy goes down; it reports whether it waited all of d.
func pause(d time.Duration, down <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-down:
		return false
	}
}

// reset closes c with a TCP reset rather than an orderly close, as a crashed peer or a
// dropped connection looks to the other side.
func reset(c net.Conn) {
	if tcp, ok := c.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = c.Close()
}
