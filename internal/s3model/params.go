// Package s3model is a model of Amazon S3's server-side copy, served over
// HTTP on loopback for benchmarks and tests: enough of the S3 API for the
// copy Lambda's copier and for boto3's managed copy (HeadBucket, HeadObject,
// GetObjectTagging, CopyObject, CreateMultipartUpload, UploadPartCopy,
// ListParts, CompleteMultipartUpload, AbortMultipartUpload, DeleteObject,
// PutObject), where objects are sizes and ETags only and no byte is moved.
//
// A copy request (UploadPartCopy, CopyObject) takes the base latency plus
// its bytes divided by the per-request rate, the rate shared fairly when an
// optional aggregate cap is reached; every other request takes the base
// latency. Writes (PUT/COPY/POST/DELETE) above a rate per prefix are refused
// with 503 SlowDown, and a Burst refuses part copies above a number in
// flight for a while, for tests of back-off. Time is real sleeps scaled by
// Params.TimeScale, so a copy of 1 TiB that would take minutes on S3 takes
// seconds here (or, below 1, slower than S3); ModelTime converts a measured
// duration back. Params.TLS serves HTTPS, so a client's CPU time includes
// its TLS handshakes as on S3.
//
// What the parameters rest on (DefaultParams), and what the calibration
// against AWS's one end-to-end figure fixed (Calibrated, below):
//
//   - Per-request copy rate: calibrated, about 34.5 MB/s per UploadPartCopy
//     or CopyObject. AWS's restore-and-copy guidance copies with boto3 at
//     16 MiB parts and 200 threads and "has been tested successfully, under
//     ideal conditions, with up to 2-TB single objects size in the same
//     region" within Lambda's 15 minutes
//     (https://github.com/aws-solutions-library-samples/guidance-for-automated-restore-and-copy-for-amazon-s3-glacier-objects,
//     "Performance and Troubleshooting"; the same words in
//     https://aws.amazon.com/blogs/storage/copying-objects-greater-than-5-gb-with-amazon-s3-batch-operations/),
//     reported as about five minutes for the 2 TB object. boto3 copies 2 TB
//     in 7,451 parts of 256 MiB (16 MiB doubled until at most 10,000
//     parts), 38 waves of 200; five minutes for that plan gives the rate
//     (calibratedPartRate). The rate AWS cites for requests between EC2 and
//     S3, "one concurrent request for each 85-90 MB/s"
//     (https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/horizontal-scaling-and-request-parallelization-for-high-throughput.html),
//     would copy it in about two minutes: a server-side part copy is
//     taken to be slower than a GET. What the figure cannot tell is whether
//     the limit is per request (this model) or per object, all requests
//     sharing a cap (CapParams: 88 MB/s per request, 6.8 GB/s in all,
//     which fits the same figure); that remains a guess, as does the
//     figure itself (one run, "about").
//   - Base latency 100 ms: S3 gives "small object latencies (and
//     first-byte-out latencies for larger objects) of roughly 100-200
//     milliseconds"
//     (https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html).
//     The low end is taken, for every request alike; that
//     CreateMultipartUpload, CompleteMultipartUpload and HEAD cost the same
//     as a GET's first byte is a guess. The calibration depends on it only
//     weakly (41 round trips of 300 s).
//   - 3,500 writes per second per prefix: "at least 3,500
//     PUT/COPY/POST/DELETE or 5,500 GET/HEAD requests per second per
//     partitioned Amazon S3 prefix", with 503 Slow Down while S3 scales
//     (same page). Published, not calibrated. The model does not scale:
//     the limit is fixed, per bucket and key prefix up to the last '/'.
//   - No variance: every request of the same size takes the same time.
//     Real S3 has a latency tail, which favours more, smaller parts than
//     the model does.
package s3model

import "time"

// Params are the model's parameters. Rates and durations are in model time.
type Params struct {
	// TimeScale is model seconds per real second: 20 runs a copy that
	// takes 20 s on the model in 1 s, 0.25 runs it four times slower than
	// S3 would (for clients whose own CPU time per request must stay small
	// beside a request's). Zero or less is taken as 1.
	TimeScale float64
	// Latency is every request's base latency.
	Latency time.Duration
	// PartRate is the bytes per second one copy request (UploadPartCopy,
	// CopyObject) moves.
	PartRate float64
	// AggregateRate, when positive, caps the bytes per second all copy
	// requests in flight move together; each then gets an equal share
	// (at most PartRate).
	AggregateRate float64
	// PrefixWriteRate, when positive, is the most PUT/COPY/POST/DELETE
	// requests per second the model accepts per bucket and key prefix (up
	// to the last '/'), counted over the last second; above it a write is
	// answered 503 SlowDown at once.
	PrefixWriteRate float64
	// Burst, when set, is a SlowDown burst (see Burst).
	Burst *Burst
	// TLS serves HTTPS with a self-signed certificate (Server.Certificate),
	// so a client's CPU time includes TLS as on S3.
	TLS bool
}

// Burst is a period of 503 SlowDown for part copies, delimited by counts of
// completed part copies rather than by time, so that what a test sees does
// not depend on the machine's speed: from the moment AfterParts part copies
// have completed until Parts more have, an UploadPartCopy that arrives while
// MaxInFlight or more others are in flight is answered 503 SlowDown.
type Burst struct {
	AfterParts  int
	Parts       int
	MaxInFlight int
}

// DefaultParams are the parameters of the benchmarks, from the public
// figures named in the package comment, at time scale 1: 100 ms per
// request, the calibrated per-request copy rate (about 34.5 MB/s), 3,500
// writes per second per prefix, no aggregate cap.
func DefaultParams() Params {
	latency := 100 * time.Millisecond
	return Params{
		TimeScale:       1,
		Latency:         latency,
		PartRate:        calibratedPartRate(latency),
		PrefixWriteRate: 3500,
	}
}

// CapParams are the other reading of the same calibration figure: every
// copy request at the rate AWS cites for GET and PUT (PublishedPartRate),
// all of them sharing an aggregate cap set so that the guidance's copy of
// 2 TB takes five minutes (about 6.8 GB/s). Under it more part copies in
// flight than the cap can feed buy nothing.
func CapParams() Params {
	p := DefaultParams()
	p.PartRate = PublishedPartRate
	p.AggregateRate = calibratedAggregateRate(p.Latency)
	return p
}

// Ideal is the copy time the issue measures against: size bytes moved by
// concurrency requests at once at the per-request rate, with no latency.
func (p Params) Ideal(size int64, concurrency int) time.Duration {
	return time.Duration(float64(size) / (float64(concurrency) * p.PartRate) * float64(time.Second))
}

func (p Params) scale() float64 {
	if p.TimeScale <= 0 {
		return 1
	}
	return p.TimeScale
}
