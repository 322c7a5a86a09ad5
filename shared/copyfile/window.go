package copyfile

import (
	"context"
	"sync"
	"time"
)

// Adaptive back-off under S3 SlowDown.
//
// S3 answers 503 SlowDown when a prefix gets more requests than it serves.
// That is at least 3,500 writes per second per prefix, more once S3 has
// scaled it ("you may see some 503 (Slow Down) errors" meanwhile:
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html).
// The SDK's retry sends a throttled request again but keeps the others in
// flight. After three attempts it fails the part, and the copy with it.
//
// A multipart copy sends less instead. The SDK does not retry its part
// copies on a throttle (throttlesNotRetried). A throttled part halves the
// window of parts in flight and is sent again after a jittered back-off.
// The window is cut once per round of requests (epoch) and at most once
// per cutGap: without the gap, the parts of one throttled round come back
// from their jittered back-offs one after another and halve the window
// again and again, down to one part in flight (ten copies into one prefix:
// 2.3 times as long as one copy alone on the S3 model, 1.6 times with the
// gap; BENCHMARKS.md).
// Each part copied that was sent after the last cut widens the window by
// one, up to Config.Concurrency. A part copy takes seconds and a burst is
// short, so the window is whole again within about one round of parts.
// Only a part throttled maxThrottles times in a row fails the copy
// (TransientCopyError SlowDown, retried by the workflow).
// CompleteMultipartUpload backs off the same way (completeUpload): failing
// it would cost the whole upload on the workflow's retry.
//
// The SDK's adaptive retry mode was considered. It rate-limits the whole
// client with a token bucket but still fails a request after its maximum
// attempts. Part copies that last seconds are better paced by how many are
// in flight than by how often one is sent.

// cutGap is the least time between two cuts of a window, on the copier's
// clock: the longest first back-off. A cut shows only once the parts it
// throttled come back from their back-off; answers sooner than that, even
// to requests sent after the cut, come from the same overload. Tests
// replace it, with throttleBackoff.
var cutGap = firstBackoff

// window is the number of part copies a multipart copy keeps in flight.
type window struct {
	mu       sync.Mutex
	limit    int // part copies allowed in flight now
	max      int // Config.Concurrency
	inFlight int
	// epoch counts the cuts: a SlowDown for a request sent before the
	// last cut does not cut again (a burst of answers to the requests of
	// one round halves the window once).
	epoch int
	// now is the copier's clock; lastCut is when the last cut came. No
	// cut comes within gap of the last one.
	now     func() time.Time
	gap     time.Duration
	lastCut time.Time
	wake    chan struct{} // closed and replaced when a slot frees or the limit rises
	// lowest is the smallest limit reached; cuts counts the cuts.
	lowest, cuts int
}

// newWindow returns a window of n slots that cuts at most once per gap on
// the clock now.
func newWindow(n int, now func() time.Time, gap time.Duration) *window {
	n = max(n, 1)
	return &window{limit: n, max: n, lowest: n, now: now, gap: gap, wake: make(chan struct{})}
}

// acquire waits for a slot and returns the epoch the request is sent in;
// ok is false when stop is closed or ctx ends first.
func (w *window) acquire(ctx context.Context, stop <-chan struct{}) (epoch int, ok bool) {
	for {
		w.mu.Lock()
		if w.inFlight < w.limit {
			w.inFlight++
			epoch := w.epoch
			w.mu.Unlock()
			return epoch, true
		}
		wake := w.wake
		w.mu.Unlock()
		select {
		case <-wake:
		case <-stop:
			return 0, false
		case <-ctx.Done():
			return 0, false
		}
	}
}

// release frees a slot.
func (w *window) release() {
	w.mu.Lock()
	w.inFlight--
	w.signal()
	w.mu.Unlock()
}

// copied records a part copied that was sent in epoch. If no cut happened
// since, the limit rises by one, up to max. It reports whether the limit
// is back at max.
func (w *window) copied(epoch int) (restored bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if epoch == w.epoch && w.limit < w.max {
		w.limit++
		w.signal()
		return w.limit == w.max
	}
	return false
}

// throttled records a SlowDown for a request sent in epoch. It halves the
// limit (to at least 1) unless a cut came since that request was sent or
// less than the gap ago.
func (w *window) throttled(epoch int) (limit int, cut bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	if epoch == w.epoch && (w.cuts == 0 || now.Sub(w.lastCut) >= w.gap) {
		w.limit = max(w.limit/2, 1)
		w.epoch++
		w.cuts++
		w.lastCut = now
		w.lowest = min(w.lowest, w.limit)
		cut = true
	}
	return w.limit, cut
}

// signal wakes the waiters; call with w.mu held.
func (w *window) signal() {
	close(w.wake)
	w.wake = make(chan struct{})
}
