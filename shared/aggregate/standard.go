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
// counts.
type fileOutcome struct {
	result    contract.FileResult
	file      contract.File
	errorName string
}

// iterationOutcome is the outcome of a file whose iteration ended.
func iterationOutcome(it contract.Iteration) fileOutcome {
	return fileOutcome{result: IterationResult(it), file: it.File, errorName: ErrorName(it)}
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

// The error names of files the Standard lane gave no iteration for, when
// no caught error names it.
const (
	errorNameNoResult    = "NoStandardResult"
	errorNameOtherResult = "OtherFileReported"
)

// standardOutcomes turns the Standard lane's Map output into one outcome
// per Standard item, in order. raw is a list with one entry per item: the
// item's iteration, or what its failed child ended with ({Error, Cause}:
// the file failed with that error); or an object, the error the Map's
// Catch caught, with which every Standard file fails.
func standardOutcomes(items []contract.StandardItem, raw json.RawMessage) []fileOutcome {
	if len(items) == 0 {
		return nil
	}
	trimmed := bytes.TrimSpace(raw)
	var entries []json.RawMessage
	if len(trimmed) > 0 && trimmed[0] == '{' {
		mapErr := stateError(trimmed)
		out := make([]fileOutcome, len(items))
		for i, item := range items {
			out[i] = failedOutcome(item.File, errorNameOf(mapErr), "the Standard lane failed before this file's result: "+describe(mapErr, trimmed))
		}
		return out
	}
	_ = json.Unmarshal(trimmed, &entries) // anything else: no entry, each file fails below
	out := make([]fileOutcome, len(items))
	for i, item := range items {
		var entry json.RawMessage
		if i < len(entries) {
			entry = entries[i]
		}
		out[i] = standardOutcome(item.File, entry)
	}
	return out
}

// standardOutcome is one Standard item's outcome from its entry.
func standardOutcome(f contract.File, entry json.RawMessage) fileOutcome {
	var shape struct {
		File  *contract.File `json:"file"`
		Error *string        `json:"Error"`
	}
	if len(bytes.TrimSpace(entry)) == 0 || string(bytes.TrimSpace(entry)) == "null" {
		return failedOutcome(f, errorNameNoResult, "the Standard lane gave no result for this file")
	}
	_ = json.Unmarshal(entry, &shape) // not an object: neither field, described below
	if shape.File != nil {
		var it contract.Iteration
		if err := json.Unmarshal(entry, &it); err != nil {
			return failedOutcome(f, errorNameNoResult, "the Standard lane's result for this file could not be read: "+err.Error())
		}
		if !sameObject(it.File, f) {
			return failedOutcome(f, errorNameOtherResult, fmt.Sprintf("the Standard lane reported s3://%s/%s in this file's place",
				it.File.SourceBucket, it.File.SourceKey))
		}
		return iterationOutcome(it)
	}
	childErr := stateError(entry)
	return failedOutcome(f, errorNameOf(childErr), "the Standard lane's execution for this file failed: "+describe(childErr, entry))
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
