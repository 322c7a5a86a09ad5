package loadsim

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/infra/cdkcontext"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
)

// The intake as deployed (issue 24): the restore rule sends each event to
// an SQS queue (SendMessage by EventBridge), an EventBridge Pipe polls the
// queue (ReceiveMessage, up to 10 messages a call), batches the messages
// and starts one Standard execution per batch with the batch as its input,
// then deletes the batch's messages (DeleteMessageBatch, up to 10 a call).
// Neither the queue nor the Pipe exists locally (moto has no Pipes
// runtime): intakeQueue and pipe stand in for them in the runner's process,
// and count their calls as AWS would bill them.
//
// The Pipe's behaviour with an SQS source, from
// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-pipes-sqs.html:
// "EventBridge reads messages in batches and invokes your pipe once for
// each batch. When your pipe successfully processes a batch, EventBridge
// deletes its messages from the queue"; with a batch window it "continues
// to poll messages ... until one of these things occurs: The batch window
// expires. The invocation payload size quota is reached. The configured
// maximum batch size is reached." The batch is a JSON array of records
// {messageId, receiptHandle, body, attributes, messageAttributes,
// md5OfBody, eventSource, eventSourceARN, awsRegion} (the same page's
// example event), body being the message as sent: the event's JSON as a
// string. BatchSize is 1 to 10,000 and MaximumBatchingWindowInSeconds 0 to
// 300 (https://docs.aws.amazon.com/eventbridge/latest/pipes-reference/API_PipeSourceSqsQueueParameters.html).

// The stand-in queue's and Pipe's constants.
const (
	// sqsLongPollSecs is the poller's ReceiveMessage WaitTimeSeconds (SQS's
	// longest long poll): an empty queue answers after it.
	sqsLongPollSecs = 20
	// sqsReceiveMax and sqsDeleteBatchMax are SQS's most messages per
	// ReceiveMessage and entries per DeleteMessageBatch call.
	sqsReceiveMax     = 10
	sqsDeleteBatchMax = 10
	// billedChunk is the payload that SQS and Pipes bill as one request
	// (https://aws.amazon.com/sqs/pricing/, https://aws.amazon.com/eventbridge/pricing/:
	// each 64 KB chunk of a payload is billed as one request).
	billedChunk = 64 << 10
	// intakeQueueARN and intakeRegion name the stand-in queue in its records.
	intakeQueueARN = "arn:aws:sqs:us-east-1:123456789012:copy-files-to-archive-intake"
	intakeRegion   = "us-east-1"
)

// PipeSettings is how the Pipe batches: at most BatchSize messages, waiting
// at most WindowSecs for them (PipeSourceSqsQueueParameters).
type PipeSettings struct {
	BatchSize  int `json:"batch_size"`
	WindowSecs int `json:"batch_window_secs"`
	// Source says where they came from: "cdk.json", or "" when the
	// caller set them (LoadConfig.Pipe).
	Source string `json:"source"`
}

// LoadPipeSettings reads pipeBatchSize and pipeBatchWindowSecs from
// cdk.json's context as the CDK app does (cdkcontext.Intake: the same
// bounds, each error naming its key), so the stand-in batches as the
// deployed Pipe would.
func LoadPipeSettings(repoRoot string) (PipeSettings, error) {
	ctx, err := localservices.CDKContext(repoRoot)
	if err != nil {
		return PipeSettings{}, err
	}
	in, err := cdkcontext.Intake(ctx)
	if err != nil {
		return PipeSettings{}, fmt.Errorf("cdk.json: %w", err)
	}
	return PipeSettings{BatchSize: in.BatchSize, WindowSecs: in.BatchWindowSecs, Source: "cdk.json"}, nil
}

// check refuses settings the Pipe itself would (explicit LoadConfig.Pipe
// settings; cdk.json's go through cdkcontext.Intake, which is stricter).
func (s PipeSettings) check() error {
	if s.BatchSize < 1 || s.BatchSize > 10000 {
		return fmt.Errorf("pipe batch size %d: want 1 to 10000", s.BatchSize)
	}
	if s.WindowSecs < 0 || s.WindowSecs > 300 {
		return fmt.Errorf("pipe batch window %d s: want 0 to 300", s.WindowSecs)
	}
	return nil
}

// IntakeCalls counts the stand-in queue's and Pipe's billed calls.
type IntakeCalls struct {
	SendMessage        int `json:"send_message"`
	ReceiveMessage     int `json:"receive_message"`
	EmptyReceives      int `json:"empty_receives"`
	DeleteMessageBatch int `json:"delete_message_batch"`
	// SQSRequests is what SQS bills for those calls: each call one request
	// per 64 KB of its payload.
	SQSRequests int `json:"sqs_requests"`
	// PipeRequests is what the Pipe bills: each message it delivers, one
	// request per 64 KB (see pipeRequests).
	PipeRequests int `json:"pipe_requests"`
	// Batches is how many executions the Pipe started; LargestBatch and
	// LargestBatchBytes its largest batch's messages and input size.
	Batches           int `json:"batches"`
	LargestBatch      int `json:"largest_batch"`
	LargestBatchBytes int `json:"largest_batch_bytes"`
}

// queuedMessage is one message in the stand-in queue: the event's index in
// the run, its body, and when it was sent.
type queuedMessage struct {
	event  int
	id     string
	body   string
	sentAt time.Time
}

// intakeQueue stands in for the SQS queue the restore rule targets.
type intakeQueue struct {
	mu      sync.Mutex
	waiting []queuedMessage
	closed  bool
	arrived chan struct{} // closed and replaced when a message arrives or the queue closes
	calls   IntakeCalls
}

func newIntakeQueue() *intakeQueue {
	return &intakeQueue{arrived: make(chan struct{})}
}

// chunks is how many 64 KB chunks n bytes are billed as (at least one).
func chunks(n int) int {
	return max(1, (n+billedChunk-1)/billedChunk)
}

// Send is EventBridge's SendMessage of event's JSON (one call per event).
func (q *intakeQueue) Send(event int, body []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.calls.SendMessage++
	q.calls.SQSRequests += chunks(len(body))
	q.waiting = append(q.waiting, queuedMessage{event: event, id: messageID(event), body: string(body), sentAt: time.Now()})
	q.wake()
}

// Close says no message follows.
func (q *intakeQueue) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.wake()
}

func (q *intakeQueue) wake() {
	close(q.arrived)
	q.arrived = make(chan struct{})
}

// Receive is one ReceiveMessage call with long polling: up to limit
// messages (at most 10) as soon as any is there, else none after wait.
// drained says the queue is closed and empty: no message will come.
func (q *intakeQueue) Receive(ctx context.Context, limit int, wait time.Duration) (msgs []queuedMessage, drained bool, err error) {
	limit = min(limit, sqsReceiveMax)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for {
		q.mu.Lock()
		if n := min(limit, len(q.waiting)); n > 0 || q.closed {
			msgs = append(msgs, q.waiting[:n]...)
			q.waiting = q.waiting[n:]
			drained = q.closed && len(q.waiting) == 0
			q.countReceive(msgs)
			q.mu.Unlock()
			return msgs, drained, nil
		}
		arrived := q.arrived
		q.mu.Unlock()
		select {
		case <-arrived:
		case <-deadline.C:
			q.mu.Lock()
			q.countReceive(nil)
			q.mu.Unlock()
			return nil, false, nil
		case <-ctx.Done():
			return nil, false, ctx.Err()
		}
	}
}

// countReceive counts one ReceiveMessage call that returned msgs (its
// response's payload billed by 64 KB). Called with q.mu held.
func (q *intakeQueue) countReceive(msgs []queuedMessage) {
	q.calls.ReceiveMessage++
	if len(msgs) == 0 {
		q.calls.EmptyReceives++
	}
	n := 0
	for _, m := range msgs {
		n += len(m.body)
	}
	q.calls.SQSRequests += chunks(n)
}

// DeleteBatch deletes the messages of a batch the Pipe delivered: one
// DeleteMessageBatch call per 10 messages.
func (q *intakeQueue) DeleteBatch(msgs []queuedMessage) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := 0; i < len(msgs); i += sqsDeleteBatchMax {
		q.calls.DeleteMessageBatch++
		q.calls.SQSRequests++ // a few hundred bytes of receipt handles
	}
}

// Calls returns the calls counted so far.
func (q *intakeQueue) Calls() IntakeCalls {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.calls
}

func messageID(event int) string {
	return fmt.Sprintf("00000000-0000-4000-8000-%012d", event)
}

// sqsRecord is one message of the Pipe's batch, as the Pipes SQS source
// page shows it.
type sqsRecord struct {
	MessageID         string            `json:"messageId"`
	ReceiptHandle     string            `json:"receiptHandle"`
	Body              string            `json:"body"`
	Attributes        map[string]string `json:"attributes"`
	MessageAttributes map[string]any    `json:"messageAttributes"`
	MD5OfBody         string            `json:"md5OfBody"`
	EventSource       string            `json:"eventSource"`
	EventSourceARN    string            `json:"eventSourceARN"`
	AWSRegion         string            `json:"awsRegion"`
}

func newSQSRecord(m queuedMessage, received time.Time) sqsRecord {
	sum := md5.Sum([]byte(m.body))
	return sqsRecord{
		MessageID:     m.id,
		ReceiptHandle: "local-receipt-" + m.id,
		Body:          m.body,
		Attributes: map[string]string{
			"ApproximateReceiveCount":          "1",
			"SentTimestamp":                    strconv.FormatInt(m.sentAt.UnixMilli(), 10),
			"SenderId":                         "AIDAEVENTBRIDGE",
			"ApproximateFirstReceiveTimestamp": strconv.FormatInt(received.UnixMilli(), 10),
		},
		MessageAttributes: map[string]any{},
		MD5OfBody:         hex.EncodeToString(sum[:]),
		EventSource:       "aws:sqs",
		EventSourceARN:    intakeQueueARN,
		AWSRegion:         intakeRegion,
	}
}
