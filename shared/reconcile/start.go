package reconcile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// ExecutionName is the name of the execution a sweep of window starts for
// files: "reconcile-", the window, and a digest of the files' request ids
// (in any order), so that a sweep repeated in the same window asks for the
// same name and Step Functions refuses to start it twice
// (ExecutionAlreadyExists). At most 80 characters of [A-Za-z0-9_-].
func ExecutionName(prefix, window string, requestIDs []string) string {
	ids := append([]string(nil), requestIDs...)
	sort.Strings(ids)
	sum := sha256.Sum256([]byte(strings.Join(ids, ",")))
	return prefix + "-" + window + "-" + hex.EncodeToString(sum[:10])
}

// BatchSize is how many of files, from the first, one execution's event
// names: at most maxFiles, and no more than contract.FilesWithinReport
// allows (at least one).
func BatchSize(files []contract.File, maxFiles int) int {
	n := min(len(files), maxFiles)
	if fit := contract.FilesWithinReport(files[:n]); fit < n {
		n = max(fit, 1)
	}
	return n
}

// CopyStarter starts executions of the copy workflow for the batches of
// one window, each named ExecutionName(Prefix, Window, its request ids).
type CopyStarter struct {
	SFN             ExecutionStarter
	StateMachineARN string
	// Prefix is "reconcile" for the sweep, "rerun" for cmd/recovery.
	Prefix string
	Window string
	// Now is the clock Start compares an answer's start date with
	// (time.Now when nil).
	Now func() time.Time
}

// Planned is the execution Start would start for files, whose event names
// event (parseevent.NotificationEvent): its name and input, nothing asked.
func (c CopyStarter) Planned(files []FileRef, event []contract.File) ExecutionReport {
	ids := make([]string, len(files))
	for i, f := range files {
		ids[i] = f.RequestID
	}
	return ExecutionReport{Name: ExecutionName(c.Prefix, c.Window, ids), Files: files, Input: parseevent.NotificationEvent(event)}
}

// Start starts the execution Planned names. A name Step Functions already
// has (ExecutionAlreadyExists, or the answer for an execution still open
// with the same input: see idempotentSlack) is reported as AlreadyStarted,
// not as an error.
func (c CopyStarter) Start(ctx context.Context, files []FileRef, event []contract.File) ExecutionReport {
	x := c.Planned(files, event)
	called := time.Now()
	if c.Now != nil {
		called = c.Now()
	}
	out, err := c.SFN.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(c.StateMachineARN),
		Name:            aws.String(x.Name),
		Input:           aws.String(string(x.Input)),
	})
	var exists *sfntypes.ExecutionAlreadyExists
	switch {
	case errors.As(err, &exists):
		x.AlreadyStarted = true
	case err != nil:
		x.Error = err.Error()
	case out.StartDate != nil && out.StartDate.Before(called.Add(-idempotentSlack)):
		// The execution of that name is still running with this same
		// input: Step Functions answers with it instead of starting one.
		x.ARN, x.AlreadyStarted = aws.ToString(out.ExecutionArn), true
	default:
		x.ARN = aws.ToString(out.ExecutionArn)
	}
	return x
}

// idempotentSlack is how much earlier than the call an execution's start
// date must be to count as one started before (allowing for the clocks of
// the caller and of Step Functions).
//
// StartExecution with the name of an execution that is still open and the
// same input does not start another: it succeeds, answering with that
// execution's ARN and start date. With another input, or once the
// execution is closed, it fails with ExecutionAlreadyExists; a name stays
// taken for 90 days
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html).
const idempotentSlack = time.Second
