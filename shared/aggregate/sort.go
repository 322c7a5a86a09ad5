package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// invalidRequestError is the aggregate Lambda's error for an input it
// cannot read. No state routes on it (it is no routed error): the
// execution fails with its message, which says what was wrong.
type invalidRequestError struct{ problem string }

func (e *invalidRequestError) Error() string { return "invalid aggregate request: " + e.problem }

// SortCounts says how "Sort results" sorted a round: the files the Express
// lane finished (Done), those for the Standard lane (Standard) and those
// deferred to go round again (Deferred), all rounds so far included; the
// round's chunks, those whose child reported no iterations (ChunksFailed)
// and the files of the other chunks their child did not report
// (Unreported).
type SortCounts struct {
	Done, Standard, Deferred, Chunks, ChunksFailed, Unreported int
}

// Sort is "Sort results": it splits one round of the Express lane's
// results, with a random full jitter for the wait (sortWith).
func Sort(req contract.SortRequest) (contract.Sorted, SortCounts, error) {
	return sortWith(req, rand.IntN)
}

// sortWith is Sort with jitter(n) drawing the wait from [0, n). A file whose
// iteration ended without a hand-over is done. An unfinished copy handed
// over with its resume token goes to the Standard lane, which resumes it
// for hours; so does a copy that timed out in the Express lane
// (outlastedExpress). Every other file is deferred: one handed over throttled,
// failing transiently or its status not recorded, and every file the
// Express lane did not report (its chunk's child failed or found no jobs,
// or the Map failed as a whole). Deferred files go round the Express lane
// again after the wait, unless this was round MaxRounds: then they go to
// the Standard lane with an empty token. Done and Standard carry the
// earlier rounds'. Nothing is lost: each file of Chunks ends in exactly one
// of the three lists.
func sortWith(req contract.SortRequest, jitter func(int) int) (contract.Sorted, SortCounts, error) {
	entries, whole, err := chunkEntries(req.ChunkResults)
	if err != nil {
		return contract.Sorted{}, SortCounts{}, err
	}
	sorted := contract.Sorted{Rejected: orEmpty(req.Rejected), Done: append([]contract.Iteration{}, req.Done...),
		Standard: append([]contract.StandardItem{}, req.Standard...), Deferred: []contract.File{}, Round: req.Round + 1}
	counts := SortCounts{Chunks: len(req.Chunks)}
	for i, chunk := range req.Chunks {
		var its []*contract.Iteration
		ok := false
		if !whole && i < len(entries) {
			its, ok = chunkIterations(entries[i])
		}
		if !ok {
			counts.ChunksFailed++
		}
		for j, it := range matchIterations(chunk, its) {
			if it == nil && ok {
				counts.Unreported++
			}
			sortFile(&sorted, chunk[j], it)
		}
	}
	if len(sorted.Deferred) > 0 && sorted.Round >= req.MaxRounds {
		for _, f := range sorted.Deferred {
			sorted.Standard = append(sorted.Standard, contract.StandardItem{File: f})
		}
		sorted.Deferred = []contract.File{}
	}
	if len(sorted.Deferred) > 0 {
		sorted.WaitSecs = deferralWait(req, jitter)
	}
	counts.Done, counts.Standard, counts.Deferred = len(sorted.Done), len(sorted.Standard), len(sorted.Deferred)
	return sorted, counts, nil
}

// sortFile puts file f, whose iteration is it (nil when unreported), in
// its list.
func sortFile(sorted *contract.Sorted, f contract.File, it *contract.Iteration) {
	switch {
	case it == nil:
		sorted.Deferred = append(sorted.Deferred, f)
	case it.Handover == nil:
		sorted.Done = append(sorted.Done, *it)
	case unfinishedCopy(it):
		sorted.Standard = append(sorted.Standard, contract.StandardItem{File: f, Copy: resumeToken(it)})
	case outlastedExpress(it):
		// Going round would wait out the same 75 s again, and copy again
		// while the first invocation may still be copying: the Standard
		// lane's copy task waits up to the function's 900 s.
		sorted.Standard = append(sorted.Standard, contract.StandardItem{File: f})
	default:
		// A copy that finished is not copied again: the next round
		// only records it (a file copied in an earlier round keeps the
		// mark, whatever this round's iteration says).
		if it.Copy != nil && it.Copy.Complete && it.CopyError == nil {
			f.Copied = true
		}
		sorted.Deferred = append(sorted.Deferred, f)
	}
}

// deferralWait is how long deferred files wait before the next round: full
// jitter of min(cap, base * 2^round), at least 1 second (a Wait of 0 would
// go round at once, into the same throttling). It is a whole number: the
// Wait state's SecondsPath must select an integer number of seconds
// (https://docs.aws.amazon.com/step-functions/latest/dg/amazon-states-language-wait-state.html).
func deferralWait(req contract.SortRequest, jitter func(int) int) int {
	ceiling := max(req.WaitBaseSecs, 1)
	for range req.Round {
		if ceiling >= req.WaitCapSecs {
			break
		}
		ceiling *= 2
	}
	if req.WaitCapSecs > 0 {
		ceiling = min(ceiling, req.WaitCapSecs)
	}
	return max(1, jitter(ceiling+1))
}

// orEmpty is rejected, an empty list rather than null.
func orEmpty(rejected []contract.RejectedMessage) []contract.RejectedMessage {
	if rejected == nil {
		return []contract.RejectedMessage{}
	}
	return rejected
}

// chunkEntries reads the Express Map's output: a list with one entry per
// chunk, or an object (the error the Map's Catch caught: whole is true, no
// chunk reported anything).
func chunkEntries(raw json.RawMessage) (entries []json.RawMessage, whole bool, err error) {
	trimmed := bytes.TrimSpace(raw)
	switch {
	case len(trimmed) > 0 && trimmed[0] == '{':
		return nil, true, nil
	case len(trimmed) > 0 && trimmed[0] == '[':
		if err := json.Unmarshal(trimmed, &entries); err != nil {
			return nil, false, &invalidRequestError{"chunk_results is not a valid JSON list: " + err.Error()}
		}
		return entries, false, nil
	case len(trimmed) == 0:
		return nil, false, &invalidRequestError{"chunk_results is missing: want the Express Map's output, a list or the error it caught"}
	}
	return nil, false, &invalidRequestError{fmt.Sprintf("chunk_results is %.40s: want the Express Map's output, a list or the error it caught", trimmed)}
}

// chunkIterations reads one chunk's entry: its list of iterations (ok),
// each nil where an element is not one. Anything else (the object a chunk
// whose lookup failed ends with, a failed child's {Error, Cause}) is not
// ok: the chunk reported nothing.
func chunkIterations(entry json.RawMessage) (its []*contract.Iteration, ok bool) {
	var elements []json.RawMessage
	if json.Unmarshal(entry, &elements) != nil || elements == nil {
		return nil, false
	}
	its = make([]*contract.Iteration, len(elements))
	for i, element := range elements {
		its[i] = iterationOf(element)
	}
	return its, true
}

// matchIterations gives each file of a chunk its iteration, nil when the
// chunk's child did not report it. The iteration at the file's position
// is its own when it names the same object (bucket, key, version);
// otherwise the first unused one that does. Each iteration serves one file
// at most: a file reported twice counts once.
func matchIterations(chunk []contract.File, its []*contract.Iteration) []*contract.Iteration {
	matched := make([]*contract.Iteration, len(chunk))
	used := make([]bool, len(its))
	take := func(j, k int) bool {
		if k >= len(its) || used[k] || its[k] == nil || !sameObject(its[k].File, chunk[j]) {
			return false
		}
		used[k], matched[j] = true, its[k]
		return true
	}
	for j := range chunk {
		if take(j, j) {
			continue
		}
		for k := range its {
			if take(j, k) {
				break
			}
		}
	}
	return matched
}

// sameObject reports whether two files name the same object version.
func sameObject(a, b contract.File) bool {
	return a.SourceBucket == b.SourceBucket && a.SourceKey == b.SourceKey && a.VersionID == b.VersionID
}

// copyTimeoutErrors are the errors of a copy that ran out of time, not
// capacity: the Express copy task gave up waiting (States.Timeout) or the
// invocation reached its function's timeout (Sandbox.Timedout, or
// Lambda.Unknown on older runtimes,
// https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts).
var copyTimeoutErrors = map[string]bool{"States.Timeout": true, "Sandbox.Timedout": true, "Lambda.Unknown": true}

// outlastedExpress reports whether it was handed over because its copy
// ran longer than the Express lane allows: a long single-request copy that
// cannot pause, which only the Standard lane can wait for.
func outlastedExpress(it *contract.Iteration) bool {
	return it.HandoverError != nil && copyTimeoutErrors[it.HandoverError.Error]
}

// unfinishedCopy reports whether it was handed over with an unfinished
// copy and its resume token: the Standard lane resumes it.
func unfinishedCopy(it *contract.Iteration) bool {
	return it.Copy != nil && !it.Copy.Complete && it.Copy.UploadID != ""
}

// resumeToken is the resume token of it's unfinished copy.
func resumeToken(it *contract.Iteration) contract.CopyToken {
	c := it.Copy
	return contract.CopyToken{UploadID: c.UploadID, SourceETag: c.SourceETag, SourceVersionID: c.SourceVersionID,
		PartSize: c.PartSize, Passes: c.Passes, ElapsedMS: c.ElapsedMS}
}
