package copyfile

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3model"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// BenchmarkModelCopy copies one object on the model of S3
// (internal/s3model, DefaultParams: 100 ms per request, 88 MB/s per copy
// request, 3,500 writes per second per prefix) with this copier at its
// defaults and with boto3's managed copy at NASA ORCA's settings (250 MiB
// parts, 10 threads) and the AWS CLI's (8 MiB, 10 threads), for 1 GiB,
// 10 GiB, 100 GiB and 1 TiB. It reports model time: model-s/op is the
// copy's duration on the model (formula-s/op what the model's parameters
// give for the plan: serial requests plus waves of parts), x-ideal that
// over the ideal size /
// (concurrency × 88 MB/s) at the client's own concurrency, and x-ideal64
// over the ideal at this copier's default concurrency (64).
//
// Model time is real time × the time scale, chosen per run (see timing).
// MODEL_BENCH_SIZES (e.g. "1GiB,10GiB") limits the sizes; boto3 rows are
// skipped without python3 and boto3.
func BenchmarkModelCopy(b *testing.B) {
	p := s3model.DefaultParams()
	sizes := []struct {
		name string
		size int64
	}{{"1GiB", 1 << 30}, {"10GiB", 10 << 30}, {"100GiB", 100 << 30}, {"1TiB", 1 << 40}}
	only := os.Getenv("MODEL_BENCH_SIZES")
	boto3 := exec.Command("python3", "-c", "import boto3").Run() == nil
	for _, sz := range sizes {
		if only != "" && !containsWord(only, sz.name) {
			continue
		}
		b.Run("size="+sz.name+"/client=copier", func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.MultipartChecksum = ChecksumOff // the model keeps no checksums
			ps := cfg.partSize(sz.size)
			parts := int(ceilDiv(sz.size, ps))
			// HEAD source, GetObjectTagging, Create, the part waves,
			// Complete, HEAD target.
			formula, scale := timing(p, 5, parts, cfg.Concurrency, ps, 2*time.Second)
			m, client := modelFor(b, p, scale, cfg.Concurrency)
			m.PutObject("restore", "granules/object.h5", sz.size)
			copier := NewArchiveCopier(client, cfg)
			req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "granules/object.h5", TargetBucket: "archive"}
			m.ResetStats()
			var real time.Duration
			for b.Loop() {
				start := time.Now()
				out, err := copier.Copy(context.Background(), req)
				real += time.Since(start)
				if err != nil || !out.Complete || out.PartsTotal != parts {
					b.Fatalf("copy: %+v, %v; want complete in %d parts", out, err, parts)
				}
			}
			report(b, m, p, real, formula, sz.size, cfg.Concurrency, parts)
		})
		for _, c := range []struct {
			name     string
			chunkMiB int64
			threads  int
		}{{"boto3-orca", 250, 10}, {"boto3-cli", 8, 10}} {
			b.Run("size="+sz.name+"/client="+c.name, func(b *testing.B) {
				if !boto3 {
					b.Skip("python3 with boto3 not available")
				}
				ps := s3transferChunk(sz.size, c.chunkMiB*MiB)
				parts := int(ceilDiv(sz.size, ps))
				// HEAD source, Create, the part waves, Complete.
				formula, scale := timing(p, 3, parts, c.threads, ps, 500*time.Millisecond)
				m, _ := modelFor(b, p, scale, 0)
				m.PutObject("restore", "granules/object.h5", sz.size)
				script := filepath.Join("..", "..", "internal", "s3model", "testdata", "boto3_copy.py")
				m.ResetStats()
				var real time.Duration
				for b.Loop() {
					out, err := exec.Command("python3", script, "--endpoint", m.URL,
						"--source-bucket", "restore", "--source-key", "granules/object.h5", "--target-bucket", "archive",
						"--chunk-mib", fmt.Sprint(c.chunkMiB), "--threads", fmt.Sprint(c.threads)).Output()
					if err != nil {
						b.Fatalf("boto3 copy: %v\n%s", err, out)
					}
					var res struct{ Seconds float64 }
					if err := json.Unmarshal(out, &res); err != nil {
						b.Fatalf("boto3 copy printed %q: %v", out, err)
					}
					real += time.Duration(res.Seconds * float64(time.Second))
				}
				if got, ok := m.ObjectSize("archive", "granules/object.h5"); !ok || got != sz.size {
					b.Fatalf("archive object %d bytes (exists %v), want %d", got, ok, sz.size)
				}
				report(b, m, p, real, formula, sz.size, c.threads, parts)
			})
		}
	}
}

// modelFor starts the model at scale with the two buckets and returns it
// with an S3 client holding a connection per part (concurrency).
func modelFor(b *testing.B, p s3model.Params, scale float64, concurrency int) (*s3model.Server, *s3.Client) {
	b.Helper()
	p.TimeScale = scale
	m, err := s3model.Start(p)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	m.CreateBucket("restore")
	m.CreateBucket("archive")
	client := s3.NewFromConfig(m.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(m.URL)
		o.UsePathStyle = true
		o.HTTPClient = HTTPClient(max(concurrency, 1))
	})
	return m, client
}

// timing returns the model's time for a copy of parts parts of partSize,
// slots at once, after and before serial requests (formula), and the time
// scale to run it at: about 5 s of real time for the whole copy, but no part
// copy shorter than minPart of real time. A client's own CPU time per
// request is real time that the scale multiplies too; at 64 part copies
// ending together the Go SDK spends some 50 ms of CPU on this shared
// machine, and boto3 about 2 ms per request under one interpreter lock, so
// parts get at least 2 s (Go) and 500 ms (boto3) of real time, and the
// measured model time stays within a few per cent of the formula.
func timing(p s3model.Params, serial, parts, slots int, partSize int64, minPart time.Duration) (formula time.Duration, scale float64) {
	part := p.Latency.Seconds() + float64(partSize)/p.PartRate
	waves := (parts + slots - 1) / slots
	total := float64(serial)*p.Latency.Seconds() + float64(waves)*part
	return time.Duration(total * float64(time.Second)), max(min(total/5, part/minPart.Seconds()), 1)
}

// report adds the model-time metrics.
func report(b *testing.B, m *s3model.Server, p s3model.Params, real, formula time.Duration, size int64, concurrency, parts int) {
	model := m.ModelTime(real).Seconds() / float64(b.N)
	st := m.Stats()
	requests := 0
	for _, n := range st.Requests {
		requests += n
	}
	b.ReportMetric(model, "model-s/op")
	b.ReportMetric(formula.Seconds(), "formula-s/op")
	b.ReportMetric(model/p.Ideal(size, concurrency).Seconds(), "x-ideal")
	b.ReportMetric(model/p.Ideal(size, DefaultMultipartConcurrency).Seconds(), "x-ideal64")
	b.ReportMetric(float64(size)/model/1e6, "model-MB/s")
	b.ReportMetric(float64(parts), "parts")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(st.SlowDowns)/float64(b.N), "slowdowns/op")
	b.ReportMetric(m.Params().TimeScale, "timescale")
}

// s3transferChunk is the part size boto3's managed copy uses (s3transfer's
// ChunksizeAdjuster): the configured chunk, doubled until the copy needs at
// most 10,000 parts, within 5 MiB and 5 GiB.
func s3transferChunk(size, chunk int64) int64 {
	for ceilDiv(size, chunk) > MaxParts {
		chunk *= 2
	}
	return min(max(chunk, MinPartSize), MaxPartSize)
}

func containsWord(list, w string) bool {
	for _, s := range splitList(list) {
		if s == w {
			return true
		}
	}
	return false
}
