package s3model

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
)

func start(t *testing.T, p Params) (*Server, *s3.Client) {
	t.Helper()
	m, err := Start(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	c := s3.NewFromConfig(m.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(m.URL)
		o.UsePathStyle = true
		o.Retryer = aws.NopRetryer{} // see every answer
	})
	return m, c
}

func fast() Params {
	p := DefaultParams()
	p.TimeScale = 1000
	return p
}

func code(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// TestMultipartCopyFollowsS3Rules: a multipart copy through the SDK ends
// with an object of the parts' total size; the rules S3 enforces are
// enforced (part size, ETag precondition, upload existence, part list).
func TestMultipartCopyFollowsS3Rules(t *testing.T) {
	m, c := start(t, fast())
	ctx := context.Background()
	etag := m.PutObject("src", "dir/a b+ü.bin", 12<<20)
	m.CreateBucket("dst")

	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("dir/a b+ü.bin")})
	if err != nil || aws.ToInt64(head.ContentLength) != 12<<20 || aws.ToString(head.ETag) != etag {
		t.Fatalf("HeadObject = %+v, %v; want 12 MiB, ETag %s", head, err, etag)
	}
	if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("nope")}); err == nil {
		t.Error("HeadObject of a missing key succeeded")
	}

	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("dst"), Key: aws.String("k")})
	if err != nil {
		t.Fatal(err)
	}
	source := "src/dir/a%20b%2B%C3%BC.bin"
	partCopy := func(n int32, rng, ifMatch string) (*s3.UploadPartCopyOutput, error) {
		return c.UploadPartCopy(ctx, &s3.UploadPartCopyInput{
			Bucket: aws.String("dst"), Key: aws.String("k"), UploadId: up.UploadId, PartNumber: aws.Int32(n),
			CopySource: aws.String(source), CopySourceRange: aws.String(rng), CopySourceIfMatch: aws.String(ifMatch),
		})
	}
	if _, err := partCopy(1, "bytes=0-1023", `"other"`); code(err) != "PreconditionFailed" {
		t.Errorf("part copy pinned to another ETag: %v, want PreconditionFailed", err)
	}
	if _, err := partCopy(1, "bytes=0-"+fmt.Sprint(12<<20), etag); code(err) != "InvalidArgument" {
		t.Errorf("range past the end: %v, want InvalidArgument", err)
	}
	small, err := partCopy(1, "bytes=0-1048575", etag) // 1 MiB: only the last part may be this small
	if err != nil {
		t.Fatal(err)
	}
	last, err := partCopy(2, fmt.Sprintf("bytes=1048576-%d", 12<<20-1), etag)
	if err != nil {
		t.Fatal(err)
	}
	parts := []types.CompletedPart{{PartNumber: aws.Int32(1), ETag: small.CopyPartResult.ETag}, {PartNumber: aws.Int32(2), ETag: last.CopyPartResult.ETag}}
	complete := func(parts []types.CompletedPart) error {
		_, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
			Bucket: aws.String("dst"), Key: aws.String("k"), UploadId: up.UploadId,
			MultipartUpload: &types.CompletedMultipartUpload{Parts: parts}, MpuObjectSize: aws.Int64(12 << 20),
		})
		return err
	}
	if err := complete(parts); code(err) != "EntityTooSmall" {
		t.Errorf("complete with a 1 MiB first part: %v, want EntityTooSmall", err)
	}
	big, err := partCopy(1, "bytes=0-6291455", etag)
	if err != nil {
		t.Fatal(err)
	}
	rest, err := partCopy(2, fmt.Sprintf("bytes=6291456-%d", 12<<20-1), etag)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("dst"), Key: aws.String("k"), UploadId: up.UploadId})
	if err != nil || len(listed.Parts) != 2 || aws.ToInt64(listed.Parts[0].Size) != 6<<20 {
		t.Fatalf("ListParts = %+v, %v; want 2 parts, the first of 6 MiB", listed, err)
	}
	if err := complete([]types.CompletedPart{{PartNumber: aws.Int32(1), ETag: big.CopyPartResult.ETag}, {PartNumber: aws.Int32(2), ETag: small.CopyPartResult.ETag}}); code(err) != "InvalidPart" {
		t.Errorf("complete with a stale part ETag: %v, want InvalidPart", err)
	}
	if err := complete([]types.CompletedPart{{PartNumber: aws.Int32(1), ETag: big.CopyPartResult.ETag}, {PartNumber: aws.Int32(2), ETag: rest.CopyPartResult.ETag}}); err != nil {
		t.Fatal(err)
	}
	if size, ok := m.ObjectSize("dst", "k"); !ok || size != 12<<20 {
		t.Errorf("copied object: %d bytes (exists %v), want %d", size, ok, 12<<20)
	}
	if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("dst"), Key: aws.String("k"), UploadId: up.UploadId}); code(err) != "NoSuchUpload" {
		t.Errorf("ListParts after completion: %v, want NoSuchUpload", err)
	}
}

// TestPrefixWriteRate: writes above PrefixWriteRate per second on one
// prefix are answered 503 SlowDown, which the SDK sees as a throttle; another
// prefix is not affected.
func TestPrefixWriteRate(t *testing.T) {
	p := fast()
	p.TimeScale = 1 // the window is one real second
	p.Latency = 0
	p.PrefixWriteRate = 5
	m, c := start(t, p)
	m.CreateBucket("b")
	ctx := context.Background()
	// Write until the model refuses one (at most 200 writes): a machine fast
	// enough for six writes in one second gets a refusal, however loaded.
	// Each admitted write's server time lies between its send and its
	// answer; no six of them may fall within one second.
	type span struct{ sent, answered time.Time }
	var admitted []span
	var slow int
	for i := 0; i < 200 && slow == 0; i++ {
		sent := time.Now()
		_, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String(fmt.Sprintf("p/k%d", i))})
		if err != nil {
			if code(err) != "SlowDown" || !retry.IsErrorThrottles(retry.DefaultThrottles).IsErrorThrottle(err).Bool() {
				t.Fatalf("write %d: %v, want SlowDown (a throttle)", i, err)
			}
			slow++
			continue
		}
		admitted = append(admitted, span{sent, time.Now()})
	}
	if slow == 0 {
		t.Errorf("no write of %d was refused above the prefix's rate of 5 a second", len(admitted))
	}
	for i := 5; i < len(admitted); i++ {
		// The server saw these six within answered[i] - sent[i-5].
		if admitted[i].answered.Sub(admitted[i-5].sent) < time.Second {
			t.Errorf("admitted writes %d to %d all fell within one second (rate 5)", i-5, i)
		}
	}
	if _, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b"), Key: aws.String("other/k")}); err != nil {
		t.Errorf("a write to another prefix: %v", err)
	}
	if got := m.Stats().SlowDowns; got != slow {
		t.Errorf("Stats().SlowDowns = %d, want %d", got, slow)
	}
}

// TestBoto3CopiesOnTheModel: boto3's managed copy (the AWS CLI's 8 MiB
// parts) copies an object on the model, in the parts it should, so the
// benchmarks compare like with like.
func TestBoto3CopiesOnTheModel(t *testing.T) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("python3 with boto3 not available (%v): pip install boto3", err))
	}
	m, _ := start(t, fast())
	m.PutObject("restore", "g/x.h5", 100<<20)
	m.CreateBucket("archive")
	out, err := exec.Command("python3", filepath.Join("testdata", "boto3_copy.py"), "--endpoint", m.URL,
		"--source-bucket", "restore", "--source-key", "g/x.h5", "--target-bucket", "archive",
		"--chunk-mib", "8", "--threads", "10").CombinedOutput()
	if err != nil {
		t.Fatalf("boto3 copy: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"seconds"`) {
		t.Errorf("boto3 copy printed %s, want its duration", out)
	}
	if size, ok := m.ObjectSize("archive", "g/x.h5"); !ok || size != 100<<20 {
		t.Errorf("archive object: %d bytes (exists %v), want %d", size, ok, 100<<20)
	}
	if got := m.Stats().Requests["UploadPartCopy"]; got != 13 {
		t.Errorf("%d part copies, want 13 (100 MiB in 8 MiB parts)", got)
	}
}

// TestTLS: with Params.TLS the model serves HTTPS; a client trusting its
// certificate is answered, one that does not is refused.
func TestTLS(t *testing.T) {
	p := fast()
	p.TLS = true
	m, err := Start(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	m.CreateBucket("b")
	if !strings.HasPrefix(m.URL, "https://") || m.Certificate() == nil {
		t.Fatalf("URL %s, certificate %v; want https and a certificate", m.URL, m.Certificate())
	}
	client := func(pool *x509.CertPool) *s3.Client {
		return s3.NewFromConfig(m.AWSConfig(), func(o *s3.Options) {
			o.BaseEndpoint = aws.String(m.URL)
			o.UsePathStyle = true
			o.Retryer = aws.NopRetryer{}
			o.HTTPClient = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}}
		})
	}
	pool := x509.NewCertPool()
	pool.AddCert(m.Certificate())
	if _, err := client(pool).HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String("b")}); err != nil {
		t.Errorf("HeadBucket trusting the model's certificate: %v", err)
	}
	if _, err := client(x509.NewCertPool()).HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String("b")}); err == nil {
		t.Error("HeadBucket without trusting the certificate succeeded")
	}
}

// TestPutObjectETag: an object seeded with the ETag its restore event names
// answers HeadObject with that ETag, and a copy conditioned on it succeeds
// (copy-file sends the event's ETag as x-amz-copy-source-if-match).
func TestPutObjectETag(t *testing.T) {
	m, c := start(t, fast())
	ctx := context.Background()
	m.CreateBucket("dst")
	for _, given := range []string{"4494be60507cf93c1f980eabb49c4df2", `"4494be60507cf93c1f980eabb49c4df2"`} {
		if got := m.PutObjectETag("src", "k", 645, given); got != `"4494be60507cf93c1f980eabb49c4df2"` {
			t.Errorf("PutObjectETag(%s) = %s, want the ETag quoted", given, got)
		}
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("src"), Key: aws.String("k")})
	if err != nil || aws.ToString(head.ETag) != `"4494be60507cf93c1f980eabb49c4df2"` || aws.ToInt64(head.ContentLength) != 645 {
		t.Fatalf("HeadObject = %+v, %v; want the seeded ETag and 645 bytes", head, err)
	}
	if _, err := c.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String("k"), CopySource: aws.String("src/k"),
		CopySourceIfMatch: aws.String("4494be60507cf93c1f980eabb49c4df2")}); err != nil {
		t.Errorf("CopyObject conditioned on the seeded ETag: %v", err)
	}
	if etag := m.PutObjectETag("src", "new", 1, ""); len(etag) != 34 {
		t.Errorf("PutObjectETag without an ETag = %s, want a new quoted MD5-like ETag", etag)
	}
}

// TestCopyObjectETag: as S3 does, a CopyObject of a single-part source in
// plaintext answers the source's ETag (the MD5 of the same bytes); a copy
// asked for SSE-KMS or SSE-C, or of a multipart source, gets an ETag of its
// own; the encryption asked for is answered.
func TestCopyObjectETag(t *testing.T) {
	m, c := start(t, fast())
	ctx := context.Background()
	m.CreateBucket("dst")
	single := m.PutObjectETag("src", "single", 645, "4494be60507cf93c1f980eabb49c4df2")
	multi := m.PutObjectETag("src", "multi", 645, "4494be60507cf93c1f980eabb49c4df2-3")
	for _, tc := range []struct {
		name, key string
		sse       types.ServerSideEncryption
		ssec      string
		same      bool
	}{
		{"single-part, plaintext", "single", "", "", true},
		{"single-part, SSE-S3", "single", types.ServerSideEncryptionAes256, "", true},
		{"single-part, SSE-KMS", "single", types.ServerSideEncryptionAwsKms, "", false},
		{"single-part, SSE-C", "single", "", "AES256", false},
		{"multipart", "multi", "", "", false},
	} {
		in := &s3.CopyObjectInput{Bucket: aws.String("dst"), Key: aws.String(tc.key), CopySource: aws.String("src/" + tc.key), ServerSideEncryption: tc.sse}
		if tc.ssec != "" {
			in.SSECustomerAlgorithm, in.SSECustomerKey = aws.String(tc.ssec), aws.String("MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
		}
		out, err := c.CopyObject(ctx, in)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		src := map[string]string{"single": single, "multi": multi}[tc.key]
		got := aws.ToString(out.CopyObjectResult.ETag)
		if same := got == src; same != tc.same {
			t.Errorf("%s: copy's ETag %s, source's %s; want the same: %v", tc.name, got, src, tc.same)
		}
		if out.ServerSideEncryption != tc.sse {
			t.Errorf("%s: answered encryption %q, want %q", tc.name, out.ServerSideEncryption, tc.sse)
		}
		head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("dst"), Key: aws.String(tc.key)})
		if err != nil || aws.ToString(head.ETag) != got {
			t.Errorf("%s: HeadObject of the copy = %v, %v; want ETag %s", tc.name, head, err, got)
		}
	}
}
