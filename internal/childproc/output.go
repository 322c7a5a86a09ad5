package childproc

import (
	"bytes"
	"sync"
)

// Output collects what processes write, for showing it in an error or a
// failed test's log. Its methods are safe to call at once, as exec's stdout
// and stderr copiers and a reader do. With Max > 0 it keeps only the last
// Max bytes, and String then drops a rune cut at the front.
type Output struct {
	Max int

	mu  sync.Mutex
	buf []byte
}

// Write appends p; it never fails.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf = append(o.buf, p...)
	if o.Max > 0 && len(o.buf) > o.Max {
		o.buf = append([]byte(nil), o.buf[len(o.buf)-o.Max:]...)
	}
	return len(p), nil
}

// String returns what was kept.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.Max > 0 {
		return string(bytes.ToValidUTF8(o.buf, nil))
	}
	return string(o.buf)
}
