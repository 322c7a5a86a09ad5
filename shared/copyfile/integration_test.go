package copyfile_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/faultproxy"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
)

// specialKeys are keys that break naive CopySource encoding.
var specialKeys = []string{
	"plain.txt",
	"with space/file name.txt",
	"plus+sign/a+b.txt",
	"percent/100%25 and %.txt",
	"query/a=b&c=d?e.txt",
	"unicode/données ünï 文件.h5",
	"deep/1/2/3/4/5/6/7/8/9/granule.nc",
	"odd/#hash;semi:colon,comma'quote\"dq!*()[]{}.dat",
	" ",
	"trailing space /x ",
}

// s3env is a server with buckets "restore" and "archive" and a client.
type s3env struct {
	srv    *s3server.Server
	client *s3.Client
}

// s3BackendEnv names the variable choosing the S3 server of these tests:
// versitygw by default; `make test` runs them again with
// S3_TEST_BACKEND=moto (moto's server, the second S3 peer).
const s3BackendEnv = "S3_TEST_BACKEND"

func s3Backend() string {
	if b := os.Getenv(s3BackendEnv); b != "" {
		return b
	}
	return s3server.BackendVersityGW
}

// skipOnBackend skips a test the current S3 server cannot serve, saying
// why.
func skipOnBackend(t *testing.T, backend, why string) {
	t.Helper()
	if s3Backend() == backend {
		t.Skipf("SKIPPED on %s: %s", backend, why)
	}
}

func newS3Env(t *testing.T) *s3env {
	t.Helper()
	srv := s3server.StartBackendForTest(t, s3Backend(), "restore", "archive")
	c, err := srv.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return &s3env{srv: srv, client: c}
}

// source is an object put into the restore bucket.
type source struct {
	key         string
	data        []byte
	contentType string
	metadata    map[string]string
	tags        string // x-amz-tagging form
}

func (e *s3env) put(t *testing.T, s source) {
	t.Helper()
	in := &s3.PutObjectInput{
		Bucket:             aws.String("restore"),
		Key:                aws.String(s.key),
		Body:               bytes.NewReader(s.data),
		ContentType:        aws.String(s.contentType),
		ContentDisposition: aws.String(`attachment; filename="x.h5"`),
		CacheControl:       aws.String("max-age=60"),
		ContentLanguage:    aws.String("en"),
		Metadata:           s.metadata,
	}
	if s.tags != "" {
		in.Tagging = aws.String(s.tags)
	}
	if _, err := e.client.PutObject(context.Background(), in); err != nil {
		t.Fatalf("put %q: %v", s.key, err)
	}
}

// objectState is what must arrive with a copy.
type objectState struct {
	Size               int64
	ContentType        string
	ContentDisposition string
	CacheControl       string
	ContentLanguage    string
	Metadata           map[string]string
	Tags               map[string]string
}

func (e *s3env) state(t *testing.T, bucket, key string) (objectState, []byte) {
	t.Helper()
	ctx := context.Background()
	get, err := e.client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer get.Body.Close()
	data, err := io.ReadAll(get.Body)
	if err != nil {
		t.Fatal(err)
	}
	tags, err := e.client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatalf("tags of s3://%s/%s: %v", bucket, key, err)
	}
	st := objectState{
		Size:               aws.ToInt64(get.ContentLength),
		ContentType:        aws.ToString(get.ContentType),
		ContentDisposition: aws.ToString(get.ContentDisposition),
		CacheControl:       aws.ToString(get.CacheControl),
		ContentLanguage:    aws.ToString(get.ContentLanguage),
		Metadata:           get.Metadata,
		Tags:               map[string]string{},
	}
	for _, tag := range tags.TagSet {
		st.Tags[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
	}
	return st, data
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

// configFromEnv reads the copier's configuration from the environment, set
// by the test with t.Setenv.
func configFromEnv(t *testing.T, env map[string]string) copyfile.Config {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err := copyfile.ConfigFromEnv(os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestCopyAgainstS3Server(t *testing.T) {
	e := newS3Env(t)
	cfg := configFromEnv(t, nil)
	copier := copyfile.NewArchiveCopier(e.client, cfg)
	for _, key := range specialKeys {
		t.Run(key, func(t *testing.T) {
			src := source{
				key:         key,
				data:        randomBytes(t, 64<<10),
				contentType: "application/x-netcdf",
				metadata:    map[string]string{"granule-id": "G123", "collection": "MOD09 v6"},
				tags:        "project=cumulus&stage=restored%20copy",
			}
			e.put(t, src)
			out, err := copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"})
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if out.Multipart || out.Bytes != int64(len(src.data)) || out.TargetKey != key {
				t.Errorf("outcome = %+v", out)
			}
			want, _ := e.state(t, "restore", key)
			got, data := e.state(t, "archive", key)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("archive copy differs from the source (-source +copy):\n%s", diff)
			}
			if !bytes.Equal(data, src.data) {
				t.Errorf("archive copy's bytes differ")
			}
			if want.Metadata["granule-id"] != "G123" || want.Tags["stage"] != "restored copy" {
				t.Errorf("the source itself lacks its metadata or tags: %+v", want)
			}
		})
	}
}

// TestCopyETagSkipsArchiveHead: the S3 server answers a small unencrypted
// CopyObject with the source's ETag, the MD5 of its bytes, so the copier
// makes no HeadObject of the archive copy. The same answer marked SSE-KMS
// (the header added at the proxy, as S3 sends it for a copy under the
// archive bucket's KMS default) proves nothing: the copy is verified.
func TestCopyETagSkipsArchiveHead(t *testing.T) {
	e := newS3Env(t)
	src := source{key: "etag/small file.nc", data: randomBytes(t, 64<<10), contentType: "application/x-netcdf"}
	e.put(t, src)
	sum := md5.Sum(src.data)
	wantETag := hex.EncodeToString(sum[:])
	for _, tc := range []struct {
		name      string
		copySSE   http.Header // added to the CopyObject answer
		wantHeads int         // HeadObject of the archive copy
	}{
		{name: "plain copy: its ETag proves it", wantHeads: 0},
		{name: "answer says SSE-KMS: verified", copySSE: http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}}, wantHeads: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			copies, heads, copier := countingCopier(t, e, tc.copySSE)
			if _, err := copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: src.key, TargetBucket: "archive"}); err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if copies.Hits() != 1 {
				t.Fatalf("%d CopyObject requests passed the proxy, want 1", copies.Hits())
			}
			for _, bucket := range []string{"restore", "archive"} {
				h, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(src.key)})
				if err != nil {
					t.Fatal(err)
				}
				if got := strings.Trim(aws.ToString(h.ETag), `"`); got != wantETag {
					t.Errorf("%s's ETag is %s, want the MD5 of the bytes, %s (a server whose ETags are not MD5s gets the HeadObject)", bucket, got, wantETag)
				}
			}
			if n := heads.Hits(); n != tc.wantHeads {
				t.Errorf("%d HeadObject requests for the archive copy, want %d", n, tc.wantHeads)
			}
			if _, data := e.state(t, "archive", src.key); !bytes.Equal(data, src.data) {
				t.Error("archive copy's bytes differ")
			}
		})
	}
}

// TestCopyFromEventAgainstS3Server: a small source the event describes
// (its size and single-part ETag) is copied with one CopyObject and no
// HeadObject at all, keeping its metadata, content headers, tags and
// checksum (which S3 copies when CopyObject names no algorithm). When the
// CopyObject cannot settle it, the source's HeadObject names the cause as
// for any copy: an object overwritten since the event fails SourceChanged
// and a deleted one NoSuchKey, with nothing archived; a copy whose answer
// proves nothing (marked SSE-KMS at the proxy) is verified against the
// source read after all.
func TestCopyFromEventAgainstS3Server(t *testing.T) {
	e := newS3Env(t)
	ctx := context.Background()
	put := func(t *testing.T, s source) (req contract.CopyRequest) {
		t.Helper()
		e.put(t, s)
		h, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("restore"), Key: aws.String(s.key)})
		if err != nil {
			t.Fatal(err)
		}
		return contract.CopyRequest{SourceBucket: "restore", SourceKey: s.key, TargetBucket: "archive",
			Size: aws.ToInt64(h.ContentLength), ETag: strings.Trim(aws.ToString(h.ETag), `"`)}
	}
	for _, tc := range []struct {
		name       string
		copyHeader http.Header // added to the CopyObject answer
		change     func(t *testing.T, key string)
		wantCode   string // "" for a copy
		wantHeads  map[string]int
	}{
		{name: "described by its event: one CopyObject", wantHeads: map[string]int{}},
		{name: "answer proves nothing: verified", copyHeader: http.Header{"X-Amz-Server-Side-Encryption": {"aws:kms"}},
			wantHeads: map[string]int{"restore": 1, "archive": 1}},
		{name: "overwritten since the event", wantCode: "SourceChanged", wantHeads: map[string]int{"restore": 1},
			change: func(t *testing.T, key string) {
				e.put(t, source{key: key, data: []byte("other bytes"), contentType: "text/plain"})
			}},
		{name: "deleted since the event", wantCode: "NoSuchKey", wantHeads: map[string]int{"restore": 1},
			change: func(t *testing.T, key string) {
				if _, err := e.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("restore"), Key: aws.String(key)}); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := source{key: "event/" + tc.name + "/granule+1.nc", data: randomBytes(t, 48<<10), contentType: "application/x-netcdf",
				metadata: map[string]string{"mission": "gpm"}, tags: "project=cumulus&tier=a%20b"}
			req := put(t, src)
			want, _ := e.state(t, "restore", src.key)
			if tc.change != nil {
				tc.change(t, src.key)
			}
			copies := &faultproxy.Rule{Match: faultproxy.IsCopyObject, Header: tc.copyHeader}
			heads := map[string]*faultproxy.Rule{}
			for _, b := range []string{"restore", "archive"} {
				heads[b] = &faultproxy.Rule{Match: func(r *http.Request) bool { return faultproxy.IsHeadObject(r) && faultproxy.IsBucket(b)(r) }}
			}
			p, err := faultproxy.New(e.srv.Endpoint, copies, heads["restore"], heads["archive"])
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			copier := copyfile.NewArchiveCopier(e.srv.ClientFor(p.URL), configFromEnv(t, nil))

			out, err := copier.Copy(ctx, req)

			if copies.Hits() != 1 {
				t.Errorf("%d CopyObject requests, want 1", copies.Hits())
			}
			for b, r := range heads {
				if r.Hits() != tc.wantHeads[b] {
					t.Errorf("%d HeadObject requests of the %s bucket, want %d", r.Hits(), b, tc.wantHeads[b])
				}
			}
			if tc.wantCode != "" {
				var pe *copyfile.PermanentCopyError
				if !errors.As(err, &pe) || pe.Code != tc.wantCode {
					t.Fatalf("err = %T %v, want PermanentCopyError %s", err, err, tc.wantCode)
				}
				if _, err := e.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("archive"), Key: aws.String(src.key)}); err == nil {
					t.Error("an archive object exists")
				}
				return
			}
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if !out.Complete || out.Bytes != int64(len(src.data)) || out.Multipart {
				t.Errorf("outcome = %+v, want complete, %d bytes, one CopyObject", out, len(src.data))
			}
			got, data := e.state(t, "archive", src.key)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("archive copy's state (-source +archive):\n%s", diff)
			}
			if !bytes.Equal(data, src.data) {
				t.Error("archive copy's bytes differ")
			}
			if srcSum, dstSum := e.checksums(t, "restore", src.key), e.checksums(t, "archive", src.key); srcSum != dstSum {
				t.Errorf("archive copy's checksums are %q, the source's %q", dstSum, srcSum)
			}
		})
	}
}

// checksums lists the full-object checksums HeadObject reports for the
// object ("" for none).
func (e *s3env) checksums(t *testing.T, bucket, key string) string {
	t.Helper()
	h, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("CRC32 %s CRC32C %s CRC64NVME %s SHA1 %s SHA256 %s", aws.ToString(h.ChecksumCRC32), aws.ToString(h.ChecksumCRC32C),
		aws.ToString(h.ChecksumCRC64NVME), aws.ToString(h.ChecksumSHA1), aws.ToString(h.ChecksumSHA256))
}

// countingCopier is a copier whose requests pass a proxy counting its
// CopyObject requests (answered with copyHeader added) and its HeadObject
// requests of the archive bucket.
func countingCopier(t *testing.T, e *s3env, copyHeader http.Header) (copies, heads *faultproxy.Rule, copier *copyfile.ArchiveCopier) {
	t.Helper()
	copies = &faultproxy.Rule{Match: faultproxy.IsCopyObject, Header: copyHeader}
	heads = &faultproxy.Rule{Match: func(r *http.Request) bool {
		return faultproxy.IsHeadObject(r) && faultproxy.IsBucket("archive")(r)
	}}
	p, err := faultproxy.New(e.srv.Endpoint, copies, heads)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return copies, heads, copyfile.NewArchiveCopier(e.srv.ClientFor(p.URL), configFromEnv(t, nil))
}

// TestCopyChecksArchiveAgainstS3Server: a copy made once is not made
// again by a request with CheckArchive (the Standard lane's): one HeadObject
// of the archive copy and no CopyObject. A source whose bytes changed
// since (same size) is copied again.
func TestCopyChecksArchiveAgainstS3Server(t *testing.T) {
	e := newS3Env(t)
	src := source{key: "check/small file.nc", data: randomBytes(t, 64<<10), contentType: "application/x-netcdf"}
	e.put(t, src)
	copies, heads, copier := countingCopier(t, e, nil)
	req := contract.CopyRequest{SourceBucket: "restore", SourceKey: src.key, TargetBucket: "archive"}
	// copyOnce copies; wantHeads is the archive HeadObject requests it
	// makes, at least (a copy's ETag the server does not make an MD5 is
	// verified with one more).
	copyOnce := func(t *testing.T, check bool, wantCopies, wantHeads int, wantArchived bool) {
		t.Helper()
		req.CheckArchive = check
		before := heads.Hits()
		out, err := copier.Copy(context.Background(), req)
		if err != nil {
			t.Fatalf("Copy: %v", err)
		}
		if !out.Complete || out.AlreadyArchived != wantArchived || out.Bytes != int64(len(src.data)) {
			t.Errorf("outcome %+v, want complete, already archived %v, %d bytes", out, wantArchived, len(src.data))
		}
		if copies.Hits() != wantCopies {
			t.Errorf("%d CopyObject requests in all, want %d", copies.Hits(), wantCopies)
		}
		if n := heads.Hits() - before; n < wantHeads || wantArchived && n != wantHeads {
			t.Errorf("%d HeadObject requests of the archive copy, want %d", n, wantHeads)
		}
		if _, data := e.state(t, "archive", src.key); !bytes.Equal(data, src.data) {
			t.Error("archive copy's bytes differ from the source's")
		}
	}
	// The first copy, as the Express lane makes it (its ETag proves it:
	// no HeadObject on versitygw; moto's ETags may differ, then verify's).
	copyOnce(t, false, 1, 0, false)
	// Again with the check: one HeadObject, no CopyObject.
	copyOnce(t, true, 1, 1, true)
	// The source changes (same size): the archive copy no longer holds
	// its bytes, so the check copies it again.
	src.data = randomBytes(t, len(src.data))
	e.put(t, src)
	copyOnce(t, true, 2, 1, false)
}

func TestCopyAgainstS3ServerFailures(t *testing.T) {
	e := newS3Env(t)
	e.put(t, source{key: "present", data: []byte("x"), contentType: "text/plain"})
	tests := []struct {
		name    string
		req     contract.CopyRequest
		env     map[string]string
		code    string
		message string
	}{
		{
			name:    "missing source",
			req:     contract.CopyRequest{SourceBucket: "restore", SourceKey: "no/such key", TargetBucket: "archive"},
			code:    "NoSuchKey",
			message: "copy s3://restore/no/such key to s3://archive/no/such key: NoSuchKey: The specified key does not exist.",
		},
		{
			name:    "missing source bucket",
			req:     contract.CopyRequest{SourceBucket: "nobucket", SourceKey: "k", TargetBucket: "archive"},
			code:    "NoSuchBucket",
			message: "copy s3://nobucket/k to s3://archive/k: NoSuchBucket: The specified bucket does not exist.",
		},
		{
			name: "missing archive bucket",
			req:  contract.CopyRequest{SourceBucket: "restore", SourceKey: "present", TargetBucket: "noarchive"},
			code: "NoSuchBucket",
		},
		{
			name:    "archive bucket outside the allowlist",
			req:     contract.CopyRequest{SourceBucket: "restore", SourceKey: "present", TargetBucket: "archive"},
			env:     map[string]string{"ARCHIVE_BUCKETS": "other-archive"},
			code:    "BucketNotAllowed",
			message: `copy s3://restore/present to s3://archive/present: BucketNotAllowed: archive bucket "archive" is not in ARCHIVE_BUCKETS`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			copier := copyfile.NewArchiveCopier(e.client, configFromEnv(t, tc.env))
			_, err := copier.Copy(context.Background(), tc.req)
			var pe *copyfile.PermanentCopyError
			if !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("err = %T %v, want PermanentCopyError %s", err, err, tc.code)
			}
			if tc.message != "" && err.Error() != tc.message {
				t.Errorf("message = %q, want %q", err.Error(), tc.message)
			}
		})
	}
	// The refused copy did not happen.
	if _, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("archive"), Key: aws.String("present")}); err == nil {
		t.Error("the refused copy exists in the archive bucket")
	}
}

// multipartEnv lowers the threshold so a 40 MiB object goes multipart in
// parts of 5 MiB. MULTIPART_CHECKSUM=off: versitygw v1.8.0 records the whole
// source object's checksum as the checksum of each copied part range, so
// asking it for a full-object checksum in the source's algorithm fails every
// multipart copy with BadDigest (TestMultipartChecksumRefusedByServer).
var multipartEnv = map[string]string{
	"MULTIPART_THRESHOLD_MB": "8",
	"MULTIPART_CHUNKSIZE_MB": "5",
	"MULTIPART_CONCURRENCY":  "4",
	"MULTIPART_CHECKSUM":     "off",
}

func TestMultipartCopyAgainstS3Server(t *testing.T) {
	e := newS3Env(t)
	copier := copyfile.NewArchiveCopier(e.client, configFromEnv(t, multipartEnv))
	data := randomBytes(t, 40<<20)
	for _, key := range []string{"granules/big file+1.h5", "unicode/données=ü&?%.nc"} {
		t.Run(key, func(t *testing.T) {
			e.put(t, source{
				key: key, data: data, contentType: "application/x-hdf5",
				metadata: map[string]string{"granule-id": "G1", "checksum-md5": "abc"},
				tags:     "project=cumulus&note=a%20b%2Bc",
			})
			out, err := copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"})
			if err != nil {
				t.Fatalf("Copy: %v", err)
			}
			if !out.Multipart || out.Parts != 8 || out.Bytes != 40<<20 {
				t.Errorf("outcome = %+v, want multipart in 8 parts", out)
			}
			want, _ := e.state(t, "restore", key)
			got, copied := e.state(t, "archive", key)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("archive copy differs from the source (-source +copy):\n%s", diff)
			}
			if want.Tags["note"] != "a b+c" {
				t.Errorf("source tags = %v", want.Tags)
			}
			if !bytes.Equal(copied, data) {
				t.Errorf("archive copy's bytes differ from the source's")
			}
		})
	}
}

func TestMultipartFailureLeavesNoUpload(t *testing.T) {
	e := newS3Env(t)
	key := "granules/fails mid-copy+.h5"
	data := randomBytes(t, 40<<20)
	e.put(t, source{key: key, data: data, contentType: "application/x-hdf5"})
	cfg := configFromEnv(t, multipartEnv)

	tests := []struct {
		name      string
		rule      *faultproxy.Rule
		transient bool
	}{
		{
			name: "InternalError on part 5",
			rule: &faultproxy.Rule{Match: faultproxy.IsPart(5), Status: http.StatusInternalServerError,
				Code: "InternalError", Message: "We encountered an internal error. Please try again."},
			transient: true,
		},
		{
			name:      "connection reset on part 3",
			rule:      &faultproxy.Rule{Match: faultproxy.IsPart(3), Reset: true},
			transient: true,
		},
		{
			name: "InvalidObjectState on part 2",
			rule: &faultproxy.Rule{Match: faultproxy.IsPart(2), Status: http.StatusForbidden,
				Code: "InvalidObjectState", Message: "The operation is not valid for the object's storage class"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := faultproxy.New(e.srv.Endpoint, tc.rule)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			copier := copyfile.NewArchiveCopier(e.srv.ClientFor(p.URL), cfg)
			_, err = copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"})
			var te *copyfile.TransientCopyError
			var pe *copyfile.PermanentCopyError
			switch {
			case tc.transient && errors.As(err, &te), !tc.transient && errors.As(err, &pe):
				t.Logf("failed as wanted: %v", err)
			default:
				t.Fatalf("err = %T %v, want transient=%v", err, err, tc.transient)
			}
			if tc.rule.Hits() == 0 {
				t.Fatal("the fault was never injected")
			}
			ups, err := e.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("archive")})
			if err != nil {
				t.Fatal(err)
			}
			if len(ups.Uploads) != 0 {
				t.Errorf("%d multipart uploads left after the failure: %+v", len(ups.Uploads), ups.Uploads)
			}
			if _, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("archive"), Key: aws.String(key)}); err == nil {
				t.Errorf("an archive object exists after the failed copy")
			}
		})
	}

	t.Run("retry after the failures succeeds", func(t *testing.T) {
		out, err := copyfile.NewArchiveCopier(e.client, cfg).Copy(context.Background(),
			contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"})
		if err != nil {
			t.Fatal(err)
		}
		if !out.Multipart {
			t.Errorf("outcome = %+v", out)
		}
		_, copied := e.state(t, "archive", key)
		if !bytes.Equal(copied, data) {
			t.Errorf("archive copy's bytes differ from the source's")
		}
	})
}

// TestMultipartCompleteBacksOffUnderSlowDown: CompleteMultipartUpload
// answered 503 SlowDown five times (more than the SDK's three attempts) is
// sent again after a back-off, as a part copy is, and the copy completes
// instead of losing its upload.
func TestMultipartCompleteBacksOffUnderSlowDown(t *testing.T) {
	e := newS3Env(t)
	key := "granules/complete throttled.h5"
	data := randomBytes(t, 12<<20)
	e.put(t, source{key: key, data: data})
	slow := &faultproxy.Rule{Match: faultproxy.IsCompleteMultipartUpload, Times: 5,
		Status: http.StatusServiceUnavailable, Code: "SlowDown", Message: "Please reduce your request rate."}
	p, err := faultproxy.New(e.srv.Endpoint, slow)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	copier := copyfile.NewArchiveCopier(e.srv.ClientFor(p.URL), configFromEnv(t, multipartEnv))
	out, err := copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive", Size: int64(len(data))})
	if err != nil {
		t.Fatalf("copy failed with CompleteMultipartUpload throttled %d times: %v", slow.Hits(), err)
	}
	if !out.Complete || !out.Multipart || slow.Hits() != 5 {
		t.Errorf("outcome %+v after %d SlowDowns; want a complete multipart copy after 5", out, slow.Hits())
	}
	if _, copied := e.state(t, "archive", key); !bytes.Equal(copied, data) {
		t.Errorf("archive copy's bytes differ from the source's")
	}
}

// TestChecksumCarriedAcross copies sources that have a full-object
// checksum: the archive copy ends with the same checksum, and the copier
// compared them.
func TestChecksumCarriedAcross(t *testing.T) {
	e := newS3Env(t)
	copier := copyfile.NewArchiveCopier(e.client, configFromEnv(t, multipartEnv))
	tests := []struct {
		name string
		size int
		alg  types.ChecksumAlgorithm
		// onMoto, when set, is what moto's server does instead.
		onMoto string
	}{
		// moto 5.2.1 computes a wrong CRC32C for a CopyObject that asks
		// for one (x-amz-checksum-algorithm CRC32C; without it the
		// source's checksum is kept): the copier's integrity check must
		// refuse that copy and delete it, as it would on S3.
		{"single CRC32C", 1 << 20, types.ChecksumAlgorithmCrc32c, "IntegrityCheckFailed"},
		{"single SHA256", 1 << 20, types.ChecksumAlgorithmSha256, ""},
		{"multipart CRC64NVME", 12 << 20, types.ChecksumAlgorithmCrc64nvme,
			"skip: moto's multipart uploads carry no checksum (UploadPartCopy returns none per part), so there is nothing to compare"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			onMoto := s3Backend() == s3server.BackendMoto && tc.onMoto != ""
			if onMoto && strings.HasPrefix(tc.onMoto, "skip: ") {
				t.Skipf("SKIPPED on moto: %s", strings.TrimPrefix(tc.onMoto, "skip: "))
			}
			key := "checksummed/" + tc.name
			_, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{
				Bucket: aws.String("restore"), Key: aws.String(key), Body: bytes.NewReader(randomBytes(t, tc.size)),
				ChecksumAlgorithm: tc.alg,
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"})
			if onMoto {
				var pe *copyfile.PermanentCopyError
				if !errors.As(err, &pe) || pe.Code != tc.onMoto {
					t.Fatalf("on moto: err = %T %v, want PermanentCopyError %s (if moto now computes the checksum right, drop onMoto)", err, err, tc.onMoto)
				}
				if _, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("archive"), Key: aws.String(key)}); err == nil {
					t.Error("the copy with a wrong checksum was not deleted")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var sums []string
			for _, b := range []string{"restore", "archive"} {
				h, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(b), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
				if err != nil {
					t.Fatal(err)
				}
				sums = append(sums, fmt.Sprintf("%s CRC32C=%s CRC64NVME=%s SHA256=%s", h.ChecksumType,
					aws.ToString(h.ChecksumCRC32C), aws.ToString(h.ChecksumCRC64NVME), aws.ToString(h.ChecksumSHA256)))
			}
			if sums[0] != sums[1] {
				t.Errorf("checksums differ:\nsource  %s\narchive %s", sums[0], sums[1])
			}
		})
	}
}

// TestMultipartChecksumRefusedByServer runs a multipart copy with
// MULTIPART_CHECKSUM=source (the default) against versitygw v1.8.0, whose
// UploadPartCopy records the whole source's checksum for each part range: the
// full-object checksum it computes at CompleteMultipartUpload therefore
// differs from the source's, which the copier sends as the expected value.
// The server refuses the completion (BadDigest): the copy must fail as
// permanent, leave no archive object and no multipart upload.
func TestMultipartChecksumRefusedByServer(t *testing.T) {
	skipOnBackend(t, s3server.BackendMoto, "this test pins versitygw's part-checksum bug; moto returns no part checksums at all")
	e := newS3Env(t)
	env := map[string]string{}
	for k, v := range multipartEnv {
		env[k] = v
	}
	env["MULTIPART_CHECKSUM"] = "source"
	copier := copyfile.NewArchiveCopier(e.client, configFromEnv(t, env))
	key := "checksummed/refused copy.h5"
	_, err := e.client.PutObject(context.Background(), &s3.PutObjectInput{
		Bucket: aws.String("restore"), Key: aws.String(key), Body: bytes.NewReader(randomBytes(t, 12<<20)),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c,
	})
	if err != nil {
		t.Fatal(err)
	}
	_, err = copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"})
	var pe *copyfile.PermanentCopyError
	if !errors.As(err, &pe) || pe.Code != "BadDigest" {
		t.Fatalf("err = %T %v, want PermanentCopyError BadDigest (if versitygw now computes part checksums right, this test has done its job: drop MULTIPART_CHECKSUM=off from multipartEnv)", err, err)
	}
	if _, err := e.client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String("archive"), Key: aws.String(key)}); err == nil {
		t.Error("an archive object exists after the refused copy")
	}
	ups, err := e.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("archive")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads left", len(ups.Uploads))
	}
}

// slowCopier returns a copier whose part copies are each delayed by delay
// (a fault proxy in front of the server), 2 at a time, with the smallest
// deadline margin (5 s).
func slowCopier(t *testing.T, e *s3env, delay time.Duration) *copyfile.ArchiveCopier {
	t.Helper()
	slow := &faultproxy.Rule{Match: faultproxy.IsUploadPartCopy, Delay: delay}
	p, err := faultproxy.New(e.srv.Endpoint, slow)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	env := map[string]string{"COPY_DEADLINE_MARGIN_SECS": "5", "MULTIPART_CONCURRENCY": "2"}
	for k, v := range multipartEnv {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	return copyfile.NewArchiveCopier(e.srv.ClientFor(p.URL), configFromEnv(t, env))
}

func (e *s3env) openUploads(t *testing.T) []types.MultipartUpload {
	t.Helper()
	ups, err := e.client.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: aws.String("archive")})
	if err != nil {
		t.Fatal(err)
	}
	return ups.Uploads
}

// TestMultipartStopsBeforeTheDeadline gives the copy a Lambda deadline
// before which not one part can be copied (each part copy is slowed by the
// proxy beyond it): it must fail as TransientCopyError DeadlineExceeded
// before the deadline, with the upload aborted (this invocation created it,
// so no one else could resume it). The margin is the smallest allowed (5 s),
// the context deadline 6 s, so the copy itself gets 1 s and the abort up to
// 4 s.
func TestMultipartStopsBeforeTheDeadline(t *testing.T) {
	e := newS3Env(t)
	key := "granules/too slow.h5"
	e.put(t, source{key: key, data: randomBytes(t, 40<<20), contentType: "application/x-hdf5"})
	copier := slowCopier(t, e, 3*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Second)
	defer cancel()
	start := time.Now()
	_, err := copier.Copy(ctx, contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"})
	var te *copyfile.TransientCopyError
	if !errors.As(err, &te) || te.Code != "DeadlineExceeded" {
		t.Fatalf("err = %T %v, want TransientCopyError DeadlineExceeded", err, err)
	}
	if ctx.Err() != nil {
		t.Errorf("returned after the deadline")
	}
	if !strings.Contains(te.Message, "aborted") || strings.Contains(te.Message, "abort failed") {
		t.Errorf("message %q does not say the upload was aborted", te.Message)
	}
	t.Logf("stopped after %s as wanted: %v", time.Since(start).Round(time.Millisecond), err)
	if ups := e.openUploads(t); len(ups) != 0 {
		t.Errorf("%d multipart uploads left", len(ups))
	}
}

// TestMultipartResumesAcrossInvocations: the first invocation has an 8 s
// Lambda deadline (3 s of copying after the 5 s margin), 2 parts at a time,
// and a gate in the fault proxy holds every copy of parts 4 and above until
// the copier gives up on it at its copy deadline (never forwarding it), so
// it copies exactly parts 1 to 3 of 8, whatever the machine's load, and
// returns complete false with its resume token, leaving the upload open.
// The second invocation, the gate open, given the token, copies the other
// five and completes: each part is forwarded to S3 once. The copy is
// byte-equal, with the source's metadata and tags.
func TestMultipartResumesAcrossInvocations(t *testing.T) {
	e := newS3Env(t)
	key := "granules/resumed copy+1 ü.h5"
	data := randomBytes(t, 40<<20)
	e.put(t, source{key: key, data: data, contentType: "application/x-hdf5",
		metadata: map[string]string{"granule-id": "G7"}, tags: "project=cumulus&note=a%20b"})
	var gateOpen atomic.Bool
	gate := &faultproxy.Rule{Match: func(r *http.Request) bool {
		n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
		return !gateOpen.Load() && faultproxy.IsUploadPartCopy(r) && err == nil && n >= 4
	}, Delay: time.Hour}
	forwarded := &faultproxy.Rule{Match: faultproxy.IsUploadPartCopy}
	p, err := faultproxy.New(e.srv.Endpoint, gate, forwarded)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	env := map[string]string{"COPY_DEADLINE_MARGIN_SECS": "5", "MULTIPART_CONCURRENCY": "2"}
	for k, v := range multipartEnv {
		if _, set := env[k]; !set {
			env[k] = v
		}
	}
	copier := copyfile.NewArchiveCopier(e.srv.ClientFor(p.URL), configFromEnv(t, env))
	req := contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
	defer cancel()
	first, err := copier.Copy(ctx, req)
	if err != nil {
		t.Fatalf("first invocation: %v", err)
	}
	t.Logf("first invocation: %d of %d parts in %d ms", first.PartsDone, first.PartsTotal, first.DurationMS)
	if first.Complete || first.PartsDone != 3 || first.PartsTotal != 8 ||
		first.UploadID == "" || first.SourceETag == "" || first.BytesDone != 3*5<<20 {
		t.Fatalf("first outcome = %+v, want incomplete with parts 1 to 3 of 8 and a resume token", first)
	}
	if ctx.Err() != nil {
		t.Errorf("first invocation returned after its deadline")
	}
	ups := e.openUploads(t)
	if len(ups) != 1 || aws.ToString(ups[0].UploadId) != first.UploadID {
		t.Fatalf("open uploads = %d, want the paused one (%s)", len(ups), first.UploadID)
	}

	gateOpen.Store(true)
	req.UploadID, req.SourceETag, req.PartSize = first.UploadID, first.SourceETag, first.PartSize
	second, err := copier.Copy(context.Background(), req)
	if err != nil {
		t.Fatalf("second invocation: %v", err)
	}
	if !second.Complete || second.PartsDone != 8 || second.BytesDone != 40<<20 || second.UploadID != "" {
		t.Errorf("second outcome = %+v, want complete, 8 parts", second)
	}
	if n := forwarded.Hits(); n != 8 {
		t.Errorf("%d part copies forwarded for 8 parts, want each part copied once", n)
	}
	want, _ := e.state(t, "restore", key)
	got, copied := e.state(t, "archive", key)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("archive copy differs from the source (-source +copy):\n%s", diff)
	}
	if want.Tags["note"] != "a b" || want.Metadata["granule-id"] != "G7" {
		t.Errorf("source tags %v, metadata %v", want.Tags, want.Metadata)
	}
	if !bytes.Equal(copied, data) {
		t.Errorf("archive copy's bytes differ from the source's")
	}
	if ups := e.openUploads(t); len(ups) != 0 {
		t.Errorf("%d multipart uploads left", len(ups))
	}
}

// An archived source on moto's server (versitygw has no storage classes):
// not restored, it is refused before anything is written, whatever the
// size; restored, it is copied. moto 5.2.1 accepts UploadPartCopy from an
// unrestored DEEP_ARCHIVE object, although S3 documents such objects as not
// accessible in real time until a restore
// (https://docs.aws.amazon.com/AmazonS3/latest/API/API_RestoreObject.html),
// so here only the copier's own HEAD check keeps the multipart path from
// copying it: this pins that check.
func TestCopyArchivedSourceOnMoto(t *testing.T) {
	srv := s3server.StartMotoForTest(t, "restore", "archive")
	client, err := srv.Client(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	copier := copyfile.NewArchiveCopier(client, configFromEnv(t, multipartEnv))
	ctx := context.Background()
	tests := []struct {
		name     string
		size     int
		class    types.StorageClass
		restored bool
	}{
		{"GLACIER single, not restored", 1 << 10, types.StorageClassGlacier, false},
		{"DEEP_ARCHIVE multipart, not restored", 12 << 20, types.StorageClassDeepArchive, false},
		{"DEEP_ARCHIVE multipart, restored", 12 << 20, types.StorageClassDeepArchive, true},
		{"GLACIER single, restored", 1 << 10, types.StorageClassGlacier, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			key := "archived/" + tc.name
			data := randomBytes(t, tc.size)
			put, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("restore"), Key: aws.String(key),
				Body: bytes.NewReader(data), StorageClass: tc.class})
			if err != nil {
				t.Fatal(err)
			}
			if tc.restored {
				if _, err := client.RestoreObject(ctx, &s3.RestoreObjectInput{Bucket: aws.String("restore"), Key: aws.String(key),
					RestoreRequest: &types.RestoreRequest{Days: aws.Int32(1)}}); err != nil {
					t.Fatal(err)
				}
			}

			// A request without the event's size and ETag, and one with
			// them (copyFromEvent: the CopyObject first).
			for _, req := range []contract.CopyRequest{
				{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive"},
				{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive", Size: int64(tc.size), ETag: strings.Trim(aws.ToString(put.ETag), `"`)},
			} {
				t.Run(fmt.Sprintf("size %d etag %q", req.Size, req.ETag), func(t *testing.T) { copyArchived(t, client, copier, req, data, tc.class, tc.restored) })
			}
		})
	}
}

// copyArchived copies req's archived source, restored or not, and checks
// the outcome: a copy of data, or InvalidObjectState naming class with
// nothing written.
func copyArchived(t *testing.T, client *s3.Client, copier *copyfile.ArchiveCopier, req contract.CopyRequest, data []byte, class types.StorageClass, restored bool) {
	t.Helper()
	ctx, key := context.Background(), req.SourceKey
	_, err := copier.Copy(ctx, req)

	if restored {
		if err != nil {
			t.Fatalf("restored %s: %v", class, err)
		}
		get, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("archive"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(get.Body)
		get.Body.Close()
		if !bytes.Equal(got, data) {
			t.Errorf("archive copy differs from the source (%d bytes, want %d)", len(got), len(data))
		}
		return
	}
	var pe *copyfile.PermanentCopyError
	if !errors.As(err, &pe) || pe.Code != "InvalidObjectState" || !strings.Contains(err.Error(), "not restored") ||
		!strings.Contains(err.Error(), string(class)) {
		t.Fatalf("err = %T %v, want PermanentCopyError InvalidObjectState saying the %s object is not restored", err, err, class)
	}
	if _, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("archive"), Key: aws.String(key)}); err == nil {
		t.Error("an archive object exists")
	}
	ups, err := client.ListMultipartUploads(ctx, &s3.ListMultipartUploadsInput{Bucket: aws.String("archive")})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 {
		t.Errorf("%d multipart uploads created for an unrestored source", len(ups.Uploads))
	}
}
