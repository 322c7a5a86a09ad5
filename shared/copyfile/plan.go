package copyfile

// The part plan: how a multipart copy splits an object.
//
// On S3 a server-side part copy (UploadPartCopy) runs at a bounded rate per
// request, so an object's copy time is set by how many parts run at once
// and how evenly they end, not by the Lambda (which moves no bytes). With
// Concurrency slots, an object split into P equal parts takes about
// ceil(P/Concurrency) waves of (latency + part size / per-request rate);
// the ideal, size / (Concurrency × rate), is reached only when every slot
// has a part in every wave. A fixed part size does not do that: at 250 MiB
// parts and 16 slots a 1 GiB object has 5 parts (11 slots idle) and a 10 GiB
// object 41 parts in 3 waves, the last holding 9 parts while 7 slots idle.
//
// partPlan therefore chooses the number of parts first and the size from it:
//
//	lo = ceil(size / maxPart)          parts no larger than the maximum
//	hi = min(size / floor, 10,000)     parts no smaller than the floor
//	P  = the smallest multiple of Concurrency >= lo, if <= hi
//	     (every wave full: Concurrency parts at once, all ending together),
//	     else hi (the object is too small to fill the slots with parts of at
//	     least the floor: all of its parts run in one wave, as many as the
//	     floor allows; or, with a floor close to the maximum, the last wave
//	     is as full as the bounds allow)
//	part size = ceil(size / P)         (so the parts are equal; the last is
//	                                    smaller by less than P bytes)
//
// When hi < lo (an object smaller than two floors, or floor = maximum and a
// size that is not a multiple of it) the plan is the old fixed one: parts of
// maxPart, the last smaller.
//
// The bounds: maxPart is MULTIPART_CHUNKSIZE_MB (default 1024 MiB, at most
// S3's 5 GiB), raised to ceil(size / 10,000) rounded up to a MiB when the
// object would otherwise need more than S3's 10,000 parts; floor is
// MULTIPART_MIN_PART_MB (default 16 MiB, at least S3's 5 MiB, at most
// maxPart). Why these defaults (BENCHMARKS.md, "The part plan"):
//
//   - The floor bounds the request rate for small objects: a part of F bytes
//     takes latency + F/rate, so one copy sends at most Concurrency /
//     (latency + F/rate) requests per second. At 16 MiB (the byte-range size
//     AWS's performance guidelines suggest for parallel requests, 8-16 MB),
//     64 slots and the model's 100 ms + 88 MB/s, that is about 220 per
//     second, and ten copies at once (the Map's default) about 2,200, under
//     S3's 3,500 PUT/COPY per second per prefix.
//   - The maximum keeps a part short enough to finish inside one Lambda
//     invocation even if S3 copied ten times slower than the model assumes
//     (1 GiB at 8.8 MB/s is 2 minutes), and keeps the pause before the
//     deadline fine-grained. Larger parts would only save requests, which
//     cost $0.005 per 1,000: a 1 TiB object in 1,024 parts costs about half
//     a cent in requests.
//
// The plan depends only on the object's size and the configuration, never
// on the concurrency the copy is adapting to (see window), so a resumed copy
// plans the same parts as the invocation that started it, and one whose
// configuration changed sees another part size in its resume token and
// starts over (resumeUpload).

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
