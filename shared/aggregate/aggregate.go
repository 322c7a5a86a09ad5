// Package aggregate is the aggregate function, the workflow's last step: it
// turns every file's iteration into the original Lambda's per-file result
// and fails with CopyRequestError when any file was not copied and recorded.
package aggregate

import (
	"fmt"
	"strings"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// CopyRequestError is the aggregate Lambda's error when any file was not
// copied and recorded, or the event was rejected. Its message is the
// original Lambda's: "File copy failed. " followed by the JSON list of every
// file's result (contract.FailureMessage). Step Functions cuts an error's
// cause at contract.MaxCauseChars, which would leave a list that is not
// JSON: the longest error messages are shortened in the list so that it fits
// (contract.FitErrMsgs; request_status.err_msg keeps them whole), and
// parse-event rejects events with more files than the list can hold
// (contract.FilesWithinReport).
type CopyRequestError struct {
	// Results holds every file's result, the successful ones too.
	Results []contract.FileResult
}

func (e *CopyRequestError) Error() string {
	results, _ := contract.FitErrMsgs(e.Results)
	return contract.FailureMessage(results)
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
	failed := false
	for _, it := range req.Iterations {
		r := IterationResult(it)
		failed = failed || !r.Success
		results = append(results, r)
	}
	if failed {
		return nil, &CopyRequestError{Results: results}
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
