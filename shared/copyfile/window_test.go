package copyfile

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// Tests that make S3 answer SlowDown to every attempt of a part (so the copy
// fails after maxThrottles) would otherwise wait about 13 s of back-off each.
// The least time between cuts, the longest first back-off, follows it.
func init() {
	throttleBackoff = func(int) time.Duration { return time.Millisecond }
	cutGap = time.Millisecond
}

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
	w := newWindow(16, time.Now, 0)
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
	w = newWindow(1, time.Now, 0)
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

// TestWindowCutsAtMostOncePerGap: a SlowDown for a request sent after the
// last cut cuts again only once the gap has passed since that cut, on the
// window's clock. Sooner, the answer comes from the overload the last cut
// already answered (ten copies into one prefix would otherwise drive each
// window from 256 to 1 within one back-off).
func TestWindowCutsAtMostOncePerGap(t *testing.T) {
	const gap = 100 * time.Millisecond
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newWindow(256, func() time.Time { return now }, gap)
	ctx := context.Background()
	send := func() int {
		t.Helper()
		e, ok := w.acquire(ctx, nil)
		if !ok {
			t.Fatal("acquire failed with slots free")
		}
		w.release()
		return e
	}
	if limit, cut := w.throttled(send()); !cut || limit != 128 {
		t.Fatalf("first SlowDown: limit %d, cut %v; want 128, true", limit, cut)
	}
	for _, after := range []time.Duration{time.Millisecond, gap / 2, gap - time.Nanosecond} {
		now = w.lastCut.Add(after)
		if limit, cut := w.throttled(send()); cut || limit != 128 {
			t.Fatalf("SlowDown for a request sent after the cut, %v after it: limit %d, cut %v; want 128, false", after, limit, cut)
		}
	}
	now = w.lastCut.Add(gap)
	if limit, cut := w.throttled(send()); !cut || limit != 64 {
		t.Fatalf("SlowDown %v after the cut: limit %d, cut %v; want 64, true", gap, limit, cut)
	}
	// The gap counts from the last cut, not the first.
	now = now.Add(gap / 2)
	if limit, cut := w.throttled(send()); cut || limit != 64 {
		t.Fatalf("SlowDown %v after the second cut: limit %d, cut %v; want 64, false", gap/2, limit, cut)
	}
	if w.cuts != 2 || w.lowest != 64 {
		t.Errorf("cuts %d, lowest %d; want 2, 64", w.cuts, w.lowest)
	}
}

// TestPartSlowDownRetriedByTheCopier: a part S3 throttles a few times is
// sent again and the copy succeeds; a part S3 throttles every time fails the
// copy as TransientCopyError SlowDown after exactly maxThrottles attempts.
func TestPartSlowDownRetriedByTheCopier(t *testing.T) {
	for _, tc := range []struct {
		name      string
		throttles int // SlowDowns for part 2 before it succeeds; -1: always
		wantErr   bool
		wantCalls int // UploadPartCopy calls for part 2
	}{
		{"throttled three times, then copied", 3, false, 4},
		{"always throttled", -1, true, maxThrottles},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3("restore", "archive")
			data := pattern(30 * MiB)
			f.put("restore", "big", data, s3.HeadObjectOutput{})
			var mu sync.Mutex
			seen := 0
			f.fail = func(op string, in any) error {
				if p, ok := in.(*s3.UploadPartCopyInput); ok && *p.PartNumber == 2 {
					mu.Lock()
					defer mu.Unlock()
					seen++
					if tc.throttles < 0 || seen <= tc.throttles {
						return apiError(503, "SlowDown", "Please reduce your request rate.")
					}
				}
				return nil
			}
			_, err := NewArchiveCopier(f, testConfig()).Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "big", TargetBucket: "archive"})
			var te *TransientCopyError
			switch {
			case tc.wantErr && !(errors.As(err, &te) && te.Code == "SlowDown"):
				t.Fatalf("err = %v, want TransientCopyError SlowDown", err)
			case !tc.wantErr && err != nil:
				t.Fatalf("copy failed: %v", err)
			case !tc.wantErr && !bytes.Equal(f.object("archive", "big").data, data):
				t.Error("archive copy differs from the source")
			}
			if seen != tc.wantCalls {
				t.Errorf("part 2 sent %d times, want %d", seen, tc.wantCalls)
			}
		})
	}
}
