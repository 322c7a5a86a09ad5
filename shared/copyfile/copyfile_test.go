package copyfile

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
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

func testConfig() Config {
	c := DefaultConfig()
	c.MultipartThreshold = 8 * MiB
	c.Chunksize = 5 * MiB
	c.Concurrency = 3
	return c
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/MiB)
	}
	return b
}

func TestCopySingle(t *testing.T) {
	key := "dir/a b+c%d=e&f?g ü.txt"
	tests := []struct {
		name     string
		config   func(*Config)
		head     s3.HeadObjectOutput
		wantCopy *s3.CopyObjectInput
	}{
		{
			name: "defaults: metadata by COPY directive, no storage class, no SSE, bucket owner gets full control",
			head: s3.HeadObjectOutput{ContentType: aws.String("text/plain"), Metadata: map[string]string{"granule": "G1"}},
			wantCopy: &s3.CopyObjectInput{
				Bucket: aws.String("archive"), Key: aws.String(key),
				CopySource:        aws.String("restore/dir/a%20b%2Bc%25d%3De%26f%3Fg%20%C3%BC.txt"),
				CopySourceIfMatch: aws.String(`"etag-100"`),
				MetadataDirective: types.MetadataDirectiveCopy, TaggingDirective: types.TaggingDirectiveCopy,
				ACL: types.ObjectCannedACLBucketOwnerFullControl,
			},
		},
		{
			name:   "ARCHIVE_OBJECT_ACL=none sends no ACL",
			config: func(c *Config) { c.ObjectACL = "" },
			wantCopy: &s3.CopyObjectInput{
				Bucket: aws.String("archive"), Key: aws.String(key),
				CopySource:        aws.String("restore/dir/a%20b%2Bc%25d%3De%26f%3Fg%20%C3%BC.txt"),
				CopySourceIfMatch: aws.String(`"etag-100"`),
				MetadataDirective: types.MetadataDirectiveCopy, TaggingDirective: types.TaggingDirectiveCopy,
			},
		},
		{
			name:   "storage class and destination KMS key configured",
			config: func(c *Config) { c.StorageClass = types.StorageClassGlacierIr; c.KMSKeyID = "archive-key" },
			head:   s3.HeadObjectOutput{ServerSideEncryption: types.ServerSideEncryptionAes256},
			wantCopy: &s3.CopyObjectInput{
				Bucket: aws.String("archive"), Key: aws.String(key),
				CopySource:        aws.String("restore/dir/a%20b%2Bc%25d%3De%26f%3Fg%20%C3%BC.txt"),
				CopySourceIfMatch: aws.String(`"etag-100"`),
				MetadataDirective: types.MetadataDirectiveCopy, TaggingDirective: types.TaggingDirectiveCopy,
				StorageClass: types.StorageClassGlacierIr, ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("archive-key"),
				ACL: types.ObjectCannedACLBucketOwnerFullControl,
			},
		},
		{
			name: "source SSE-KMS not repeated: the archive bucket's default applies",
			head: s3.HeadObjectOutput{ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("source-key"), BucketKeyEnabled: aws.Bool(true)},
			wantCopy: &s3.CopyObjectInput{
				Bucket: aws.String("archive"), Key: aws.String(key),
				CopySource:        aws.String("restore/dir/a%20b%2Bc%25d%3De%26f%3Fg%20%C3%BC.txt"),
				CopySourceIfMatch: aws.String(`"etag-100"`),
				MetadataDirective: types.MetadataDirectiveCopy, TaggingDirective: types.TaggingDirectiveCopy,
				ACL: types.ObjectCannedACLBucketOwnerFullControl,
			},
		},
		{
			name: "source SSE-S3 not repeated: the archive bucket's default applies",
			head: s3.HeadObjectOutput{ServerSideEncryption: types.ServerSideEncryptionAes256},
			wantCopy: &s3.CopyObjectInput{
				Bucket: aws.String("archive"), Key: aws.String(key),
				CopySource:        aws.String("restore/dir/a%20b%2Bc%25d%3De%26f%3Fg%20%C3%BC.txt"),
				CopySourceIfMatch: aws.String(`"etag-100"`),
				MetadataDirective: types.MetadataDirectiveCopy, TaggingDirective: types.TaggingDirectiveCopy,
				ACL: types.ObjectCannedACLBucketOwnerFullControl,
			},
		},
		{
			name: "restored Glacier object is copied",
			head: s3.HeadObjectOutput{StorageClass: types.StorageClassGlacier, Restore: aws.String(`ongoing-request="false", expiry-date="Fri, 21 Dec 2012 00:00:00 GMT"`)},
			wantCopy: &s3.CopyObjectInput{
				Bucket: aws.String("archive"), Key: aws.String(key),
				CopySource:        aws.String("restore/dir/a%20b%2Bc%25d%3De%26f%3Fg%20%C3%BC.txt"),
				CopySourceIfMatch: aws.String(`"etag-100"`),
				MetadataDirective: types.MetadataDirectiveCopy, TaggingDirective: types.TaggingDirectiveCopy,
				ACL: types.ObjectCannedACLBucketOwnerFullControl,
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3("restore", "archive")
			f.put("restore", key, pattern(100), tc.head)
			cfg := testConfig()
			if tc.config != nil {
				tc.config(&cfg)
			}
			a := NewArchiveCopier(f, cfg)
			out, err := a.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"})
			if err != nil {
				t.Fatal(err)
			}
			want := contract.CopyOutcome{TargetBucket: "archive", TargetKey: key, Bytes: 100, Complete: true}
			if diff := cmp.Diff(want, out, cmpopts.IgnoreFields(contract.CopyOutcome{}, "DurationMS")); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			if len(f.copied) != 1 {
				t.Fatalf("%d CopyObject calls, want 1", len(f.copied))
			}
			if diff := cmp.Diff(tc.wantCopy, f.copied[0], cmpopts.IgnoreUnexported(s3.CopyObjectInput{})); diff != "" {
				t.Errorf("CopyObject input (-want +got):\n%s", diff)
			}
			if got := f.object("archive", key); got == nil || !bytes.Equal(got.data, pattern(100)) {
				t.Errorf("archive copy missing or different")
			}
		})
	}
}

func TestCopyRefusals(t *testing.T) {
	tests := []struct {
		name      string
		req       contract.CopyRequest
		config    func(*Config)
		head      *s3.HeadObjectOutput
		fail      func(op string, in any) error
		code      string
		msg       string
		wantCalls []string
	}{
		{name: "empty source bucket", req: contract.CopyRequest{SourceKey: "k", TargetBucket: "archive"}, code: "InvalidInput", msg: "source_bucket is empty"},
		{name: "empty key", req: contract.CopyRequest{SourceBucket: "restore", TargetBucket: "archive"}, code: "InvalidInput", msg: "source_key is empty"},
		{name: "empty target", req: contract.CopyRequest{SourceBucket: "restore", SourceKey: "k"}, code: "InvalidInput", msg: "target_bucket is empty"},
		{
			name:   "source bucket not allowed",
			req:    contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"},
			config: func(c *Config) { c.SourceBuckets = []string{"other"} },
			code:   "BucketNotAllowed", msg: `source bucket "restore" is not in SOURCE_BUCKETS`,
		},
		{
			name:   "archive bucket not allowed",
			req:    contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"},
			config: func(c *Config) { c.SourceBuckets = []string{"restore"}; c.ArchiveBuckets = []string{"a1", "a2"} },
			code:   "BucketNotAllowed", msg: `archive bucket "archive" is not in ARCHIVE_BUCKETS`,
		},
		{
			name:      "missing key",
			req:       contract.CopyRequest{SourceBucket: "restore", SourceKey: "missing", TargetBucket: "archive"},
			code:      "NoSuchKey",
			msg:       "The specified key does not exist.",
			wantCalls: []string{"HeadObject", "HeadBucket"},
		},
		{
			name:      "missing bucket",
			req:       contract.CopyRequest{SourceBucket: "gone", SourceKey: "k", TargetBucket: "archive"},
			code:      "NoSuchBucket",
			msg:       "The specified bucket does not exist.",
			wantCalls: []string{"HeadObject", "HeadBucket"},
		},
		{
			name:      "archived, not restored",
			req:       contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"},
			head:      &s3.HeadObjectOutput{StorageClass: types.StorageClassDeepArchive},
			code:      "InvalidObjectState",
			msg:       "the object is archived (DEEP_ARCHIVE) and not restored, or its restored copy has expired",
			wantCalls: []string{"HeadObject"},
		},
		{
			name:      "intelligent-tiering archive, restore in progress",
			req:       contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"},
			head:      &s3.HeadObjectOutput{StorageClass: types.StorageClassIntelligentTiering, ArchiveStatus: types.ArchiveStatusArchiveAccess, Restore: aws.String(`ongoing-request="true"`)},
			code:      "InvalidObjectState",
			msg:       "the object is archived (ARCHIVE_ACCESS) and its restore is still in progress",
			wantCalls: []string{"HeadObject"},
		},
		{
			name:      "restored object changed since the event (its ETag differs)",
			req:       contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive", ETag: "0123456789abcdef"},
			code:      "SourceChanged",
			msg:       `the restored object changed since the restore event: the event names ETag 0123456789abcdef, the object now has "etag-4"; not copied`,
			wantCalls: []string{"HeadObject"},
		},
		{
			name: "copy refused by S3",
			req:  contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"},
			fail: func(op string, _ any) error {
				if op == "CopyObject" {
					return apiError(403, "ObjectNotInActiveTierError", "The source object of the COPY action is not in the active tier")
				}
				return nil
			},
			code:      "ObjectNotInActiveTierError",
			msg:       "The source object of the COPY action is not in the active tier",
			wantCalls: []string{"HeadObject", "CopyObject"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3("restore", "archive")
			head := s3.HeadObjectOutput{}
			if tc.head != nil {
				head = *tc.head
			}
			f.put("restore", "k", []byte("data"), head)
			f.fail = tc.fail
			cfg := testConfig()
			if tc.config != nil {
				tc.config(&cfg)
			}
			_, err := NewArchiveCopier(f, cfg).Copy(context.Background(), tc.req)
			var pe *PermanentCopyError
			if !errors.As(err, &pe) {
				t.Fatalf("err = %T %v, want *PermanentCopyError", err, err)
			}
			if pe.Code != tc.code || pe.Message != tc.msg {
				t.Errorf("code, message = %q, %q; want %q, %q", pe.Code, pe.Message, tc.code, tc.msg)
			}
			if diff := cmp.Diff(tc.wantCalls, f.callList()); diff != "" {
				t.Errorf("S3 calls (-want +got):\n%s", diff)
			}
		})
	}
}

// TestCopyChecksEventETag: an event's ETag, bare as events carry it or
// quoted, that matches the source lets the copy go ahead.
func TestCopyChecksEventETag(t *testing.T) {
	for _, etag := range []string{"etag-4", `"etag-4"`, "ETAG-4"} {
		f := newFakeS3("restore", "archive")
		f.put("restore", "k", []byte("data"), s3.HeadObjectOutput{})
		_, err := NewArchiveCopier(f, testConfig()).Copy(context.Background(),
			contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive", ETag: etag})
		if err != nil {
			t.Errorf("event ETag %s: %v", etag, err)
		}
	}
}

func TestCopyMultipart(t *testing.T) {
	key := "granules/a b+c/ü=1&2.h5"
	data := pattern(23*MiB + 17)
	f := newFakeS3("restore", "archive")
	f.put("restore", key, data, s3.HeadObjectOutput{
		ContentType: aws.String("application/x-hdf5"), CacheControl: aws.String("no-cache"),
		ContentDisposition: aws.String("attachment"), ContentEncoding: aws.String("identity"), ContentLanguage: aws.String("en"),
		Metadata:             map[string]string{"granule": "G1", "x": "y"},
		ServerSideEncryption: types.ServerSideEncryptionAwsKms, SSEKMSKeyId: aws.String("source-key"),
	}, types.Tag{Key: aws.String("project"), Value: aws.String("a b")}, types.Tag{Key: aws.String("k=1"), Value: aws.String("v&2")})
	f.delay = 5 * time.Millisecond
	cfg := testConfig()
	cfg.StorageClass = types.StorageClassStandardIa

	out, err := NewArchiveCopier(f, cfg).Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"})
	if err != nil {
		t.Fatal(err)
	}
	want := contract.CopyOutcome{TargetBucket: "archive", TargetKey: key, Bytes: int64(len(data)), Multipart: true, Parts: 5,
		Complete: true, PartSize: 5 * MiB, PartsDone: 5, PartsTotal: 5, BytesDone: int64(len(data))}
	if diff := cmp.Diff(want, out, cmpopts.IgnoreFields(contract.CopyOutcome{}, "DurationMS")); diff != "" {
		t.Errorf("outcome (-want +got):\n%s", diff)
	}
	got := f.object("archive", key)
	if got == nil || !bytes.Equal(got.data, data) {
		t.Fatalf("archive copy missing or different")
	}
	wantCreate := &s3.CreateMultipartUploadInput{
		Bucket: aws.String("archive"), Key: aws.String(key),
		ContentType: aws.String("application/x-hdf5"), CacheControl: aws.String("no-cache"),
		ContentDisposition: aws.String("attachment"), ContentEncoding: aws.String("identity"), ContentLanguage: aws.String("en"),
		Metadata:     map[string]string{"granule": "G1", "x": "y"},
		ACL:          types.ObjectCannedACLBucketOwnerFullControl,
		StorageClass: types.StorageClassStandardIa,
		Tagging:      aws.String("project=a%20b&k%3D1=v%262"),
	}
	if diff := cmp.Diff(wantCreate, f.created[0], cmpopts.IgnoreUnexported(s3.CreateMultipartUploadInput{})); diff != "" {
		t.Errorf("CreateMultipartUpload input (-want +got):\n%s", diff)
	}
	if f.maxInFl > cfg.Concurrency || f.maxInFl < 2 {
		t.Errorf("at most %d parts in flight, want 2..%d", f.maxInFl, cfg.Concurrency)
	}
	if len(f.uploads) != 0 {
		t.Errorf("%d multipart uploads left open", len(f.uploads))
	}
}

func TestCopyMultipartFailureAborts(t *testing.T) {
	tests := []struct {
		name      string
		fail      func(op string, in any) error
		transient bool
		code      string
		// completes, when set, is how many CompleteMultipartUpload calls
		// the copy makes.
		completes int
	}{
		{
			name: "part 3 fails with SlowDown",
			fail: func(op string, in any) error {
				if p, ok := in.(*s3.UploadPartCopyInput); ok && *p.PartNumber == 3 {
					return apiError(503, "SlowDown", "Please reduce your request rate.")
				}
				return nil
			},
			transient: true, code: "SlowDown",
		},
		{
			name: "source no longer restored mid-copy",
			fail: func(op string, in any) error {
				if p, ok := in.(*s3.UploadPartCopyInput); ok && *p.PartNumber == 2 {
					return apiError(403, "InvalidObjectState", "The operation is not valid for the object's storage class")
				}
				return nil
			},
			code: "InvalidObjectState",
		},
		{
			name: "complete throttled every time (after its back-off)",
			fail: func(op string, in any) error {
				if op == "CompleteMultipartUpload" {
					return apiError(503, "SlowDown", "Please reduce your request rate.")
				}
				return nil
			},
			transient: true, code: "SlowDown", completes: maxThrottles,
		},
		{
			name: "complete fails",
			fail: func(op string, in any) error {
				if op == "CompleteMultipartUpload" {
					return apiError(500, "InternalError", "We encountered an internal error.")
				}
				return nil
			},
			transient: true, code: "InternalError",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3("restore", "archive")
			f.put("restore", "big", pattern(30*MiB), s3.HeadObjectOutput{})
			f.fail = tc.fail
			_, err := NewArchiveCopier(f, testConfig()).Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "big", TargetBucket: "archive"})
			var te *TransientCopyError
			var pe *PermanentCopyError
			switch {
			case tc.transient && errors.As(err, &te) && te.Code == tc.code:
			case !tc.transient && errors.As(err, &pe) && pe.Code == tc.code:
			default:
				t.Fatalf("err = %T %v, want transient=%v with code %s", err, err, tc.transient, tc.code)
			}
			calls := strings.Join(f.callList(), " ")
			if n := strings.Count(calls, "CompleteMultipartUpload"); tc.completes > 0 && n != tc.completes {
				t.Errorf("%d CompleteMultipartUpload calls, want %d", n, tc.completes)
			}
			if !strings.Contains(calls, "AbortMultipartUpload ListParts") {
				t.Errorf("no abort (then ListParts check) in calls: %s", calls)
			}
			if len(f.uploads) != 0 {
				t.Errorf("%d multipart uploads left open", len(f.uploads))
			}
			if f.object("archive", "big") != nil {
				t.Errorf("an archive object exists after a failed copy")
			}
		})
	}
}

func TestCopyDeadline(t *testing.T) {
	t.Run("no time left: refused before any call", func(t *testing.T) {
		f := newFakeS3("restore", "archive")
		f.put("restore", "k", []byte("x"), s3.HeadObjectOutput{})
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // margin is 30 s
		defer cancel()
		_, err := NewArchiveCopier(f, testConfig()).Copy(ctx, contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"})
		var te *TransientCopyError
		if !errors.As(err, &te) || te.Code != "DeadlineExceeded" {
			t.Fatalf("err = %v, want TransientCopyError DeadlineExceeded", err)
		}
		if calls := f.callList(); len(calls) != 0 {
			t.Errorf("S3 calls made: %v", calls)
		}
	})
	// The copy stops at the deadline minus the margin with parts in flight;
	// the abort then runs under the cleanup context, which must leave it
	// seconds (the fake refuses calls whose ctx has ended, as the SDK does).
	for _, tc := range []struct {
		name       string
		margin     time.Duration
		abortDelay time.Duration
	}{
		{name: "margin 5 s", margin: 5 * time.Second},
		{name: "margin 1 s set in code: raised to 5 s", margin: time.Second},
		{name: "margin 0 set in code: raised to 5 s", margin: 0},
		{name: "abort takes 2 s", margin: 5 * time.Second, abortDelay: 2 * time.Second},
	} {
		t.Run("deadline reached mid-part: stopped and aborted: "+tc.name, func(t *testing.T) {
			// In a synctest bubble the deadlines, the parts' wait and the
			// abort's delay run on the fake clock.
			synctest.Test(t, func(t *testing.T) {
				f := newFakeS3("restore", "archive")
				f.put("restore", "big", pattern(20*MiB), s3.HeadObjectOutput{}) // 4 parts, one wave
				f.delay = time.Hour
				f.abortDelay = tc.abortDelay
				cfg := testConfig()
				cfg.Concurrency = 4
				cfg.DeadlineMargin = tc.margin
				ctx, cancel := context.WithTimeout(context.Background(), MinDeadlineMargin+300*time.Millisecond)
				defer cancel()
				start := time.Now()
				_, err := NewArchiveCopier(f, cfg).Copy(ctx, contract.CopyRequest{SourceBucket: "restore", SourceKey: "big", TargetBucket: "archive"})
				var te *TransientCopyError
				if !errors.As(err, &te) || te.Code != "DeadlineExceeded" {
					t.Fatalf("err = %v, want TransientCopyError DeadlineExceeded", err)
				}
				if !strings.Contains(te.Message, "; stopped; multipart upload upload-1 aborted") {
					t.Errorf("message %q does not say the copy stopped and the upload was aborted", te.Message)
				}
				if ctx.Err() != nil {
					t.Errorf("returned after the Lambda deadline, not before it")
				}
				// The bubble's clock is exact: the copy stops at the deadline
				// minus the 5 s margin (0.3 s), then the abort takes its delay.
				if elapsed, want := time.Since(start), 300*time.Millisecond+tc.abortDelay; elapsed != want {
					t.Errorf("returned after %s, want %s: stopped at the deadline minus the 5 s margin (0.3 s), then aborted", elapsed, want)
				}
				if len(f.uploads) != 0 {
					t.Errorf("%d multipart uploads left open", len(f.uploads))
				}
			})
		})
	}
	t.Run("deadline reached mid-part, abort fails: says so, still transient", func(t *testing.T) {
		f := newFakeS3("restore", "archive")
		f.put("restore", "big", pattern(20*MiB), s3.HeadObjectOutput{})
		f.delay = time.Hour
		f.fail = func(op string, in any) error {
			if op == "AbortMultipartUpload" {
				return apiError(500, "InternalError", "We encountered an internal error.")
			}
			return nil
		}
		cfg := testConfig()
		cfg.Concurrency = 4
		cfg.DeadlineMargin = MinDeadlineMargin
		ctx, cancel := context.WithTimeout(context.Background(), MinDeadlineMargin+300*time.Millisecond)
		defer cancel()
		_, err := NewArchiveCopier(f, cfg).Copy(ctx, contract.CopyRequest{SourceBucket: "restore", SourceKey: "big", TargetBucket: "archive"})
		var te *TransientCopyError
		if !errors.As(err, &te) || te.Code != "DeadlineExceeded" {
			t.Fatalf("err = %T %v, want TransientCopyError DeadlineExceeded", err, err)
		}
		for _, want := range []string{"abort failed for multipart upload upload-1", "InternalError", "AbortIncompleteMultipartUpload"} {
			if !strings.Contains(te.Message, want) {
				t.Errorf("message %q does not mention %q", te.Message, want)
			}
		}
		if strings.Contains(te.Message, "cleaned up") || strings.Contains(te.Message, "upload-1 aborted") {
			t.Errorf("message %q claims a cleanup that failed", te.Message)
		}
		if n := strings.Count(strings.Join(f.callList(), " "), "AbortMultipartUpload"); n != 3 {
			t.Errorf("%d aborts tried, want 3", n)
		}
	})
}

// TestMultipartAbortFails: a part refused for good and an abort that fails
// too: the error stays permanent and says the abort failed.
func TestMultipartAbortFails(t *testing.T) {
	f := newFakeS3("restore", "archive")
	f.put("restore", "big", pattern(30*MiB), s3.HeadObjectOutput{})
	f.fail = func(op string, in any) error {
		switch op {
		case "UploadPartCopy":
			return apiError(403, "AccessDenied", "Access Denied")
		case "AbortMultipartUpload":
			return apiError(403, "AccessDenied", "Access Denied")
		}
		return nil
	}
	_, err := NewArchiveCopier(f, testConfig()).Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "big", TargetBucket: "archive"})
	var pe *PermanentCopyError
	if !errors.As(err, &pe) || pe.Code != "AccessDenied" {
		t.Fatalf("err = %T %v, want PermanentCopyError AccessDenied", err, err)
	}
	if want := "abort failed for multipart upload upload-1: AbortMultipartUpload: "; !strings.Contains(pe.Message, want) {
		t.Errorf("message %q does not contain %q", pe.Message, want)
	}
}

// TestCopyIntegrity: a CopyObject's copy is checked with HeadObject and
// deleted when bad; a multipart copy is checked by CompleteMultipartUpload
// itself (size and full-object checksum), and by the checksum it answers
// where a server does not check.
func TestCopyIntegrity(t *testing.T) {
	tests := []struct {
		name              string
		size              int
		srcChecksum       *string
		corruptSize       int64
		dstChecksum       *string
		uncheckedComplete bool
		wantCode          string
		wantMsg           string
	}{
		{name: "single: size differs", size: 100, corruptSize: 99,
			wantCode: "IntegrityCheckFailed", wantMsg: "the archive copy has 99 bytes, the source 100 (the bad copy was deleted)"},
		{name: "multipart: size differs: S3 refuses to complete", size: 12 * MiB, corruptSize: 1,
			wantCode: "InvalidRequest", wantMsg: "x-amz-mp-object-size 12582912, the parts hold 1 bytes; multipart upload upload-1 aborted"},
		{name: "single: checksum differs", size: 100, srcChecksum: aws.String("AAAAAA=="), dstChecksum: aws.String("BBBBBB=="),
			wantCode: "IntegrityCheckFailed", wantMsg: "the archive copy's CRC32 checksum is BBBBBB==, the source's AAAAAA== (the bad copy was deleted)"},
		{name: "multipart: checksum differs: S3 refuses to complete", size: 12 * MiB, srcChecksum: aws.String("AAAAAA=="), dstChecksum: aws.String("BBBBBB=="),
			wantCode: "BadDigest", wantMsg: "The CRC32 you specified did not match the calculated checksum.; multipart upload upload-1 aborted"},
		{name: "multipart: checksum differs: a server that does not check answers it", size: 12 * MiB, srcChecksum: aws.String("AAAAAA=="), dstChecksum: aws.String("BBBBBB=="),
			uncheckedComplete: true,
			wantCode:          "IntegrityCheckFailed", wantMsg: "the archive copy's CRC32 checksum is BBBBBB==, the source's AAAAAA== (the bad copy was deleted)"},
		{name: "checksum equal", size: 12 * MiB, srcChecksum: aws.String("AAAAAA=="), dstChecksum: aws.String("AAAAAA==")},
		{name: "destination has no checksum: size checked only", size: 100, srcChecksum: aws.String("AAAAAA=="), dstChecksum: aws.String("")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3("restore", "archive")
			f.put("restore", "k", pattern(tc.size), s3.HeadObjectOutput{})
			f.objects["restore/k"].checksum = tc.srcChecksum
			f.corruptSize = tc.corruptSize
			f.dstChecksum = tc.dstChecksum
			f.uncheckedComplete = tc.uncheckedComplete
			_, err := NewArchiveCopier(f, testConfig()).Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"})
			// Each case takes one path, decided by the size: the checks
			// below must run, not depend on how many calls happened.
			if multipart := int64(tc.size) > testConfig().MultipartThreshold; multipart {
				if len(f.created) != 1 || len(f.copied) != 0 {
					t.Fatalf("%d uploads created and %d CopyObject calls, want one multipart upload", len(f.created), len(f.copied))
				}
				if c := f.created[0]; tc.srcChecksum != nil && (c.ChecksumAlgorithm != types.ChecksumAlgorithmCrc32 || c.ChecksumType != types.ChecksumTypeFullObject) {
					t.Errorf("multipart upload created with checksum %q %q, want CRC32 FULL_OBJECT", c.ChecksumAlgorithm, c.ChecksumType)
				}
			} else {
				if len(f.copied) != 1 || len(f.created) != 0 {
					t.Fatalf("%d CopyObject calls and %d uploads created, want one CopyObject", len(f.copied), len(f.created))
				}
				if tc.srcChecksum != nil && f.copied[0].ChecksumAlgorithm != types.ChecksumAlgorithmCrc32 {
					t.Errorf("CopyObject checksum algorithm %q, want CRC32", f.copied[0].ChecksumAlgorithm)
				}
				// The fake's ETags are not MD5s: verify's HeadObject decides.
				if n := f.headsOf("archive", "k"); n != 1 {
					t.Errorf("%d HeadObject calls on the archive copy, want 1 (verify)", n)
				}
			}
			checkCopyEnd(t, f, err, tc.wantCode, tc.wantMsg)
			if len(f.uploads) != 0 {
				t.Errorf("%d multipart uploads left open", len(f.uploads))
			}
		})
	}
}

// TestCopyETagProvesCopy: a CopyObject whose answer carries the source's
// ETag, an MD5 of the content (32 hex digits, no "-N"), with neither the
// source nor the copy under SSE-KMS or SSE-C, holds the source's bytes: no
// HeadObject of the archive copy. Any other answer is verified with
// HeadObject, and a bad copy still fails IntegrityCheckFailed. In the
// cases that verify, the fake answers the source's ETag even for a bad
// copy (unless the case says otherwise): only verify can catch it there.
func TestCopyETagProvesCopy(t *testing.T) {
	data := pattern(100)
	md5ETag, otherETag := md5ETagOf(data), md5ETagOf([]byte("other"))
	tests := []struct {
		name      string
		srcETag   string
		srcSSE    types.ServerSideEncryption
		srcSSEC   string
		kmsKey    string  // Config.KMSKeyID: the copy is SSE-KMS
		copyETag  *string // nil: the fake's choice (see fakeS3.copyETag)
		wantHeads int     // HeadObject calls on the archive copy
	}{
		{name: "same MD5 ETag, plaintext", srcETag: md5ETag, wantHeads: 0},
		{name: "same MD5 ETag, bare and upper case", srcETag: strings.ToUpper(strings.Trim(md5ETag, `"`)), copyETag: aws.String(md5ETag), wantHeads: 0},
		{name: "same MD5 ETag, SSE-S3 source", srcETag: md5ETag, srcSSE: types.ServerSideEncryptionAes256, wantHeads: 0},
		{name: "the copy answers another ETag", srcETag: md5ETag, copyETag: aws.String(otherETag), wantHeads: 1},
		{name: "the copy answers no ETag", srcETag: md5ETag, copyETag: aws.String(""), wantHeads: 1},
		{name: "SSE-KMS copy, same ETag", srcETag: md5ETag, kmsKey: "arn:aws:kms:us-east-1:111122223333:key/k", copyETag: aws.String(md5ETag), wantHeads: 1},
		{name: "SSE-KMS source, same ETag", srcETag: md5ETag, srcSSE: types.ServerSideEncryptionAwsKms, copyETag: aws.String(md5ETag), wantHeads: 1},
		{name: "DSSE-KMS source, same ETag", srcETag: md5ETag, srcSSE: types.ServerSideEncryptionAwsKmsDsse, copyETag: aws.String(md5ETag), wantHeads: 1},
		{name: "SSE-C source, same ETag", srcETag: md5ETag, srcSSEC: "AES256", copyETag: aws.String(md5ETag), wantHeads: 1},
		{name: "multipart-style ETag, same", srcETag: `"` + strings.Trim(md5ETag, `"`)[:32] + `-3"`, copyETag: aws.String(`"` + strings.Trim(md5ETag, `"`)[:32] + `-3"`), wantHeads: 1},
		{name: "not hex, same", srcETag: `"` + strings.Repeat("z", 32) + `"`, copyETag: aws.String(`"` + strings.Repeat("z", 32) + `"`), wantHeads: 1},
	}
	for _, tc := range tests {
		for _, bad := range []string{"", "size", "checksum"} {
			if bad != "" && tc.wantHeads == 0 {
				continue // the same MD5: the copy cannot be bad
			}
			name := tc.name
			if bad != "" {
				name += ", bad " + bad
			}
			t.Run(name, func(t *testing.T) {
				f := newFakeS3("restore", "archive")
				f.put("restore", "k", data, s3.HeadObjectOutput{ServerSideEncryption: tc.srcSSE, SSECustomerAlgorithm: optional(tc.srcSSEC)})
				f.objects["restore/k"].head.ETag = aws.String(tc.srcETag)
				f.objects["restore/k"].checksum = aws.String("AAAAAA==")
				f.copyETag = tc.copyETag
				wantMsg := ""
				switch bad {
				case "size":
					f.corruptSize = 99
					wantMsg = "the archive copy has 99 bytes, the source 100 (the bad copy was deleted)"
				case "checksum":
					f.dstChecksum = aws.String("BBBBBB==")
					wantMsg = "the archive copy's CRC32 checksum is BBBBBB==, the source's AAAAAA== (the bad copy was deleted)"
				}
				cfg := testConfig()
				cfg.KMSKeyID = tc.kmsKey
				_, err := NewArchiveCopier(f, cfg).Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"})
				if len(f.copied) != 1 {
					t.Fatalf("%d CopyObject calls, want 1", len(f.copied))
				}
				if n := f.headsOf("archive", "k"); n != tc.wantHeads {
					t.Errorf("%d HeadObject calls on the archive copy, want %d", n, tc.wantHeads)
				}
				if n := f.headsOf("restore", "k"); n != 1 {
					t.Errorf("%d HeadObject calls on the source, want 1", n)
				}
				wantCode := ""
				if wantMsg != "" {
					wantCode = "IntegrityCheckFailed"
				}
				checkCopyEnd(t, f, err, wantCode, wantMsg)
			})
		}
	}
	t.Run("same MD5 ETag, the answer's checksum differs: verified, refused", func(t *testing.T) {
		// A server that records a wrong checksum for the right bytes (moto
		// 5.2.1's CRC32C): CopyObject's answer shows it.
		f := newFakeS3("restore", "archive")
		f.put("restore", "k", data, s3.HeadObjectOutput{})
		f.objects["restore/k"].head.ETag = aws.String(md5ETag)
		f.objects["restore/k"].checksum = aws.String("AAAAAA==")
		f.copyETag = aws.String(md5ETag)
		f.dstChecksum = aws.String("BBBBBB==")
		_, err := NewArchiveCopier(f, testConfig()).Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"})
		var pe *PermanentCopyError
		if want := "the archive copy's CRC32 checksum is BBBBBB==, the source's AAAAAA== (the bad copy was deleted)"; !errors.As(err, &pe) || pe.Code != "IntegrityCheckFailed" || pe.Message != want {
			t.Fatalf("err = %v, want PermanentCopyError IntegrityCheckFailed: %s", err, want)
		}
		if n := f.headsOf("archive", "k"); n != 1 {
			t.Errorf("%d HeadObject calls on the archive copy, want 1", n)
		}
	})
	t.Run("a bad copy answers an ETag of other bytes: verified, refused", func(t *testing.T) {
		// The fake's own choice for a bad copy (no copyETag): the ETag of
		// the bytes it holds, which are not the source's.
		f := newFakeS3("restore", "archive")
		f.put("restore", "k", data, s3.HeadObjectOutput{})
		f.objects["restore/k"].head.ETag = aws.String(md5ETag)
		f.corruptSize = 99
		_, err := NewArchiveCopier(f, testConfig()).Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"})
		var pe *PermanentCopyError
		if !errors.As(err, &pe) || pe.Code != "IntegrityCheckFailed" {
			t.Fatalf("err = %v, want PermanentCopyError IntegrityCheckFailed", err)
		}
		if n := f.headsOf("archive", "k"); n != 1 {
			t.Errorf("%d HeadObject calls on the archive copy, want 1", n)
		}
	})
}

// TestETagProvesCopyNeedsAnswer: without CopyObject's result (a server
// that answers none) nothing is proved; a checksum the answer lacks is not
// held against it, one that differs is.
func TestETagProvesCopyNeedsAnswer(t *testing.T) {
	etag := aws.String(`"0123456789abcdef0123456789abcdef"`)
	src := sourceObject{head: &s3.HeadObjectOutput{ETag: etag},
		checksum: checksum{types.ChecksumAlgorithmCrc64nvme, "AAAAAAAAAAA="}, hasChecksum: true}
	for _, out := range []*s3.CopyObjectOutput{nil, {}, {CopyObjectResult: &types.CopyObjectResult{}},
		{CopyObjectResult: &types.CopyObjectResult{ETag: etag, ChecksumCRC64NVME: aws.String("BBBBBBBBBBB=")}}} {
		if etagProvesCopy(src, out) {
			t.Errorf("etagProvesCopy(%+v) = true, want false", out)
		}
	}
	for _, res := range []*types.CopyObjectResult{{ETag: etag}, {ETag: etag, ChecksumCRC64NVME: aws.String("AAAAAAAAAAA=")},
		{ETag: etag, ChecksumCRC32: aws.String("BBBBBB==")}} {
		if !etagProvesCopy(src, &s3.CopyObjectOutput{CopyObjectResult: res}) {
			t.Errorf("etagProvesCopy(%+v) = false, want true (same MD5 ETag, no differing checksum of the source's algorithm)", res)
		}
	}
	if etagProvesCopy(sourceObject{}, &s3.CopyObjectOutput{CopyObjectResult: &types.CopyObjectResult{ETag: etag}}) {
		t.Error("etagProvesCopy without the source's HeadObject = true, want false")
	}
}

// TestCopyChecksArchive: with CheckArchive, a copy below the multipart
// threshold whose archive copy already holds the source's bytes makes no
// CopyObject and says so (AlreadyArchived); any other archive copy, a
// missing one or a failed HeadObject of it copies as without the check.
func TestCopyChecksArchive(t *testing.T) {
	data := pattern(100)
	md5ETag, otherETag := md5ETagOf(data), md5ETagOf([]byte("other"))
	kmsETag := `"` + strings.Repeat("ab", 16) + `"` // not the MD5 of the bytes
	type archive struct {
		size     int
		etag     string
		sse      types.ServerSideEncryption
		checksum *string
	}
	same := &archive{size: 100, etag: md5ETag, checksum: aws.String("AAAAAA==")}
	tests := []struct {
		name        string
		srcChecksum *string // nil: none
		archive     *archive
		headErr     error // HeadObject of the archive copy fails so
		wantCopy    bool
		wantWarn    bool
	}{
		{name: "same MD5 ETag, size and checksum", srcChecksum: aws.String("AAAAAA=="), archive: same},
		{name: "same MD5 ETag and size, no checksums", archive: &archive{size: 100, etag: md5ETag}},
		{name: "same MD5 ETag and size, only the archive has a checksum", archive: same},
		{name: "same MD5 ETag, bare, SSE-S3", srcChecksum: aws.String("AAAAAA=="),
			archive: &archive{size: 100, etag: strings.Trim(md5ETag, `"`), sse: types.ServerSideEncryptionAes256, checksum: aws.String("AAAAAA==")}},
		{name: "another ETag", srcChecksum: aws.String("AAAAAA=="), archive: &archive{size: 100, etag: otherETag, checksum: aws.String("AAAAAA==")}, wantCopy: true},
		{name: "another size", srcChecksum: aws.String("AAAAAA=="), archive: &archive{size: 99, etag: md5ETag, checksum: aws.String("AAAAAA==")}, wantCopy: true},
		{name: "same MD5 ETag, another checksum", srcChecksum: aws.String("AAAAAA=="), archive: &archive{size: 100, etag: md5ETag, checksum: aws.String("BBBBBB==")}, wantCopy: true},
		{name: "SSE-KMS archive, same size and checksum", srcChecksum: aws.String("AAAAAA=="),
			archive: &archive{size: 100, etag: kmsETag, sse: types.ServerSideEncryptionAwsKms, checksum: aws.String("AAAAAA==")}},
		{name: "SSE-KMS archive, same MD5 ETag but another checksum", srcChecksum: aws.String("AAAAAA=="),
			archive: &archive{size: 100, etag: md5ETag, sse: types.ServerSideEncryptionAwsKms, checksum: aws.String("BBBBBB==")}, wantCopy: true},
		{name: "SSE-KMS archive, checksums differ", srcChecksum: aws.String("AAAAAA=="),
			archive: &archive{size: 100, etag: kmsETag, sse: types.ServerSideEncryptionAwsKms, checksum: aws.String("BBBBBB==")}, wantCopy: true},
		{name: "SSE-KMS archive, same checksum, another size", srcChecksum: aws.String("AAAAAA=="),
			archive: &archive{size: 99, etag: kmsETag, sse: types.ServerSideEncryptionAwsKms, checksum: aws.String("AAAAAA==")}, wantCopy: true},
		{name: "SSE-KMS archive, no checksum", srcChecksum: aws.String("AAAAAA=="),
			archive: &archive{size: 100, etag: kmsETag, sse: types.ServerSideEncryptionAwsKms}, wantCopy: true},
		{name: "DSSE-KMS archive, same MD5 ETag, no checksums", archive: &archive{size: 100, etag: md5ETag, sse: types.ServerSideEncryptionAwsKmsDsse}, wantCopy: true},
		{name: "no archive copy (404)", srcChecksum: aws.String("AAAAAA=="), wantCopy: true},
		{name: "HeadObject of the archive copy fails", srcChecksum: aws.String("AAAAAA=="), archive: same,
			headErr: apiError(500, "InternalError", "We encountered an internal error."), wantCopy: true, wantWarn: true},
		{name: "HeadObject of the archive copy refused", srcChecksum: aws.String("AAAAAA=="), archive: same,
			headErr: apiError(403, "AccessDenied", "Access Denied"), wantCopy: true, wantWarn: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3("restore", "archive")
			f.put("restore", "k", data, s3.HeadObjectOutput{})
			f.objects["restore/k"].head.ETag = aws.String(md5ETag)
			f.objects["restore/k"].checksum = tc.srcChecksum
			if a := tc.archive; a != nil {
				f.put("archive", "k", pattern(a.size), s3.HeadObjectOutput{ServerSideEncryption: a.sse})
				f.objects["archive/k"].head.ETag = aws.String(a.etag)
				f.objects["archive/k"].checksum = a.checksum
			}
			if tc.headErr != nil {
				f.fail = func(op string, in any) error {
					if h, ok := in.(*s3.HeadObjectInput); ok && *h.Bucket == "archive" {
						return tc.headErr
					}
					return nil
				}
			}
			var logs bytes.Buffer
			c := NewArchiveCopier(f, testConfig())
			c.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
			out, err := c.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive", CheckArchive: true})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(f.copied); got != map[bool]int{false: 0, true: 1}[tc.wantCopy] {
				t.Errorf("%d CopyObject calls, want copied %v", got, tc.wantCopy)
			}
			want := contract.CopyOutcome{TargetBucket: "archive", TargetKey: "k", Bytes: 100, Complete: true, AlreadyArchived: !tc.wantCopy}
			if diff := cmp.Diff(want, out, cmpopts.IgnoreFields(contract.CopyOutcome{}, "DurationMS")); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
			if calls := f.callList(); calls[0] != "HeadObject" || calls[1] != "HeadObject" || f.heads[1] != "archive/k" {
				t.Errorf("calls %v (HeadObject of %v), want the source's HeadObject then the archive copy's", calls, f.heads)
			}
			if !tc.wantCopy {
				if calls := f.callList(); len(calls) != 2 {
					t.Errorf("calls %v, want the two HeadObjects only", calls)
				}
				if !bytes.Equal(f.object("archive", "k").data, pattern(tc.archive.size)) {
					t.Error("archive copy changed")
				}
			} else if !bytes.Equal(f.object("archive", "k").data, data) {
				t.Error("archive copy does not hold the source's bytes")
			}
			if warned := strings.Contains(logs.String(), `"level":"WARN"`); warned != tc.wantWarn {
				t.Errorf("WARN logged %v, want %v:\n%s", warned, tc.wantWarn, logs.String())
			}
			if tc.wantWarn && !strings.Contains(logs.String(), "archive copy could not be checked") {
				t.Errorf("no warning about the check:\n%s", logs.String())
			}
		})
	}
}

// TestCopyChecksArchiveOnlyWhenAsked: without CheckArchive no HeadObject
// of the archive copy comes before the CopyObject (the Express lane's two
// requests); a multipart copy and a resumed one are not checked.
func TestCopyChecksArchiveOnlyWhenAsked(t *testing.T) {
	small := pattern(100)
	md5ETag := md5ETagOf(small)
	t.Run("without CheckArchive", func(t *testing.T) {
		f := newFakeS3("restore", "archive")
		f.put("restore", "k", small, s3.HeadObjectOutput{})
		f.objects["restore/k"].head.ETag = aws.String(md5ETag)
		f.put("archive", "k", small, s3.HeadObjectOutput{})
		f.objects["archive/k"].head.ETag = aws.String(md5ETag)
		out, err := NewArchiveCopier(f, testConfig()).Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive"})
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff([]string{"HeadObject", "CopyObject"}, f.callList()); diff != "" {
			t.Errorf("calls (-want +got):\n%s", diff)
		}
		if out.AlreadyArchived || !out.Complete {
			t.Errorf("outcome %+v, want complete, not already archived", out)
		}
	})
	for _, tc := range []struct {
		name string
		size int
		req  func(*contract.CopyRequest)
	}{
		{"multipart", 12 * MiB, func(*contract.CopyRequest) {}},
		{"with a resume token", 100, func(r *contract.CopyRequest) { r.UploadID, r.SourceETag = "upload-gone", md5ETag }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := pattern(tc.size)
			f := newFakeS3("restore", "archive")
			f.put("restore", "k", data, s3.HeadObjectOutput{})
			f.put("archive", "k", data, s3.HeadObjectOutput{})
			req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive", Size: int64(tc.size), CheckArchive: true}
			tc.req(&req)
			out, err := NewArchiveCopier(f, testConfig()).Copy(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if out.AlreadyArchived || !out.Complete {
				t.Errorf("outcome %+v, want complete, not already archived", out)
			}
			heads := 0 // HeadObject calls before the copy: the source's only
			for _, op := range f.callList() {
				if op == "CopyObject" || op == "CreateMultipartUpload" {
					break
				}
				if op == "HeadObject" {
					heads++
				}
			}
			if heads != 1 || f.heads[0] != "restore/k" {
				t.Errorf("%d HeadObject calls before the copy (%v), want the source's only: %v", heads, f.heads, f.callList())
			}
			if len(f.copied)+len(f.created) != 1 {
				t.Errorf("%d CopyObject and %d CreateMultipartUpload calls, want one copy", len(f.copied), len(f.created))
			}
		})
	}
}

// checkCopyEnd checks how a copy of restore/k ended: with wantCode "" a
// success and the archive copy there; else a PermanentCopyError wantCode
// saying wantMsg, and no copy left in the archive bucket.
func checkCopyEnd(t *testing.T, f *fakeS3, err error, wantCode, wantMsg string) {
	t.Helper()
	if wantCode == "" {
		if err != nil {
			t.Fatal(err)
		}
		if f.object("archive", "k") == nil {
			t.Error("archive copy missing")
		}
		return
	}
	var pe *PermanentCopyError
	if !errors.As(err, &pe) || pe.Code != wantCode || pe.Message != wantMsg {
		t.Fatalf("err = %v, want PermanentCopyError %s: %s", err, wantCode, wantMsg)
	}
	if f.object("archive", "k") != nil {
		t.Error("bad copy left in the archive bucket")
	}
}

// TestCopyFromEventWhen pins when a copy starts with its CopyObject
// (copyFromEvent) and when with the source's HeadObject: only a new copy,
// without CheckArchive, of a source the event gives a size below the
// multipart threshold and a single-part MD5 ETag, to an archive copy not
// under a configured KMS key. A throttled CopyObject is returned for the
// workflow's retry, with no HeadObject.
func TestCopyFromEventWhen(t *testing.T) {
	data := []byte("restored bytes")
	etag := strings.Trim(md5ETagOf(data), `"`) // bare, as events carry it
	event := contract.CopyRequest{SourceBucket: "restore", SourceKey: "k", TargetBucket: "archive", Size: int64(len(data)), ETag: etag}
	inspected := []string{"HeadObject", "CopyObject"}
	for _, tc := range []struct {
		name      string
		edit      func(*contract.CopyRequest, *Config)
		fail      func(op string, in any) error
		wantCalls []string
		transient string // the TransientCopyError's code; "" for a copy
	}{
		{name: "described by its event", wantCalls: []string{"CopyObject"}},
		{name: "no size", edit: func(r *contract.CopyRequest, _ *Config) { r.Size = 0 }, wantCalls: inspected},
		{name: "no ETag", edit: func(r *contract.CopyRequest, _ *Config) { r.ETag = "" }, wantCalls: inspected},
		{name: "multipart-style ETag", edit: func(r *contract.CopyRequest, _ *Config) { r.ETag = etag + "-2" }, wantCalls: nil},
		{name: "above the multipart threshold", edit: func(r *contract.CopyRequest, c *Config) { c.MultipartThreshold = 1; r.Size = 2 }, wantCalls: nil},
		{name: "CheckArchive", edit: func(r *contract.CopyRequest, _ *Config) { r.CheckArchive = true },
			wantCalls: []string{"HeadObject", "HeadObject", "CopyObject"}},
		{name: "archive KMS key", edit: func(_ *contract.CopyRequest, c *Config) { c.KMSKeyID = "archive-key" },
			wantCalls: []string{"HeadObject", "CopyObject", "HeadObject"}},
		{name: "throttled", fail: func(op string, _ any) error {
			if op == "CopyObject" {
				return apiError(503, "SlowDown", "Please reduce your request rate.")
			}
			return nil
		}, wantCalls: []string{"CopyObject"}, transient: "SlowDown"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeS3("restore", "archive")
			f.put("restore", "k", data, s3.HeadObjectOutput{})
			f.object("restore", "k").head.ETag = aws.String(md5ETagOf(data))
			f.fail = tc.fail
			req, cfg := event, testConfig()
			if tc.edit != nil {
				tc.edit(&req, &cfg)
			}
			_, err := NewArchiveCopier(f, cfg).Copy(context.Background(), req)
			calls := f.callList()
			if tc.wantCalls == nil { // the source's HeadObject first, then whatever the path needs
				if len(calls) == 0 || calls[0] != "HeadObject" {
					t.Errorf("S3 calls = %v, want the source's HeadObject first", calls)
				}
				return
			}
			if diff := cmp.Diff(tc.wantCalls, calls); diff != "" {
				t.Errorf("S3 calls (-want +got):\n%s", diff)
			}
			var te *TransientCopyError
			switch {
			case tc.transient == "" && err != nil:
				t.Fatalf("Copy: %v", err)
			case tc.transient != "" && (!errors.As(err, &te) || te.Code != tc.transient):
				t.Fatalf("err = %T %v, want TransientCopyError %s", err, err, tc.transient)
			}
		})
	}
}
