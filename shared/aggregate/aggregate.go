// Package aggregate is the aggregate function, called twice by each
// execution. "Sort results" (Sort) splits the Express lane's results: the
// files it finished, and those for the Standard lane. "Report results"
// (Aggregate), the workflow's last step, turns each file's iteration into
// the original Lambda's per-file result. It fails with CopyRequestError
// when any file was not copied and recorded, or a message of the batch was
// rejected.
package aggregate

import (
	"fmt"
	"strings"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// Aggregate is "Report results": each file's result, in the order of the
// iterations (Iterations, then Done, then the Standard lane's, one per
// Standard item). When every file was copied and its status recorded, and
// no message of the batch was rejected, it returns the results; otherwise
// a *CopyRequestError listing the failed files and the rejected messages.
// An event that was rejected or could not be read (EventError) gives a
// single failed result saying nothing was copied.
func Aggregate(req contract.AggregateRequest) ([]contract.FileResult, error) {
	outcomes, err := aggregate(req)
	if err != nil {
		return nil, err
	}
	return resultsOf(outcomes), nil
}

// aggregate is Aggregate, with each file's outcome (also on failure).
func aggregate(req contract.AggregateRequest) ([]fileOutcome, error) {
	if req.EventError != nil {
		return nil, eventError(req.EventError)
	}
	outcomes := make([]fileOutcome, 0, len(req.Iterations)+len(req.Done)+len(req.Standard))
	for _, it := range req.Iterations {
		outcomes = append(outcomes, iterationOutcome(it))
	}
	for _, it := range req.Done {
		outcomes = append(outcomes, iterationOutcome(it))
	}
	outcomes = append(outcomes, standardOutcomes(req.Standard, req.StandardResults)...)
	cre := &CopyRequestError{Files: len(outcomes), Rejected: req.Rejected}
	for _, o := range outcomes {
		if !o.result.Success {
			cre.Results = append(cre.Results, o.result)
			cre.Failed = append(cre.Failed, o.file)
		}
	}
	if len(cre.Failed) > 0 || len(cre.Rejected) > 0 {
		return outcomes, cre
	}
	return outcomes, nil
}

// eventError is the report of an event rejected as a whole, or that
// parse-event could not read.
func eventError(e *contract.StateError) *CopyRequestError {
	msg := "invalid event, nothing was copied: " + e.Message()
	if e.Error != contract.InvalidEventError {
		// parse-event failed for another reason (a timeout, a Lambda
		// service fault): the event itself may be fine.
		msg = fmt.Sprintf("the event could not be read (%s), nothing was copied: %s", e.Error, e.Message())
	}
	return &CopyRequestError{Results: []contract.FileResult{{Success: false, ErrMsg: msg}}}
}

// resultsOf lists the outcomes' results, [] (not nil) when there is none.
func resultsOf(outcomes []fileOutcome) []contract.FileResult {
	results := make([]contract.FileResult, len(outcomes))
	for i, o := range outcomes {
		results[i] = o.result
	}
	return results
}

// IterationResult is one file's result: success only when its job was
// found, the copy succeeded and the outcome was recorded, or when its job
// was already complete and the Express child left it alone (AlreadyCopied).
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
	case AlreadyCopied(it):
		return ""
	case it.CopyError != nil && it.RecordError != nil:
		return fmt.Sprintf("%s; and the status could not be recorded: %s", it.CopyError.Message(), it.RecordError.Message())
	case it.CopyError != nil:
		return it.CopyError.Message()
	case it.Copy == nil && it.Recorded == nil:
		return fmt.Sprintf("no copy outcome for key %q", key)
	case it.Copy != nil && !it.Copy.Complete:
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

// AlreadyCopied reports whether an iteration is a duplicate the Express
// child ended at "Already copied": its job was already complete, and it
// carries no copy, record, error or hand-over (nothing was done, nothing
// went wrong). A file copied again (the Standard lane) is not one: it has
// its copy and record, judged as any other.
func AlreadyCopied(it contract.Iteration) bool {
	return it.Job != nil && it.Job.AlreadyComplete &&
		it.Copy == nil && it.Recorded == nil && it.Handover == nil &&
		it.LookupError == nil && it.CopyError == nil && it.RecordError == nil && it.HandoverError == nil
}

// copyTarget names where a successful copy went: bucket/key. The Express
// lane keeps no copy outcome of a file it copied and recorded ("Copied"):
// then the job's bucket and the same key.
func copyTarget(it contract.Iteration) string {
	var bucket, key string
	if it.Copy != nil {
		bucket, key = it.Copy.TargetBucket, it.Copy.TargetKey
	}
	if bucket == "" {
		bucket = it.Job.TargetBucket
	}
	if key == "" {
		key = it.File.SourceKey
	}
	return bucket + "/" + key
}
