// Package aggregate is the aggregate function, the workflow's last step.
// It turns each file's iteration into the original Lambda's per-file
// result. It fails with CopyRequestError when any file was not copied and
// recorded.
package aggregate

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// CopyRequestError is the aggregate Lambda's error when any file was not
// copied and recorded, or the event was rejected.
//
// Its message starts as the original Lambda's: "File copy failed. " and
// the JSON list of every file's result (contract.FailureMessage). When
// files failed, a second line holds the re-run input (see Rerun). It
// starts "Re-run input for the N failed files (...): ". A reader decodes
// the first JSON value after the prefix (ParseMessage does both).
//
// The message fits contract.MaxCauseChars. Every file's result stays in
// the list; the longest error messages are shortened if needed
// (contract.FitErrMsgs). The re-run input takes the room left. When it
// cannot name every failed file, it names the first ones that fit and says
// how many it left out. Handle then logs the full input (LogRerunInput).
// docs/event-size.md says why.
type CopyRequestError struct {
	// Results holds every file's result, the successful ones too.
	Results []contract.FileResult
	// Failed lists the failed files, in the order of Results: the files the
	// re-run input names.
	Failed []contract.File

	fit *causeFit // rendered once, by Error
}

func (e *CopyRequestError) Error() string {
	return e.render().message
}

// Rerun is the re-run input for every failed file, even when the message
// could not hold it all. It is a classic S3 event ({"Records":[...]})
// naming only those files. Keys are encoded as S3 encodes them; version
// ids, ETags and restore expiry are kept. It is nil when no file failed
// (a rejected event names no file).
func (e *CopyRequestError) Rerun() json.RawMessage {
	if len(e.Failed) == 0 {
		return nil
	}
	return parseevent.NotificationEvent(e.Failed)
}

// LeftOut returns how many failed files the message's re-run input leaves
// out to fit contract.MaxCauseChars (0 when it names them all).
func (e *CopyRequestError) LeftOut() int {
	f := e.render()
	return len(e.Failed) - f.rerun
}

// causeFit is the message as rendered to fit contract.MaxCauseChars.
type causeFit struct {
	message string
	// rerun is how many failed files the re-run input names.
	rerun int
}

func (e *CopyRequestError) render() *causeFit {
	if e.fit != nil {
		return e.fit
	}
	fits := func(msg string) bool {
		return contract.CauseChars(contract.ErrorTypeCopyRequest, msg) <= contract.MaxCauseChars
	}
	if len(e.Failed) == 0 { // no re-run input: only the results must fit
		results, _ := contract.FitErrMsgs(e.Results)
		e.fit = &causeFit{message: contract.FailureMessage(results)}
		return e.fit
	}
	if full := e.message(e.Results, len(e.Failed)); fits(full) {
		e.fit = &causeFit{message: full, rerun: len(e.Failed)}
		return e.fit
	}
	// Every result first, shortened only if the list alone is too long.
	// Then as many failed files in the re-run input as the rest holds.
	// The message grows with k: bisection finds the largest k that fits.
	// k = 0 leaves a line that only points at the log.
	none := contract.CauseChars(contract.ErrorTypeCopyRequest, e.message(nil, 0)) -
		contract.CauseChars(contract.ErrorTypeCopyRequest, contract.FailureMessage(nil)) // the re-run line naming no file
	results, _ := contract.FitErrMsgsLeaving(e.Results, none)
	lo, hi := 0, len(e.Failed)-1 // all of them did not fit
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(e.message(results, mid)) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	e.fit = &causeFit{message: e.message(results, lo), rerun: lo}
	return e.fit
}

// message renders the results and the re-run input of the first k failed
// files, saying how many were left out when k is not all of them.
func (e *CopyRequestError) message(results []contract.FileResult, k int) string {
	msg := contract.FailureMessage(results)
	if len(e.Failed) == 0 {
		return msg
	}
	what := fmt.Sprintf("the %d failed files", len(e.Failed))
	if len(e.Failed) == 1 {
		what = "the failed file"
	}
	how := "start a new execution with it once the cause is fixed"
	if k < len(e.Failed) {
		what = fmt.Sprintf("%d of the %d failed files", k, len(e.Failed))
		how += fmt.Sprintf("; %d failed files are left out to fit the %d-character limit of an error cause: "+
			"the aggregate function's log has the full re-run input, in its %q line", len(e.Failed)-k, contract.MaxCauseChars, LogRerunInput)
	}
	return msg + "\nRe-run input for " + what + " (" + how + "): " + string(parseevent.NotificationEvent(e.Failed[:k]))
}

// LogRerunInput is the message of the aggregate function's log line that
// carries the full re-run input.
const LogRerunInput = "re-run input"

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
