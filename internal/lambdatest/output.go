package lambdatest

import (
	"io"
	"sync"
)

// maxOutput bounds the output kept of one process: a chatty function must not grow the
// test's memory without limit, and errors only need the end.
const maxOutput = 4 << 20

// outputBuffer keeps the last maxOutput bytes written to it and copies everything to tee.
type outputBuffer struct {
	tee io.Writer

	mu  sync.Mutex
	buf []byte
}

func (b *outputBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - maxOutput; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
	}
	if b.tee != nil {
		// A failing log sink must not make the process's own writes fail.
		_, _ = b.tee.Write(p)
	}
	return len(p), nil
}

// tail is the last n bytes written, at most.
func (b *outputBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf[max(0, len(b.buf)-n):])
}
