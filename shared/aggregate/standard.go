package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// fileOutcome is one file's result, the file, and the error name it failed
// with ("" on success): what the report lists and the FilesFailed metric
// counts. alreadyCopied marks a success that copied nothing (a duplicate
// left alone: AlreadyCopied), which FilesCopied does not count.
type fileOutcome struct {
	result        contract.FileResult
	file          contract.File
	errorName     string
	alreadyCopied bool
}

// iterationOutcome is the outcome of a file whose iteration ended.
func iterationOutcome(it contract.Iteration) fileOutcome {
	return fileOutcome{result: IterationResult(it), file: it.File, errorName: ErrorName(it), alreadyCopied: AlreadyCopied(it)}
}

// failedOutcome is the outcome of a file whose iteration gave no document:
// it failed with errorName, for the reason msg says.
func failedOutcome(f contract.File, errorName, msg string) fileOutcome {
	return fileOutcome{
		result: contract.FileResult{SourceBucket: f.SourceBucket, SourceKey: f.SourceKey,
			ErrMsg: contract.WithRestoreExpiryNote(msg, f), RestoreExpiryTime: f.RestoreExpiryTime},
		file: f, errorName: errorName,
	}
}

// errorNameNoResult is the error name of a file the Standard lane gave no
// iteration for, when no caught error names it.
const errorNameNoResult = "NoStandardResult"

// standardOutcomes turns the Standard lane's Map output into one outcome
// per Standard item, in order. raw is a list with one entry per item: the
// item's iteration, or what its failed child ended with ({Error, Cause}:
// the file failed with that error); or an object, the error the Map's
// Catch caught, with which every Standard file fails. Iterations are
// matched to items as Sort matches them (by position, checking the
// object, else by the object), so a list that lacks an entry shifts no
// file's result onto another.
//
// A Distributed Map without ResultWriter returns its children's outputs as
// a list (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-asl-use-map-state-distributed.html);
// what a failed child leaves there could not be tried offline. Whatever it
// is ({Error, Cause}, another document, or no entry at all), the file has
// no iteration of its own and fails: it is never counted as copied.
func standardOutcomes(items []contract.StandardItem, raw json.RawMessage) []fileOutcome {
	if len(items) == 0 {
		return nil
	}
	trimmed := bytes.TrimSpace(raw)
	out := make([]fileOutcome, len(items))
	if len(trimmed) > 0 && trimmed[0] == '{' {
		mapErr := stateError(trimmed)
		for i, item := range items {
			out[i] = failedOutcome(item.File, errorNameOf(mapErr), "the Standard lane failed before this file's result: "+describe(mapErr, trimmed))
		}
		return out
	}
	var entries []json.RawMessage
	_ = json.Unmarshal(trimmed, &entries) // anything else: no entry, each file fails below
	its := make([]*contract.Iteration, len(entries))
	for k, entry := range entries {
		its[k] = iterationOf(entry)
	}
	files := make([]contract.File, len(items))
	for i, item := range items {
		files[i] = item.File
	}
	for i, it := range matchIterations(files, its) {
		switch {
		case it != nil:
			out[i] = iterationOutcome(*it)
		case i < len(entries) && its[i] == nil && !isNull(entries[i]):
			childErr := stateError(entries[i])
			out[i] = failedOutcome(files[i], errorNameOf(childErr), "the Standard lane's execution for this file failed: "+describe(childErr, entries[i]))
		default: // no entry, or another file's iteration in its place
			out[i] = failedOutcome(files[i], errorNameNoResult, "the Standard lane gave no result for this file")
		}
	}
	return out
}

// iterationOf reads an iteration document; nil when entry is none (it has
// no "file").
func iterationOf(entry json.RawMessage) *contract.Iteration {
	var present struct {
		File *json.RawMessage `json:"file"`
	}
	var it contract.Iteration
	if json.Unmarshal(entry, &present) != nil || present.File == nil || json.Unmarshal(entry, &it) != nil {
		return nil
	}
	return &it
}

// isNull reports whether a JSON value is null (or empty).
func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// stateError reads a caught error ({Error, Cause}); nil when raw is none.
func stateError(raw json.RawMessage) *contract.StateError {
	var e contract.StateError
	if json.Unmarshal(raw, &e) != nil || (e.Error == "" && e.Cause == "") {
		return nil
	}
	return &e
}

// errorNameOf is a caught error's name, for the FilesFailed metric.
func errorNameOf(e *contract.StateError) string {
	if e == nil || e.Error == "" {
		return errorNameNoResult
	}
	return e.Error
}

// describe says what a failed child or Map ended with: its error and
// message, else (at most 200 characters of) the document itself.
func describe(e *contract.StateError, raw json.RawMessage) string {
	if e != nil && (e.Error == "" || e.Message() == e.Error) {
		return e.Message()
	}
	if e != nil {
		return fmt.Sprintf("%s: %s", e.Error, e.Message())
	}
	s := string(raw)
	if utf8.RuneCountInString(s) > 200 {
		s = string([]rune(s)[:199]) + "…"
	}
	return s
}
