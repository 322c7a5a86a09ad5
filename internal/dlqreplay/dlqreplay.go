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
	"slices"
	"strconv"
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
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
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
	// Messages the replay keeps are held hidden while it waits, and made
	// visible again at the end.
	VisibilitySeconds int32
	// WaitSeconds is the long-poll wait of each receive (default 1).
	WaitSeconds int32
	// MaxWait bounds how long the replay waits, once no receive brings a
	// fresh message, for what the queue still holds: messages hidden from
	// it (received by another reader, or by an earlier replay that
	// stopped) and messages it keeps while their execution still runs.
	// 0: no waiting; what is left then is reported.
	MaxWait time.Duration
	// PollInterval is the pause between two looks while waiting (default
	// 5 s).
	PollInterval time.Duration
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
	// started and which still ran when the replay ended (after MaxWait):
	// kept in the queue until it has ended (a later replay then deletes
	// them).
	StillRunning int
	Failed       int // left in the queue, with the reason printed
	// NotReceived is how many more messages the queue reported at the end
	// than the replay holds: hidden by another reader, or delayed.
	NotReceived int
}

// Unresolved reports whether the replay left messages in the queue that it
// was meant to handle (a dry run's listed messages are not counted).
func (s Summary) Unresolved() bool {
	return s.StillRunning > 0 || s.Failed > 0 || s.NotReceived > 0
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
	if cfg.MaxWait < 0 {
		return &ConfigError{fmt.Sprintf("--max-wait %s is negative", cfg.MaxWait)}
	}
	if cfg.VisibilitySeconds < 0 || cfg.VisibilitySeconds > maxVisibilitySeconds {
		return &ConfigError{fmt.Sprintf("--visibility-timeout %d: want 0 to %d seconds (12 hours, SQS's most)", cfg.VisibilitySeconds, maxVisibilitySeconds)}
	}
	if cfg.VisibilitySeconds == 0 {
		cfg.VisibilitySeconds = 60
	}
	if cfg.WaitSeconds == 0 {
		cfg.WaitSeconds = 1
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	return nil
}

// maxVisibilitySeconds is the longest visibility timeout SQS accepts: 12
// hours ("The minimum is 0 seconds. The maximum is 12 hours",
// https://docs.aws.amazon.com/sdkfornet/v3/apidocs/items/SQS/TChangeMessageVisibilityRequest.html).
const maxVisibilitySeconds = 43200

// deadLetterAttributes are the message attributes EventBridge sets.
var deadLetterAttributes = []string{"ERROR_CODE", "ERROR_MESSAGE", "EXHAUSTED_RETRY_CONDITION", "RETRY_ATTEMPTS", "RULE_ARN", "TARGET_ARN"}

// Why a replay keeps a message in the queue.
type keepReason int

const (
	keptListed  keepReason = iota // dry run
	keptRunning                   // its execution still runs
	keptFailed                    // it could not be replayed
)

// kept is a message the replay keeps in the queue (hidden while it runs).
type kept struct {
	msg    sqstypes.Message // ReceiptHandle: the latest receive's
	reason keepReason
	detail string // the execution's status, or the failure
}

// replay is one run of Replay.
type replay struct {
	ctx  context.Context
	q    SQSAPI
	sf   SFNAPI
	cfg  Config
	out  io.Writer
	sum  Summary
	seen map[string]bool
	kept map[string]*kept
	// undeleted are the messages whose execution started but whose
	// DeleteMessage failed: deleted when they come back.
	undeleted map[string]bool
}

// Replay reads the queue until it has nothing left for it (or cfg.Max
// messages) and starts one execution per message, printing one line per
// message to out. The execution is named after the message id ("dlq-" +
// id): if a replay stopped between StartExecution and DeleteMessage, the
// next one finds the execution already there (DescribeExecution of that
// name) and starts nothing, so no event is copied twice by the replay. If
// that execution has ended the message is deleted; while it runs the
// message is kept, since StartExecution with the name and input of a
// running Standard execution succeeds without starting anything
// (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html,
// idempotency) and would have been taken for a fresh start. A message whose
// execution cannot be started stays in the queue; Replay goes on with the
// others.
//
// A receive that brings no fresh message does not end the replay: it asks
// the queue how many messages it still holds (GetQueueAttributes:
// ApproximateNumberOfMessages, ...NotVisible, ...Delayed) and, while that
// is more than the replay keeps, or while a kept message's execution still
// runs, it keeps looking for up to cfg.MaxWait, holding its kept messages
// hidden and deleting those whose execution has ended. At the end it prints
// what it kept and why (count and message ids per reason) and returns an
// error if anything was left unresolved (Summary.Unresolved).
func Replay(ctx context.Context, q SQSAPI, sf SFNAPI, cfg Config, out io.Writer) (Summary, error) {
	if err := cfg.Check(); err != nil {
		return Summary{}, err
	}
	r := &replay{ctx: ctx, q: q, sf: sf, cfg: cfg, out: out, seen: map[string]bool{}, kept: map[string]*kept{}, undeleted: map[string]bool{}}
	defer r.releaseKept()
	err := r.run()
	r.report()
	if err != nil {
		return r.sum, err
	}
	if r.sum.Unresolved() {
		return r.sum, fmt.Errorf("%d messages stay in the queue unresolved (see above)", r.sum.StillRunning+r.sum.Failed+r.sum.NotReceived)
	}
	return r.sum, nil
}

func (r *replay) full() bool { return r.cfg.Max > 0 && len(r.seen) >= r.cfg.Max }

func (r *replay) run() error {
	var deadline time.Time // set when the fresh messages first run out
	for {
		if !r.full() {
			fresh, err := r.receive()
			if err != nil {
				return err
			}
			if fresh {
				continue
			}
		}
		// Nothing fresh: look again at what is kept, and at the queue.
		r.recheckRunning()
		left, err := r.notReceived()
		if err != nil {
			return err
		}
		if r.full() {
			left = 0 // the rest is not this replay's
		}
		r.sum.NotReceived = left
		if left == 0 && r.count(keptRunning) == 0 {
			return nil
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(r.cfg.MaxWait)
		}
		if !time.Now().Before(deadline) {
			return nil
		}
		r.holdRunning()
		select {
		case <-r.ctx.Done():
			return r.ctx.Err()
		case <-time.After(r.cfg.PollInterval):
		}
	}
}

// receive receives one batch and handles its fresh messages; it reports
// whether there was one.
func (r *replay) receive() (bool, error) {
	n := int32(10)
	if r.cfg.Max > 0 {
		n = int32(min(10, r.cfg.Max-len(r.seen)))
	}
	resp, err := r.q.ReceiveMessage(r.ctx, &sqs.ReceiveMessageInput{
		QueueUrl:                    aws.String(r.cfg.QueueURL),
		MaxNumberOfMessages:         n,
		VisibilityTimeout:           r.cfg.VisibilitySeconds,
		WaitTimeSeconds:             r.cfg.WaitSeconds,
		MessageAttributeNames:       []string{"All"},
		MessageSystemAttributeNames: []sqstypes.MessageSystemAttributeName{sqstypes.MessageSystemAttributeNameApproximateReceiveCount},
	})
	if err != nil {
		return false, fmt.Errorf("receive from %s: %w", r.cfg.QueueURL, err)
	}
	fresh := false
	for _, m := range resp.Messages {
		id := aws.ToString(m.MessageId)
		if k, ok := r.kept[id]; ok {
			// Back after its visibility timeout: only the latest receipt
			// handle deletes it.
			k.msg = m
			continue
		}
		if r.seen[id] {
			if r.undeleted[id] {
				// Its execution started but the delete failed: back
				// after its visibility timeout, delete it now.
				r.deleteMessage(m, fmt.Sprintf("message %s: its execution was started above", id))
			}
			continue // deleted, the queue's copy is on its way out
		}
		r.seen[id] = true
		fresh = true
		r.handle(m)
	}
	return fresh, nil
}

// notReceived is how many more messages the queue holds than the replay
// keeps.
func (r *replay) notReceived() (int, error) {
	names := []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameApproximateNumberOfMessages,
		sqstypes.QueueAttributeNameApproximateNumberOfMessagesNotVisible, sqstypes.QueueAttributeNameApproximateNumberOfMessagesDelayed}
	out, err := r.q.GetQueueAttributes(r.ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(r.cfg.QueueURL), AttributeNames: names})
	if err != nil {
		return 0, fmt.Errorf("queue attributes of %s: %w", r.cfg.QueueURL, err)
	}
	total := 0
	for _, name := range names {
		v := out.Attributes[string(name)]
		n, err := strconv.Atoi(v)
		if err != nil {
			return 0, fmt.Errorf("queue attributes of %s: %s is %q, not a number", r.cfg.QueueURL, name, v)
		}
		total += n
	}
	return max(0, total-len(r.kept)), nil
}

// recheckRunning deletes the kept messages whose execution has ended.
func (r *replay) recheckRunning() {
	for id, k := range r.kept {
		if k.reason != keptRunning {
			continue
		}
		if r.handle(k.msg) {
			delete(r.kept, id)
		}
	}
}

// holdRunning keeps the messages whose execution still runs hidden while
// the replay waits for them (best effort: one that comes back is received
// again with a new receipt handle).
func (r *replay) holdRunning() {
	for _, k := range r.kept {
		if k.reason == keptRunning {
			r.q.ChangeMessageVisibility(r.ctx, &sqs.ChangeMessageVisibilityInput{
				QueueUrl: aws.String(r.cfg.QueueURL), ReceiptHandle: k.msg.ReceiptHandle, VisibilityTimeout: r.cfg.VisibilitySeconds})
		}
	}
}

// releaseKept makes the kept messages visible again.
func (r *replay) releaseKept() {
	for _, k := range r.kept {
		// Best effort: otherwise they reappear after the timeout.
		r.q.ChangeMessageVisibility(context.WithoutCancel(r.ctx), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(r.cfg.QueueURL), ReceiptHandle: k.msg.ReceiptHandle, VisibilityTimeout: 0})
	}
}

func (r *replay) count(reason keepReason) int {
	n := 0
	for _, k := range r.kept {
		if k.reason == reason {
			n++
		}
	}
	return n
}

// report prints the summary line and what was kept, per reason.
func (r *replay) report() {
	r.sum.StillRunning = r.count(keptRunning)
	r.sum.Failed = r.count(keptFailed)
	s := r.sum
	what := fmt.Sprintf("%d started, %d already started by an earlier replay, %d failed", s.Started, s.AlreadyStarted, s.Failed)
	if s.StillRunning > 0 {
		what += fmt.Sprintf(", %d kept while their execution still runs", s.StillRunning)
	}
	if r.cfg.DryRun {
		what = fmt.Sprintf("%d listed (dry run: nothing started or deleted)", s.Listed)
	}
	fmt.Fprintf(r.out, "replay-dlq: %s\n", what)
	for _, group := range []struct {
		reason keepReason
		why    string
	}{
		{keptRunning, fmt.Sprintf("their execution still runs after waiting up to %s (replay again once it has ended: the message is then deleted)", r.cfg.MaxWait)},
		{keptFailed, "they could not be replayed (fix the cause above and replay again, or inspect and delete them by hand)"},
	} {
		var items []string
		for id, k := range r.kept {
			if k.reason == group.reason {
				items = append(items, fmt.Sprintf("%s (%s)", id, k.detail))
			}
		}
		if len(items) == 0 {
			continue
		}
		slices.Sort(items)
		fmt.Fprintf(r.out, "replay-dlq: kept %d in the queue, %s:\n  %s\n", len(items), group.why, strings.Join(items, "\n  "))
	}
	if s.NotReceived > 0 {
		fmt.Fprintf(r.out, "replay-dlq: the queue reports %d more messages that this replay did not receive within --max-wait %s (hidden by another reader or an earlier replay, or delayed): replay again later\n",
			s.NotReceived, r.cfg.MaxWait)
	}
}

// keep records why message m stays in the queue.
func (r *replay) keep(m sqstypes.Message, reason keepReason, detail string) {
	r.kept[aws.ToString(m.MessageId)] = &kept{msg: m, reason: reason, detail: detail}
}

// handle replays (or lists) one message; it reports whether the message was
// deleted, and records it as kept otherwise.
func (r *replay) handle(m sqstypes.Message) bool {
	ctx, cfg, out, sum := r.ctx, r.cfg, r.out, &r.sum
	id := aws.ToString(m.MessageId)
	body := aws.ToString(m.Body)
	line := fmt.Sprintf("message %s: %s", id, describe(body))
	if why := reason(m); why != "" {
		line += "; dead-lettered: " + why
	}
	if !json.Valid([]byte(body)) {
		r.keep(m, keptFailed, "the body is not JSON")
		fmt.Fprintf(out, "%s\n  NOT REPLAYED: the body is not JSON, so it is not an event; inspect it and delete it by hand\n", line)
		return false
	}
	if cfg.DryRun {
		sum.Listed++
		r.keep(m, keptListed, "dry run")
		fmt.Fprintf(out, "%s\n  would start execution %s\n", line, ExecutionName(id))
		return false
	}
	name := ExecutionName(id)
	arn := executionARN(cfg.StateMachineARN, name)
	prior, err := r.sf.DescribeExecution(ctx, &sfn.DescribeExecutionInput{ExecutionArn: aws.String(arn)})
	var missing *sfntypes.ExecutionDoesNotExist
	switch {
	case errors.As(err, &missing):
		// Not started yet: start it below.
	case err != nil:
		r.keep(m, keptFailed, "DescribeExecution: "+err.Error())
		fmt.Fprintf(out, "%s\n  NOT REPLAYED (kept in the queue): DescribeExecution %s: %v\n", line, arn, err)
		return false
	case !ended(prior.Status):
		if k, ok := r.kept[id]; ok && k.reason == keptRunning {
			return false // looked at again while waiting: said already
		}
		r.keep(m, keptRunning, fmt.Sprintf("execution %s %s", name, prior.Status))
		fmt.Fprintf(out, "%s\n  execution %s, started by an earlier replay at %s, is still %s: message kept until it has ended\n",
			line, name, aws.ToTime(prior.StartDate).UTC().Format(time.RFC3339), prior.Status)
		return false
	default:
		sum.AlreadyStarted++
		line += fmt.Sprintf("\n  execution %s was already started by an earlier replay (%s)", name, prior.Status)
		return r.deleteMessage(m, line)
	}
	started, err := r.sf.StartExecution(ctx, &sfn.StartExecutionInput{
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
		r.keep(m, keptFailed, "StartExecution: "+err.Error())
		fmt.Fprintf(out, "%s\n  NOT REPLAYED (kept in the queue): StartExecution: %v\n", line, err)
		return false
	default:
		sum.Started++
		line += "\n  started " + aws.ToString(started.ExecutionArn)
	}
	return r.deleteMessage(m, line)
}

// deleteMessage deletes a replayed message; it reports whether the message
// is gone (or hidden until a later replay deletes it).
func (r *replay) deleteMessage(m sqstypes.Message, line string) bool {
	id := aws.ToString(m.MessageId)
	if _, err := r.q.DeleteMessage(r.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.cfg.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		// The execution runs; the message comes back after the visibility
		// timeout: this replay deletes it then (receive), or the next
		// replay finds the execution by its name.
		r.undeleted[id] = true
		fmt.Fprintf(r.out, "%s\n  WARNING: the execution started but deleting the message failed (%v); it is deleted when it comes back (or by a later replay)\n", line, err)
		return true // hidden until the timeout
	}
	delete(r.undeleted, id)
	fmt.Fprintf(r.out, "%s; message deleted\n", line)
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
