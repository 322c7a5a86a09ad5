package copyfile

import (
	"context"
	"sync"
	"time"
)

// cutGap is the least time between two cuts of a window: the longest
// first back-off. A cut shows only once the parts it throttled come back
// from their back-off. Tests replace it.
var cutGap = firstBackoff

// window is the number of part copies a multipart copy keeps in flight. It
// halves under S3 SlowDown and widens by one per part copied
// (docs/copying.md says why).
type window struct {
	mu       sync.Mutex
	limit    int // part copies allowed in flight now
	max      int // Config.Concurrency
	inFlight int
	// epoch counts the cuts. A SlowDown for a request sent before the
	// last cut does not cut again.
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
