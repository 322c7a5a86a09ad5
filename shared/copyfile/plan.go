package copyfile

// The part plan: how a multipart copy splits an object.
//
// On S3 a part copy runs server-side at a bounded rate per request. A copy
// therefore takes its round trips in series plus waves of parts:
// ceil(P/Concurrency) × (latency + part size / rate). What counts is that
// every slot has a part in every wave, so partPlan chooses the number of
// parts first:
//
//	lo = ceil(size / maxPart)          parts no larger than the maximum
//	hi = min(size / floor, 10,000)     parts no smaller than the floor
//	P  = the smallest multiple of Concurrency >= lo, if <= hi (full waves),
//	     else hi (one wave of floor-sized parts)
//	part size = ceil(size / P)
//
// If hi < lo (under two floors, or floor = maximum), parts are maxPart. maxPart is
// MULTIPART_CHUNKSIZE_MB, raised to fit 10,000 parts (48.8 TiB, S3's
// largest object, is 10,000 parts of 5 GiB); floor is
// MULTIPART_MIN_PART_MB.
//
// Why the defaults are what they are, with the figures, is in
// BENCHMARKS.md ("The part plan").
//
// The plan depends only on the size and the configuration, never on the
// window's current concurrency. A resumed copy thus plans the same parts;
// a changed configuration changes the token's part size, and the copy
// starts over (resumeUpload).

// partSize returns the part size the copy of an object of size bytes uses:
// see the plan above.
func (c Config) partSize(size int64) int64 {
	return partPlan(size, c.ChunkSize, c.PartSizeFloor, c.Concurrency)
}

// partPlan returns the part size for an object of size bytes copied with
// slots parts at once. Parts are at most maxPart and at least floor bytes,
// both clamped to S3's limits (see the plan above).
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
