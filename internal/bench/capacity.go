package bench

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
)

// capacityProxy stands between the functions and DynamoDB Local and asks every read the
// store makes to return its consumed capacity (ReturnConsumedCapacity TOTAL), then adds up
// what DynamoDB says each read examined and charged. The store's requests are otherwise
// passed on untouched, so the figures are those of the very requests a deployment makes.
// DynamoDB Local does not check signatures, so adding a field to a signed body is safe
// here, and the client does not check the checksum of Local's answers (store.NewClient).
type capacityProxy struct {
	url string
	srv *http.Server

	mu       sync.Mutex
	reads    capacityReads
	captured chan error
}

// capacityReads is what the reads since a snapshot cost.
type capacityReads struct {
	Calls int     // Query, GetItem and BatchGetItem calls
	Items int     // items examined: a Query's ScannedCount, the items a get returned
	Units float64 // read capacity units DynamoDB charged
}

func (a capacityReads) minus(b capacityReads) capacityReads {
	return capacityReads{Calls: a.Calls - b.Calls, Items: a.Items - b.Items, Units: a.Units - b.Units}
}

func startCapacityProxy(endpoint string) (*capacityProxy, error) {
	target, err := url.Parse(endpoint)
	if err != nil {
		return nil, err
	}
	p := &capacityProxy{captured: make(chan error, 1)}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		r := pr.Out
		if !isRead(r.Header.Get("X-Amz-Target")) || r.Body == nil {
			return
		}
		body, err := io.ReadAll(r.Body)
		r.Body.Close()
		if err == nil {
			var in map[string]any
			if json.Unmarshal(body, &in) == nil {
				in["ReturnConsumedCapacity"] = "TOTAL"
				if b, err := json.Marshal(in); err == nil {
					body = b
				}
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		r.ContentLength = int64(len(body))
		r.Header.Set("Content-Length", strconv.Itoa(len(body)))
	}}
	rp.ModifyResponse = func(resp *http.Response) error {
		op := resp.Request.Header.Get("X-Amz-Target")
		if !isRead(op) || resp.StatusCode != http.StatusOK {
			return nil
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		resp.Body = io.NopCloser(bytes.NewReader(body))
		p.count(op, body)
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p.url = "http://" + ln.Addr().String()
	p.srv = &http.Server{Handler: rp}
	go func() { p.captured <- p.srv.Serve(ln) }()
	return p, nil
}

func isRead(target string) bool {
	_, op, _ := strings.Cut(target, ".")
	return op == "Query" || op == "GetItem" || op == "BatchGetItem"
}

// capacityAnswer is the part of a read's answer the proxy counts.
type capacityAnswer struct {
	ScannedCount *int            `json:"ScannedCount"`
	Item         json.RawMessage `json:"Item"`
	Responses    map[string][]json.RawMessage
	// ConsumedCapacity is one object for Query and GetItem, a list for BatchGetItem.
	ConsumedCapacity json.RawMessage
}

type consumed struct {
	CapacityUnits float64
}

func (p *capacityProxy) count(op string, body []byte) {
	var a capacityAnswer
	if json.Unmarshal(body, &a) != nil {
		return
	}
	var r capacityReads
	r.Calls = 1
	switch {
	case a.ScannedCount != nil:
		r.Items = *a.ScannedCount
	case a.Responses != nil:
		for _, items := range a.Responses {
			r.Items += len(items)
		}
	case len(a.Item) > 0 && string(a.Item) != "null":
		r.Items = 1
	}
	var one consumed
	var many []consumed
	if json.Unmarshal(a.ConsumedCapacity, &one) == nil {
		r.Units = one.CapacityUnits
	} else if json.Unmarshal(a.ConsumedCapacity, &many) == nil {
		for _, c := range many {
			r.Units += c.CapacityUnits
		}
	}
	p.mu.Lock()
	p.reads.Calls += r.Calls
	p.reads.Items += r.Items
	p.reads.Units += r.Units
	p.mu.Unlock()
}

func (p *capacityProxy) snapshot() capacityReads {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.reads
}

func (p *capacityProxy) close() error {
	err := p.srv.Close()
	<-p.captured
	return err
}
