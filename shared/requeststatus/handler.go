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
	MarkPickedUp(ctx context.Context, requestID, key string) (bool, error)
	RecordOutcome(ctx context.Context, requestID, key string, copyErr *contract.StateError) (string, error)
}

var _ JobStore = (*Store)(nil)

// StatusResponse is the request-status Lambda's output: exactly one of Job
// (find_open_job), Marked (mark_picked_up) or Recorded (record_outcome). It
// marshals to that one document alone:
// {"request_id","target_bucket"[,"already_complete"]}, {"marked"} or
// {"job_status"}.
type StatusResponse struct {
	Job      *contract.Job
	Marked   *contract.Marked
	Recorded *contract.Recorded
}

// MarshalJSON writes the document of the operation that ran.
func (r StatusResponse) MarshalJSON() ([]byte, error) {
	switch {
	case r.Job != nil && r.Marked == nil && r.Recorded == nil:
		return json.Marshal(r.Job)
	case r.Marked != nil && r.Job == nil && r.Recorded == nil:
		return json.Marshal(r.Marked)
	case r.Recorded != nil && r.Job == nil && r.Marked == nil:
		return json.Marshal(r.Recorded)
	default:
		return nil, errors.New("StatusResponse: exactly one of Job, Marked and Recorded must be set")
	}
}

// StatusHandler serves the request-status Lambda: it finds a file's open job
// before the copy (marking it as picked up), marks it again each time the
// copy resumes, and records the copy's outcome after it.
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

func validate(req contract.StatusRequest) error {
	var missing string
	switch req.Operation {
	case contract.OperationFindOpenJob:
		if req.SourceKey == "" {
			missing = "source_key"
		}
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
		return &InvalidStatusRequestError{Reason: fmt.Sprintf("operation is missing; want %q, %q or %q",
			contract.OperationFindOpenJob, contract.OperationMarkPickedUp, contract.OperationRecordOutcome)}
	default:
		return &InvalidStatusRequestError{Reason: fmt.Sprintf("unknown operation %q; want %q, %q or %q",
			req.Operation, contract.OperationFindOpenJob, contract.OperationMarkPickedUp, contract.OperationRecordOutcome)}
	}
	if missing != "" {
		return &InvalidStatusRequestError{Reason: fmt.Sprintf("operation %q needs %s", req.Operation, missing)}
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
