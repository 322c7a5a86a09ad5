// Package contract defines the documents that flow between the states of
// the copy workflow. They are the restored files the event names, the job
// found for each, and the outcome of each copy. They also cover the errors
// Step Functions catches and the per-file results the aggregator reports.
//
// The JSON field names here are the contract with statemachine/definition.asl.json:
// change one only together with the other.
package contract

import (
	"encoding/json"
	"time"
)

// File is one restored object named by the triggering event, with its key
// already decoded.
//
// VersionID and ETag are the event's version id and ETag of the restored
// object (classic: s3.object.versionId, eTag; EventBridge:
// detail.object.version-id, etag). They are empty when the event has none.
// They are always present in the JSON, so that a state machine path to
// them never fails.
type File struct {
	SourceBucket string `json:"source_bucket"`
	SourceKey    string `json:"source_key"`
	Size         int64  `json:"size"`
	VersionID    string `json:"version_id"`
	ETag         string `json:"etag"`

	// RestoreExpiryTime is when S3 deletes the restored copy (RFC 3339,
	// UTC), as the event says: EventBridge's detail.restore-expiry-time or
	// the classic record's
	// glacierEventData.restoreEventData.lifecycleRestorationExpiryTime.
	// Empty when the event does not say. After it, a re-run needs a new
	// restore first.
	RestoreExpiryTime string `json:"restore_expiry_time,omitempty"`

	// Copied is set by "Sort results" on a file an earlier Express round
	// copied but could not record (its status refused or throttled within
	// the short budget): the next round only records it ("Job found?"
	// skips the copy). Events never set it; the Standard lane ignores it
	// (it copies again, idempotently).
	Copied bool `json:"copied,omitempty"`
}

// RestoreExpiryNote is what a failed file's err_msg says about its restored
// copy: until when a re-run can still read it ("" when the event did not
// say). The aggregate function's results and request-status's err_msg use
// the same words.
func RestoreExpiryNote(f File) string {
	if f.RestoreExpiryTime == "" {
		return ""
	}
	return "restored copy expires " + f.RestoreExpiryTime + ": re-run before then or restore again"
}

// WithRestoreExpiryNote appends RestoreExpiryNote(f) to msg, when there is one.
func WithRestoreExpiryNote(msg string, f File) string {
	note := RestoreExpiryNote(f)
	switch {
	case note == "":
		return msg
	case msg == "":
		return note
	}
	return msg + "; " + note
}

// FormatRestoreExpiry renders a restore expiry time as File carries it.
func FormatRestoreExpiry(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// ParsedEvent is the output of the parse-event Lambda: the files to copy, in
// the order the event lists them.
type ParsedEvent struct {
	Files []File `json:"files"`
	// Rejected lists the messages of a Pipe batch that named no valid
	// restore event, each rejected alone: the rest of the batch is copied.
	// Always a list (never null), so that the state machine's path to it
	// never fails.
	Rejected []RejectedMessage `json:"rejected"`
}

// RejectedMessage is one message of a batch that parse-event could not
// read: which one, and why. The report lists it, so that an operator can
// find the message and send its event again.
type RejectedMessage struct {
	// Index is the message's position in the batch, from 0.
	Index int `json:"index"`
	// MessageID is the SQS message id, when the batch gives one.
	MessageID string `json:"message_id,omitempty"`
	// Error says what was wrong, naming the field (as InvalidEventError
	// does).
	Error string `json:"error"`
}

// The operations of the request-status Lambda. find_open_job looks up a
// file's open job before the copy and marks it picked up. mark_picked_up
// marks it again each time a copy resumes. record_outcome records the
// copy's outcome.
const (
	OperationFindOpenJob   = "find_open_job"
	OperationMarkPickedUp  = "mark_picked_up"
	OperationRecordOutcome = "record_outcome"
	// OperationFindOpenJobs is find_open_job for a chunk of files in one
	// call (the Express lane's "Find open jobs"): Files in (1 to 40, each
	// with its source_key), FoundJobs out. Each file gets what
	// find_open_job would give it, the mark included: its job, or in
	// LookupError the NoOpenJobError find_open_job would fail with. A
	// database unavailable fails the whole call (DatabaseUnavailableError).
	OperationFindOpenJobs = "find_open_jobs"
)

// StatusRequest is the request-status Lambda's input. Which fields matter
// depends on Operation.
type StatusRequest struct {
	Operation string `json:"operation"`
	// SourceKey is the decoded object key (every operation).
	SourceKey string `json:"source_key"`
	// RequestID identifies the row to update (record_outcome,
	// mark_picked_up).
	RequestID string `json:"request_id,omitempty"`
	// CopyError is the error Step Functions caught from the copy task;
	// nil means the copy succeeded (record_outcome).
	CopyError *StateError `json:"copy_error,omitempty"`
	// File is the file whose outcome is recorded (record_outcome of a
	// failed copy): the recorded err_msg says until when its restored copy
	// can be re-run. Optional.
	File *File `json:"file,omitempty"`
	// Files are the chunk's files (find_open_jobs), at most
	// statemachine.MaxInlineMapConcurrency.
	Files []File `json:"files,omitempty"`
}

// FoundJobs is the output of find_open_jobs: one item per file, in the
// order of the request's Files.
type FoundJobs struct {
	Items []FoundJob `json:"items"`
}

// FoundJob is one file's open job, or why it has none. Job and LookupError
// are always present in the JSON, one of them null, so that the state
// machine's ItemSelector paths to them never fail. LookupError is
// {"Error":"NoOpenJobError","Cause":<the error's message>}: the bare
// message, which StateError.Message reads as it reads a caught error's.
type FoundJob struct {
	File        File        `json:"file"`
	Job         *Job        `json:"job"`
	LookupError *StateError `json:"lookup_error"`
}

// Job is the job found in request_status for a file: the output of the
// find_open_job operation. It is the newest open job (job_status <>
// 'complete'). When the key has only complete jobs, it is the newest of
// those, with AlreadyComplete set: a duplicate event after success. The
// Express child then neither copies nor records the file ("Already
// copied"); the Standard lane copies it again, and recording it changes
// nothing.
type Job struct {
	RequestID       string `json:"request_id"`
	TargetBucket    string `json:"target_bucket"`
	AlreadyComplete bool   `json:"already_complete,omitempty"`
}

// Marked is the output of the mark_picked_up operation: whether an
// 'inprogress' row was marked (false: the row is complete, error or gone).
type Marked struct {
	Marked bool `json:"marked"`
}

// Recorded is the output of the record_outcome operation.
type Recorded struct {
	JobStatus string `json:"job_status"` // "complete" or "error"
}

// CopyRequest is the copy-file Lambda's input.
type CopyRequest struct {
	SourceBucket string `json:"source_bucket"`
	SourceKey    string `json:"source_key"`
	TargetBucket string `json:"target_bucket"`
	// Size is the size the event reported; 0 when unknown. The copier reads
	// the real size from HeadObject and does not trust this value.
	Size int64 `json:"size,omitempty"`
	// VersionID, when set, is the version of the source to copy (the
	// event's). Every S3 call on the source names it.
	VersionID string `json:"version_id,omitempty"`
	// ETag, when set, is the ETag the event reported for the restored
	// object (with or without quotes). A source whose ETag differs fails
	// the copy with PermanentCopyError SourceChanged.
	ETag string `json:"etag,omitempty"`
	// UploadID and SourceETag are the resume token of a multipart copy
	// that an earlier invocation left unfinished (CopyOutcome.Complete
	// false). The copier then copies only the missing parts, still pinned
	// to SourceETag. Empty starts a new copy. If the upload is gone or the
	// source's ETag changed, the copy starts over with a new upload.
	UploadID   string `json:"upload_id,omitempty"`
	SourceETag string `json:"source_etag,omitempty"`
	// SourceVersionID is part of the same token: the version of the source
	// the upload copies (empty for an unversioned source). A resume whose
	// source has another version id starts over with a new upload.
	SourceVersionID string `json:"source_version_id,omitempty"`
	// PartSize is the part size of the upload named by UploadID. A resume
	// whose part size differs from the copier's plan starts over with a
	// new upload (docs/copying.md).
	PartSize int64 `json:"part_size,omitempty"`
	// Passes and ElapsedMS are the previous passes' count and total
	// duration (the last CopyOutcome's), so the pass that finishes the
	// copy can report the whole copy's duration and passes. 0 on the
	// first pass.
	Passes    int   `json:"passes,omitempty"`
	ElapsedMS int64 `json:"elapsed_ms,omitempty"`
	// RetryCount is this invocation's $$.State.RetryCount, 0 on the first
	// attempt
	// (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-contextobject.html).
	// MaxRetries is the MaxAttempts of the "Copy file" retrier of
	// TransientCopyError. RetryCount counts every retrier's retries, so at
	// MaxRetries no retry of a TransientCopyError follows (LastAttempt).
	// Nil is not known, treated as not the last attempt. docs/copying.md
	// says what an early count costs.
	RetryCount *int `json:"retry_count,omitempty"`
	MaxRetries *int `json:"max_retries,omitempty"`
	// TimeBudgetSecs, when above 0, is how long this invocation may take
	// (the Express lane's: its child must end within 5 minutes). A
	// multipart copy not finished in time returns Complete false with its
	// resume token, as at the Lambda's deadline; 0 leaves only the
	// Lambda's deadline. A single CopyObject (below the multipart
	// threshold) is not bound by it; a negative value fails the copy
	// (PermanentCopyError InvalidInput). docs/copying.md says how the
	// deadline margin applies to a budget.
	TimeBudgetSecs int `json:"time_budget_secs,omitempty"`
	// CheckArchive, when set, makes a copy below the multipart threshold
	// whose archive copy already holds the source's bytes not be made
	// again: one HeadObject of the archive object first, and no CopyObject
	// when its ETag (or, under SSE-KMS, its size and full-object checksum)
	// proves the bytes are the source's. Any other answer, an error
	// included, copies as without it. Ignored for a multipart copy and a
	// resume token. The Standard lane sets it (a copy it gets may have
	// finished in an Express invocation that timed out); the Express lane
	// does not (two S3 requests a copy).
	CheckArchive bool `json:"check_archive,omitempty"`
}

// LastAttempt reports whether the workflow will not retry this copy after
// a failure: RetryCount and MaxRetries are known and the retries are used
// up.
func (r CopyRequest) LastAttempt() bool {
	return r.RetryCount != nil && r.MaxRetries != nil && *r.RetryCount >= *r.MaxRetries
}

// CopyOutcome is the copy-file Lambda's output.
//
// Complete is true for every finished copy. A multipart copy that cannot
// finish before the Lambda's deadline stops early. It returns Complete
// false with its resume token (UploadID, SourceETag, SourceVersionID,
// PartSize). The workflow then invokes the copy again with that token.
// UploadID, SourceETag and SourceVersionID are always present in the JSON
// (empty when Complete), so that a state machine path to them never fails.
type CopyOutcome struct {
	TargetBucket string `json:"target_bucket"`
	TargetKey    string `json:"target_key"`
	Bytes        int64  `json:"bytes"`
	Multipart    bool   `json:"multipart"`
	Parts        int    `json:"parts,omitempty"`
	DurationMS   int64  `json:"duration_ms"`
	Complete     bool   `json:"complete"`
	UploadID     string `json:"upload_id"`
	SourceETag   string `json:"source_etag"`
	// SourceVersionID is the version id of the source the paused upload
	// copies (empty for an unversioned source, or when Complete).
	SourceVersionID string `json:"source_version_id"`
	// PartSize, PartsDone, PartsTotal and BytesDone say how far a
	// multipart copy has got: the parts the upload holds after this
	// invocation, of PartsTotal.
	PartSize   int64 `json:"part_size,omitempty"`
	PartsDone  int   `json:"parts_done,omitempty"`
	PartsTotal int   `json:"parts_total,omitempty"`
	BytesDone  int64 `json:"bytes_done,omitempty"`
	// Passes counts the invocations this copy has taken so far, this one
	// included; ElapsedMS is their total duration. Always present, so the
	// state machine can pass them back.
	Passes    int   `json:"passes"`
	ElapsedMS int64 `json:"elapsed_ms"`
	// AlreadyArchived says the copy was not made: CheckArchive found an
	// archive copy holding the source's bytes. Complete is true, Bytes the
	// source's size.
	AlreadyArchived bool `json:"already_archived,omitempty"`
}

// StateError is what a Step Functions Catch puts at its ResultPath:
// the error name and its cause. For a Lambda error, Cause is (in AWS) a JSON
// document {"errorMessage": ..., "errorType": ...}; the local engine may give
// the bare message. Message handles both.
type StateError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// Iteration is the document one Map iteration ends with: the file and what
// happened to it at each step. Exactly the fields of the steps that ran are
// set. The aggregator turns it into a FileResult.
type Iteration struct {
	File        File         `json:"file"`
	Job         *Job         `json:"job,omitempty"`
	Copy        *CopyOutcome `json:"copy,omitempty"`
	Recorded    *Recorded    `json:"recorded,omitempty"`
	LookupError *StateError  `json:"lookup_error,omitempty"`
	CopyError   *StateError  `json:"copy_error,omitempty"`
	RecordError *StateError  `json:"record_error,omitempty"`
	// Marked and MarkError are the last "Mark copy resumed" pass's result
	// or caught error. A MarkError does not fail the file (a mark is best
	// effort); it stays in the iteration to be seen.
	Marked    *Marked     `json:"marked,omitempty"`
	MarkError *StateError `json:"mark_error,omitempty"`
	// Handover is set when the Express lane gave the file to the Standard
	// lane ({"lane": "standard"}); HandoverError is the error caught then,
	// if any (throttled, transient, timed out).
	Handover      *Handover   `json:"handover,omitempty"`
	HandoverError *StateError `json:"handover_error,omitempty"`
}

// Handover says which lane a file was handed to.
type Handover struct {
	Lane string `json:"lane"`
}

// CopyToken is the copy state an iteration starts from: empty for a new
// copy, or an unfinished copy's resume token. Every field is always present:
// the Standard lane's "Copy file" reads each by path.
type CopyToken struct {
	Complete        bool   `json:"complete"`
	UploadID        string `json:"upload_id"`
	SourceETag      string `json:"source_etag"`
	SourceVersionID string `json:"source_version_id"`
	PartSize        int64  `json:"part_size"`
	Passes          int    `json:"passes"`
	ElapsedMS       int64  `json:"elapsed_ms"`
}

// StandardItem is one file for the Standard lane: the file and the copy
// state it resumes from.
type StandardItem struct {
	File File      `json:"file"`
	Copy CopyToken `json:"copy"`
}

// The aggregate Lambda's operations: "sort" between the lanes, then the
// report (Operation empty).
const OperationSort = "sort"

// SortRequest is "Sort results"' input: the batch's files in their chunks,
// the messages parse-event rejected, and the Express Map's output as it came (an array
// with one entry per chunk: the chunk's iterations, or what a chunk that
// failed ended with; or the error the Map's Catch caught).
//
// The parent may run the Express lane several rounds (deferred files go
// round again): Done and Standard are what earlier rounds gave, Round the
// rounds run before this one (0 in the first), and MaxRounds, WaitBaseSecs
// and WaitCapSecs the deferral policy (the definition's constants).
type SortRequest struct {
	Operation    string            `json:"operation"`
	Chunks       [][]File          `json:"chunks"`
	Rejected     []RejectedMessage `json:"rejected"`
	ChunkResults json.RawMessage   `json:"chunk_results"`
	Done         []Iteration       `json:"done"`
	Standard     []StandardItem    `json:"standard"`
	Round        int               `json:"round"`
	MaxRounds    int               `json:"max_rounds"`
	WaitBaseSecs int               `json:"wait_base_secs"`
	WaitCapSecs  int               `json:"wait_cap_secs"`
}

// Sorted is "Sort results"' output, which replaces the execution's state:
// the finished iterations and the files for the Standard lane (this
// round's appended to the earlier rounds'), the rejected messages, and the
// files deferred to go round the Express lane again after WaitSecs; Round
// is the rounds run so far. Every list is always a list.
type Sorted struct {
	Rejected []RejectedMessage `json:"rejected"`
	Done     []Iteration       `json:"done"`
	Standard []StandardItem    `json:"standard"`
	Deferred []File            `json:"deferred"`
	Round    int               `json:"round"`
	WaitSecs int               `json:"wait_secs"`
}

// AggregateRequest is the aggregate Lambda's input: either the Map's
// iterations, or the error that rejected the event before any file was
// touched.
//
// The parent execution hands it Sorted plus the Standard lane's Map output
// (StandardResults: one iteration per Standard item, in order, or what a
// failed child ended with; or the error the Map's Catch caught).
type AggregateRequest struct {
	Iterations      []Iteration       `json:"iterations,omitempty"`
	EventError      *StateError       `json:"event_error,omitempty"`
	Rejected        []RejectedMessage `json:"rejected,omitempty"`
	Done            []Iteration       `json:"done,omitempty"`
	Standard        []StandardItem    `json:"standard,omitempty"`
	StandardResults json.RawMessage   `json:"standard_results,omitempty"`
}

// FileResult is one file's result, in the shape the original Lambda returned.
type FileResult struct {
	RequestID    string `json:"request_id"`
	SourceBucket string `json:"source_bucket"`
	SourceKey    string `json:"source_key"`
	TargetBucket string `json:"target_bucket"`
	Success      bool   `json:"success"`
	ErrMsg       string `json:"err_msg"`
	// RestoreExpiryTime is, for a failed file, when its restored copy
	// expires (File.RestoreExpiryTime); omitted when unknown or on success.
	RestoreExpiryTime string `json:"restore_expiry_time,omitempty"`
}

// Message returns the human-readable message of a caught error: the
// errorMessage of a Lambda error's JSON cause, else the cause as it is, else
// the error name.
func (e *StateError) Message() string {
	if e == nil {
		return ""
	}
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if err := json.Unmarshal([]byte(e.Cause), &lambdaErr); err == nil && lambdaErr.ErrorMessage != "" {
		return lambdaErr.ErrorMessage
	}
	if e.Cause != "" {
		return e.Cause
	}
	return e.Error
}
