package cdkcontext

import (
	"errors"
	"fmt"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// The context keys of the intake: how the EventBridge Pipe batches the
// intake queue's restore events into one execution.
const (
	ContextPipeBatchSize       = "pipeBatchSize"
	ContextPipeBatchWindowSecs = "pipeBatchWindowSecs"
)

// Bounds of the intake settings.
const (
	// MaxPipeBatchSize is the most restore events one execution may be
	// started with: the files one parent execution carries
	// (contract.MaxFilesPerExecution; the Pipe itself allows 10,000,
	// https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeSourceSqsQueueParameters.html).
	MaxPipeBatchSize = contract.MaxFilesPerExecution
	// MaxPipeBatchWindowSecs is the Pipe's longest batching window (same
	// page).
	MaxPipeBatchWindowSecs = 300
	// maxBatchSizeWithoutWindow: a batch of more than 10 messages needs a
	// batching window of at least 1 s. AWS states it for Lambda's SQS
	// event source mapping
	// (https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html,
	// MaximumBatchingWindowInSeconds); the Pipes pages do not say, so the
	// stricter rule is kept (a 1 s window costs nothing).
	maxBatchSizeWithoutWindow = 10
)

// IntakeSettings is how the Pipe reads the intake queue: at most
// BatchSize messages (restore events) per execution, waiting at most
// BatchWindowSecs to fill a batch. The CDK app deploys them on the Pipe;
// the local runner batches the same way.
type IntakeSettings struct {
	BatchSize       int
	BatchWindowSecs int
}

// DefaultIntakeSettings are cdk.json's defaults.
func DefaultIntakeSettings() IntakeSettings {
	return IntakeSettings{BatchSize: 100, BatchWindowSecs: 60}
}

// IntakeKeys lists the context keys Intake reads.
func IntakeKeys() []string {
	return []string{ContextPipeBatchSize, ContextPipeBatchWindowSecs}
}

// Intake reads the intake settings from CDK context values, each error
// naming its key.
func Intake(ctx map[string]any) (IntakeSettings, error) {
	var s IntakeSettings
	var errs []error
	read := func(key string, lo, hi int, dst *int) {
		v, err := Number(ctx, key)
		switch {
		case err != nil:
			errs = append(errs, err)
		case v != float64(int(v)) || int(v) < lo || int(v) > hi:
			errs = append(errs, fmt.Errorf("context %s = %v: must be a whole number from %d to %d", key, v, lo, hi))
		default:
			*dst = int(v)
		}
	}
	read(ContextPipeBatchSize, 1, MaxPipeBatchSize, &s.BatchSize)
	read(ContextPipeBatchWindowSecs, 0, MaxPipeBatchWindowSecs, &s.BatchWindowSecs)
	if err := errors.Join(errs...); err != nil {
		return IntakeSettings{}, err
	}
	if s.BatchSize > maxBatchSizeWithoutWindow && s.BatchWindowSecs == 0 {
		return IntakeSettings{}, fmt.Errorf("context %s = 0 with %s = %d: a batch of more than %d events needs a batching window of at least 1 s",
			ContextPipeBatchWindowSecs, ContextPipeBatchSize, s.BatchSize, maxBatchSizeWithoutWindow)
	}
	return s, nil
}
