// Package dlqreplay replays the restore events that EventBridge parked in the
// trigger's dead-letter queue into the copy workflow: one StartExecution per
// message, with the event as the input, deleting a message only once its
// execution has started. cmd/replay-dlq is its command line.
//
// EventBridge sends an event to the target's dead-letter queue when it could
// not start the execution (retries or event age exhausted, permissions, a
// missing state machine): the message body is the event as the target would
// have received it, and the message attributes ERROR_CODE, ERROR_MESSAGE,
// RULE_ARN, TARGET_ARN, EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS say why
// (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html).
package dlqreplay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	sfntypes "github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// SQSAPI is the part of the SQS client the replay uses.
type SQSAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
}

// SFNAPI is the part of the Step Functions client the replay uses.
type SFNAPI interface {
	StartExecution(context.Context, *sfn.StartExecutionInput, ...func(*sfn.Options)) (*sfn.StartExecutionOutput, error)
	DescribeExecution(context.Context, *sfn.DescribeExecutionInput, ...func(*sfn.Options)) (*sfn.DescribeExecutionOutput, error)
}

// Config says what to replay where.
type Config struct {
	QueueURL        string
	StateMachineARN string // not needed for a dry run
	// DryRun lists the messages without starting or deleting anything.
	DryRun bool
	// Max stops after this many messages (0: until the queue is empty).
	Max int
	// VisibilitySeconds hides a received message from other readers (and
	// from this replay's next receives) while the replay runs (default 60).
	// Messages listed by a dry run, and those that could not be replayed,
	// are made visible again at the end.
	VisibilitySeconds int32
	// WaitSeconds is the long-poll wait of each receive (default 1): the
	// replay ends after a receive that returns nothing new.
	WaitSeconds int32
}

// Summary counts what a replay did.
type Summary struct {
	Listed  int // dry run: messages listed
	Started int // executions started, messages deleted
	// AlreadyStarted counts messages whose execution a previous replay had
	// started (the same execution name) but not deleted, and which has
	// ended: deleted now.
	AlreadyStarted int
	// StillRunning counts messages whose execution a previous replay
	// started and which is still running: kept in the queue until it has
	// ended (a later replay then deletes them).
	StillRunning int
	Failed       int // left in the queue, with the reason printed
}

// ConfigError is a bad Config (exit status 2).
type ConfigError struct{ Problem string }

func (e *ConfigError) Error() string { return e.Problem }

// Check validates cfg.
func (cfg *Config) Check() error {
	if cfg.QueueURL == "" {
		return &ConfigError{"--queue-url is missing: the dead-letter queue's URL (the stack's output DeadLetterQueueUrl)"}
	}
	if !strings.HasPrefix(cfg.QueueURL, "https://") && !strings.HasPrefix(cfg.QueueURL, "http://") {
		return &ConfigError{fmt.Sprintf("--queue-url %q is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", cfg.QueueURL)}
	}
	if !cfg.DryRun {
		if cfg.StateMachineARN == "" {
			return &ConfigError{"--state-machine-arn is missing: the workflow's ARN (the stack's output StateMachineArn); or use --dry-run"}
		}
		if !strings.HasPrefix(cfg.StateMachineARN, "arn:") || !strings.Contains(cfg.StateMachineARN, ":stateMachine:") {
			return &ConfigError{fmt.Sprintf("--state-machine-arn %q is not a state machine ARN (arn:aws:states:REGION:ACCOUNT:stateMachine:NAME)", cfg.StateMachineARN)}
		}
	}
	if cfg.Max < 0 {
		return &ConfigError{fmt.Sprintf("--max %d is negative", cfg.Max)}
	}
	if cfg.VisibilitySeconds == 0 {
		cfg.VisibilitySeconds = 60
	}
	if cfg.WaitSeconds == 0 {
		cfg.WaitSeconds = 1
	}
	return nil
}

// deadLetterAttributes are the message attributes EventBridge sets.
var deadLetterAttributes = []string{"ERROR_CODE", "ERROR_MESSAGE", "EXHAUSTED_RETRY_CONDITION", "RETRY_ATTEMPTS", "RULE_ARN", "TARGET_ARN"}

// Replay reads the queue until it is empty (or cfg.Max messages) and starts
// one execution per message, printing one line per message to out. The
// execution is named after the message id ("dlq-" + id): if a replay
// stopped between StartExecution and DeleteMessage, the next one finds the
// execution already there (DescribeExecution of that name) and starts
// nothing, so no event is copied twice by the replay. If that execution has
// ended the message is deleted; while it runs the message is kept (and
// reported as still running), since StartExecution with the name and input
// of a running Standard execution succeeds without starting anything
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html,
// idempotency) and would have been taken for a fresh start. A message whose
// execution cannot be started stays in the queue; Replay goes on with the
// others and returns an error counting them.
func Replay(ctx context.Context, q SQSAPI, sf SFNAPI, cfg Config, out io.Writer) (Summary, error) {
	var sum Summary
	if err := cfg.Check(); err != nil {
		return sum, err
	}
	seen := map[string]bool{}
	var release []sqstypes.Message // to make visible again at the end
	defer func() {
		for _, m := range release {
			// Best effort: otherwise they reappear after the timeout.
			q.ChangeMessageVisibility(context.WithoutCancel(ctx), &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(cfg.QueueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0})
		}
	}()
	for cfg.Max == 0 || len(seen) < cfg.Max {
		n := int32(10)
		if cfg.Max > 0 {
			n = int32(min(10, cfg.Max-len(seen)))
		}
		resp, err := q.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl:                    aws.String(cfg.QueueURL),
			MaxNumberOfMessages:         n,
			VisibilityTimeout:           cfg.VisibilitySeconds,
			WaitTimeSeconds:             cfg.WaitSeconds,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
		})
		if err != nil {
			return sum, fmt.Errorf("receive from %s: %w", cfg.QueueURL, err)
		}
		fresh := 0
		for _, m := range resp.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue // a dry run sees its messages again
			}
			seen[id] = true
			fresh++
			if !handle(ctx, q, sf, cfg, m, out, &sum) {
				release = append(release, m)
			}
		}
		if fresh == 0 {
			break
		}
	}
	what := fmt.Sprintf("%d started, %d already started by an earlier replay, %d failed", sum.Started, sum.AlreadyStarted, sum.Failed)
	if sum.StillRunning > 0 {
		what += fmt.Sprintf(", %d kept while their execution still runs (replay again once they have ended)", sum.StillRunning)
	}
	if cfg.DryRun {
		what = fmt.Sprintf("%d listed (dry run: nothing started or deleted)", sum.Listed)
	}
	fmt.Fprintf(out, "replay-dlq: %s\n", what)
	if sum.Failed > 0 {
		return sum, fmt.Errorf("%d messages could not be replayed and stay in the queue (see above)", sum.Failed)
	}
	return sum, nil
}

// handle replays (or lists) one message; it reports whether the message was
// deleted.
func handle(ctx context.Context, q SQSAPI, sf SFNAPI, cfg Config, m sqstypes.Message, out io.Writer, sum *Summary) bool {
	id := aws.ToString(m.MessageId)
	body := aws.ToString(m.Body)
	line := fmt.Sprintf("message %s: %s", id, describe(body))
	if why := reason(m); why != "" {
		line += "; dead-lettered: " + why
	}
	if !json.Valid([]byte(body)) {
		sum.Failed++
		fmt.Fprintf(out, "%s\n  NOT REPLAYED: the body is not JSON, so it is not an event; inspect it and delete it by hand\n", line)
		return false
	}
	if cfg.DryRun {
		sum.Listed++
		fmt.Fprintf(out, "%s\n  would start execution %s\n", line, ExecutionName(id))
		return false
	}
	name := ExecutionName(id)
	arn := executionARN(cfg.StateMachineARN, name)
	prior, err := sf.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	var missing *sfntypes.ExecutionDoesNotExist
	switch {
	case errors.As(err, &missing):
		// Not started yet: start it below.
	case err != nil:
		sum.Failed++
		fmt.Fprintf(out, "%s\n  NOT REPLAYED (kept in the queue): DescribeExecution %s: %v\n", line, arn, err)
		return false
	case !ended(prior.Status):
		sum.StillRunning++
		fmt.Fprintf(out, "%s\n  execution %s, started by an earlier replay at %s, is still %s: message kept until it has ended\n",
			line, name, aws.ToTime(prior.StartDate).UTC().Format(time.RFC3339), prior.Status)
		return false
	default:
		sum.AlreadyStarted++
		line += fmt.Sprintf("\n  execution %s was already started by an earlier replay (%s)", name, prior.Status)
		return deleteMessage(ctx, q, cfg, m, out, line)
	}
	started, err := sf.StartExecution(ctx, &sfn.StartExecutionInput{
		StateMachineArn: aws.String(cfg.StateMachineARN),
		Name:            aws.String(name),
		Input:           aws.String(body),
	})
	var exists *sfntypes.ExecutionAlreadyExists
	switch {
	case errors.As(err, &exists):
		sum.AlreadyStarted++
		line += fmt.Sprintf("\n  execution %s was already started by an earlier replay", name)
	case err != nil:
		sum.Failed++
		fmt.Fprintf(out, "%s\n  NOT REPLAYED (kept in the queue): StartExecution: %v\n", line, err)
		return false
	default:
		sum.Started++
		line += "\n  started " + aws.ToString(started.ExecutionArn)
	}
	return deleteMessage(ctx, q, cfg, m, out, line)
}

// deleteMessage deletes a replayed message; it reports whether the message
// is gone (or hidden until a later replay deletes it).
func deleteMessage(ctx context.Context, q SQSAPI, cfg Config, m sqstypes.Message, out io.Writer, line string) bool {
	if _, err := q.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(cfg.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		// The execution runs; the message comes back after the visibility
		// timeout and the next replay finds the execution by its name.
		fmt.Fprintf(out, "%s\n  WARNING: the execution started but deleting the message failed (%v); a later replay will only delete it\n", line, err)
		return true // hidden until the timeout, then the next replay deletes it
	}
	fmt.Fprintf(out, "%s; message deleted\n", line)
	return true
}

// ended reports whether an execution in this status has ended (a
// PENDING_REDRIVE one is about to run again).
func ended(status sfntypes.ExecutionStatus) bool {
	switch status {
	case sfntypes.ExecutionStatusSucceeded, sfntypes.ExecutionStatusFailed, sfntypes.ExecutionStatusTimedOut, sfntypes.ExecutionStatusAborted:
		return true
	}
	return false
}

// executionARN is the ARN of the execution name of the state machine:
// arn:PARTITION:states:REGION:ACCOUNT:execution:MACHINE:NAME.
func executionARN(stateMachineARN, name string) string {
	return strings.Replace(stateMachineARN, ":stateMachine:", ":execution:", 1) + ":" + name
}

// ExecutionName is the name of the execution replaying message id:
// "dlq-" and the id, kept to the characters and 80-character length
// Step Functions allows.
func ExecutionName(id string) string {
	name := "dlq-" + nameUnsafe.ReplaceAllString(id, "-")
	if len(name) > 80 {
		name = name[:80]
	}
	return name
}

var nameUnsafe = regexp.MustCompile(`[^A-Za-z0-9_-]`)

// describe names the files an event body names, or why it names none.
func describe(body string) string {
	files, err := parseevent.ParseEvent([]byte(body))
	if err != nil {
		return "event the workflow will reject (" + err.Error() + ")"
	}
	var names []string
	for i, f := range files {
		if i == 3 {
			names = append(names, fmt.Sprintf("and %d more", len(files)-3))
			break
		}
		names = append(names, "s3://"+f.SourceBucket+"/"+f.SourceKey)
	}
	return strings.Join(names, ", ")
}

// reason summarizes the dead-letter attributes EventBridge set.
func reason(m sqstypes.Message) string {
	var parts []string
	for _, name := range deadLetterAttributes[:4] {
		if a, ok := m.MessageAttributes[name]; ok && aws.ToString(a.StringValue) != "" {
			parts = append(parts, name+"="+aws.ToString(a.StringValue))
		}
	}
	return strings.Join(parts, " ")
}
