package requeststatus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// JobStore is what the StatusHandler needs from the database; *Store
// satisfies it.
type JobStore interface {
	FindOpenJob(ctx context.Context, key string) (contract.Job, error)
	FindOpenJobs(ctx context.Context, keys []string) ([]JobLookup, error)
	MarkPickedUp(ctx context.Context, requestID, key string) (bool, error)
	RecordOutcome(ctx context.Context, requestID, key string, copyErr *contract.StateError) (string, error)
}

var _ JobStore = (*Store)(nil)

// StatusResponse is the request-status Lambda's output: exactly one of Job
// (find_open_job), Found (find_open_jobs), Marked (mark_picked_up) or
// Recorded (record_outcome). It marshals to that one document alone:
// {"request_id","target_bucket"[,"already_complete"]},
// {"items":[{"file","job","lookup_error"},...]}, {"marked"} or
// {"job_status"}.
type StatusResponse struct {
	Job      *contract.Job
	Found    *contract.FoundJobs
	Marked   *contract.Marked
	Recorded *contract.Recorded
}

// MarshalJSON writes the document of the operation that ran.
func (r StatusResponse) MarshalJSON() ([]byte, error) {
	var (
		doc any
		set int
	)
	keep := func(isSet bool, d any) {
		if isSet {
			doc, set = d, set+1
		}
	}
	keep(r.Job != nil, r.Job)
	keep(r.Found != nil, r.Found)
	keep(r.Marked != nil, r.Marked)
	keep(r.Recorded != nil, r.Recorded)
	if set != 1 {
		return nil, errors.New("StatusResponse: exactly one of Job, Found, Marked and Recorded must be set")
	}
	return json.Marshal(doc)
}

// StatusHandler serves the request-status Lambda: it finds a file's open job
// before the copy (marking it as picked up), or a chunk's open jobs in one
// call (the Express lane's), marks a job again each time its copy resumes,
// and records the copy's outcome after it.
type StatusHandler struct {
	Store  JobStore
	Logger *slog.Logger
	// Metrics receives each database call's latency and whether the
	// database was unavailable; nil writes none.
	Metrics *metrics.Writer

	db      DB               // what NewHandlerFromEnv built, released by Close
	invoker lambdafn.Invoker // Invoke's aws-lambda-go handler, built once
}

// Handle runs the operation req names. Its errors are returned unwrapped, so
// that their type names reach Step Functions as errorType:
// *InvalidStatusRequestError, *NoOpenJobError, *DatabaseUnavailableError,
// *StatusUpdateError, *DatabaseError.
func (h *StatusHandler) Handle(ctx context.Context, req contract.StatusRequest) (StatusResponse, error) {
	start := time.Now()
	resp, status, err := h.run(ctx, req)
	err = routable(err)

	ms := float64(time.Since(start).Microseconds()) / 1000
	attrs := []slog.Attr{
		slog.String("operation", req.Operation),
		slog.String("key", req.SourceKey),
		slog.String("request_id", req.RequestID),
		slog.String("status", status),
		slog.Float64("duration_ms", ms),
	}
	if resp.Job != nil {
		attrs[2] = slog.String("request_id", resp.Job.RequestID)
		attrs = append(attrs, slog.String("target_bucket", resp.Job.TargetBucket))
	}
	level, msg := slog.LevelInfo, "request status "+req.Operation
	if req.Operation == contract.OperationFindOpenJobs {
		attrs = append(attrs, chunkAttrs(req.Files, resp.Found)...)
		if resp.Found != nil && len(resp.Found.Items) > 0 && status != "found" {
			level = slog.LevelWarn // some files have no usable job: the report fails them
		}
	}
	if err != nil {
		level = slog.LevelError
		attrs = append(attrs, slog.String("error_type", contract.ErrorType(err)), slog.String("error", err.Error()))
	}
	if status == "invalid" { // no database call was made: no metrics
		h.logger().LogAttrs(ctx, level, msg, attrs...)
		return resp, err
	}
	var unavailable *DatabaseUnavailableError
	down := 0.0
	if errors.As(err, &unavailable) {
		down = 1
	}
	// The outcome line is the call's EMF document too.
	h.Metrics.Log(ctx, h.logger(), level, msg, attrs, []metrics.Dimension{{Name: metrics.DimensionOperation, Value: req.Operation}},
		metrics.Metric{Name: metrics.DatabaseCallMilliseconds, Unit: metrics.Milliseconds, Value: ms},
		metrics.Metric{Name: metrics.DatabaseUnavailable, Unit: metrics.Count, Value: down})
	return resp, err
}

// run does the work of Handle and names the outcome for the log line.
func (h *StatusHandler) run(ctx context.Context, req contract.StatusRequest) (StatusResponse, string, error) {
	if err := validate(req); err != nil {
		return StatusResponse{}, "invalid", err
	}
	switch req.Operation {
	case contract.OperationFindOpenJob:
		job, err := h.Store.FindOpenJob(ctx, req.SourceKey)
		if err != nil {
			return StatusResponse{}, "failed", err
		}
		status := "found"
		if job.AlreadyComplete {
			status = "already_complete"
		}
		return StatusResponse{Job: &job}, status, nil
	case contract.OperationFindOpenJobs:
		found, status, err := h.findOpenJobs(ctx, req.Files)
		if err != nil {
			return StatusResponse{}, "failed", err
		}
		return StatusResponse{Found: &found}, status, nil
	case contract.OperationMarkPickedUp:
		marked, err := h.Store.MarkPickedUp(ctx, req.RequestID, req.SourceKey)
		if err != nil {
			return StatusResponse{}, "failed", err
		}
		status := "marked"
		if !marked {
			status = "not_inprogress" // nothing to mark: the row is complete, error or gone
		}
		return StatusResponse{Marked: &contract.Marked{Marked: marked}}, status, nil
	default: // contract.OperationRecordOutcome; validate allows no other
		jobStatus, err := h.Store.RecordOutcome(ctx, req.RequestID, req.SourceKey, withRestoreExpiry(req.CopyError, req.File))
		if err != nil {
			return StatusResponse{}, "failed", err
		}
		return StatusResponse{Recorded: &contract.Recorded{JobStatus: jobStatus}}, jobStatus, nil
	}
}

// withRestoreExpiry returns the copy error whose message is recorded as
// err_msg, saying until when the file's restored copy can be re-run when
// the request carries the file and its restore expiry.
func withRestoreExpiry(copyErr *contract.StateError, file *contract.File) *contract.StateError {
	if copyErr == nil || file == nil || contract.RestoreExpiryNote(*file) == "" {
		return copyErr
	}
	return &contract.StateError{Error: copyErr.Error, Cause: contract.WithRestoreExpiryNote(copyErr.Message(), *file)}
}

// findOpenJobs looks up the chunk's jobs in one store call: each file's
// job, or its NoOpenJobError as the lookup_error a Catch of find_open_job
// would hold. The status is "found" when every file has a usable job, else
// "some_without_job".
func (h *StatusHandler) findOpenJobs(ctx context.Context, files []contract.File) (contract.FoundJobs, string, error) {
	keys := make([]string, len(files))
	for i, f := range files {
		keys[i] = f.SourceKey
	}
	lookups, err := h.Store.FindOpenJobs(ctx, keys)
	if err != nil {
		return contract.FoundJobs{}, "", err
	}
	if len(lookups) != len(files) {
		return contract.FoundJobs{}, "", &DatabaseError{Op: "find open jobs", Err: fmt.Errorf("%d lookups for %d files", len(lookups), len(files))}
	}
	found, status := contract.FoundJobs{Items: make([]contract.FoundJob, len(files))}, "found"
	for i, l := range lookups {
		item := contract.FoundJob{File: files[i]}
		if l.NoJob != nil {
			item.LookupError = &contract.StateError{Error: contract.ErrorType(l.NoJob), Cause: l.NoJob.Error()}
			status = "some_without_job"
		} else {
			job := l.Job
			item.Job = &job
		}
		found.Items[i] = item
	}
	return found, status, nil
}

// chunkAttrs are the find_open_jobs log line's own attributes: how many
// files, how many with a job (already complete among them), and the keys
// without one.
func chunkAttrs(files []contract.File, found *contract.FoundJobs) []slog.Attr {
	attrs := []slog.Attr{slog.Int("files", len(files))}
	if found == nil {
		return attrs
	}
	var jobs, complete int
	var without []string
	for _, item := range found.Items {
		switch {
		case item.Job == nil:
			without = append(without, item.File.SourceKey)
		case item.Job.AlreadyComplete:
			jobs, complete = jobs+1, complete+1
		default:
			jobs++
		}
	}
	attrs = append(attrs, slog.Int("jobs_found", jobs), slog.Int("already_complete", complete))
	if len(without) > 0 {
		attrs = append(attrs, slog.Any("keys_without_job", without))
	}
	return attrs
}

// operations names the operations for an error message.
var operations = fmt.Sprintf("%q, %q, %q or %q", contract.OperationFindOpenJob, contract.OperationFindOpenJobs,
	contract.OperationMarkPickedUp, contract.OperationRecordOutcome)

func validate(req contract.StatusRequest) error {
	var missing string
	switch req.Operation {
	case contract.OperationFindOpenJob:
		if req.SourceKey == "" {
			missing = "source_key"
		}
	case contract.OperationFindOpenJobs:
		return validateChunk(req.Files)
	case contract.OperationRecordOutcome, contract.OperationMarkPickedUp:
		switch {
		case req.SourceKey == "" && req.RequestID == "":
			missing = "source_key and request_id"
		case req.SourceKey == "":
			missing = "source_key"
		case req.RequestID == "":
			missing = "request_id"
		}
	case "":
		return &InvalidStatusRequestError{Reason: "operation is missing; want " + operations}
	default:
		return &InvalidStatusRequestError{Reason: fmt.Sprintf("unknown operation %q; want %s", req.Operation, operations)}
	}
	if missing != "" {
		return &InvalidStatusRequestError{Reason: fmt.Sprintf("operation %q needs %s", req.Operation, missing)}
	}
	return nil
}

// validateChunk checks find_open_jobs' files: 1 to MaxChunkFiles, each
// with its source_key.
func validateChunk(files []contract.File) error {
	op := contract.OperationFindOpenJobs
	switch {
	case len(files) == 0:
		return &InvalidStatusRequestError{Reason: fmt.Sprintf("operation %q needs files (1 to %d)", op, MaxChunkFiles)}
	case len(files) > MaxChunkFiles:
		return &InvalidStatusRequestError{Reason: fmt.Sprintf("operation %q takes at most %d files, got %d", op, MaxChunkFiles, len(files))}
	}
	for i, f := range files {
		if f.SourceKey == "" {
			return &InvalidStatusRequestError{Reason: fmt.Sprintf("operation %q: files[%d] has no source_key", op, i)}
		}
	}
	return nil
}

// routedError is one of the errors Step Functions routes on (errors.go).
type routedError interface {
	error
	routed()
}

// routable returns the outermost routed error in err, unwrapped, so the
// Lambda runtime reports its name; any other error becomes a *DatabaseError.
func routable(err error) error {
	var r routedError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &r):
		return r
	}
	return &DatabaseError{Op: "request status", Err: err}
}

func (h *StatusHandler) logger() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.Default()
}
