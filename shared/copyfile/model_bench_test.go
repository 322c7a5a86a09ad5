package copyfile

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3model"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// copierSerialRequests are the round trips this copier waits for one after
// another besides its part waves, given the object's size as the workflow
// gives it: HeadObject with GetObjectTagging at once,
// CreateMultipartUpload, CompleteMultipartUpload. TestCopyRoundTrips
// counts them; the benchmarks measure them on the model (serial-rt).
const copierSerialRequests = 3

// boto3Client is boto3's managed copy at one configuration.
type boto3Client struct {
	name     string
	chunkMiB int64
	threads  int
	// minPart is the real time a part copy lasts at least: boto3 spends
	// about 2 ms of CPU per request under Python's interpreter lock, and
	// the time scale multiplies it too.
	minPart time.Duration
	// thresholdMiB is multipart_threshold (0: boto3's 8 MiB): smaller
	// objects are copied with one CopyObject.
	thresholdMiB int64
	// guidanceCalls: HeadObject and GetObjectTagging before the copy, as
	// the guidance's Lambda does to copy metadata and tags.
	guidanceCalls bool
}

// boto3Clients: AWS's restore-and-copy guidance's settings (16 MiB, 200
// threads, multipart from 8 MiB: the client), the guidance as its
// Lambda runs them (also multipart_threshold 5 GiB and its HeadObject and
// GetObjectTagging first:
// https://github.com/aws-solutions-library-samples/guidance-for-automated-restore-and-copy-for-amazon-s3-glacier-objects,
// src/function-codes/EventDrivenCopy.py and the README's template values),
// NASA ORCA (250 MiB, 10) and the AWS CLI (8 MiB, 10).
var boto3Clients = []boto3Client{
	{name: "boto3-awsg", chunkMiB: s3model.GuidanceChunk / MiB, threads: s3model.GuidanceThreads, minPart: 1500 * time.Millisecond},
	{name: "boto3-awsg-lambda", chunkMiB: s3model.GuidanceChunk / MiB, threads: s3model.GuidanceThreads, minPart: 1500 * time.Millisecond,
		thresholdMiB: 5120, guidanceCalls: true},
	{name: "boto3-orca", chunkMiB: 250, threads: 10, minPart: 500 * time.Millisecond},
	{name: "boto3-cli", chunkMiB: 8, threads: 10, minPart: 500 * time.Millisecond},
}

// plan returns the client's part size, parts and formula for an object of
// size bytes: one CopyObject below the threshold, else HeadObject, Create,
// the waves, Complete; and the guidance's two calls first.
func (c boto3Client) plan(p s3model.Params, size int64) (partSize int64, parts int, formula time.Duration) {
	extra := 0
	if c.guidanceCalls {
		extra = 2
	}
	if size < max(c.thresholdMiB, 8)*MiB {
		return size, 1, p.CopyTime(extra+1, 1, 1, size)
	}
	partSize = s3model.Boto3PartSize(size, c.chunkMiB*MiB)
	parts = int(ceilDiv(size, partSize))
	return partSize, parts, p.CopyTime(extra+s3model.Boto3SerialRequests, parts, c.threads, partSize)
}

// modelSizes are the object sizes of the model benchmarks; 3 GiB is where
// the guidance's plan is strongest against this copier's (200 parts of
// 16 MiB in one wave), 2 TB is the calibration object.
var modelSizes = []struct {
	name string
	size int64
}{
	{"1GiB", 1 << 30}, {"3GiB", 3 << 30}, {"10GiB", 10 << 30}, {"100GiB", 100 << 30},
	{"1TiB", 1 << 40}, {"2TB", s3model.GuidanceObjectSize},
}

// BenchmarkModelCopy copies one object on the model of S3 (internal/s3model,
// DefaultParams: 100 ms per request, the calibrated 34.5 MB/s per part copy,
// 3,500 writes per second per prefix) with this copier at its defaults and
// with boto3's managed copy at the guidance's, ORCA's and the CLI's
// settings. It reports model time (model-s/op), the formula for the plan
// (formula-s/op: serial requests plus waves of parts), x-ideal (model time
// over size / (concurrency × rate) at the client's own concurrency),
// x-guidance (the guidance's formula over this row's model time: above 1 is
// faster than the guidance), serial-rt (the round trips not spent in part
// waves, measured: (model time - waves × part time) / latency) and the
// requests the model answered.
//
// MODEL_BENCH_SIZES (e.g. "1GiB,3GiB") limits the sizes, MODEL_BENCH_CLIENTS
// (e.g. "copier,boto3-awsg") the clients; MODEL_PARAMS=cap runs CapParams
// (88 MB/s per request, a 6.76 GB/s cap in all), MODEL_PARAMS=published
// 88 MB/s per request without a cap. boto3 rows are skipped without python3
// and boto3.
func BenchmarkModelCopy(b *testing.B) {
	p := benchParams(b)
	boto3 := exec.Command("python3", "-c", "import boto3").Run() == nil
	for _, sz := range modelSizes {
		if !selected("MODEL_BENCH_SIZES", sz.name) {
			continue
		}
		if selected("MODEL_BENCH_CLIENTS", "copier") {
			b.Run("size="+sz.name+"/client=copier", func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.MultipartChecksum = ChecksumOff // the model keeps no checksums
				ps := cfg.partSize(sz.size)
				parts := int(ceilDiv(sz.size, ps))
				formula := p.CopyTime(copierSerialRequests, parts, cfg.Concurrency, ps)
				m, client := modelFor(b, p, timeScale(p, formula, ps, 2*time.Second), cfg.Concurrency)
				m.PutObject("restore", "granules/object.h5", sz.size)
				copier := NewArchiveCopier(client, cfg)
				req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "granules/object.h5", TargetBucket: "archive", Size: sz.size}
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
				report(b, m, p, real, formula, sz.size, cfg.Concurrency, parts, ps)
			})
		}
		for _, c := range boto3Clients {
			if !selected("MODEL_BENCH_CLIENTS", c.name) {
				continue
			}
			b.Run("size="+sz.name+"/client="+c.name, func(b *testing.B) {
				if !boto3 {
					b.Skip("python3 with boto3 not available")
				}
				ps, parts, formula := c.plan(p, sz.size)
				m, _ := modelFor(b, p, timeScale(p, formula, ps, c.minPart), 0)
				m.PutObject("restore", "granules/object.h5", sz.size)
				script := filepath.Join("..", "..", "internal", "s3model", "testdata", "boto3_copy.py")
				m.ResetStats()
				var real time.Duration
				args := []string{script, "--endpoint", m.URL,
					"--source-bucket", "restore", "--source-key", "granules/object.h5", "--target-bucket", "archive",
					"--chunk-mib", fmt.Sprint(c.chunkMiB), "--threads", fmt.Sprint(c.threads)}
				if c.thresholdMiB > 0 {
					args = append(args, "--threshold-mib", fmt.Sprint(c.thresholdMiB))
				}
				if c.guidanceCalls {
					args = append(args, "--guidance-calls")
				}
				for b.Loop() {
					out, err := exec.Command("python3", args...).Output()
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
				report(b, m, p, real, formula, sz.size, c.threads, parts, ps)
			})
		}
	}
}

// BenchmarkModelThreshold sets the CopyObject/multipart threshold from the
// model: it copies objects around it with this copier both ways, one
// CopyObject (HeadObject, CopyObject, the verifying HeadObject) and a
// multipart copy at the defaults (HeadObject with GetObjectTagging, Create,
// the parts, Complete), and reports model time, the formula and requests.
// MODEL_BENCH_SIZES limits the sizes (e.g. "24MiB").
func BenchmarkModelThreshold(b *testing.B) {
	p := benchParams(b)
	for _, mib := range []int64{12, 24, 48, 256} {
		size := mib * MiB
		name := fmt.Sprintf("%dMiB", mib)
		if !selected("MODEL_BENCH_SIZES", name) {
			continue
		}
		for _, whole := range []bool{true, false} {
			mode := "multipart"
			if whole {
				mode = "CopyObject"
			}
			b.Run("size="+name+"/"+mode, func(b *testing.B) {
				cfg := DefaultConfig()
				cfg.MultipartChecksum = ChecksumOff
				cfg.MultipartThreshold = 0
				ps, parts := size, 1
				formula := p.CopyTime(2, 1, 1, size)
				if whole {
					cfg.MultipartThreshold = MaxCopyObjectSize
				} else {
					ps = cfg.partSize(size)
					parts = int(ceilDiv(size, ps))
					formula = p.CopyTime(copierSerialRequests, parts, cfg.Concurrency, ps)
				}
				m, client := modelFor(b, p, timeScale(p, formula, ps, 2*time.Second), cfg.Concurrency)
				m.PutObject("restore", "granules/object.h5", size)
				copier := NewArchiveCopier(client, cfg)
				req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "granules/object.h5", TargetBucket: "archive", Size: size}
				m.ResetStats()
				var real time.Duration
				for b.Loop() {
					start := time.Now()
					out, err := copier.Copy(context.Background(), req)
					real += time.Since(start)
					if err != nil || !out.Complete || out.Multipart == whole {
						b.Fatalf("copy: %+v, %v; want complete, multipart %v", out, err, !whole)
					}
				}
				report(b, m, p, real, formula, size, cfg.Concurrency, parts, ps)
			})
		}
	}
}

// BenchmarkModelTenCopies runs ten copies at once into one prefix, as one
// execution's Map does at its default MaxConcurrency, each of them copying
// two objects back to back (so the model's one-second window sees copies
// following each other), with the model refusing writes above 3,500 per
// second per prefix. It reports the mean copy's model time, its ratio to
// one copy alone by the formula (x-alone: what SlowDown and sharing cost),
// the SlowDowns per copy and the most writes the prefix accepted within one
// model second (peak-writes/s). MODEL_PARAMS as for BenchmarkModelCopy;
// MODEL_BENCH_SIZES limits the sizes (default 1GiB, 3GiB and 10GiB);
// MODEL_BENCH_TIMESCALE sets the time scale. The copier's back-offs are
// scaled with it, so they last in model time what they would on S3.
func BenchmarkModelTenCopies(b *testing.B) {
	const copies, rounds = 10, 2
	p := benchParams(b)
	for _, sz := range modelSizes[:3] {
		if !selected("MODEL_BENCH_SIZES", sz.name) {
			continue
		}
		b.Run("size="+sz.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.MultipartChecksum = ChecksumOff
			ps := cfg.partSize(sz.size)
			parts := int(ceilDiv(sz.size, ps))
			alone := p.CopyTime(copierSerialRequests, parts, cfg.Concurrency, ps)
			// 2,560 part copies start at once in this one process: give
			// each at least 4 s of real time so the clients' CPU stays small
			// beside it (MODEL_BENCH_TIMESCALE sets the scale instead).
			scale := timeScale(p, alone, ps, 4*time.Second)
			if v := os.Getenv("MODEL_BENCH_TIMESCALE"); v != "" {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil || f <= 0 {
					b.Fatalf("MODEL_BENCH_TIMESCALE=%q: want a positive number", v)
				}
				scale = f
			}
			m, _ := modelFor(b, p, scale, 0)
			// The test binary's back-off and least time between cuts are
			// 1 ms (window_test.go); here they are S3's, in model time:
			// fullJitterBackoff's and firstBackoff's real time over the
			// scale.
			saved, savedGap := throttleBackoff, cutGap
			throttleBackoff = func(n int) time.Duration { return time.Duration(float64(fullJitterBackoff(n)) / scale) }
			cutGap = time.Duration(float64(firstBackoff) / scale)
			b.Cleanup(func() { throttleBackoff, cutGap = saved, savedGap })
			for w := range copies {
				for r := range rounds {
					m.PutObject("restore", fmt.Sprintf("granules/object-%d-%d.h5", w, r), sz.size)
				}
			}
			m.ResetStats()
			var total time.Duration
			var mu sync.Mutex
			for b.Loop() {
				var wg sync.WaitGroup
				errs := make(chan error, copies*rounds)
				for w := range copies {
					wg.Add(1)
					go func() {
						defer wg.Done()
						// Each copy Lambda has its own client and copier.
						copier := NewArchiveCopier(modelClientFor(m, cfg.Concurrency), cfg)
						for r := range rounds {
							key := fmt.Sprintf("granules/object-%d-%d.h5", w, r)
							start := time.Now()
							out, err := copier.Copy(context.Background(), contract.CopyRequest{SourceBucket: "restore", SourceKey: key, TargetBucket: "archive", Size: sz.size})
							d := time.Since(start)
							if err == nil && !out.Complete {
								err = fmt.Errorf("%s: incomplete %+v", key, out)
							}
							if err != nil {
								errs <- err
								return
							}
							mu.Lock()
							total += d
							mu.Unlock()
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					b.Fatal(err)
				}
			}
			st := m.Stats()
			n := float64(b.N * copies * rounds)
			mean := m.ModelTime(total).Seconds() / n
			b.ReportMetric(mean, "model-s/copy")
			b.ReportMetric(alone.Seconds(), "formula-s/copy")
			b.ReportMetric(mean/alone.Seconds(), "x-alone")
			b.ReportMetric(float64(st.SlowDowns)/n, "slowdowns/copy")
			b.ReportMetric(float64(st.PeakPrefixWrites), "peak-writes/s")
			b.ReportMetric(m.Params().TimeScale, "timescale")
		})
	}
}

// benchParams are the model's parameters MODEL_PARAMS names.
func benchParams(b *testing.B) s3model.Params {
	switch v := os.Getenv("MODEL_PARAMS"); v {
	case "":
		return s3model.DefaultParams()
	case "cap":
		return s3model.CapParams()
	case "published":
		p := s3model.DefaultParams()
		p.PartRate = s3model.PublishedPartRate
		return p
	default:
		b.Fatalf("MODEL_PARAMS=%q: want empty, cap or published", v)
		return s3model.Params{}
	}
}

// modelFor starts the model at scale with the two buckets and returns it
// with an S3 client holding a connection per part (concurrency).
func modelFor(b testing.TB, p s3model.Params, scale float64, concurrency int) (*s3model.Server, *s3.Client) {
	b.Helper()
	p.TimeScale = scale
	m, err := s3model.Start(p)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	m.CreateBucket("restore")
	m.CreateBucket("archive")
	return m, modelClientFor(m, concurrency)
}

// modelClientFor is an S3 client for the model with the Lambda's HTTP client.
func modelClientFor(m *s3model.Server, concurrency int) *s3.Client {
	return s3.NewFromConfig(m.AWSConfig(), func(o *s3.Options) {
		o.BaseEndpoint = aws.String(m.URL)
		o.UsePathStyle = true
		o.HTTPClient = HTTPClient(max(concurrency, 1))
	})
}

// timeScale is the model's time scale for a copy whose formula is total
// with parts of partSize: about 5 s of real time for the whole copy, but no
// part copy shorter than minPart of real time (so the scale may be below 1,
// slower than S3), and the whole copy at most 30 s of real time. A client's
// own CPU time per request is real time that the scale multiplies too; the
// minimum keeps it a few per cent of a part, except where the 30 s bound
// shortens the parts (boto3 at 10 threads on objects of hundreds of parts),
// whose rows then carry more of it.
func timeScale(p s3model.Params, total time.Duration, partSize int64, minPart time.Duration) float64 {
	part := p.Latency.Seconds() + float64(partSize)/p.PartRate
	return max(min(total.Seconds()/5, part/minPart.Seconds()), total.Seconds()/30)
}

// report adds the model-time metrics.
func report(b *testing.B, m *s3model.Server, p s3model.Params, real, formula time.Duration, size int64, concurrency, parts int, partSize int64) {
	model := m.ModelTime(real).Seconds() / float64(b.N)
	st := m.Stats()
	requests := 0
	for _, n := range st.Requests {
		requests += n
	}
	waves := (parts + concurrency - 1) / concurrency
	partTime := p.Latency.Seconds() + float64(partSize)/p.PartRate
	b.ReportMetric(model, "model-s/op")
	b.ReportMetric(formula.Seconds(), "formula-s/op")
	b.ReportMetric(model/p.Ideal(size, concurrency).Seconds(), "x-ideal")
	b.ReportMetric(guidanceTime(p, size).Seconds()/model, "x-guidance")
	b.ReportMetric((model-float64(waves)*partTime)/p.Latency.Seconds(), "serial-rt")
	b.ReportMetric(float64(size)/model/1e6, "model-MB/s")
	b.ReportMetric(float64(parts), "parts")
	b.ReportMetric(float64(requests)/float64(b.N), "requests/op")
	b.ReportMetric(float64(st.SlowDowns)/float64(b.N), "slowdowns/op")
	b.ReportMetric(m.Params().TimeScale, "timescale")
}

// guidanceTime is the formula for the guidance's boto3 copy of size bytes.
func guidanceTime(p s3model.Params, size int64) time.Duration {
	ps := s3model.Boto3PartSize(size, s3model.GuidanceChunk)
	return p.CopyTime(s3model.Boto3SerialRequests, int(ceilDiv(size, ps)), s3model.GuidanceThreads, ps)
}

// selected says whether the comma-separated list in the variable env holds
// w, or the variable is empty.
func selected(env, w string) bool {
	list := os.Getenv(env)
	if list == "" {
		return true
	}
	for _, s := range ParseList(list) {
		if s == w {
			return true
		}
	}
	return false
}

// TestModelCopyMaxObjectAcrossPasses copies S3's largest object, 10,000
// parts of 5 GiB (48.8 TiB), on the model as the workflow does: one Lambda
// pass after another, each given 870 s of model time before its margin, the
// next resuming with the token the last returned, until the copy
// completes. Each pass must make progress, the upload must be completed
// once with every part, and none may be left open. A part lasts half a
// real second, so the copier's finish reserve (at least one real second,
// 311 s of model time here, against about 39 s deployed) makes the passes
// here shorter than deployed ones: the number of passes is logged, not
// asserted beyond "more than one".
func TestModelCopyMaxObjectAcrossPasses(t *testing.T) {
	if testing.Short() {
		t.Skip("copies 10,000 parts across passes (about half a minute)")
	}
	p := s3model.DefaultParams()
	cfg := DefaultConfig()
	cfg.MultipartChecksum = ChecksumOff
	cfg.DeadlineMargin = MinDeadlineMargin
	cfg.ProgressInterval = time.Hour
	const size = int64(MaxParts) * MaxPartSize
	ps := cfg.partSize(size)
	if ps != MaxPartSize {
		t.Fatalf("part size %d for 48.8 TiB, want %d", ps, int64(MaxPartSize))
	}
	partTime := p.Latency.Seconds() + float64(ps)/p.PartRate
	scale := partTime / 0.5
	window := time.Duration(870 / scale * float64(time.Second)) // a pass's copy time, real
	m, client := modelFor(t, p, scale, cfg.Concurrency)
	m.PutObject("restore", "granules/huge.h5", size)
	copier := NewArchiveCopier(client, cfg)
	req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "granules/huge.h5", TargetBucket: "archive", Size: size}

	var real time.Duration
	passes, done := 0, 0
	for {
		passes++
		if passes > 60 {
			t.Fatalf("not complete after %d passes (%d parts done)", passes-1, done)
		}
		ctx, cancel := context.WithTimeout(context.Background(), cfg.DeadlineMargin+window)
		start := time.Now()
		out, err := copier.Copy(ctx, req)
		real += time.Since(start)
		cancel()
		if err != nil {
			t.Fatalf("pass %d: %v", passes, err)
		}
		if out.Complete {
			if out.PartsTotal != MaxParts || out.Bytes != size {
				t.Errorf("complete outcome %+v, want %d parts, %d bytes", out, MaxParts, size)
			}
			break
		}
		if out.PartsDone <= done || out.UploadID == "" {
			t.Fatalf("pass %d made no progress: %+v (had %d parts)", passes, out, done)
		}
		done = out.PartsDone
		req.UploadID, req.SourceETag, req.PartSize = out.UploadID, out.SourceETag, out.PartSize
	}
	if passes < 2 {
		t.Errorf("copied in %d pass; a 48.8 TiB copy must need several", passes)
	}
	if got, ok := m.ObjectSize("archive", "granules/huge.h5"); !ok || got != size {
		t.Errorf("archive object %d bytes (exists %v), want %d", got, ok, size)
	}
	st := m.Stats()
	if st.Requests["CreateMultipartUpload"] != 1 || st.Requests["CompleteMultipartUpload"] != 1 || m.Uploads() != 0 {
		t.Errorf("uploads created %d, completed %d, left open %d; want 1, 1, 0",
			st.Requests["CreateMultipartUpload"], st.Requests["CompleteMultipartUpload"], m.Uploads())
	}
	if st.Requests["UploadPartCopy"] < MaxParts {
		t.Errorf("%d part copies, want at least %d", st.Requests["UploadPartCopy"], MaxParts)
	}
	t.Logf("48.8 TiB: %d passes, %d part copies (%d again after a cut), %d ListParts pages, model time %.0f s (formula in one pass %.0f s), time scale %.0f",
		passes, st.Requests["UploadPartCopy"], st.Requests["UploadPartCopy"]-MaxParts, st.Requests["ListParts"],
		m.ModelTime(real).Seconds(), p.CopyTime(copierSerialRequests, MaxParts, cfg.Concurrency, ps).Seconds(), scale)
}

// BenchmarkCopierCPU measures this copier's own CPU time per part copy at
// the default concurrency under one vCPU's share (a 1,769 MB Lambda): the
// copies run in a child process (this test binary, TestCopierCPUChild) with
// GOMAXPROCS=1, over TLS to the model (time scale 1, so the copy runs as
// long as on S3), and the child's user + system CPU time (getrusage) is
// divided by its part copies. cold opens a new client per copy (a TLS
// handshake per connection, as the first invocation of a Lambda does);
// warm reuses one (an invocation finding its connections open). It reports
// cpu-ms/part, cpu-ms/op, wall-s/op against formula-s/op (a wall time
// above the formula means one vCPU could not keep up) and vcpu-needed, the
// CPU time over the formula: the share of a vCPU the copy needs so that CPU
// is not what limits it (× 1,769 MB is the memory that gives that share).
// MODEL_BENCH_SIZES limits the sizes (default 1GiB, 3GiB, 10GiB).
func BenchmarkCopierCPU(b *testing.B) {
	p := s3model.DefaultParams()
	p.TLS = true
	cfg := DefaultConfig()
	for _, sz := range modelSizes[:3] {
		if !selected("MODEL_BENCH_SIZES", sz.name) {
			continue
		}
		for _, mode := range []string{"cold", "warm"} {
			b.Run("size="+sz.name+"/"+mode, func(b *testing.B) {
				ps := cfg.partSize(sz.size)
				parts := int(ceilDiv(sz.size, ps))
				formula := p.CopyTime(copierSerialRequests, parts, cfg.Concurrency, ps)
				m, _ := modelFor(b, p, 1, 0)
				m.PutObject("restore", "granules/object.h5", sz.size)
				ca := filepath.Join(b.TempDir(), "model-ca.pem")
				if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: m.Certificate().Raw}), 0o600); err != nil {
					b.Fatal(err)
				}
				var cpu, wall time.Duration
				for b.Loop() {
					cmd := exec.Command(os.Args[0], "-test.run=^TestCopierCPUChild$", "-test.count=1")
					cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "COPIER_CPU_CHILD=1", "MODEL_URL="+m.URL, "MODEL_CA="+ca,
						"MODEL_MODE="+mode, "MODEL_COPIES=3", "MODEL_SIZE="+strconv.FormatInt(sz.size, 10))
					out, err := cmd.CombinedOutput()
					if err != nil {
						b.Fatalf("child: %v\n%s", err, out)
					}
					var res cpuResult
					if err := parseCPUResult(out, &res); err != nil {
						b.Fatalf("child printed %q: %v", out, err)
					}
					if res.Parts != 3*parts {
						b.Fatalf("child copied %d parts, want %d", res.Parts, 3*parts)
					}
					cpu += time.Duration(res.CPUNanos)
					wall += time.Duration(res.WallNanos)
				}
				copies := float64(b.N * 3)
				perCopy := cpu.Seconds() / copies
				b.ReportMetric(perCopy*1000/float64(parts), "cpu-ms/part")
				b.ReportMetric(perCopy*1000, "cpu-ms/op")
				b.ReportMetric(wall.Seconds()/copies, "wall-s/op")
				b.ReportMetric(formula.Seconds(), "formula-s/op")
				b.ReportMetric(perCopy/formula.Seconds(), "vcpu-needed")
			})
		}
	}
}

// cpuResult is what TestCopierCPUChild prints.
type cpuResult struct {
	CPUNanos  int64 `json:"cpu_ns"`
	WallNanos int64 `json:"wall_ns"`
	Parts     int   `json:"parts"`
}

func parseCPUResult(out []byte, res *cpuResult) error {
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "CPU_RESULT "); ok {
			return json.Unmarshal([]byte(v), res)
		}
	}
	return fmt.Errorf("no CPU_RESULT line")
}

// TestCopierCPUChild is BenchmarkCopierCPU's child process: it copies
// MODEL_COPIES times (after one unmeasured copy in warm mode) and prints
// its CPU and wall time. It does nothing unless COPIER_CPU_CHILD is set.
func TestCopierCPUChild(t *testing.T) {
	if os.Getenv("COPIER_CPU_CHILD") == "" {
		t.Skip("the child process of BenchmarkCopierCPU")
	}
	pemBytes, err := os.ReadFile(os.Getenv("MODEL_CA"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		t.Fatal("MODEL_CA holds no certificate")
	}
	copies, err := strconv.Atoi(os.Getenv("MODEL_COPIES"))
	if err != nil {
		t.Fatal(err)
	}
	size, err := strconv.ParseInt(os.Getenv("MODEL_SIZE"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.MultipartChecksum = ChecksumOff
	newClient := func() *s3.Client {
		return s3.NewFromConfig(aws.Config{Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("model", "model", "")}, func(o *s3.Options) {
			o.BaseEndpoint = aws.String(os.Getenv("MODEL_URL"))
			o.UsePathStyle = true
			o.HTTPClient = HTTPClient(cfg.Concurrency).WithTransportOptions(func(tr *http.Transport) {
				tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
			})
		})
	}
	req := contract.CopyRequest{SourceBucket: "restore", SourceKey: "granules/object.h5", TargetBucket: "archive", Size: size}
	client := newClient()
	warm := os.Getenv("MODEL_MODE") == "warm"
	if warm {
		if _, err := NewArchiveCopier(client, cfg).Copy(context.Background(), req); err != nil {
			t.Fatal(err)
		}
	}
	var before, after syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &before); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	parts := 0
	for range copies {
		if !warm {
			client = newClient()
		}
		out, err := NewArchiveCopier(client, cfg).Copy(context.Background(), req)
		if err != nil || !out.Complete {
			t.Fatalf("copy: %+v, %v", out, err)
		}
		parts += out.PartsTotal
	}
	wall := time.Since(start)
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &after); err != nil {
		t.Fatal(err)
	}
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	res, _ := json.Marshal(cpuResult{CPUNanos: int64(cpu), WallNanos: int64(wall), Parts: parts})
	fmt.Printf("CPU_RESULT %s\n", res)
}
