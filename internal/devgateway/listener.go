package devgateway

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/pipetel/pipetel/internal/api"
)

// Listener wraps ln so that the answers net/http's server gives by itself, before any
// handler runs, are in the API's error shape rather than text/plain: a request line or
// header that is not HTTP (400), headers over http.Server.MaxHeaderBytes (431), an HTTP
// version other than 1.x (505), a Transfer-Encoding other than chunked (501). A deployment's
// API Gateway answers these itself. Serve the gateway on it with http.Server.Serve.
//
// net/http writes each of these answers in a single Write to the connection itself, with
// a fixed text/plain header block (net/http's server.go, "errorHeaders"); that block is how
// they are recognised. Every other answer passes through unchanged.
func Listener(ln net.Listener) net.Listener { return listener{ln} }

type listener struct{ net.Listener }

func (l listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return conn{c}, nil
}

type conn struct{ net.Conn }

// Write replaces an answer of net/http's own by one in the API's error shape, and reports
// the original written so that the server goes on as it would have.
func (c conn) Write(p []byte) (int, error) {
	why, ok := serverRefusal(p)
	if !ok {
		return c.Conn.Write(p)
	}
	if _, err := c.Conn.Write(refusal(why)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// CloseWrite passes on the half-close net/http uses after a 431, so the client reads the
// answer before the connection closes.
func (c conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// serverErrorHeaders is the header block of every answer net/http writes by itself.
var serverErrorHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

// serverRefusal recognises an answer net/http writes by itself and says what it refused.
func serverRefusal(p []byte) (api.Unreadable, bool) {
	status, ok := bytes.CutPrefix(p, []byte("HTTP/1.1 "))
	if !ok || len(status) < 3 || !bytes.Contains(p, serverErrorHeaders) {
		return 0, false
	}
	switch string(status[:3]) {
	case "431":
		return api.HeadersTooLarge, true
	case "505":
		return api.VersionUnsupported, true
	case "501":
		return api.EncodingUnsupported, true
	case "400":
		return api.NotHTTP, true
	}
	return 0, false
}

// refusal is the raw HTTP answer to a request net/http refused. The connection closes
// after it, as net/http closes it.
func refusal(why api.Unreadable) []byte {
	id := newRequestID()
	resp := api.UnreadableRequest(why, id)
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", resp.StatusCode, http.StatusText(resp.StatusCode))
	fmt.Fprintf(&b, "Content-Type: application/json\r\nApigw-Requestid: %s\r\nConnection: close\r\n", id)
	fmt.Fprintf(&b, "Content-Length: %s\r\n\r\n%s", strconv.Itoa(len(resp.Body)), resp.Body)
	return b.Bytes()
}
