package copyfile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3server"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
)

// benchEnv is a server with buckets "restore" and "archive" for benchmarks.
func benchEnv(b *testing.B) (*s3server.Server, *s3.Client) {
	b.Helper()
	srv := s3server.StartForTest(b, "restore", "archive")
	// As the Lambda does: keep as many idle connections as parts in flight.
	client := s3.NewFromConfig(srv.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(srv.Endpoint)
		o.UsePathStyle = true
		o.HTTPClient = copyfile.HTTPClient(copyfile.DefaultMultipartConcurrency)
	})
	return srv, client
}

// putSized writes an object of size bytes (a non-repeating-per-part
// pattern) as a multipart upload of 16 MiB parts from one reused buffer, so
// a 1 GiB object needs neither 1 GiB of memory nor a temporary file.
func putSized(b *testing.B, c *s3.Client, key string, size int64) {
	b.Helper()
	ctx := context.Background()
	const partSize = 16 << 20
	buf := make([]byte, partSize)
	up, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String("restore"), Key: aws.String(key),
		ContentType: aws.String("application/octet-stream"), Metadata: map[string]string{"granule-id": "G1"},
	})
	if err != nil {
		b.Fatal(err)
	}
	var parts []types.CompletedPart
	for n, off := int32(1), int64(0); off < size; n, off = n+1, off+partSize {
		chunk := buf[:min(partSize, size-off)]
		for i := range chunk {
			chunk[i] = byte(int64(i)*31 + off>>20 + 7)
		}
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String("restore"), Key: aws.String(key), UploadId: up.UploadId,
			PartNumber: aws.Int32(n), Body: bytes.NewReader(chunk),
		})
		if err != nil {
			b.Fatal(err)
		}
		parts = append(parts, types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag})
	}
	if _, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("restore"), Key: aws.String(key), UploadId: up.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
	}); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkCopyFile is one file's whole copy path, as the Lambda runs it
// (handler, HeadObject, CopyObject, verifying HeadObject), against the local
// S3-compatible server, for a 1 MiB file.
func BenchmarkCopyFile(b *testing.B) {
	_, client := benchEnv(b)
	const size = 1 << 20
	key := "granules/2024/MOD09GA A2024001 h10v05+copy ü.hdf"
	putSized(b, client, key, size)
	h := &copyfile.CopyHandler{
		Copier: copyfile.NewArchiveCopier(client, copyfile.DefaultConfig()),
		Logger: slog.New(slog.NewJSONHandler(io.Discard, nil)),
	}
	req := contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive", Size: size}
	b.SetBytes(size)
	b.ResetTimer()
	for b.Loop() {
		if _, err := h.Handle(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCopyThroughput compares one CopyObject with multipart copies at
// several concurrencies, for 256 MiB (and, with ARCHIVECOPY_BENCH_1GIB=1,
// 1 GiB) objects. Parts are ARCHIVECOPY_BENCH_CHUNK_MB MiB (default 16, so a
// 256 MiB object has 16 parts and every concurrency level is exercised).
// MB/s is b.SetBytes per second (1 MB = 10^6 bytes, as go test reports it).
func BenchmarkCopyThroughput(b *testing.B) {
	_, client := benchEnv(b)
	sizes := []int64{256 << 20}
	if os.Getenv("ARCHIVECOPY_BENCH_1GIB") != "" {
		sizes = append(sizes, 1<<30)
	}
	chunkMB := int64(16)
	if v := os.Getenv("ARCHIVECOPY_BENCH_CHUNK_MB"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 5 {
			b.Fatalf("ARCHIVECOPY_BENCH_CHUNK_MB=%q: want a whole number >= 5", v)
		}
		chunkMB = n
	}
	for _, size := range sizes {
		key := fmt.Sprintf("bench/%dMiB object", size>>20)
		putSized(b, client, key, size)
		req := contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive", Size: size}
		modes := []struct {
			name        string
			multipart   bool
			concurrency int
		}{
			{"CopyObject", false, 1},
			{"multipart-c1", true, 1},
			{"multipart-c4", true, 4},
			{"multipart-c8", true, 8},
			{"multipart-c16", true, 16},
			{"multipart-defaults", true, 0}, // the default plan and concurrency
		}
		for _, m := range modes {
			b.Run(fmt.Sprintf("size=%dMiB/%s", size>>20, m.name), func(b *testing.B) {
				cfg := copyfile.DefaultConfig()
				cfg.MultipartChecksum = copyfile.ChecksumOff // versitygw v1.8.0 gap; see multipartEnv
				if m.concurrency > 0 {
					cfg.Chunksize = chunkMB * copyfile.MiB
					cfg.MinPart = cfg.Chunksize // fixed parts, as measured in BENCHMARKS.md
					cfg.Concurrency = m.concurrency
				}
				cfg.MultipartThreshold = copyfile.MaxCopyObjectSize
				if m.multipart {
					cfg.MultipartThreshold = 0
				}
				copier := copyfile.NewArchiveCopier(client, cfg)
				b.SetBytes(size)
				b.ResetTimer()
				for b.Loop() {
					out, err := copier.Copy(context.Background(), req)
					if err != nil {
						b.Fatal(err)
					}
					if out.Multipart != m.multipart {
						b.Fatalf("outcome %+v, want multipart=%v", out, m.multipart)
					}
				}
			})
		}
	}
}

// BenchmarkCopyBoto3 copies the same objects as BenchmarkCopyThroughput on
// the local server with boto3's managed copy, at NASA ORCA's settings
// (250 MiB parts, 10 threads) and the AWS CLI's (8 MiB, 10), to set this
// copier's rows beside them. copy-MB/s is the object's size over the copy
// call's duration as the script measures it (interpreter start and imports
// excluded), 10^6 bytes per second. Skipped without python3 and boto3.
func BenchmarkCopyBoto3(b *testing.B) {
	if err := exec.Command("python3", "-c", "import boto3").Run(); err != nil {
		b.Skipf("python3 with boto3 not available: %v", err)
	}
	srv, client := benchEnv(b)
	sizes := []int64{256 << 20}
	if os.Getenv("ARCHIVECOPY_BENCH_1GIB") != "" {
		sizes = append(sizes, 1<<30)
	}
	script := filepath.Join("..", "..", "internal", "s3model", "testdata", "boto3_copy.py")
	for _, size := range sizes {
		key := fmt.Sprintf("bench/%dMiB object", size>>20)
		putSized(b, client, key, size)
		for _, c := range []struct {
			name     string
			chunkMiB int
		}{{"orca-250MiB-t10", 250}, {"cli-8MiB-t10", 8}} {
			b.Run(fmt.Sprintf("size=%dMiB/%s", size>>20, c.name), func(b *testing.B) {
				var copying time.Duration
				for b.Loop() {
					out, err := exec.Command("python3", script, "--endpoint", srv.Endpoint, "--region", srv.Region,
						"--access-key", srv.AccessKey, "--secret-key", srv.SecretKey,
						"--source-bucket", "restore", "--source-key", key, "--target-bucket", "archive",
						"--chunk-mib", strconv.Itoa(c.chunkMiB), "--threads", "10").Output()
					if err != nil {
						b.Fatalf("boto3 copy: %v\n%s", err, out)
					}
					var res struct{ Seconds float64 }
					if err := json.Unmarshal(out, &res); err != nil {
						b.Fatalf("boto3 copy printed %q: %v", out, err)
					}
					copying += time.Duration(res.Seconds * float64(time.Second))
				}
				b.ReportMetric(float64(size)*float64(b.N)/copying.Seconds()/1e6, "copy-MB/s")
			})
		}
	}
}
