package s3model

import "time"

// The figures the model is calibrated against (see the package comment).
const (
	// GuidanceObjectSize is the object AWS's restore-and-copy guidance
	// reports copying in one Lambda invocation: "2-TB", taken as 2 × 10^12
	// bytes.
	GuidanceObjectSize = 2_000_000_000_000
	// GuidanceCopyTime is how long that copy took, "about five minutes".
	GuidanceCopyTime = 5 * time.Minute
	// GuidanceChunk and GuidanceThreads are the guidance's boto3 settings:
	// multipart_chunksize 16777216, max_concurrency 200.
	GuidanceChunk   = 16 << 20
	GuidanceThreads = 200
	// Boto3SerialRequests are the requests boto3's managed copy makes one
	// after another besides its part copies: HeadObject,
	// CreateMultipartUpload, CompleteMultipartUpload.
	Boto3SerialRequests = 3
	// PublishedPartRate is the rate AWS cites per request between EC2 and
	// S3: "one concurrent request for each 85-90 MB/s".
	PublishedPartRate = 88e6
)

// Boto3PartSize is the part size boto3's managed copy (s3transfer's
// ChunksizeAdjuster) uses for an object of size bytes at a configured
// chunk: doubled until the copy needs at most 10,000 parts, within S3's
// 5 MiB to 5 GiB.
func Boto3PartSize(size, chunk int64) int64 {
	for ceilDiv(size, chunk) > maxParts {
		chunk *= 2
	}
	return min(max(chunk, minPartSize), maxPartSize)
}

// CopyTime is the model's time for a copy of serial requests one after
// another plus parts part copies of partSize bytes, slots at once:
// serial × Latency + waves × (Latency + partSize / PartRate), waves =
// ceil(parts / slots). Without an aggregate cap that is what the model
// takes (plus the client's own time); with one it is a lower bound.
func (p Params) CopyTime(serial, parts, slots int, partSize int64) time.Duration {
	slots = max(slots, 1)
	waves := (parts + slots - 1) / slots
	part := p.Latency.Seconds() + float64(partSize)/p.PartRate
	return seconds(float64(serial)*p.Latency.Seconds() + float64(waves)*part)
}

// guidancePlan is boto3's plan for the calibration object: part size,
// parts, waves of GuidanceThreads.
func guidancePlan() (partSize int64, parts, waves int) {
	partSize = Boto3PartSize(GuidanceObjectSize, GuidanceChunk)
	parts = int(ceilDiv(GuidanceObjectSize, partSize))
	return partSize, parts, (parts + GuidanceThreads - 1) / GuidanceThreads
}

// calibratedPartRate is the per-request rate at which the guidance's plan
// for GuidanceObjectSize takes GuidanceCopyTime:
// (serial + waves) × latency + waves × partSize / rate = GuidanceCopyTime.
func calibratedPartRate(latency time.Duration) float64 {
	partSize, _, waves := guidancePlan()
	moving := GuidanceCopyTime.Seconds() - float64(Boto3SerialRequests+waves)*latency.Seconds()
	return float64(waves) * float64(partSize) / moving
}

// calibratedAggregateRate is the aggregate cap at which the guidance's copy
// of GuidanceObjectSize takes GuidanceCopyTime with every request at
// PublishedPartRate (about: the last, partial wave runs below the cap).
func calibratedAggregateRate(latency time.Duration) float64 {
	_, _, waves := guidancePlan()
	moving := GuidanceCopyTime.Seconds() - float64(Boto3SerialRequests+waves)*latency.Seconds()
	return GuidanceObjectSize / moving
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
