package copyfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// partNumbers returns the part numbers UploadPartCopy was called for, in
// call order, from the fake's record of inputs.
func (f *fakeS3) partNumbers() []int32 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int32(nil), f.partCalls...)
}

// TestCopyPausesThenResumes: a copy that cannot finish before its deadline
// returns its progress (complete false, the resume token) without aborting;
// the next invocation with the token copies only the missing parts and
// completes.
func TestCopyPausesThenResumes(t *testing.T) {
	// The bubble's fake clock runs the parts, deadlines and the copier's
	// clock, so the pass copies exactly the parts the schedule allows.
	synctest.Test(t, testCopyPausesThenResumes)
}

func testCopyPausesThenResumes(t *testing.T) {
	f := newFakeS3("restore", "archive")
	data := pattern(50 * MiB) // 10 parts of 5 MiB
	f.put("restore", "big", data, s3.HeadObjectOutput{Metadata: map[string]string{"granule": "G1"}})
	f.delay = 300 * time.Millisecond
	f.listPageSize = 3 // the resume reads the parts over several pages
	cfg := testConfig()
	cfg.Concurrency = 2
	cfg.DeadlineMargin = MinDeadlineMargin
	a := NewArchiveCopier(f, cfg)
	req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "big", TargetBucket: "archive"}

	// 10 parts, 2 at a time, 300 ms each: 1.5 s; the copy gets 2 s but
	// starts a part only if it would end a second (the finish reserve)
	// before that: parts 5 and 6 start at 0.6 s (0.6 + 0.3 + 1 < 2), none
	// at 0.9 s, so it copies 6 parts and stops at 0.9 s.
	const window = 2000 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), MinDeadlineMargin+window)
	defer cancel()
	start := time.Now()
	first, err := a.Copy(ctx, req)
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("first invocation: %v", err)
	}
	if first.Complete || first.PartsDone != 6 {
		t.Fatalf("first outcome = %+v, want incomplete with 6 of the 10 parts done", first)
	}
	wantFirst := contract.CopyOutcome{TargetBucket: "archive", TargetKey: "big", Bytes: 50 * MiB, Multipart: true, Parts: 10,
		UploadID: "upload-1", SourceETag: fmt.Sprintf(`"etag-%d"`, 50*MiB),
		PartSize: 5 * MiB, PartsDone: first.PartsDone, PartsTotal: 10, BytesDone: int64(first.PartsDone) * 5 * MiB}
	if diff := cmp.Diff(wantFirst, first, cmpopts.IgnoreFields(contract.CopyOutcome{}, "DurationMS")); diff != "" {
		t.Errorf("first outcome (-want +got):\n%s", diff)
	}
	if elapsed != 900*time.Millisecond {
		t.Errorf("first invocation returned after %s, want 0.9 s: when its last parts ended, before the copy deadline (%s)", elapsed, window)
	}
	if calls := strings.Join(f.callList(), " "); strings.Contains(calls, "Abort") || strings.Contains(calls, "Complete") {
		t.Errorf("a paused copy aborted or completed its upload: %s", calls)
	}
	if n := len(f.uploads["upload-1"].parts); n != first.PartsDone {
		t.Errorf("the upload holds %d parts, the outcome says %d", n, first.PartsDone)
	}
	if f.object("archive", "big") != nil {
		t.Errorf("an archive object exists before the copy completed")
	}

	before := len(f.partNumbers())
	req.UploadID, req.SourceETag, req.PartSize = first.UploadID, first.SourceETag, first.PartSize
	second, err := a.Copy(context.Background(), req)
	if err != nil {
		t.Fatalf("second invocation: %v", err)
	}
	wantSecond := contract.CopyOutcome{TargetBucket: "archive", TargetKey: "big", Bytes: 50 * MiB, Multipart: true, Parts: 10,
		Complete: true, PartSize: 5 * MiB, PartsDone: 10, PartsTotal: 10, BytesDone: 50 * MiB}
	if diff := cmp.Diff(wantSecond, second, cmpopts.IgnoreFields(contract.CopyOutcome{}, "DurationMS")); diff != "" {
		t.Errorf("second outcome (-want +got):\n%s", diff)
	}
	if n := len(f.partNumbers()) - before; n != 10-first.PartsDone {
		t.Errorf("the second invocation copied %d parts, want only the %d missing", n, 10-first.PartsDone)
	}
	if len(f.created) != 1 {
		t.Errorf("%d uploads created, want 1 (resumed, not restarted)", len(f.created))
	}
	if f.listCalls < 2 {
		t.Errorf("ListParts answered %d pages, want the parts read over several", f.listCalls)
	}
	got := f.object("archive", "big")
	if got == nil || !bytes.Equal(got.data, data) {
		t.Fatal("archive copy missing or different")
	}
	if got.head.Metadata["granule"] != "G1" {
		t.Errorf("metadata = %v, want the source's", got.head.Metadata)
	}
	if len(f.uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(f.uploads))
	}
}

// TestCopyResume covers the resume token's cases with an upload prepared in
// the fake: parts 1, 2 and 4 of 6 copied, part 5 of another size (not of
// this plan, e.g. cut short), so it must be copied again.
func TestCopyResume(t *testing.T) {
	data := pattern(28 * MiB) // 6 parts: 5 x 5 MiB + 3 MiB
	etag := fmt.Sprintf(`"etag-%d"`, 28*MiB)
	tests := []struct {
		name string
		// token names the upload to resume; "" + etag of the source.
		token      contract.CopyRequest
		newSource  []byte // put before the copy: the source changed
		sourceHead s3.HeadObjectOutput
		prepare    func(f *fakeS3)
		fail       func(op string, in any) error
		delay      time.Duration
		deadline   time.Duration // context timeout; 0: none
		wantErr    string        // "Transient Code" or "Permanent Code"; "" success
		wantNote   string
		wantParts  []int32 // parts copied, sorted
		wantCreate int     // uploads created
		wantAbort  bool
		wantKept   bool // upload-old still open after the call
	}{
		{
			name:       "copies only the missing parts and completes",
			token:      contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			wantParts:  []int32{3, 5, 6},
			wantCreate: 0,
		},
		{
			name:       "upload gone (NoSuchUpload): a new upload",
			token:      contract.CopyRequest{UploadID: "upload-gone", SourceETag: etag, PartSize: 5 * MiB},
			wantParts:  []int32{1, 2, 3, 4, 5, 6},
			wantCreate: 1,
			wantKept:   true, // upload-old is not the one named: untouched
		},
		{
			name:       "source ETag changed: old upload aborted, a new one",
			token:      contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			newSource:  pattern(27 * MiB),
			wantParts:  []int32{1, 2, 3, 4, 5, 6},
			wantCreate: 1,
			wantAbort:  true,
		},
		{
			name:       "token's version is the source's: resumed",
			token:      contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, SourceVersionID: "v2", PartSize: 5 * MiB},
			sourceHead: s3.HeadObjectOutput{VersionId: aws.String("v2")},
			wantParts:  []int32{3, 5, 6},
		},
		{
			name:       "source is another version, same ETag: old upload aborted, a new one",
			token:      contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, SourceVersionID: "v1", PartSize: 5 * MiB},
			sourceHead: s3.HeadObjectOutput{VersionId: aws.String("v2")},
			wantParts:  []int32{1, 2, 3, 4, 5, 6},
			wantCreate: 1,
			wantAbort:  true,
		},
		{
			name:       "token without ETag: cannot be trusted, old upload aborted, a new one",
			token:      contract.CopyRequest{UploadID: "upload-old", PartSize: 5 * MiB},
			wantParts:  []int32{1, 2, 3, 4, 5, 6},
			wantCreate: 1,
			wantAbort:  true,
		},
		{
			// Parts of a 3 MiB plan: parts 1 and 2 differ in size from
			// this 5 MiB plan's, but part 6 (bytes 15-18 MiB) has the size
			// of this plan's part 6 (bytes 25-28 MiB): matched by number
			// and size it would put the wrong bytes in the copy.
			name:  "part size changed: old upload aborted, a new one",
			token: contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 3 * MiB},
			prepare: func(f *fakeS3) {
				f.uploads["upload-old"].parts = map[int32][]byte{
					1: data[0 : 3*MiB], 2: data[3*MiB : 6*MiB], 6: data[15*MiB : 18*MiB],
				}
			},
			wantParts:  []int32{1, 2, 3, 4, 5, 6},
			wantCreate: 1,
			wantAbort:  true,
		},
		{
			name:      "no part copied before the deadline: transient, upload kept for the retry",
			token:     contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			delay:     time.Hour,
			deadline:  MinDeadlineMargin + 300*time.Millisecond,
			wantErr:   "Transient DeadlineExceeded",
			wantNote:  "(3 of 6 parts done); stopped; multipart upload upload-old kept for a retry to resume; if none follows, the archive bucket's AbortIncompleteMultipartUpload lifecycle rule removes it",
			wantParts: nil,
			wantKept:  true,
		},
		{
			name:  "transient part failure: upload kept for the retry",
			token: contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			fail: func(op string, in any) error {
				if p, ok := in.(*s3.UploadPartCopyInput); ok && *p.PartNumber == 5 {
					return apiError(503, "SlowDown", "Please reduce your request rate.")
				}
				return nil
			},
			wantErr:  "Transient SlowDown",
			wantNote: "multipart upload upload-old kept for a retry to resume; if none follows, the archive bucket's AbortIncompleteMultipartUpload lifecycle rule removes it",
			wantKept: true,
		},
		{
			name: "transient part failure on the last attempt ($$.State.RetryCount = MaxAttempts): upload aborted",
			token: contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB,
				RetryCount: aws.Int(2), MaxRetries: aws.Int(2)},
			fail: func(op string, in any) error {
				if p, ok := in.(*s3.UploadPartCopyInput); ok && *p.PartNumber == 5 {
					return apiError(503, "SlowDown", "Please reduce your request rate.")
				}
				return nil
			},
			wantErr:   "Transient SlowDown",
			wantNote:  "multipart upload upload-old aborted",
			wantAbort: true,
		},
		{
			name: "transient part failure with a retry left: upload kept",
			token: contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB,
				RetryCount: aws.Int(1), MaxRetries: aws.Int(2)},
			fail: func(op string, in any) error {
				if p, ok := in.(*s3.UploadPartCopyInput); ok && *p.PartNumber == 5 {
					return apiError(503, "SlowDown", "Please reduce your request rate.")
				}
				return nil
			},
			wantErr:  "Transient SlowDown",
			wantNote: "multipart upload upload-old kept for a retry to resume",
			wantKept: true,
		},
		{
			name:      "no part copied before the deadline on the last attempt: upload aborted",
			token:     contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB, RetryCount: aws.Int(2), MaxRetries: aws.Int(2)},
			delay:     time.Hour,
			deadline:  MinDeadlineMargin + 300*time.Millisecond,
			wantErr:   "Transient DeadlineExceeded",
			wantNote:  "(3 of 6 parts done); stopped; multipart upload upload-old aborted",
			wantAbort: true,
		},
		{
			name:  "transient failure reading the source on the last attempt: upload aborted",
			token: contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB, RetryCount: aws.Int(2), MaxRetries: aws.Int(2)},
			fail: func(op string, in any) error {
				if op == "HeadObject" {
					return apiError(503, "ServiceUnavailable", "Please try again.")
				}
				return nil
			},
			wantErr:   "Transient ServiceUnavailable",
			wantNote:  "multipart upload upload-old aborted",
			wantAbort: true,
		},
		{
			name:  "source changed mid-copy (PreconditionFailed): transient, the useless upload aborted",
			token: contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			fail: func(op string, in any) error {
				if p, ok := in.(*s3.UploadPartCopyInput); ok && *p.PartNumber == 6 {
					return apiError(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
				}
				return nil
			},
			wantErr:   "Transient PreconditionFailed",
			wantNote:  "multipart upload upload-old aborted",
			wantAbort: true,
		},
		{
			name:      "source gone (NoSuchKey): permanent, the resumed upload aborted",
			token:     contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			prepare:   func(f *fakeS3) { delete(f.objects, "restore/big") },
			wantErr:   "Permanent NoSuchKey",
			wantNote:  "multipart upload upload-old aborted",
			wantAbort: true,
		},
		{
			name:  "restored copy expired (InvalidObjectState): permanent, the resumed upload aborted",
			token: contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			prepare: func(f *fakeS3) {
				f.objects["restore/big"].head.StorageClass = types.StorageClassGlacier
			},
			wantErr:   "Permanent InvalidObjectState",
			wantNote:  "multipart upload upload-old aborted",
			wantAbort: true,
		},
		{
			name:  "transient failure reading the source: upload kept for the retry",
			token: contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			fail: func(op string, in any) error {
				if op == "HeadObject" {
					return apiError(503, "ServiceUnavailable", "Please try again.")
				}
				return nil
			},
			wantErr:  "Transient ServiceUnavailable",
			wantKept: true,
		},
		{
			name:  "permanent part failure: upload aborted",
			token: contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			fail: func(op string, in any) error {
				if p, ok := in.(*s3.UploadPartCopyInput); ok && *p.PartNumber == 3 {
					return apiError(403, "AccessDenied", "Access Denied")
				}
				return nil
			},
			wantErr:   "Permanent AccessDenied",
			wantNote:  "multipart upload upload-old aborted",
			wantAbort: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3("restore", "archive")
			f.put("restore", "big", data, tc.sourceHead)
			f.listPageSize = 2
			f.uploads["upload-old"] = &fakeUpload{bucket: "archive", key: "big", create: &s3.CreateMultipartUploadInput{},
				parts: map[int32][]byte{
					1: data[0 : 5*MiB], 2: data[5*MiB : 10*MiB], 4: data[15*MiB : 20*MiB],
					5: data[20*MiB : 22*MiB], // another part size: not part of this plan
				}}
			want := data
			if tc.newSource != nil {
				f.put("restore", "big", tc.newSource, s3.HeadObjectOutput{})
				want = tc.newSource
			}
			if tc.prepare != nil {
				tc.prepare(f)
			}
			f.fail = tc.fail
			f.delay = tc.delay
			cfg := testConfig()
			cfg.DeadlineMargin = MinDeadlineMargin
			ctx := context.Background()
			if tc.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.deadline)
				defer cancel()
			}
			req := tc.token
			req.SourceBucket, req.SourceKey, req.TargetBucket = "restore", "big", "archive"
			out, err := NewArchiveCopier(f, cfg).Copy(ctx, req)

			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if !out.Complete || out.PartsDone != out.PartsTotal || out.UploadID != "" {
					t.Errorf("outcome = %+v, want complete without a resume token", out)
				}
				got := f.object("archive", "big")
				if got == nil || !bytes.Equal(got.data, want) {
					t.Errorf("archive copy missing or different")
				}
			} else {
				var te *TransientCopyError
				var pe *PermanentCopyError
				var got, msg string
				switch {
				case errors.As(err, &te):
					got, msg = "Transient "+te.Code, te.Message
				case errors.As(err, &pe):
					got, msg = "Permanent "+pe.Code, pe.Message
				}
				if got != tc.wantErr || !strings.Contains(msg, tc.wantNote) {
					t.Errorf("err = %v; want %s saying %q", err, tc.wantErr, tc.wantNote)
				}
			}
			parts := f.partNumbers()
			slices.Sort(parts)
			if tc.wantErr == "" || tc.wantParts != nil {
				if diff := cmp.Diff(tc.wantParts, parts); diff != "" {
					t.Errorf("parts copied (-want +got):\n%s", diff)
				}
			}
			if len(f.created) != tc.wantCreate {
				t.Errorf("%d uploads created, want %d", len(f.created), tc.wantCreate)
			}
			calls := strings.Join(f.callList(), " ")
			if aborted := strings.Contains(calls, "AbortMultipartUpload"); aborted != tc.wantAbort {
				t.Errorf("aborted = %v, want %v (calls: %s)", aborted, tc.wantAbort, calls)
			}
			if _, open := f.uploads["upload-old"]; open != tc.wantKept {
				t.Errorf("upload-old open = %v, want %v", open, tc.wantKept)
			}
			if !tc.wantKept && len(f.uploads) != 0 {
				t.Errorf("%d multipart uploads left open", len(f.uploads))
			}
		})
	}
}

// TestCopyKeepsTimeToFinish: parts are scheduled so that
// CompleteMultipartUpload and the integrity check have time left, they get
// a budget of their own when parts in flight ran up to the copy deadline,
// and a Complete that runs out of time after a pass that made progress
// pauses with the resume token instead of failing.
func TestCopyKeepsTimeToFinish(t *testing.T) {
	data := pattern(20 * MiB) // 4 parts of 5 MiB
	etag := fmt.Sprintf(`"etag-%d"`, 20*MiB)
	tests := []struct {
		name          string
		token         contract.CopyRequest
		held          []int32 // parts upload-old holds
		concurrency   int
		delay         time.Duration
		completeDelay time.Duration
		window        time.Duration // copy time before the margin
		wantErr       string        // "Transient Code"; "" no error
		wantComplete  bool
		wantPartsDone int  // parts the upload holds when the call returns without error
		wantKept      bool // the upload is still open after the call
	}{
		{
			// With the reserve (1 s) no part starts after the first (0.3 s
			// + 0.3 s + 1 s is past 1.3 s): paused with 1 part. Without it
			// the 4th part starts at 0.9 s (ends 1.2 s < 1.3 s) and
			// Complete has 0.1 s for its 0.5 s: it fails.
			name:          "a part that would leave no time to complete is not started",
			concurrency:   1,
			delay:         300 * time.Millisecond,
			completeDelay: 500 * time.Millisecond,
			window:        1300 * time.Millisecond,
			wantPartsDone: 1,
			wantKept:      true,
		},
		{
			// All parts start at once and end 0.3 s before the copy
			// deadline; Complete takes 0.5 s.
			name:          "Complete and the check get their own budget after parts that ran long",
			concurrency:   4,
			delay:         1700 * time.Millisecond,
			completeDelay: 500 * time.Millisecond,
			window:        2000 * time.Millisecond,
			wantComplete:  true,
			wantPartsDone: 4,
		},
		{
			name:          "resumed: Complete out of time after progress pauses with the token",
			token:         contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			held:          []int32{1, 2},
			concurrency:   2,
			completeDelay: time.Hour,
			window:        300 * time.Millisecond,
			wantPartsDone: 4,
			wantKept:      true,
		},
		{
			name:          "resumed: Complete out of time without progress fails, upload kept",
			token:         contract.CopyRequest{UploadID: "upload-old", SourceETag: etag, PartSize: 5 * MiB},
			held:          []int32{1, 2, 3, 4},
			concurrency:   2,
			completeDelay: time.Hour,
			window:        300 * time.Millisecond,
			wantErr:       "Transient DeadlineExceeded",
			wantKept:      true,
		},
	}
	for _, tc := range tests {
		// In a synctest bubble the fake's part and Complete durations, the
		// deadlines and the copier's clock are all the bubble's fake time:
		// the outcome does not depend on the machine's speed or load.
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFakeS3("restore", "archive")
				f.put("restore", "big", data, s3.HeadObjectOutput{})
				if tc.held != nil {
					up := &fakeUpload{bucket: "archive", key: "big", create: &s3.CreateMultipartUploadInput{}, parts: map[int32][]byte{}}
					for _, n := range tc.held {
						up.parts[n] = data[int(n-1)*5*MiB : int(n)*5*MiB]
					}
					f.uploads["upload-old"] = up
				}
				f.delay, f.completeDelay = tc.delay, tc.completeDelay
				cfg := testConfig()
				cfg.Concurrency = tc.concurrency
				cfg.DeadlineMargin = MinDeadlineMargin
				ctx, cancel := context.WithTimeout(context.Background(), MinDeadlineMargin+tc.window)
				defer cancel()
				req := tc.token
				req.SourceBucket, req.SourceKey, req.TargetBucket = "restore", "big", "archive"
				out, err := NewArchiveCopier(f, cfg).Copy(ctx, req)

				var got string
				var te *TransientCopyError
				if errors.As(err, &te) {
					got = "Transient " + te.Code
				} else if err != nil {
					got = err.Error()
				}
				if got != tc.wantErr {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if err == nil {
					if out.Complete != tc.wantComplete || out.PartsDone != tc.wantPartsDone {
						t.Errorf("outcome = %+v, want complete %v with %d parts done", out, tc.wantComplete, tc.wantPartsDone)
					}
					if !out.Complete && (out.UploadID == "" || out.SourceETag != etag) {
						t.Errorf("paused outcome = %+v, want its resume token", out)
					}
					if out.Complete && f.object("archive", "big") == nil {
						t.Errorf("complete, but no archive object")
					}
				}
				if calls := strings.Join(f.callList(), " "); strings.Contains(calls, "Abort") {
					t.Errorf("the upload was aborted: %s", calls)
				}
				if open := len(f.uploads) == 1; open != tc.wantKept {
					t.Errorf("upload open = %v, want %v", open, tc.wantKept)
				}
			})
		})
	}
}

// TestCopyPausesOutOfTime: a copy that cannot finish before its deadline,
// whether its parts or its CompleteMultipartUpload run out of time, pauses
// (complete false, a token, the upload kept) instead of failing.
func TestCopyPausesOutOfTime(t *testing.T) {
	data := pattern(20 * MiB) // 4 parts of 5 MiB
	tests := []struct {
		name          string
		delay         time.Duration
		completeDelay time.Duration
		window        time.Duration
	}{
		{name: "parts out of time", delay: 300 * time.Millisecond, window: 1300 * time.Millisecond},
		{name: "Complete out of time", completeDelay: time.Hour, window: 300 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3("restore", "archive")
			f.put("restore", "big", data, s3.HeadObjectOutput{})
			f.delay, f.completeDelay = tc.delay, tc.completeDelay
			cfg := testConfig()
			cfg.Concurrency = 1
			cfg.DeadlineMargin = MinDeadlineMargin
			ctx, cancel := context.WithTimeout(context.Background(), MinDeadlineMargin+tc.window)
			defer cancel()
			req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "big", TargetBucket: "archive"}
			out, err := NewArchiveCopier(f, cfg).Copy(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			if out.Complete || out.UploadID != "upload-1" {
				t.Errorf("outcome = %+v, want paused with upload-1's token", out)
			}
			if len(f.uploads) != 1 {
				t.Errorf("%d uploads open, want the paused one", len(f.uploads))
			}
			if f.object("archive", "big") != nil {
				t.Errorf("an archive object exists, though the copy did not finish")
			}
		})
	}
}
