package contract

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Step Functions limits the workflow must stay within
// (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions).
// A state's input or output larger than MaxStatePayloadBytes fails the
// execution with States.DataLimitExceeded. An error's cause is cut at
// MaxCauseChars characters
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_ExecutionFailedEventDetails.html).
const (
	MaxStatePayloadBytes = 256 * 1024
	MaxCauseChars        = 32768
)

// The most one execution carries: MaxFilesPerExecution files whose JSON
// (File, as marshalled) sums to at most MaxFilesBytesPerExecution bytes.
// The parent execution's state holds the files about three times (the
// chunks, the results, the Standard lane's hand-over documents), and each
// state's input and output must stay within MaxStatePayloadBytes.
// parse-event rejects a message of a batch that would take the execution
// past either, alone, and a single event past either as a whole.
const (
	MaxFilesPerExecution      = 100
	MaxFilesBytesPerExecution = 64 * 1024
)

// ErrorTypeCopyRequest is the error type (Go type name) of the aggregate
// function's failure, aggregate.CopyRequestError.
const ErrorTypeCopyRequest = "CopyRequestError"

// failurePrefix starts the failure message, as in the original Lambda.
const failurePrefix = "File copy failed. "

// FailureMessage is the message of a failed request, the original Lambda's:
// "File copy failed. " followed by the JSON list of every file's result
// ("[]", never "null"; no HTML escaping, so keys with &, < or > stay
// readable).
func FailureMessage(results []FileResult) string {
	if results == nil {
		results = []FileResult{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(results); err != nil {
		// FileResult holds only strings and a bool: Encode cannot fail.
		return failurePrefix + fmt.Sprintf("%+v", results)
	}
	return failurePrefix + string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

// CauseChars is the length in characters of the cause Step Functions
// records for a Lambda function error. The cause is the error payload
// {"errorMessage": message, "errorType": errorType} as JSON text, so every
// quote and backslash of the message is escaped once more.
func CauseChars(errorType, message string) int {
	b, _ := json.Marshal(struct {
		ErrorMessage string `json:"errorMessage"`
		ErrorType    string `json:"errorType"`
	}{message, errorType})
	return utf8.RuneCount(b)
}

// FitErrMsgs returns results whose failure message, as a CopyRequestError
// cause, fits in MaxCauseChars. It shortens the longest error messages
// just enough, each to the same length, ending in "…". Results that fit
// already are returned as they are. ok is false when even empty error
// messages would not fit (see FilesWithinReport).
func FitErrMsgs(results []FileResult) (fitted []FileResult, ok bool) {
	return FitErrMsgsLeaving(results, 0)
}

// FitErrMsgsLeaving is FitErrMsgs keeping room characters of the cause free
// for what the message carries after the list (the aggregate function's
// re-run input).
func FitErrMsgsLeaving(results []FileResult, room int) (fitted []FileResult, ok bool) {
	fits := func(rs []FileResult) bool {
		return CauseChars(ErrorTypeCopyRequest, FailureMessage(rs)) <= MaxCauseChars-room
	}
	if fits(results) {
		return results, true
	}
	longest := 0
	for _, r := range results {
		longest = max(longest, utf8.RuneCountInString(r.ErrMsg))
	}
	// The largest per-message length that fits, by bisection.
	lo, hi := 0, longest
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if fits(capErrMsgs(results, mid)) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	fitted = capErrMsgs(results, lo)
	return fitted, fits(fitted)
}

// capErrMsgs cuts every error message longer than n characters to n,
// the last one "…".
func capErrMsgs(results []FileResult, n int) []FileResult {
	out := make([]FileResult, len(results))
	for i, r := range results {
		if utf8.RuneCountInString(r.ErrMsg) > n {
			runes := []rune(r.ErrMsg)
			if n == 0 {
				r.ErrMsg = ""
			} else {
				r.ErrMsg = string(runes[:n-1]) + "…"
			}
		}
		out[i] = r
	}
	return out
}

// The room the report of an event keeps for each file, beyond its bucket
// and key. It holds a request id (a UUID), the longest archive bucket
// name and ReportErrMsgChars characters of error message.
const (
	reportRequestIDChars   = 36
	reportTargetBucketChar = 63
	// ReportErrMsgChars is the error message every file's result keeps in
	// the report of a failed request, however many files the event names.
	// Longer messages are shortened in the report (FitErrMsgs), never in
	// request_status.err_msg.
	ReportErrMsgChars = 300
)

// FilesWithinReport returns how many of files, from the first, fit in one
// event. The CopyRequestError reporting every one of them failed must fit
// in MaxCauseChars, with the room each file's report keeps (see
// ReportErrMsgChars). parse-event rejects an event naming more. The
// figures are in docs/event-size.md.
func FilesWithinReport(files []File) int {
	worst := make([]FileResult, 0, len(files))
	for i, f := range files {
		worst = append(worst, FileResult{
			RequestID:    strings.Repeat("0", reportRequestIDChars),
			SourceBucket: f.SourceBucket,
			SourceKey:    f.SourceKey,
			TargetBucket: strings.Repeat("a", reportTargetBucketChar),
			ErrMsg:       strings.Repeat("e", ReportErrMsgChars),
		})
		if CauseChars(ErrorTypeCopyRequest, FailureMessage(worst)) > MaxCauseChars {
			return i
		}
	}
	return len(files)
}
