// Package aggregate is the aggregate function, the workflow's last step: it
// turns every file's iteration into the original Lambda's per-file result
// and fails with CopyRequestError when any file was not copied and recorded.
package aggregate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf16"

	"github.com/aws/aws-lambda-go/lambda/messages"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// CopyRequestError is the aggregate Lambda's error when any file was not
// copied and recorded, or the event was rejected. Its message starts as the
// original Lambda's: "File copy failed. " followed by the JSON list of every
// file's result. When files failed, a second line follows with the re-run
// input: "Re-run input for the N failed files (...): " and a classic S3
// event naming only those files (see Rerun), which an operator pastes into
// a new execution once the cause is fixed. A reader of the list should
// decode the first JSON value after the prefix, not the rest of the message.
//
// The message fits an error cause, at most MaxCauseChars characters: if the
// whole would not, the successful files' results are left out, then the
// failed files past the first K (in both the list and the re-run input), and
// the re-run line says how many were left out and that the aggregate
// function's log has them all (Handle logs them).
type CopyRequestError struct {
	// Results holds every file's result, the successful ones too.
	Results []contract.FileResult
	// Failed lists the failed files, in the order of Results: the files the
	// re-run input names.
	Failed []contract.File

	fit *causeFit // rendered once, by Error
}

// MaxCauseChars is the longest error cause Step Functions keeps: longer
// causes are cut (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ExecutionFailedEventDetails.html,
// "cause ... Maximum length of 32768"). For a Lambda error the cause is the
// JSON error document {"errorMessage": ..., "errorType": ...}, so the
// message's quotes and backslashes count twice.
const MaxCauseChars = 32768

func (e *CopyRequestError) Error() string {
	return e.render().message
}

// Rerun is the re-run input for every failed file, whether or not the
// message could hold it all: the classic S3 event notification
// ({"Records":[...]}) that names only them, keys encoded as S3 encodes them,
// version ids, ETags and restore expiry kept. Nil when no file failed (an
// event that was rejected as a whole names no file).
func (e *CopyRequestError) Rerun() json.RawMessage {
	if len(e.Failed) == 0 {
		return nil
	}
	return parseevent.NotificationEvent(e.Failed)
}

// LeftOut returns how many failed files the message's re-run input leaves
// out to fit MaxCauseChars (0 when it names them all).
func (e *CopyRequestError) LeftOut() int {
	f := e.render()
	return len(e.Failed) - f.rerun
}

// causeFit is the message as rendered to fit MaxCauseChars.
type causeFit struct {
	message string
	// rerun is how many failed files the re-run input names.
	rerun int
}

func (e *CopyRequestError) render() *causeFit {
	if e.fit != nil {
		return e.fit
	}
	full := e.message(e.Results, len(e.Failed), "")
	if len(e.Failed) == 0 || CauseChars(full) <= MaxCauseChars {
		e.fit = &causeFit{message: full, rerun: len(e.Failed)}
		return e.fit
	}
	var failedResults []contract.FileResult
	for _, r := range e.Results {
		if !r.Success {
			failedResults = append(failedResults, r)
		}
	}
	successes := len(e.Results) - len(failedResults)
	// The largest k whose message fits: the message grows with k.
	try := func(k int) string {
		return e.message(failedResults[:min(k, len(failedResults))], k, e.leftOutNote(k, successes))
	}
	lo, hi := 0, len(e.Failed) // try(lo) is assumed to fit; find the largest
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if CauseChars(try(mid)) <= MaxCauseChars {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	e.fit = &causeFit{message: try(lo), rerun: lo}
	return e.fit
}

// message renders the results listed and the re-run input of the first k
// failed files, with note (empty when nothing is left out).
func (e *CopyRequestError) message(results []contract.FileResult, k int, note string) string {
	msg := "File copy failed. " + resultsJSON(results)
	if len(e.Failed) == 0 {
		return msg
	}
	what := fmt.Sprintf("the %d failed files", len(e.Failed))
	if len(e.Failed) == 1 {
		what = "the failed file"
	}
	if note != "" {
		what = fmt.Sprintf("%d of the %d failed files", k, len(e.Failed))
	}
	how := "start a new execution with it once the cause is fixed"
	if note != "" {
		how += "; " + note
	}
	return msg + "\nRe-run input for " + what + " (" + how + "): " + string(parseevent.NotificationEvent(e.Failed[:k]))
}

// leftOutNote says what a message that names only k failed files leaves out.
func (e *CopyRequestError) leftOutNote(k, successes int) string {
	out := len(e.Failed) - k
	parts := fmt.Sprintf("%d failed files are left out", out)
	if successes > 0 {
		parts += fmt.Sprintf(" (and the results of the %d files that succeeded)", successes)
	}
	return fmt.Sprintf("%s to fit the %d-character limit of an error cause: the aggregate function's log has every file's result "+
		"and the full re-run input, in its %q line", parts, MaxCauseChars, LogRerunInput)
}

// LogRerunInput is the message of the aggregate function's log line that
// carries the full re-run input.
const LogRerunInput = "re-run input"

// CauseChars is the length, in characters (UTF-16 code units, as AWS counts
// them), of the error cause Step Functions gets for a CopyRequestError with
// message msg: the Go Lambda runtime's JSON error document.
func CauseChars(msg string) int {
	doc, err := json.Marshal(messages.InvokeResponse_Error{Message: msg, Type: "CopyRequestError"})
	if err != nil {
		return len(msg) // strings only: cannot happen
	}
	return len(utf16.Encode([]rune(string(doc))))
}

// resultsJSON renders results as a JSON list ("[]", never "null"), without
// HTML escaping so that keys with &, < or > stay readable in the message.
func resultsJSON(results []contract.FileResult) string {
	if results == nil {
		results = []contract.FileResult{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(results); err != nil {
		// FileResult holds only strings and a bool: Encode cannot fail.
		return fmt.Sprintf("%+v", results)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// Aggregate turns each iteration of the workflow's Map into the file's
// result, in the same order. When every file was copied and its status
// recorded it returns the results; otherwise it returns them inside a
// *CopyRequestError. An event that was rejected or could not be read
// (EventError) gives a single failed result saying nothing was copied.
func Aggregate(req contract.AggregateRequest) ([]contract.FileResult, error) {
	if req.EventError != nil {
		msg := "invalid event, nothing was copied: " + req.EventError.Message()
		if req.EventError.Error != contract.InvalidEventError {
			// parse-event failed for another reason (a timeout, a Lambda
			// service fault): the event itself may be fine.
			msg = fmt.Sprintf("the event could not be read (%s), nothing was copied: %s",
				req.EventError.Error, req.EventError.Message())
		}
		return nil, &CopyRequestError{Results: []contract.FileResult{{Success: false, ErrMsg: msg}}}
	}
	results := make([]contract.FileResult, 0, len(req.Iterations))
	var failed []contract.File
	for _, it := range req.Iterations {
		r := IterationResult(it)
		if !r.Success {
			failed = append(failed, it.File)
		}
		results = append(results, r)
	}
	if len(failed) > 0 {
		return nil, &CopyRequestError{Results: results, Failed: failed}
	}
	return results, nil
}

// IterationResult is one file's result: success only when its job was
// found, the copy succeeded and the outcome was recorded.
func IterationResult(it contract.Iteration) contract.FileResult {
	r := contract.FileResult{
		SourceBucket: it.File.SourceBucket,
		SourceKey:    it.File.SourceKey,
	}
	if it.Job != nil {
		r.RequestID = it.Job.RequestID
		r.TargetBucket = it.Job.TargetBucket
	}
	if it.Copy != nil && it.Copy.TargetBucket != "" {
		r.TargetBucket = it.Copy.TargetBucket
	}
	r.ErrMsg = iterationFailure(it)
	r.Success = r.ErrMsg == ""
	if !r.Success {
		r.ErrMsg = contract.WithRestoreExpiryNote(r.ErrMsg, it.File)
		r.RestoreExpiryTime = it.File.RestoreExpiryTime
	}
	return r
}

// iterationFailure says why an iteration failed, or "" when it succeeded.
func iterationFailure(it contract.Iteration) string {
	key := it.File.SourceKey
	switch {
	case it.LookupError != nil:
		if it.LookupError.Error == contract.NoOpenJobError {
			// request-status's own message already says so; do not say it twice.
			if msg := it.LookupError.Message(); strings.HasPrefix(msg, "no open job") {
				return msg
			}
			return fmt.Sprintf("no open job in request_status for key %q: %s", key, it.LookupError.Message())
		}
		return fmt.Sprintf("looking up the job in request_status for key %q failed (%s): %s",
			key, it.LookupError.Error, it.LookupError.Message())
	case it.Job == nil:
		return fmt.Sprintf("no job was looked up in request_status for key %q", key)
	case it.CopyError != nil && it.RecordError != nil:
		return fmt.Sprintf("%s; and the status could not be recorded: %s", it.CopyError.Message(), it.RecordError.Message())
	case it.CopyError != nil:
		return it.CopyError.Message()
	case it.Copy == nil:
		return fmt.Sprintf("no copy outcome for key %q", key)
	case !it.Copy.Complete:
		// The workflow loops until the copy is complete; never count an
		// unfinished one as a success.
		return fmt.Sprintf("the copy of key %q did not finish (%d of %d parts copied)", key, it.Copy.PartsDone, it.Copy.PartsTotal)
	case it.RecordError != nil:
		return fmt.Sprintf("copied to %s but the status could not be recorded: %s", copyTarget(it), it.RecordError.Message())
	case it.Recorded == nil:
		return fmt.Sprintf("copied to %s but no status was recorded", copyTarget(it))
	case it.Recorded.JobStatus != "complete":
		return fmt.Sprintf("copied to %s but the status was recorded as %q", copyTarget(it), it.Recorded.JobStatus)
	}
	return ""
}

// copyTarget names where a successful copy went: bucket/key.
func copyTarget(it contract.Iteration) string {
	bucket, key := it.Copy.TargetBucket, it.Copy.TargetKey
	if bucket == "" {
		bucket = it.Job.TargetBucket
	}
	if key == "" {
		key = it.File.SourceKey
	}
	return bucket + "/" + key
}

// ParseMessage reads a CopyRequestError's message back: the file results it
// lists and, when it has one, its re-run input (nil otherwise).
func ParseMessage(msg string) ([]contract.FileResult, json.RawMessage, error) {
	const prefix = "File copy failed. "
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return nil, nil, fmt.Errorf("the message does not start with %q", prefix)
	}
	dec := json.NewDecoder(strings.NewReader(rest))
	var results []contract.FileResult
	if err := dec.Decode(&results); err != nil {
		return nil, nil, fmt.Errorf("the result list: %w", err)
	}
	tail := strings.TrimSpace(rest[dec.InputOffset():])
	if tail == "" {
		return results, nil, nil
	}
	if !strings.HasPrefix(tail, "Re-run input ") {
		return nil, nil, fmt.Errorf("unexpected text after the result list: %.40q", tail)
	}
	// The label's parenthesis may hold a quoted "): " only inside the
	// note's %q, never followed by "{": the input starts at the first "): {".
	i := strings.Index(tail, "): {")
	if i < 0 {
		return nil, nil, fmt.Errorf("the re-run line has no input: %.40q", tail)
	}
	input := json.RawMessage(tail[i+len("): "):])
	if !json.Valid(input) {
		return nil, nil, fmt.Errorf("the re-run input is not JSON (was the cause cut?)")
	}
	return results, input, nil
}
