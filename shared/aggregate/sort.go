package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// invalidRequestError is the aggregate Lambda's error for an input it
// cannot read. No state routes on it (it is no routed error): the
// execution fails with its message, which says what was wrong.
type invalidRequestError struct{ problem string }

func (e *invalidRequestError) Error() string { return "invalid aggregate request: " + e.problem }

// SortCounts says how "Sort results" sorted a batch: the files the Express
// lane finished (Done), those for the Standard lane (Standard), the chunks
// whose child reported no iterations (ChunksFailed) and the files of the
// other chunks their child did not report (Unreported).
type SortCounts struct {
	Done, Standard, Chunks, ChunksFailed, Unreported int
}

// Sort is "Sort results": it splits the Express lane's results. A file
// whose iteration ended without a hand-over is done. Every other file goes
// to the Standard lane: one handed over, with its unfinished copy's resume
// token, and every file the Express lane did not report (its chunk's
// child failed, or the Map failed as a whole), with an empty token.
// Nothing is lost: each file of Chunks ends in exactly one of the two.
func Sort(req contract.SortRequest) (contract.Sorted, SortCounts, error) {
	entries, whole, err := chunkEntries(req.ChunkResults)
	if err != nil {
		return contract.Sorted{}, SortCounts{}, err
	}
	sorted := contract.Sorted{Rejected: req.Rejected, Done: []contract.Iteration{}, Standard: []contract.StandardItem{}}
	if sorted.Rejected == nil {
		sorted.Rejected = []contract.RejectedMessage{}
	}
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
			switch {
			case it == nil:
				if ok {
					counts.Unreported++
				}
				sorted.Standard = append(sorted.Standard, contract.StandardItem{File: chunk[j]})
			case it.Handover != nil:
				sorted.Standard = append(sorted.Standard, contract.StandardItem{File: chunk[j], Copy: resumeToken(it)})
			default:
				sorted.Done = append(sorted.Done, *it)
			}
		}
	}
	counts.Done, counts.Standard = len(sorted.Done), len(sorted.Standard)
	return sorted, counts, nil
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

// resumeToken is the copy state a handed-over file resumes from in the
// Standard lane: its unfinished copy's resume token, else an empty token
// (a new copy).
func resumeToken(it *contract.Iteration) contract.CopyToken {
	c := it.Copy
	if c == nil || c.Complete {
		return contract.CopyToken{}
	}
	return contract.CopyToken{UploadID: c.UploadID, SourceETag: c.SourceETag, SourceVersionID: c.SourceVersionID,
		PartSize: c.PartSize, Passes: c.Passes, ElapsedMS: c.ElapsedMS}
}
