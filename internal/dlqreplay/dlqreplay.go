// Package dlqreplay replays the restore events parked in a dead-letter
// queue into the intake queue: one SendMessage per message, with the
// message's body, deleting a dead letter only once its body is in the
// intake. cmd/replay-dlq is its command line.
//
// Two dead-letter queues hold restore events, both replayed the same way:
//
//   - the restore rule's (stack output DeadLetterQueueUrl): events
//     EventBridge could not send to the intake queue, after its retries or
//     at once for an error retrying cannot fix. The body is the event as
//     the target would have received it, here the rule's transformed event,
//     and the message attributes ERROR_CODE, ERROR_MESSAGE, RULE_ARN,
//     TARGET_ARN, EXHAUSTED_RETRY_CONDITION and RETRY_ATTEMPTS say why
//     (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html);
//   - the intake's (stack output IntakeDeadLetterQueueUrl): messages the
//     Pipe failed to deliver maxReceiveCount times, which SQS moved there
//     unchanged, the same body
//     (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html).
//
// Once in the intake, the Pipe batches the event into a parent execution
// like any other. The replay starts no execution itself: the stack always
// has an intake, and the intake is where the workflow's batching, its
// dead-letter queue and its alarms are.
package dlqreplay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// SQSAPI is the part of the SQS client the replay uses.
type SQSAPI interface {
	ReceiveMessage(context.Context, *sqs.ReceiveMessageInput, ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	SendMessage(context.Context, *sqs.SendMessageInput, ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	DeleteMessage(context.Context, *sqs.DeleteMessageInput, ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	ChangeMessageVisibility(context.Context, *sqs.ChangeMessageVisibilityInput, ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error)
	GetQueueAttributes(context.Context, *sqs.GetQueueAttributesInput, ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
}

// Config says what to replay where.
type Config struct {
	// QueueURL is the dead-letter queue replayed: the rule's
	// (DeadLetterQueueUrl) or the intake's (IntakeDeadLetterQueueUrl).
	QueueURL string
	// IntakeQueueURL is the intake queue (IntakeQueueUrl); not needed for
	// a dry run.
	IntakeQueueURL string
	// DryRun lists the messages without sending or deleting anything.
	DryRun bool
	// Max stops after this many messages (0: until the queue is empty).
	Max int
	// VisibilitySeconds hides a received message from other readers (and
	// from this replay's next receives) while the replay runs (default 60).
	// Messages the replay keeps are made visible again at the end.
	VisibilitySeconds int32
	// WaitSeconds is the long-poll wait of each receive (default 1).
	WaitSeconds int32
	// MaxWait bounds how long the replay waits, once no receive brings a
	// fresh message, for the messages the queue still holds hidden from it
	// (received by another reader, or by an earlier replay that stopped).
	// 0: no waiting; what is left then is reported.
	MaxWait time.Duration
	// PollInterval is the pause between two looks while waiting (default
	// 5 s).
	PollInterval time.Duration
}

// Summary counts what a replay did.
type Summary struct {
	Listed int // dry run: messages listed
	Sent   int // bodies sent to the intake, dead letters deleted
	Failed int // left in the queue, with the reason printed
	// NotReceived is how many more messages the queue reported at the end
	// than the replay holds: hidden by another reader, or delayed.
	NotReceived int
}

// Unresolved reports whether the replay left messages in the queue that it
// was meant to handle (a dry run's listed messages are not counted).
func (s Summary) Unresolved() bool { return s.Failed > 0 || s.NotReceived > 0 }

// ConfigError is a bad Config (exit status 2).
type ConfigError struct{ Problem string }

func (e *ConfigError) Error() string { return e.Problem }

// Check validates cfg and fills in its defaults.
func (cfg *Config) Check() error {
	if err := checkQueueURL("--queue-url", cfg.QueueURL,
		"the dead-letter queue's URL (the stack's output DeadLetterQueueUrl or IntakeDeadLetterQueueUrl)"); err != nil {
		return err
	}
	if !cfg.DryRun {
		if err := checkQueueURL("--intake-queue-url", cfg.IntakeQueueURL,
			"the intake queue's URL (the stack's output IntakeQueueUrl); or use --dry-run"); err != nil {
			return err
		}
		if strings.TrimRight(cfg.IntakeQueueURL, "/") == strings.TrimRight(cfg.QueueURL, "/") {
			return &ConfigError{"--intake-queue-url is --queue-url: replaying a queue into itself would never end; the intake is the stack's output IntakeQueueUrl"}
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

// checkQueueURL refuses a missing url, or one that is not a URL.
func checkQueueURL(flag, url, what string) error {
	if url == "" {
		return &ConfigError{flag + " is missing: " + what}
	}
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return &ConfigError{fmt.Sprintf("%s %q is not a queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", flag, url)}
	}
	return nil
}

// maxVisibilitySeconds is the longest visibility timeout SQS accepts: 12
// hours ("The minimum is 0 seconds. The maximum is 12 hours",
// https://docs.aws.amazon.com/sdkfornet/v3/apidocs/items/SQS/TChangeMessageVisibilityRequest.html).
const maxVisibilitySeconds = 43200

// deadLetterAttributes are the message attributes EventBridge sets on a
// rule's dead letter (none on the intake's).
var deadLetterAttributes = []string{"ERROR_CODE", "ERROR_MESSAGE", "EXHAUSTED_RETRY_CONDITION", "RETRY_ATTEMPTS", "RULE_ARN", "TARGET_ARN"}

// AttributeReplayedFrom is the message attribute a replayed message carries
// into the intake: the dead-letter queue's name and the dead letter's id.
// The Pipe passes it in the execution's input (the SQS record's
// messageAttributes); parse-event ignores it.
const AttributeReplayedFrom = "REPLAYED_FROM"

// kept is a message the replay keeps in the queue (hidden while it runs).
type kept struct {
	msg    sqstypes.Message
	listed bool   // dry run: listed, not a failure
	detail string // why it is kept
}

// replay is one run of Replay.
type replay struct {
	ctx  context.Context
	q    SQSAPI
	cfg  Config
	out  io.Writer
	sum  Summary
	seen map[string]bool
	kept map[string]*kept
	// undeleted are the dead letters whose body was sent but whose
	// DeleteMessage failed: deleted, not sent again, when they come back.
	undeleted map[string]bool
}

// Replay reads the queue until it has nothing left for it (or cfg.Max
// messages) and sends each message's body to the intake, printing one line
// per message to out. A dead letter is deleted only once SendMessage has
// succeeded; a message that cannot be sent (or whose body the workflow
// would reject) stays in the queue, and Replay goes on with the others.
//
// A replay that stops between SendMessage and DeleteMessage leaves the dead
// letter to be sent again by the next replay: the event then reaches the
// intake twice. That is harmless, and the workflow is built for it: SQS
// itself delivers a message at least once ("you might get that message
// copy again",
// https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues-at-least-once-delivery.html).
// The file's job is the same row either time; a copy after the first has
// finished finds it complete (contract.Job.AlreadyComplete), writes the
// same object to the same key again, and leaves the row complete: a
// complete row is never turned back to error (requeststatus.RecordOutcome).
//
// A receive that brings no fresh message does not end the replay: it asks
// the queue how many messages it still holds (GetQueueAttributes:
// ApproximateNumberOfMessages, ...NotVisible, ...Delayed) and, while that
// is more than the replay keeps, it keeps looking for up to cfg.MaxWait.
// At the end it prints what it kept and why (count and message ids) and
// returns an error if anything was left unresolved (Summary.Unresolved).
func Replay(ctx context.Context, q SQSAPI, cfg Config, out io.Writer) (Summary, error) {
	if err := cfg.Check(); err != nil {
		return Summary{}, err
	}
	r := &replay{ctx: ctx, q: q, cfg: cfg, out: out, seen: map[string]bool{}, kept: map[string]*kept{}, undeleted: map[string]bool{}}
	defer r.releaseKept()
	err := r.run()
	r.report()
	if err != nil {
		return r.sum, err
	}
	if r.sum.Unresolved() {
		return r.sum, fmt.Errorf("%d messages stay in the queue unresolved (see above)", r.sum.Failed+r.sum.NotReceived)
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
		// Nothing fresh: look at what the queue still holds.
		left, err := r.notReceived()
		if err != nil {
			return err
		}
		if r.full() {
			left = 0 // the rest is not this replay's
		}
		r.sum.NotReceived = left
		if left == 0 {
			return nil
		}
		if deadline.IsZero() {
			deadline = time.Now().Add(r.cfg.MaxWait)
		}
		if !time.Now().Before(deadline) {
			return nil
		}
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
			// handle releases it.
			k.msg = m
			continue
		}
		if r.seen[id] {
			if r.undeleted[id] {
				// Its body was sent but the delete failed: back after
				// its visibility timeout, delete it now.
				r.deleteMessage(m, fmt.Sprintf("message %s: its body was sent to the intake above", id))
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

// releaseKept makes the kept messages visible again.
func (r *replay) releaseKept() {
	for _, k := range r.kept {
		// Best effort: otherwise they reappear after the timeout.
		r.q.ChangeMessageVisibility(context.WithoutCancel(r.ctx), &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(r.cfg.QueueURL), ReceiptHandle: k.msg.ReceiptHandle, VisibilityTimeout: 0})
	}
}

// report prints the summary line and what was kept.
func (r *replay) report() {
	var failed []string
	for id, k := range r.kept {
		if !k.listed {
			failed = append(failed, fmt.Sprintf("%s (%s)", id, k.detail))
		}
	}
	r.sum.Failed = len(failed)
	s := r.sum
	what := fmt.Sprintf("%d sent to the intake, %d failed", s.Sent, s.Failed)
	if r.cfg.DryRun {
		what = fmt.Sprintf("%d listed (dry run: nothing sent or deleted)", s.Listed)
	}
	fmt.Fprintf(r.out, "replay-dlq: %s\n", what)
	if len(failed) > 0 {
		slices.Sort(failed)
		fmt.Fprintf(r.out, "replay-dlq: kept %d in the queue, they could not be replayed (fix the cause above and replay again, or inspect and delete them by hand):\n  %s\n",
			len(failed), strings.Join(failed, "\n  "))
	}
	if s.NotReceived > 0 {
		fmt.Fprintf(r.out, "replay-dlq: the queue reports %d more messages that this replay did not receive within --max-wait %s (hidden by another reader or an earlier replay, or delayed): replay again later\n",
			s.NotReceived, r.cfg.MaxWait)
	}
}

// keep records why message m stays in the queue.
func (r *replay) keep(m sqstypes.Message, listed bool, detail string) {
	r.kept[aws.ToString(m.MessageId)] = &kept{msg: m, listed: listed, detail: detail}
}

// handle replays (or lists) one message, keeping it in the queue when it
// cannot be replayed.
func (r *replay) handle(m sqstypes.Message) {
	id := aws.ToString(m.MessageId)
	body := aws.ToString(m.Body)
	line := fmt.Sprintf("message %s: %s", id, describe(body))
	if why := reason(m); why != "" {
		line += "; dead-lettered: " + why
	}
	if problem := rejection(body); problem != "" {
		r.keep(m, false, problem)
		fmt.Fprintf(r.out, "%s\n  NOT REPLAYED (kept in the queue): %s; inspect it and delete it by hand\n", line, problem)
		return
	}
	if r.cfg.DryRun {
		r.sum.Listed++
		r.keep(m, true, "dry run")
		fmt.Fprintf(r.out, "%s\n  would be sent to the intake\n", line)
		return
	}
	sent, err := r.q.SendMessage(r.ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(r.cfg.IntakeQueueURL),
		MessageBody: aws.String(body),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{AttributeReplayedFrom: {
			DataType: aws.String("String"), StringValue: aws.String(queueName(r.cfg.QueueURL) + "/" + id)}},
	})
	if err != nil {
		r.keep(m, false, "SendMessage: "+err.Error())
		fmt.Fprintf(r.out, "%s\n  NOT REPLAYED (kept in the queue): SendMessage to %s: %v\n", line, r.cfg.IntakeQueueURL, err)
		return
	}
	r.sum.Sent++
	r.deleteMessage(m, fmt.Sprintf("%s\n  sent to the intake as message %s", line, aws.ToString(sent.MessageId)))
}

// deleteMessage deletes a replayed dead letter.
func (r *replay) deleteMessage(m sqstypes.Message, line string) {
	id := aws.ToString(m.MessageId)
	if _, err := r.q.DeleteMessage(r.ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(r.cfg.QueueURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		// The event is in the intake; the dead letter comes back after
		// the visibility timeout: this replay deletes it then (receive),
		// or a later replay sends it again (a harmless duplicate).
		r.undeleted[id] = true
		fmt.Fprintf(r.out, "%s\n  WARNING: sent, but deleting the dead letter failed (%v); it is deleted when it comes back (a later replay would send it again: a harmless duplicate)\n", line, err)
		return
	}
	delete(r.undeleted, id)
	fmt.Fprintf(r.out, "%s; dead letter deleted\n", line)
}

// rejection says why the intake's parse-event would reject body as a
// message of its batch (parseevent.ParseInput), or "" when it reads it.
// Such a message is not replayed: in the intake it would only be rejected
// again, its event then kept nowhere but in the execution's cause.
func rejection(body string) string {
	if !json.Valid([]byte(body)) {
		return "the body is not JSON, so it is not an event"
	}
	parsed, err := parseevent.ParseInput([]byte("["+body+"]"), 0)
	switch {
	case err != nil:
		return "the workflow would reject it: " + err.Error()
	case len(parsed.Rejected) > 0:
		return "the workflow would reject it: " + parsed.Rejected[0].Error
	}
	return ""
}

// queueName is the last part of a queue URL.
func queueName(url string) string {
	url = strings.TrimRight(url, "/")
	return url[strings.LastIndex(url, "/")+1:]
}

// describe names the files an event body names, or why it names none.
func describe(body string) string {
	files, err := parseevent.ParseEvent([]byte(body))
	if err != nil {
		return "no file the workflow can read"
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
