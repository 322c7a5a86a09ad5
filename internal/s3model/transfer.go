package s3model

import (
	"context"
	"sync"
	"time"
)

// sharer runs the copy requests' transfers: each moves its bytes at the
// per-request rate, or, when the aggregate cap is reached, at an equal share
// of it (processor sharing). Without a cap a transfer is one scaled sleep.
type sharer struct {
	perReq, agg, scale float64

	mu     sync.Mutex
	active map[*transfer]struct{}
	last   time.Time
	timer  *time.Timer
}

type transfer struct {
	left float64 // bytes
	done chan struct{}
}

func newSharer(p Params) *sharer {
	return &sharer{perReq: p.PartRate, agg: p.AggregateRate, scale: p.scale(), active: map[*transfer]struct{}{}}
}

// move waits until bytes have been moved, or ctx ends.
func (s *sharer) move(ctx context.Context, bytes int64) error {
	if bytes <= 0 {
		return nil
	}
	if s.agg <= 0 {
		return sleep(ctx, time.Duration(float64(bytes)/s.perReq/s.scale*float64(time.Second)))
	}
	t := &transfer{left: float64(bytes), done: make(chan struct{})}
	s.mu.Lock()
	s.advance(time.Now())
	s.active[t] = struct{}{}
	s.reschedule()
	s.mu.Unlock()
	select {
	case <-t.done:
		return nil
	case <-ctx.Done():
		s.mu.Lock()
		s.advance(time.Now())
		delete(s.active, t)
		s.reschedule()
		s.mu.Unlock()
		return ctx.Err()
	}
}

// rate is each active transfer's bytes per model second.
func (s *sharer) rate() float64 {
	r := s.perReq
	if n := len(s.active); n > 0 && s.agg/float64(n) < r {
		r = s.agg / float64(n)
	}
	return r
}

// advance moves every active transfer forward to now and ends those done.
func (s *sharer) advance(now time.Time) {
	if len(s.active) > 0 {
		moved := s.rate() * now.Sub(s.last).Seconds() * s.scale
		for t := range s.active {
			if t.left -= moved; t.left < 0.5 {
				close(t.done)
				delete(s.active, t)
			}
		}
	}
	s.last = now
}

// reschedule sets the timer for the next transfer to end.
func (s *sharer) reschedule() {
	if s.timer != nil {
		s.timer.Stop()
		s.timer = nil
	}
	if len(s.active) == 0 {
		return
	}
	least := -1.0
	for t := range s.active {
		if least < 0 || t.left < least {
			least = t.left
		}
	}
	d := time.Duration(least / s.rate() / s.scale * float64(time.Second))
	s.timer = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.advance(time.Now())
		s.reschedule()
	})
}

// sleep waits d (real time) or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
