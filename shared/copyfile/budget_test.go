package copyfile

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// stuckFrom5 is a slow server: parts 1 to 4 take 500 ms, parts 5 and
// later never end (until the copier gives up on them).
func stuckFrom5(n int32) time.Duration {
	if n >= 5 {
		return time.Hour
	}
	return 500 * time.Millisecond
}

// TestCopyWithinTimeBudget: a multipart copy told time_budget_secs pauses
// by the budget, as at the Lambda's deadline: parts 1 to 4 are copied
// (500 ms each, 2 at a time), parts 5 and 6 hang until the copy deadline,
// and the invocation returns there, complete false with its resume token.
// The copy deadline is start + budget - min(DeadlineMargin, budget/3).
// Within the bubble the clock is fake, so the times are exact.
func TestCopyWithinTimeBudget(t *testing.T) {
	const margin = MinDeadlineMargin // 5 s
	tests := []struct {
		name       string
		budgetSecs int
		lambda     time.Duration // the Lambda's time left; 0: no deadline
		wantReturn time.Duration // when the invocation returns
	}{
		// 6 s: the margin is a third of it (2 s), less than DeadlineMargin.
		{name: "budget of 6 s, no Lambda deadline", budgetSecs: 6, wantReturn: 4 * time.Second},
		{name: "budget of 6 s before the Lambda's deadline", budgetSecs: 6, lambda: margin + 10*time.Second, wantReturn: 4 * time.Second},
		// 30 s: the margin is DeadlineMargin (5 s), less than a third.
		{name: "budget of 30 s, no Lambda deadline", budgetSecs: 30, wantReturn: 25 * time.Second},
		// The Lambda's deadline comes first: as without a budget.
		{name: "budget after the Lambda's deadline", budgetSecs: 60, lambda: margin + 3*time.Second, wantReturn: 3 * time.Second},
		{name: "no budget (0): the Lambda's deadline", budgetSecs: 0, lambda: margin + 3*time.Second, wantReturn: 3 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeS3("restore", "archive")
				data := pattern(30 * MiB) // 6 parts of 5 MiB
				f.put("restore", "big", data, s3.HeadObjectOutput{})
				f.partDelay = stuckFrom5
				cfg := testConfig()
				cfg.Concurrency = 2
				cfg.DeadlineMargin = margin
				a := NewArchiveCopier(f, cfg)
				ctx := context.Background()
				if tc.lambda > 0 {
					var cancel context.CancelFunc
					ctx, cancel = context.WithTimeout(ctx, tc.lambda)
					defer cancel()
				}
				req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "big", TargetBucket: "archive", TimeBudgetSecs: tc.budgetSecs}

				start := time.Now()
				out, err := a.Copy(ctx, req)
				if elapsed := time.Since(start); elapsed != tc.wantReturn {
					t.Errorf("returned after %s, want %s", elapsed, tc.wantReturn)
				}
				if err != nil {
					t.Fatalf("Copy: %v", err)
				}
				if out.Complete || out.PartsDone != 4 || out.UploadID == "" || out.SourceETag == "" || out.PartSize != 5*MiB {
					t.Fatalf("outcome = %+v, want paused with parts 1 to 4 and a resume token", out)
				}
				if calls := strings.Join(f.callList(), " "); strings.Contains(calls, "Abort") || strings.Contains(calls, "Complete") {
					t.Errorf("a paused copy aborted or completed its upload: %s", calls)
				}

				// The next invocation, on a server no longer slow, resumes
				// the token and copies only parts 5 and 6.
				f.partDelay = nil
				before := len(f.partNumbers())
				req.UploadID, req.SourceETag, req.PartSize = out.UploadID, out.SourceETag, out.PartSize
				second, err := a.Copy(context.Background(), req)
				if err != nil || !second.Complete {
					t.Fatalf("second invocation = %+v, %v; want complete", second, err)
				}
				if n := len(f.partNumbers()) - before; n != 2 {
					t.Errorf("the second invocation copied %d parts, want the 2 missing", n)
				}
				if got := f.object("archive", "big"); got == nil || !bytes.Equal(got.data, data) {
					t.Error("archive copy missing or different")
				}
			})
		})
	}
}

// A whole-object copy (below the multipart threshold) is not bound by the
// budget: S3 cannot pause a CopyObject, so it runs as without one.
func TestCopySingleIgnoresTimeBudget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFakeS3("restore", "archive")
		f.put("restore", "small", pattern(MiB), s3.HeadObjectOutput{})
		f.copyDelay = 10 * time.Second
		a := NewArchiveCopier(f, testConfig())
		start := time.Now()
		out, err := a.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "small", TargetBucket: "archive", TimeBudgetSecs: 3})
		if err != nil || !out.Complete || out.Multipart {
			t.Fatalf("Copy = %+v, %v; want one complete CopyObject", out, err)
		}
		if elapsed := time.Since(start); elapsed != 10*time.Second {
			t.Errorf("returned after %s, want the CopyObject's 10 s", elapsed)
		}
	})
}

// A negative budget is refused before any S3 call.
func TestCopyRefusesNegativeTimeBudget(t *testing.T) {
	f := newFakeS3("restore", "archive")
	f.put("restore", "small", pattern(MiB), s3.HeadObjectOutput{})
	_, err := NewArchiveCopier(f, testConfig()).Copy(context.Background(),
		contract.CopyRequest{SourceBucket: "restore", SourceKey: "small", TargetBucket: "archive", TimeBudgetSecs: -1})
	var perm *PermanentCopyError
	if !errors.As(err, &perm) || perm.Code != "InvalidInput" || !strings.Contains(err.Error(), "time_budget_secs is -1") {
		t.Errorf("Copy with time_budget_secs -1: %T %v; want PermanentCopyError InvalidInput naming it", err, err)
	}
	if calls := f.callList(); len(calls) != 0 {
		t.Errorf("S3 calls %v, want none", calls)
	}
}
