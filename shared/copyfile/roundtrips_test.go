package copyfile

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// tracedS3 records when each call begins and ends, in one sequence, so a
// test can count the round trips a copy makes one after another. Its
// HeadObject and GetObjectTagging each wait (up to pairWait) for the other
// to begin: calls sent at once are then seen in flight together however
// the goroutines are scheduled, and calls sent one after the other are
// seen in sequence, only later.
type tracedS3 struct {
	*fakeS3
	mu    sync.Mutex
	seq   int
	calls []tracedCall
	began map[string]chan struct{}
}

type tracedCall struct {
	op         string
	start, end int
}

const pairWait = 2 * time.Second

var _ S3API = (*tracedS3)(nil)

func newTracedS3(f *fakeS3) *tracedS3 {
	return &tracedS3{fakeS3: f, began: map[string]chan struct{}{
		"HeadObject": make(chan struct{}), "GetObjectTagging": make(chan struct{}),
	}}
}

// trace records the start of op and returns the function recording its end.
func (t *tracedS3) trace(op string) func() {
	t.mu.Lock()
	t.seq++
	i := len(t.calls)
	t.calls = append(t.calls, tracedCall{op: op, start: t.seq})
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		t.seq++
		t.calls[i].end = t.seq
		t.mu.Unlock()
	}
}

// pair marks op as begun and waits for other to begin.
func (t *tracedS3) pair(op, other string) {
	t.mu.Lock()
	ch := t.began[op]
	select {
	case <-ch:
	default:
		close(ch)
	}
	wait := t.began[other]
	t.mu.Unlock()
	select {
	case <-wait:
	case <-time.After(pairWait):
	}
}

// roundTrips is the longest chain of calls each begun after the previous
// one ended: the round trips the copy waited for one after another.
func (t *tracedS3) roundTrips() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	depth := make([]int, len(t.calls))
	longest := 0
	for i, c := range t.calls {
		depth[i] = 1
		for j, p := range t.calls {
			if p.end != 0 && p.end < c.start {
				depth[i] = max(depth[i], depth[j]+1)
			}
		}
		longest = max(longest, depth[i])
	}
	return longest
}

func (t *tracedS3) ops() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ops []string
	for _, c := range t.calls {
		ops = append(ops, c.op)
	}
	slices.Sort(ops)
	return ops
}

func (t *tracedS3) HeadObject(ctx context.Context, in *s3.HeadObjectInput, o ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	defer t.trace("HeadObject")()
	if *in.Bucket == "restore" {
		t.pair("HeadObject", "GetObjectTagging")
	}
	return t.fakeS3.HeadObject(ctx, in, o...)
}

func (t *tracedS3) GetObjectTagging(ctx context.Context, in *s3.GetObjectTaggingInput, o ...func(*s3.Options)) (*s3.GetObjectTaggingOutput, error) {
	defer t.trace("GetObjectTagging")()
	t.pair("GetObjectTagging", "HeadObject")
	return t.fakeS3.GetObjectTagging(ctx, in, o...)
}

func (t *tracedS3) HeadBucket(ctx context.Context, in *s3.HeadBucketInput, o ...func(*s3.Options)) (*s3.HeadBucketOutput, error) {
	defer t.trace("HeadBucket")()
	return t.fakeS3.HeadBucket(ctx, in, o...)
}

func (t *tracedS3) CopyObject(ctx context.Context, in *s3.CopyObjectInput, o ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	defer t.trace("CopyObject")()
	return t.fakeS3.CopyObject(ctx, in, o...)
}

func (t *tracedS3) CreateMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, o ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	defer t.trace("CreateMultipartUpload")()
	return t.fakeS3.CreateMultipartUpload(ctx, in, o...)
}

func (t *tracedS3) UploadPartCopy(ctx context.Context, in *s3.UploadPartCopyInput, o ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	defer t.trace("UploadPartCopy")()
	return t.fakeS3.UploadPartCopy(ctx, in, o...)
}

func (t *tracedS3) CompleteMultipartUpload(ctx context.Context, in *s3.CompleteMultipartUploadInput, o ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	defer t.trace("CompleteMultipartUpload")()
	return t.fakeS3.CompleteMultipartUpload(ctx, in, o...)
}

func (t *tracedS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, o ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	defer t.trace("AbortMultipartUpload")()
	return t.fakeS3.AbortMultipartUpload(ctx, in, o...)
}

func (t *tracedS3) ListParts(ctx context.Context, in *s3.ListPartsInput, o ...func(*s3.Options)) (*s3.ListPartsOutput, error) {
	defer t.trace("ListParts")()
	return t.fakeS3.ListParts(ctx, in, o...)
}

func (t *tracedS3) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, o ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	defer t.trace("DeleteObject")()
	return t.fakeS3.DeleteObject(ctx, in, o...)
}

// TestCopyRoundTrips pins the requests of a one-wave multipart copy of a
// tagged object and the round trips it waits for one after another: the
// source's HeadObject and GetObjectTagging at once, CreateMultipartUpload,
// the wave of parts, CompleteMultipartUpload (which checks the size and
// the full-object checksum itself: no verifying HeadObject).
func TestCopyRoundTrips(t *testing.T) {
	const size = 20 * MiB // 4 parts of 5 MiB: one wave at concurrency 4
	f := newFakeS3("restore", "archive")
	f.put("restore", "big", pattern(size), s3.HeadObjectOutput{TagCount: aws.Int32(1)}, types.Tag{Key: aws.String("project"), Value: aws.String("x")})
	f.objects["restore/big"].checksum = aws.String("AAAAAA==")
	f.delay = 100 * time.Millisecond // the parts overlap
	cfg := testConfig()
	cfg.Concurrency = 4
	tr := newTracedS3(f)
	out, err := NewArchiveCopier(tr, cfg).Copy(context.Background(), contract.CopyRequest{
		SourceBucket: "restore", SourceKey: "big", TargetBucket: "archive", Size: size,
	})
	if err != nil {
		t.Fatal(err)
	}
	if !out.Complete || out.Parts != 4 {
		t.Fatalf("outcome = %+v, want complete in 4 parts", out)
	}
	if got := f.object("archive", "big"); got == nil || len(got.data) != size {
		t.Fatal("archive copy missing or of another size")
	}
	want := []string{"CompleteMultipartUpload", "CreateMultipartUpload", "GetObjectTagging", "HeadObject",
		"UploadPartCopy", "UploadPartCopy", "UploadPartCopy", "UploadPartCopy"}
	if diff := cmp.Diff(want, tr.ops()); diff != "" {
		t.Errorf("requests (-want +got):\n%s", diff)
	}
	// The model benchmarks' formula counts the same round trips besides
	// the wave (copierSerialRequests).
	if got := tr.roundTrips(); got != copierSerialRequests+1 {
		t.Errorf("%d round trips one after another, want %d (HeadObject with GetObjectTagging, Create, the wave, Complete)", got, copierSerialRequests+1)
	}
	if c := f.created; len(c) != 1 || aws.ToString(c[0].Tagging) != "project=x" {
		t.Errorf("upload created with tagging %v, want project=x", c)
	}
}
