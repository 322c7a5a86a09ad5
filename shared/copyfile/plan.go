package copyfile

// The part plan: how a multipart copy splits an object.
//
// On S3 a part copy runs server-side at a bounded rate per request, so an
// object's copy time is its serial round trips plus waves of part copies:
// ceil(P/Concurrency) × (latency + part size / rate). The Lambda moves no
// bytes; what counts is that every slot has a part in every wave. A fixed
// part size does not do that (250 MiB parts in 16 slots: 5 parts for 1 GiB,
// 11 slots idle), so partPlan chooses the number of parts first:
//
//	lo = ceil(size / maxPart)          parts no larger than the maximum
//	hi = min(size / floor, 10,000)     parts no smaller than the floor
//	P  = the smallest multiple of Concurrency >= lo, if <= hi (full waves),
//	     else hi (too small to fill the slots: one wave of floor-sized parts)
//	part size = ceil(size / P)         (equal parts, the last smaller by < P bytes)
//
// If hi < lo (an object under two floors, or floor = maximum), parts of
// maxPart, the last smaller. maxPart is MULTIPART_CHUNKSIZE_MB (default
// 1 GiB), raised to ceil(size / 10,000) rounded up to a MiB when the
// object would need more than 10,000 parts (48.8 TiB, S3's largest object,
// is 10,000 parts of 5 GiB); floor is MULTIPART_MIN_PART_MB (default
// 12 MiB, at least 5 MiB, at most maxPart).
//
// The defaults (256 slots, 12 MiB to 1 GiB) were chosen on the model of S3
// (internal/s3model, calibrated: 100 ms per request, 34.5 MB/s per part
// copy) to beat AWS's restore-and-copy guidance (boto3, 16 MiB parts, 200
// threads) at every size from 1 GiB to 48.8 TiB while ten copies at once
// stay under S3's 3,500 writes per second per prefix (BENCHMARKS.md):
//
//   - 256 slots, the most MULTIPART_CONCURRENCY allows: 1.28 times the
//     guidance's 200, so large objects take fewer waves.
//   - The floor sets the busiest case, an object of 256 floors copied in
//     one wave: ten such copies back to back send 10 × 258 writes per copy
//     time (3 round trips + 0.1 s + floor / rate), 3,340 per second at
//     12 MiB, 4,660 at 5 MiB. Below 16 MiB it also beats the guidance's
//     16 MiB parts on a 1 GiB object (85 parts of 12 MiB in one wave).
//   - The maximum keeps a part short against the Lambda's deadline (1 GiB
//     in 31 s on the model): a pass that pauses wastes at most one part's
//     time per slot, where 5 GiB parts would waste up to 155 s of 870.
//
// The plan depends only on the size and the configuration, never on the
// concurrency the copy is adapting to under SlowDown (window), so a resumed
// copy plans the same parts; a changed configuration changes the part size
// in the resume token and the copy starts over (resumeUpload).

// partSize returns the part size the copy of an object of size bytes uses:
// see the plan above.
func (c Config) partSize(size int64) int64 {
	return partPlan(size, c.ChunkSize, c.PartSizeFloor, c.Concurrency)
}

// partPlan returns the part size for an object of size bytes copied with
// slots parts at once, parts at most maxPart and at least floor bytes
// (both clamped to S3's limits; see the plan above).
func partPlan(size, maxPart, floor int64, slots int) int64 {
	slots64 := int64(max(slots, 1))
	maxPart = min(max(maxPart, MinPartSize), MaxPartSize)
	if need := ceilDiv(size, MaxParts); maxPart < need {
		// More than 10,000 parts otherwise. Above 10,000 × 5 GiB this
		// exceeds MaxPartSize and S3 refuses the parts: no plan fits.
		maxPart = ceilDiv(need, MiB) * MiB
	}
	floor = min(max(floor, MinPartSize), maxPart)
	if size <= 0 {
		return maxPart
	}
	lo := ceilDiv(size, maxPart)
	hi := min(size/floor, MaxParts)
	if hi < lo {
		return maxPart
	}
	parts := ceilDiv(lo, slots64) * slots64
	if parts > hi {
		parts = hi
	}
	return ceilDiv(size, parts)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
