package copyfile

// The part plan: how a multipart copy splits an object.
//
// On S3 a part copy runs server-side at a bounded rate per request. A copy
// therefore takes its round trips in series plus waves of parts:
// ceil(P/Concurrency) × (latency + part size / rate). What counts is that
// every slot has a part in every wave, so partPlan chooses the number of
// parts first:
//
//	lo = ceil(size / chunksize)        parts no larger than the chunksize
//	hi = min(size / minPart, 10,000)   parts no smaller than the minimum part
//	P  = the smallest multiple of Concurrency >= lo, if <= hi (full waves),
//	     else hi (one wave of minimum-size parts)
//	part size = ceil(size / P)
//
// If hi < lo (under two minimum parts, or minPart = chunksize), parts are
// chunksize. chunksize is Config.Chunksize (MULTIPART_CHUNKSIZE_MB, cdk.json
// multipartChunksizeMb), raised to fit 10,000 parts (48.8 TiB, S3's largest
// object, is 10,000 parts of 5 GiB). minPart is Config.MinPart
// (MULTIPART_MIN_PART_MB, cdk.json multipartMinPartMb).
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
	return partPlan(size, c.Chunksize, c.MinPart, c.Concurrency)
}

// partPlan returns the part size for an object of size bytes copied with
// slots parts at once. Parts are at most chunksize and at least minPart
// bytes, both clamped to S3's limits (see the plan above).
func partPlan(size, chunksize, minPart int64, slots int) int64 {
	slots64 := int64(max(slots, 1))
	chunksize = min(max(chunksize, MinPartSize), MaxPartSize)
	if need := ceilDiv(size, MaxParts); chunksize < need {
		// More than 10,000 parts otherwise. Above 10,000 × 5 GiB this
		// exceeds MaxPartSize and S3 refuses the parts: no plan fits.
		chunksize = ceilDiv(need, MiB) * MiB
	}
	minPart = min(max(minPart, MinPartSize), chunksize)
	if size <= 0 {
		return chunksize
	}
	lo := ceilDiv(size, chunksize)
	hi := min(size/minPart, MaxParts)
	if hi < lo {
		return chunksize
	}
	parts := ceilDiv(lo, slots64) * slots64
	if parts > hi {
		parts = hi
	}
	return ceilDiv(size, parts)
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }
