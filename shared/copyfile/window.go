package copyfile

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Adaptive back-off under S3 SlowDown.
//
// S3 answers 503 SlowDown when a prefix gets more requests than it serves
// (at least 3,500 PUT/COPY/POST/DELETE per second per partitioned prefix,
// more after S3 has scaled it, "you may see some 503 (Slow Down) errors"
// meanwhile:
// https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html).
// The SDK's own retry of a throttled request waits and sends it again but
// keeps every other request in flight, and gives up after three attempts,
// failing the part and with it the whole copy. A multipart copy instead
// treats SlowDown as a signal to send less: its part copies are not retried
// by the SDK on a throttle (throttlesNotRetried), and a throttled part goes
// back to the window, which halves the number of part copies in flight
// (multiplicative decrease), and the part is sent again after a jittered
// back-off; each part copied that was sent after the last cut raises the
// window by one again (additive increase) up to Config.Concurrency. That
// is faster than TCP's one per round trip: a part copy takes seconds and a
// SlowDown burst is transient, so the window regains the full concurrency
// within about one round of parts. A burst of SlowDown thus slows the
// copy down instead of failing it; only a part throttled maxThrottles times
// in a row fails (TransientCopyError SlowDown, retried by the workflow).
//
// The SDK's adaptive retry mode (retry.NewAdaptiveMode) was considered: it
// rate-limits sending for the whole client with a token bucket, but still
// fails a request after its maximum attempts, and a part copy that runs for
// seconds is better paced by how many are in flight than by how often one
// is sent.

// maxThrottles is how many SlowDown answers in a row one part copy takes
// before the copy fails.
const maxThrottles = 10

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
	wake  chan struct{} // closed and replaced when a slot frees or the limit rises
	// lowest is the smallest limit reached; cuts counts the cuts.
	lowest, cuts int
}

func newWindow(n int) *window {
	n = max(n, 1)
	return &window{limit: n, max: n, lowest: n, wake: make(chan struct{})}
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

// copied records a part copied that was sent in epoch: if no cut happened
// since, the limit rises by one, up to max (parts sent before a cut say
// nothing about the lower rate). It returns true when this brought the
// limit back to max.
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

// throttled records a SlowDown for a request sent in epoch: the limit is
// halved (at least 1) unless it was already cut since that request was
// sent. It returns the new limit and whether this answer cut it.
func (w *window) throttled(epoch int) (limit int, cut bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if epoch == w.epoch {
		w.limit = max(w.limit/2, 1)
		w.epoch++
		w.cuts++
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

// throttleBackoff is the wait before a throttled part is sent again after
// its n-th SlowDown in a row (n from 1); a variable so that tests of
// persistent SlowDown need not wait.
var throttleBackoff = fullJitterBackoff

// fullJitterBackoff is full jitter over 100 ms × 2^(n-1), at most 5 s, as
// AWS's exponential back-off with jitter.
func fullJitterBackoff(n int) time.Duration {
	ceiling := min(100*time.Millisecond<<min(n-1, 6), 5*time.Second)
	return time.Duration(rand.Int64N(int64(ceiling))) + time.Millisecond
}

// isThrottle reports whether err is a throttling answer (SlowDown and the
// other codes the SDK counts as throttles).
func isThrottle(err error) bool {
	return retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err) == aws.TrueTernary
}

// throttlesNotRetried is the per-call option of a multipart copy's
// UploadPartCopy: the SDK's retryer as configured, except that a throttle
// is returned at once for the window to handle.
func throttlesNotRetried(o *s3.Options) {
	if o.Retryer != nil {
		o.Retryer = &noThrottleRetry{Retryer: o.Retryer}
	}
}

type noThrottleRetry struct{ aws.Retryer }

func (r *noThrottleRetry) IsErrorRetryable(err error) bool {
	return !isThrottle(err) && r.Retryer.IsErrorRetryable(err)
}

// GetAttemptToken keeps the wrapped retryer's attempt token (aws.RetryerV2).
func (r *noThrottleRetry) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if v2, ok := r.Retryer.(aws.RetryerV2); ok {
		return v2.GetAttemptToken(ctx)
	}
	return r.Retryer.GetInitialToken(), nil
}

// uploadPartCopy sends one part copy in a slot of win acquired in epoch,
// sending it again after a back-off each time S3 answers SlowDown, in a slot
// acquired anew, the window cut meanwhile; the maxThrottles-th SlowDown in a
// row is returned.
// held says whether the caller still holds a slot to release. When stop
// closes (another part failed) while the part waits to be sent again, it
// returns nil output and nil error; when ctx ends then, ctx's error.
func (r *copyRun) uploadPartCopy(win *window, epoch int, stop <-chan struct{}, in *s3.UploadPartCopyInput) (out *s3.UploadPartCopyOutput, held bool, err error) {
	ctx, c := r.copyCtx, r.c
	for n := 1; ; n++ {
		out, err = r.S3.UploadPartCopy(ctx, in, throttlesNotRetried)
		if err == nil {
			if win.copied(epoch) {
				r.logger().InfoContext(ctx, "part copies back to full concurrency after S3 SlowDown",
					"target_bucket", c.TargetBucket, "key", c.SourceKey, "in_flight_limit", win.max)
			}
			return out, true, nil
		}
		if !isThrottle(err) || n >= maxThrottles || ctx.Err() != nil {
			return nil, true, err
		}
		if limit, cut := win.throttled(epoch); cut {
			r.logger().WarnContext(ctx, "S3 SlowDown: fewer part copies in flight",
				"target_bucket", c.TargetBucket, "key", c.SourceKey, "part", aws.ToInt32(in.PartNumber), "in_flight_limit", limit)
		}
		win.release()
		t := time.NewTimer(throttleBackoff(n))
		select {
		case <-t.C:
		case <-stop:
			t.Stop()
			return nil, false, nil
		case <-ctx.Done():
			t.Stop()
			return nil, false, ctx.Err()
		}
		var ok bool
		if epoch, ok = win.acquire(ctx, stop); !ok {
			if ctx.Err() != nil {
				return nil, false, ctx.Err()
			}
			return nil, false, nil
		}
	}
}
