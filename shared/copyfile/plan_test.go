package copyfile

import (
	"fmt"
	"testing"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/s3model"
)

const (
	testGiB = int64(1) << 30
	testTiB = int64(1) << 40
	// s3MaxObject is S3's largest object, 10,000 parts of 5 GiB (48.8 TiB;
	// https://docs.aws.amazon.com/AmazonS3/latest/userguide/qfacts.html).
	s3MaxObject = int64(MaxParts) * MaxPartSize
)

// TestPartPlanExamples pins the plan for the sizes the benchmarks and
// BENCHMARKS.md quote, and the fixed plan the tests with 5 MiB parts rely on.
func TestPartPlanExamples(t *testing.T) {
	def := DefaultConfig()
	tests := []struct {
		name      string
		cfg       Config
		size      int64
		wantSize  int64
		wantParts int
	}{
		// Defaults: 256 slots, parts 12 MiB to 1 GiB.
		{"defaults, 300 MiB: floor-bound, one partial wave", def, 300 * MiB, 12 * MiB, 25},
		{"defaults, 1 GiB: floor-bound, one wave of 85", def, testGiB, ceilDiv(testGiB, 85), 85},
		{"defaults, 3 GiB: one full wave of 12 MiB", def, 3 * testGiB, 12 * MiB, 256},
		{"defaults, 10 GiB: one full wave of 40 MiB", def, 10 * testGiB, 40 * MiB, 256},
		{"defaults, 100 GiB: one full wave of 400 MiB", def, 100 * testGiB, 400 * MiB, 256},
		{"defaults, 1 TiB: 4 full waves of 1 GiB", def, testTiB, testGiB, 1024},
		{"defaults, 5 TiB: 20 full waves of 1 GiB", def, 5 * testTiB, testGiB, 5120},
		{"defaults, 10 TiB: 10,000 parts, maximum raised", def, 10 * testTiB, ceilDiv(10*testTiB, 10000), 10000},
		{"defaults, 48.8 TiB (S3's largest): 10,000 parts of 5 GiB", def, s3MaxObject, MaxPartSize, 10000},
		// The old fixed plan: floor = maximum = 5 MiB.
		{"5 MiB parts, 40 MiB", Config{Chunksize: 5 * MiB, Concurrency: 3}, 40 * MiB, 5 * MiB, 8},
		{"5 MiB parts, 12 MiB: last part smaller", Config{Chunksize: 5 * MiB, Concurrency: 4}, 12 * MiB, 5 * MiB, 3},
		{"5 MiB parts raised for 10,000 parts", Config{Chunksize: 5 * MiB, Concurrency: 16}, 100 * testGiB, ceilDiv(100*testGiB, 9312), 9312},
		{"never below 5 MiB", Config{Chunksize: 1, Concurrency: 1}, 6 * MiB, 5 * MiB, 2},
		// ORCA's 250 MB as the maximum: the parts still fill the slots.
		{"250 MiB maximum, 1 GiB", Config{Chunksize: 250 * MiB, MinPart: 16 * MiB, Concurrency: 16}, testGiB, 64 * MiB, 16},
		{"250 MiB maximum, 10 GiB", Config{Chunksize: 250 * MiB, MinPart: 16 * MiB, Concurrency: 16}, 10 * testGiB, ceilDiv(10*testGiB, 48), 48},
		{"5 GiB maximum, 5 TiB at 256", Config{Chunksize: MaxPartSize, MinPart: 16 * MiB, Concurrency: 256}, 5 * testTiB, 5 * testGiB, 1024},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.cfg.partSize(tc.size)
			parts := planParts(tc.size, got)
			if got != tc.wantSize || len(parts) != tc.wantParts {
				t.Errorf("part size %d (%.2f MiB), %d parts; want %d (%.2f MiB), %d parts",
					got, float64(got)/MiB, len(parts), tc.wantSize, float64(tc.wantSize)/MiB, tc.wantParts)
			}
		})
	}
}

// TestPartPlanInvariants checks S3's rules and the plan's promise over
// sizes from 5 MiB to S3's largest object (48.8 TiB), concurrencies from 1 to 256 and several
// floors and maximums: every byte in exactly one part, at most 10,000
// parts, every part but the last within [floor, maximum] and S3's 5 MiB to
// 5 GiB, and the parts fill the slots: a multiple of the concurrency (every
// wave full), or fewer parts than slots only when the floor allows no more
// (one wave, all parts at once), or the bounds leave no multiple to choose.
func TestPartPlanInvariants(t *testing.T) {
	sizes := []int64{5 * MiB, 5*MiB + 1, 12 * MiB, 100 * MiB, 257 * MiB, 1000 * MiB, testGiB, testGiB + 1,
		7*testGiB + 12345, 10 * testGiB, 100 * testGiB, 333*testGiB + 7, testTiB, 2 * testTiB, 5*testTiB - 1, 5 * testTiB,
		9765*testGiB + 1, 10 * testTiB, 20*testTiB + 3, 40 * testTiB, s3MaxObject - 10000, s3MaxObject - 1, s3MaxObject}
	concurrencies := []int{1, 3, 10, 16, 64, 100, 200, 256}
	bounds := []struct{ floor, max int64 }{
		{12 * MiB, 1024 * MiB}, // the defaults
		{5 * MiB, MaxPartSize},
		{64 * MiB, 250 * MiB},
		{5 * MiB, 5 * MiB},
		{MaxPartSize, MaxPartSize},
		{16 * MiB, 5 * MiB}, // floor above the maximum: lowered to it
	}
	for _, b := range bounds {
		for _, c := range concurrencies {
			for _, size := range sizes {
				name := fmt.Sprintf("floor=%dMiB/max=%dMiB/c=%d/size=%d", b.floor/MiB, b.max/MiB, c, size)
				cfg := Config{Chunksize: b.max, MinPart: b.floor, Concurrency: c}
				ps := cfg.partSize(size)
				parts := planParts(size, ps)
				n := int64(len(parts))
				if n < 1 || n > MaxParts {
					t.Errorf("%s: %d parts, want 1 to %d", name, n, MaxParts)
					continue
				}
				var next int64
				for i, p := range parts {
					if p.Number != int32(i+1) || p.First != next || p.Last < p.First {
						t.Fatalf("%s: part %d = %+v, want number %d from byte %d", name, i, p, i+1, next)
					}
					next = p.Last + 1
				}
				if next != size {
					t.Errorf("%s: parts end at %d, want %d", name, next, size)
				}
				// The bounds as the plan applies them (raised for
				// 10,000 parts; floor at most the maximum).
				maxPart := min(max(b.max, MinPartSize), MaxPartSize)
				if need := ceilDiv(size, MaxParts); maxPart < need {
					maxPart = ceilDiv(need, MiB) * MiB
				}
				floor := min(max(b.floor, MinPartSize), maxPart)
				if ps > MaxPartSize || ps > maxPart {
					t.Errorf("%s: part size %d above the maximum %d", name, ps, maxPart)
				}
				if n > 1 && (ps < MinPartSize || ps < floor) {
					t.Errorf("%s: part size %d below the floor %d", name, ps, floor)
				}
				if last := parts[n-1]; n > 1 && last.Last-last.First+1 > ps {
					t.Errorf("%s: last part larger than the others", name)
				}
				lo, hi := ceilDiv(size, maxPart), min(size/floor, MaxParts)
				full := n%int64(c) == 0
				floorBound := n == hi && n < int64(c)              // one wave, as many parts as the floor allows
				noChoice := hi < lo || n == hi && hi-lo < int64(c) // no multiple of c within the bounds
				if !full && !floorBound && !noChoice {
					t.Errorf("%s: %d parts of %d bytes for %d slots: last wave has %d parts", name, n, ps, c, n%int64(c))
				}
				// Equal parts: only the last one differs, by less than n
				// bytes, except in the fixed plan (hi < lo).
				if hi >= lo && n > 1 {
					if short := ps - (parts[n-1].Last - parts[n-1].First + 1); short >= n {
						t.Errorf("%s: last part %d bytes shorter than the others, want less than %d", name, short, n)
					}
				}
			}
		}
	}
}

// TestPartPlanDefaultsFillTheSlots: with the default configuration every
// object from 256 floors (3 GiB) to the 10,000 parts of 1 GiB that the
// maximum allows (9.77 TiB) is copied in full waves of 256; above that, in
// 10,000 parts (S3's limit leaves no multiple of 256 to choose) of at most
// 5 GiB, up to S3's largest object.
func TestPartPlanDefaultsFillTheSlots(t *testing.T) {
	def := DefaultConfig()
	sizes := []int64{s3MaxObject}
	for size := 3 * testGiB; size < s3MaxObject; size = size*5/4 + 12345 {
		sizes = append(sizes, size)
	}
	for _, size := range sizes {
		ps := def.partSize(size)
		n := int64(len(planParts(size, ps)))
		switch {
		case size <= MaxParts*def.Chunksize:
			if n%int64(def.Concurrency) != 0 {
				t.Errorf("size %d: %d parts, not a multiple of %d", size, n, def.Concurrency)
			}
		case n != MaxParts || ps > MaxPartSize:
			t.Errorf("size %d: %d parts of %d bytes, want %d of at most %d", size, n, ps, MaxParts, MaxPartSize)
		}
	}
}

// copierFormula is the model's formula for this copier's multipart copy of
// size bytes under cfg: its serial round trips plus waves of parts.
func copierFormula(p s3model.Params, cfg Config, size int64) time.Duration {
	ps := cfg.partSize(size)
	return p.CopyTime(copierSerialRequests, int(ceilDiv(size, ps)), cfg.Concurrency, ps)
}

// TestDefaultsBeatTheGuidance: by the calibrated model's formula the
// default plan copies every object from 1 GiB to S3's largest faster than
// AWS's restore-and-copy guidance (boto3, 16 MiB parts, 200 threads). The
// sizes are a 1 % geometric ladder plus both plans' wave boundaries (and
// one byte past each), where either plan changes its waves.
func TestDefaultsBeatTheGuidance(t *testing.T) {
	p, def := s3model.DefaultParams(), DefaultConfig()
	var sizes []int64
	for size := testGiB; size < s3MaxObject; size = size + size/100 {
		sizes = append(sizes, size)
	}
	for ps := int64(s3model.GuidanceChunk); ps <= MaxPartSize; ps *= 2 {
		for k := int64(1); k <= 50; k++ {
			sizes = append(sizes, k*s3model.GuidanceThreads*ps)
		}
	}
	for k := int64(1); k <= 40; k++ {
		sizes = append(sizes, k*int64(def.Concurrency)*def.Chunksize)
	}
	sizes = append(sizes, int64(def.Concurrency)*def.MinPart, s3MaxObject)
	worst, at := 1e9, int64(0)
	for _, base := range sizes {
		for _, size := range []int64{base, base + 1} {
			if size < testGiB || size > s3MaxObject {
				continue
			}
			r := guidanceTime(p, size).Seconds() / copierFormula(p, def, size).Seconds()
			if r <= 1 {
				t.Errorf("%d bytes (%.3f GiB): the guidance's %v against our %v", size, float64(size)/float64(testGiB), guidanceTime(p, size), copierFormula(p, def, size))
			}
			if r < worst {
				worst, at = r, size
			}
		}
	}
	t.Logf("%d sizes; the least margin %.3f× at %.3f GiB", len(sizes)*2, worst, float64(at)/float64(testGiB))
}

// TestDefaultThresholdFromModel: at the default threshold the formula
// flips. The largest object copied whole (the threshold) would not copy
// faster in parts by more than the 1 MiB the setting's unit allows, and
// the smallest copied in parts is faster so than whole: at least two parts,
// never a multipart copy of one part.
func TestDefaultThresholdFromModel(t *testing.T) {
	p, def := s3model.DefaultParams(), DefaultConfig()
	whole := func(size int64) time.Duration { return p.CopyTime(2, 1, 1, size) } // HEAD, CopyObject, verifying HEAD
	above := def.MultipartThreshold + 1
	if n := len(planParts(above, def.partSize(above))); n < 2 {
		t.Errorf("%d bytes, just above the threshold: %d part, want at least 2", above, n)
	}
	if m, w := copierFormula(p, def, above), whole(above); m >= w {
		t.Errorf("%d bytes in parts %v, whole %v: the threshold is too low", above, m, w)
	}
	below := def.MultipartThreshold - MiB
	if m, w := copierFormula(p, def, below), whole(below); m < w {
		t.Errorf("%d bytes in parts %v, whole %v: the threshold is too high", below, m, w)
	}
}

// TestDefaultsTenCopiesUnderPrefixRate: by the formula, ten copies at once
// (one execution's Map), each of the busiest object for writes per second,
// send fewer than S3's 3,500 writes per second per prefix:
// CreateMultipartUpload, the parts and CompleteMultipartUpload per copy
// time, at every size from the threshold to 48.8 TiB.
func TestDefaultsTenCopiesUnderPrefixRate(t *testing.T) {
	p, def := s3model.DefaultParams(), DefaultConfig()
	worst, at := 0.0, int64(0)
	for size := def.MultipartThreshold + 1; size <= s3MaxObject; size += size / 200 {
		parts := len(planParts(size, def.partSize(size)))
		if rate := 10 * float64(parts+2) / copierFormula(p, def, size).Seconds(); rate > worst {
			worst, at = rate, size
		}
	}
	if worst >= p.PrefixWriteRate {
		t.Errorf("ten copies of %d bytes send %.0f writes per second, S3 serves %.0f per prefix", at, worst, p.PrefixWriteRate)
	}
	t.Logf("busiest: %.3f GiB, %.0f writes per second for ten copies", float64(at)/float64(testGiB), worst)
}
