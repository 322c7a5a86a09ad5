package s3model

import (
	"math"
	"testing"
	"time"
)

// TestCalibration pins what the calibration fixed: the guidance's boto3 plan
// for its 2 TB object (7,451 parts of 256 MiB, 38 waves of 200) takes five
// minutes on DefaultParams, which sets the per-request rate between what
// Lambda's 15 minutes allow at the least and the rate AWS cites for GET/PUT
// at the most; CapParams reads the same figure as an aggregate cap.
func TestCalibration(t *testing.T) {
	ps, parts, waves := guidancePlan()
	if ps != 256<<20 || parts != 7451 || waves != 38 {
		t.Fatalf("guidance plan for 2 TB = %d bytes × %d parts in %d waves, want 256 MiB × 7451 in 38", ps, parts, waves)
	}
	p := DefaultParams()
	if got := p.CopyTime(Boto3SerialRequests, parts, GuidanceThreads, ps); absDur(got-GuidanceCopyTime) > time.Millisecond {
		t.Errorf("guidance's 2 TB copy on DefaultParams takes %s, want %s", got, GuidanceCopyTime)
	}
	// 15 minutes is the most the guidance's one Lambda invocation allows.
	slowest := float64(waves) * float64(ps) / (900 - float64(Boto3SerialRequests+waves)*p.Latency.Seconds())
	if p.PartRate < slowest || p.PartRate > PublishedPartRate {
		t.Errorf("calibrated rate %.1f MB/s outside [%.1f, %.1f]", p.PartRate/1e6, slowest/1e6, PublishedPartRate/1e6)
	}
	if math.Abs(p.PartRate-34.5e6) > 0.1e6 {
		t.Errorf("calibrated rate %.2f MB/s; BENCHMARKS.md quotes 34.5", p.PartRate/1e6)
	}
	c := CapParams()
	if c.PartRate != PublishedPartRate || math.Abs(c.AggregateRate-6.76e9) > 0.01e9 {
		t.Errorf("CapParams = %.1f MB/s per request, %.2f GB/s in all; want 88 and 6.76", c.PartRate/1e6, c.AggregateRate/1e9)
	}
}

// TestBoto3PartSize pins s3transfer's rule at the sizes the benchmarks use.
func TestBoto3PartSize(t *testing.T) {
	const MiB, GiB = 1 << 20, 1 << 30
	tests := []struct {
		size, chunk, want int64
	}{
		{GiB, 16 * MiB, 16 * MiB},
		{100 * GiB, 16 * MiB, 16 * MiB},                // 6,400 parts
		{1 << 40, 16 * MiB, 128 * MiB},                 // 8,192 parts
		{10000 * 5 * GiB, 16 * MiB, 5 * GiB},           // 48.8 TiB: 8 GiB clamped to 5 GiB
		{GiB, 250 * MiB, 250 * MiB},                    // ORCA's
		{100 * GiB, 8 * MiB, 16 * MiB},                 // the CLI's, doubled
		{6 * MiB, 1 * MiB, 5 * MiB},                    // never below 5 MiB
		{GuidanceObjectSize, GuidanceChunk, 256 * MiB}, // the calibration object
	}
	for _, tc := range tests {
		if got := Boto3PartSize(tc.size, tc.chunk); got != tc.want {
			t.Errorf("Boto3PartSize(%d, %d) = %d, want %d", tc.size, tc.chunk, got, tc.want)
		}
	}
}

func absDur(d time.Duration) time.Duration { return max(d, -d) }
