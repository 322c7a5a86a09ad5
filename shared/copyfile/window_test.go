package copyfile

import (
	"context"
	"testing"
	"time"
)

// Tests that make S3 answer SlowDown to every attempt of a part (so the copy
// fails after maxThrottles) would otherwise wait about 13 s of back-off each.
func init() { throttleBackoff = func(int) time.Duration { return time.Millisecond } }

func TestFullJitterBackoffBounds(t *testing.T) {
	for n := 1; n <= 12; n++ {
		ceiling := min(100*time.Millisecond<<(n-1), 5*time.Second)
		for i := 0; i < 200; i++ {
			if d := fullJitterBackoff(n); d < time.Millisecond || d > ceiling+time.Millisecond {
				t.Fatalf("back-off after %d SlowDowns = %v, want 1 ms to %v", n, d, ceiling+time.Millisecond)
			}
		}
	}
}

// TestWindowAIMD: a SlowDown halves the limit once per round (answers to
// requests sent before the cut do not cut again), parts copied since the cut
// raise it by one each up to the maximum, parts sent before it do not.
func TestWindowAIMD(t *testing.T) {
	w := newWindow(16)
	ctx := context.Background()
	var epochs []int
	for i := 0; i < 16; i++ {
		e, ok := w.acquire(ctx, nil)
		if !ok {
			t.Fatal("acquire failed with slots free")
		}
		epochs = append(epochs, e)
	}
	if limit, cut := w.throttled(epochs[0]); !cut || limit != 8 {
		t.Fatalf("first SlowDown: limit %d, cut %v; want 8, true", limit, cut)
	}
	if limit, cut := w.throttled(epochs[1]); cut || limit != 8 {
		t.Fatalf("second SlowDown from the same round: limit %d, cut %v; want 8, false", limit, cut)
	}
	if w.copied(epochs[2]) || w.limit != 8 {
		t.Fatalf("a part sent before the cut raised the limit to %d", w.limit)
	}
	for i := 0; i < 16; i++ {
		w.release()
	}
	e, _ := w.acquire(ctx, nil)
	if limit, cut := w.throttled(e); !cut || limit != 4 {
		t.Fatalf("SlowDown after the cut: limit %d, cut %v; want 4, true", limit, cut)
	}
	w.release()
	e, _ = w.acquire(ctx, nil)
	restored := false
	for i := 0; i < 12; i++ {
		restored = w.copied(e)
	}
	if !restored || w.limit != 16 {
		t.Errorf("after 12 parts copied since the cut: limit %d, restored %v; want 16, true", w.limit, restored)
	}
	if w.lowest != 4 || w.cuts != 2 {
		t.Errorf("lowest %d, cuts %d; want 4, 2", w.lowest, w.cuts)
	}
	// The limit is never below one, and acquire waits while it is full.
	w = newWindow(1)
	e, _ = w.acquire(ctx, nil)
	if limit, _ := w.throttled(e); limit != 1 {
		t.Errorf("limit after a cut from 1 = %d, want 1", limit)
	}
	stop := make(chan struct{})
	close(stop)
	if _, ok := w.acquire(ctx, stop); ok {
		t.Error("acquire succeeded with no slot free")
	}
}
