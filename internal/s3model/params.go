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
// seconds here; ModelTime converts a measured duration back.
//
// What the parameters rest on (DefaultParams):
//
//   - Per-request rate 88 MB/s: AWS's performance guidelines advise "one
//     concurrent request for each 85–90 MB/s of desired network throughput"
//     (https://docs.aws.amazon.com/whitepapers/latest/s3-optimizing-performance-best-practices/horizontal-scaling-and-request-parallelization-for-high-throughput.html).
//     That figure is for GET and PUT between S3 and EC2. AWS publishes no
//     rate for a server-side UploadPartCopy; using the same figure for it
//     is a guess.
//   - Base latency 100 ms: S3 gives "small object latencies (and
//     first-byte-out latencies for larger objects) of roughly 100–200
//     milliseconds"
//     (https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html);
//     S3 Express One Zone, "single-digit millisecond", is "up to 10x faster
//     than S3 Standard"
//     (https://docs.aws.amazon.com/AmazonS3/latest/userguide/s3-express-performance.html).
//     The low end is taken, for every request alike; that
//     CreateMultipartUpload, CompleteMultipartUpload and HEAD cost the same
//     as a GET's first byte is a guess (CompleteMultipartUpload of many parts
//     can take longer on S3).
//   - 3,500 writes per second per prefix: "at least 3,500
//     PUT/COPY/POST/DELETE or 5,500 GET/HEAD requests per second per
//     partitioned Amazon S3 prefix", with 503 Slow Down while S3 scales
//     (same page). The model does not scale: the limit is fixed, per
//     bucket and key prefix up to the last '/'.
//   - No aggregate cap by default: AWS publishes no limit on one object's
//     or one bucket's server-side copy throughput. AWS tested its Lambda
//     copier with "up to 2-TB single objects size in the same region"
//     within the 15-minute limit
//     (https://aws.amazon.com/blogs/storage/copying-objects-greater-than-5-gb-with-amazon-s3-batch-operations/),
//     so at least about 2.2 GB/s per object is reachable; a cap is a
//     parameter for what-if runs.
//   - No variance: every request of the same size takes the same time.
//     Real S3 has a latency tail, which favours more, smaller parts than
//     the model does.
package s3model

import "time"

// Params are the model's parameters. Rates and durations are in model time.
type Params struct {
	// TimeScale is model seconds per real second: 20 runs a copy that
	// takes 20 s on the model in 1 s. Values below 1 are taken as 1.
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
// figures named in the package comment, at time scale 1.
func DefaultParams() Params {
	return Params{
		TimeScale:       1,
		Latency:         100 * time.Millisecond,
		PartRate:        88e6,
		PrefixWriteRate: 3500,
	}
}

// Ideal is the copy time the issue measures against: size bytes moved by
// concurrency requests at once at the per-request rate, with no latency.
func (p Params) Ideal(size int64, concurrency int) time.Duration {
	return time.Duration(float64(size) / (float64(concurrency) * p.PartRate) * float64(time.Second))
}

func (p Params) scale() float64 { return max(p.TimeScale, 1) }
