package dlqreplay

// Against moto's server as the SQS and Step Functions endpoint
// (internal/motoserver): moto's StartExecution records the execution, with
// its name and input, without running the definition.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/motoserver"
)

type world struct {
	t        *testing.T
	ctx      context.Context
	sqs      *sqs.Client
	sfn      *sfn.Client
	queueURL string
	smARN    string
}

func newWorld(t *testing.T, srv *motoserver.Server) *world {
	t.Helper()
	ctx := context.Background()
	cfg := awsConfig(srv)
	w := &world{t: t, ctx: ctx, sqs: sqs.NewFromConfig(cfg), sfn: sfn.NewFromConfig(cfg)}
	name := fmt.Sprintf("dlq-%d", time.Now().UnixNano())
	q, err := w.sqs.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	w.queueURL = aws.ToString(q.QueueUrl)
	sm, err := w.sfn.CreateStateMachine(ctx, &sfn.CreateStateMachineInput{
		Name:       aws.String(name),
		Definition: aws.String(`{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}`),
		RoleArn:    aws.String("arn:aws:iam::123456789012:role/states"),
	})
	if err != nil {
		t.Fatal(err)
	}
	w.smARN = aws.ToString(sm.StateMachineArn)
	return w
}

// deadLetter sends body as EventBridge does to a target's DLQ.
func (w *world) deadLetter(body string) string {
	w.t.Helper()
	attr := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	out, err := w.sqs.SendMessage(w.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(w.queueURL), MessageBody: aws.String(body),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"ERROR_CODE":                attr("ThrottlingException"),
			"ERROR_MESSAGE":             attr("Rate exceeded"),
			"EXHAUSTED_RETRY_CONDITION": attr("MaximumRetryAttempts"),
			"RETRY_ATTEMPTS":            attr("185"),
			"RULE_ARN":                  attr("arn:aws:events:us-east-1:123456789012:rule/restore"),
			"TARGET_ARN":                attr(w.smARN),
		}})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.MessageId)
}

// executions returns the executions' inputs by name.
func (w *world) executions() map[string]string {
	w.t.Helper()
	out, err := w.sfn.ListExecutions(w.ctx, &sfn.ListExecutionsInput{StateMachineArn: aws.String(w.smARN)})
	if err != nil {
		w.t.Fatal(err)
	}
	got := map[string]string{}
	for _, e := range out.Executions {
		d, err := w.sfn.DescribeExecution(w.ctx, &sfn.DescribeExecutionInput{ExecutionArn: e.ExecutionArn})
		if err != nil {
			w.t.Fatal(err)
		}
		got[aws.ToString(e.Name)] = aws.ToString(d.Input)
	}
	return got
}

// wantReplayedOnce checks that a replay ended without error having
// started exactly message id's execution, and left the queue empty.
func (w *world) wantReplayedOnce(t *testing.T, id string, sum Summary, err error, out string) {
	t.Helper()
	if err != nil {
		t.Errorf("Replay: %v\n%s", err, out)
	}
	if diff := cmp.Diff(Summary{Started: 1}, sum); diff != "" {
		t.Errorf("summary (-want +got):\n%s\n%s", diff, out)
	}
	if got := w.executions(); len(got) != 1 || got[ExecutionName(id)] == "" {
		t.Errorf("executions %v, want %s", got, ExecutionName(id))
	}
	if n := w.queueDepth(); n != 0 {
		t.Errorf("%d messages left in the queue\n%s", n, out)
	}
}

func (w *world) queueDepth() int {
	w.t.Helper()
	n := 0
	for range 3 { // at most 10 per receive; hide what was seen
		out, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queueURL), MaxNumberOfMessages: 10, VisibilityTimeout: 300})
		if err != nil {
			w.t.Fatal(err)
		}
		n += len(out.Messages)
		if len(out.Messages) == 0 {
			break
		}
	}
	return n
}

// visibleMessages counts the messages a receive sees now, leaving them
// visible (queueDepth hides what it counts).
func (w *world) visibleMessages() int {
	w.t.Helper()
	out, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queueURL), MaxNumberOfMessages: 10})
	if err != nil {
		w.t.Fatal(err)
	}
	for _, m := range out.Messages {
		if _, err := w.sqs.ChangeMessageVisibility(w.ctx, &sqs.ChangeMessageVisibilityInput{
			QueueUrl: aws.String(w.queueURL), ReceiptHandle: m.ReceiptHandle, VisibilityTimeout: 0}); err != nil {
			w.t.Fatal(err)
		}
	}
	return len(out.Messages)
}

func sampleEvent(t *testing.T, key string) string {
	t.Helper()
	b, err := os.ReadFile("../../shared/parseevent/testdata/eventbridge-object-restore-completed.json")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Replace(string(b), "dr-glacier/MOD09GQ.A0219114.N5aUCG.006.0656338553321.hdf", key, 1)
}

func TestReplay(t *testing.T) {
	srv := motoserver.StartForTest(t)

	t.Run("dry run lists and changes nothing", func(t *testing.T) {
		w := newWorld(t, srv)
		id := w.deadLetter(sampleEvent(t, "granules/one+file.h5"))
		w.deadLetter(sampleEvent(t, "granules/two.h5"))
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, w.sfn, Config{QueueURL: w.queueURL, DryRun: true}, &out)
		if err != nil || sum.Listed != 2 {
			t.Fatalf("Replay: %+v, %v\n%s", sum, err, out.String())
		}
		for _, want := range []string{
			"message " + id + ": s3://my-dr-fake-glacier-bucket/granules/one file.h5; dead-lettered: ERROR_CODE=ThrottlingException ERROR_MESSAGE=Rate exceeded EXHAUSTED_RETRY_CONDITION=MaximumRetryAttempts RETRY_ATTEMPTS=185",
			"would start execution dlq-" + id,
			"replay-dlq: 2 listed (dry run: nothing started or deleted)",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
		if got := w.executions(); len(got) != 0 {
			t.Errorf("a dry run started %v", got)
		}
		if got := w.queueDepth(); got != 2 {
			t.Errorf("queue holds %d messages after a dry run, want 2", got)
		}
	})

	t.Run("replay starts one execution per message with the event as input, then deletes it", func(t *testing.T) {
		w := newWorld(t, srv)
		bodies := map[string]string{}
		for i := range 12 { // more than one receive's worth
			body := sampleEvent(t, fmt.Sprintf("granules/file-%02d.h5", i))
			bodies[ExecutionName(w.deadLetter(body))] = body
		}
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, w.sfn, Config{QueueURL: w.queueURL, StateMachineARN: w.smARN}, &out)
		if err != nil || sum.Started != 12 || sum.Failed != 0 {
			t.Fatalf("Replay: %+v, %v\n%s", sum, err, out.String())
		}
		got := w.executions()
		if len(got) != 12 {
			t.Errorf("%d executions, want 12", len(got))
		}
		for name, body := range bodies {
			if got[name] != body {
				t.Errorf("execution %s input %q, want the message body", name, got[name])
			}
		}
		if n := w.queueDepth(); n != 0 {
			t.Errorf("%d messages left in the queue", n)
		}
		if !strings.Contains(out.String(), "replay-dlq: 12 started, 0 already started by an earlier replay, 0 failed") {
			t.Errorf("summary missing:\n%s", out.String())
		}
	})

	t.Run("a message whose execution is still running is kept until it has ended, then only deleted", func(t *testing.T) {
		// GIVEN a message whose execution an earlier replay started (and
		// stopped before deleting the message); moto's execution stays
		// RUNNING, as a long copy's would
		w := newWorld(t, srv)
		body := sampleEvent(t, "granules/again.h5")
		id := w.deadLetter(body)
		prior, err := w.sfn.StartExecution(w.ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(w.smARN),
			Name: aws.String(ExecutionName(id)), Input: aws.String(body)})
		if err != nil {
			t.Fatal(err)
		}

		// WHEN the replay runs while the execution runs, waiting for nothing
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, w.sfn, Config{QueueURL: w.queueURL, StateMachineARN: w.smARN}, &out)
		// THEN it starts nothing, says the execution still runs, keeps
		// the message and says so (in AWS StartExecution of a running
		// execution with the same name and input succeeds: it must not be
		// taken for a start)
		if err == nil || !strings.Contains(err.Error(), "1 messages stay in the queue unresolved") {
			t.Errorf("Replay: %v, want an error: a message stays unresolved\n%s", err, out.String())
		}
		if diff := cmp.Diff(Summary{StillRunning: 1}, sum); diff != "" {
			t.Errorf("summary while running (-want +got):\n%s\n%s", diff, out.String())
		}
		for _, want := range []string{
			"execution " + ExecutionName(id) + ", started by an earlier replay at ",
			"is still RUNNING: message kept until it has ended",
			"replay-dlq: 0 started, 0 already started by an earlier replay, 0 failed, 1 kept while their execution still runs",
			"replay-dlq: kept 1 in the queue, their execution still runs after waiting up to 0s",
			"\n  " + id + " (execution " + ExecutionName(id) + " RUNNING)\n",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
		if n := w.visibleMessages(); n != 1 {
			t.Errorf("%d messages in the queue while the execution runs, want 1", n)
		}

		// WHEN the execution has ended and the replay runs again
		if _, err := w.sfn.StopExecution(w.ctx, &sfn.StopExecutionInput{ExecutionArn: prior.ExecutionArn}); err != nil {
			t.Fatal(err)
		}
		out.Reset()
		sum, err = Replay(w.ctx, w.sqs, w.sfn, Config{QueueURL: w.queueURL, StateMachineARN: w.smARN}, &out)
		if err != nil {
			t.Fatalf("Replay: %v\n%s", err, out.String())
		}
		// THEN the message is deleted, still with the one execution
		if diff := cmp.Diff(Summary{AlreadyStarted: 1}, sum); diff != "" {
			t.Errorf("summary after the execution ended (-want +got):\n%s\n%s", diff, out.String())
		}
		if !strings.Contains(out.String(), "was already started by an earlier replay (ABORTED); message deleted") {
			t.Errorf("output:\n%s", out.String())
		}
		if got := w.executions(); len(got) != 1 {
			t.Errorf("executions %v: want the one execution, not a second", got)
		}
		if n := w.queueDepth(); n != 0 {
			t.Errorf("%d messages left in the queue", n)
		}
	})

	t.Run("a message whose execution cannot start stays in the queue", func(t *testing.T) {
		w := newWorld(t, srv)
		w.deadLetter(sampleEvent(t, "granules/kept.h5"))
		w.deadLetter("not json")
		missing := strings.Replace(w.smARN, ":stateMachine:", ":stateMachine:gone-", 1)
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, w.sfn, Config{QueueURL: w.queueURL, StateMachineARN: missing}, &out)
		if err == nil || sum.Failed != 2 || sum.Started != 0 {
			t.Fatalf("Replay: %+v, %v; want 2 failures\n%s", sum, err, out.String())
		}
		for _, want := range []string{"NOT REPLAYED (kept in the queue): StartExecution:", "StateMachineDoesNotExist",
			"NOT REPLAYED: the body is not JSON", "replay-dlq: kept 2 in the queue, they could not be replayed",
			"(the body is not JSON)", "(StartExecution: ", "2 messages stay in the queue unresolved"} {
			if !strings.Contains(out.String()+err.Error(), want) {
				t.Errorf("output lacks %q:\n%s%v", want, out.String(), err)
			}
		}
		if n := w.queueDepth(); n != 2 {
			t.Errorf("%d messages in the queue, want both kept", n)
		}
	})

	t.Run("a message hidden by another reader when the replay starts is waited for, then replayed", func(t *testing.T) {
		// GIVEN a message another reader (or an earlier replay that
		// stopped) received and holds hidden for 2 s
		w := newWorld(t, srv)
		id := w.deadLetter(sampleEvent(t, "granules/hidden.h5"))
		held, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queueURL), VisibilityTimeout: 2})
		if err != nil || len(held.Messages) != 1 {
			t.Fatalf("receive: %v, %d messages", err, len(held.Messages))
		}

		// WHEN the replay runs: its first receive brings nothing
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, w.sfn, Config{QueueURL: w.queueURL, StateMachineARN: w.smARN,
			MaxWait: 30 * time.Second, PollInterval: 200 * time.Millisecond}, &out)

		// THEN it does not end there: it waits for the message, replays
		// it, and ends with the queue empty
		w.wantReplayedOnce(t, id, sum, err, out.String())
	})

	t.Run("a message hidden past --max-wait is reported, not taken for an empty queue", func(t *testing.T) {
		w := newWorld(t, srv)
		w.deadLetter(sampleEvent(t, "granules/held.h5"))
		if _, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queueURL), VisibilityTimeout: 300}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, w.sfn, Config{QueueURL: w.queueURL, StateMachineARN: w.smARN}, &out)
		if err == nil || sum.NotReceived != 1 {
			t.Errorf("Replay: %+v, %v; want 1 message not received and an error\n%s", sum, err, out.String())
		}
		if want := "replay-dlq: the queue reports 1 more messages that this replay did not receive within --max-wait 0s"; !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	})

	t.Run("a message whose delete failed is deleted when it comes back, not waited for as another reader's", func(t *testing.T) {
		// GIVEN a message, and an SQS whose first DeleteMessage fails
		w := newWorld(t, srv)
		id := w.deadLetter(sampleEvent(t, "granules/undeleted.h5"))
		q := &failFirstDelete{SQSAPI: w.sqs}

		// WHEN the replay starts its execution, fails to delete it, and
		// the message comes back after its 1 s visibility timeout
		var out bytes.Buffer
		sum, err := Replay(w.ctx, q, w.sfn, Config{QueueURL: w.queueURL, StateMachineARN: w.smARN, VisibilitySeconds: 1,
			MaxWait: 20 * time.Second, PollInterval: 200 * time.Millisecond}, &out)

		// THEN the replay deletes it then (one execution, nothing left,
		// no "did not receive")
		w.wantReplayedOnce(t, id, sum, err, out.String())
	})

	t.Run("a kept message whose execution ends while the replay waits is then deleted", func(t *testing.T) {
		// GIVEN a message whose execution an earlier replay started and
		// which still runs
		w := newWorld(t, srv)
		body := sampleEvent(t, "granules/waited.h5")
		id := w.deadLetter(body)
		prior, err := w.sfn.StartExecution(w.ctx, &sfn.StartExecutionInput{StateMachineArn: aws.String(w.smARN),
			Name: aws.String(ExecutionName(id)), Input: aws.String(body)})
		if err != nil {
			t.Fatal(err)
		}

		// WHEN the replay waits, and the execution ends once the replay
		// has seen it running
		out := &watchedOutput{want: "is still RUNNING", seen: make(chan struct{})}
		go func() {
			select {
			case <-out.seen:
				w.sfn.StopExecution(context.Background(), &sfn.StopExecutionInput{ExecutionArn: prior.ExecutionArn})
			case <-time.After(30 * time.Second):
			}
		}()
		sum, err := Replay(w.ctx, w.sqs, w.sfn, Config{QueueURL: w.queueURL, StateMachineARN: w.smARN,
			MaxWait: 30 * time.Second, PollInterval: 200 * time.Millisecond}, out)

		// THEN the replay deletes the message and ends with nothing kept
		if err != nil {
			t.Errorf("Replay: %v\n%s", err, out.String())
		}
		if diff := cmp.Diff(Summary{AlreadyStarted: 1}, sum); diff != "" {
			t.Errorf("summary (-want +got):\n%s\n%s", diff, out.String())
		}
		if !strings.Contains(out.String(), "was already started by an earlier replay (ABORTED); message deleted") {
			t.Errorf("output:\n%s", out.String())
		}
		if n := w.queueDepth(); n != 0 {
			t.Errorf("%d messages left in the queue", n)
		}
	})
}

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "--queue-url is missing"},
		{Config{QueueURL: "my-queue"}, `--queue-url "my-queue" is not a queue URL`},
		{Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/1/q"}, "--state-machine-arn is missing"},
		{Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", StateMachineARN: "copy"}, `--state-machine-arn "copy" is not a state machine ARN`},
		{Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", DryRun: true, Max: -1}, "--max -1 is negative"},
		{Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", DryRun: true, VisibilitySeconds: -5}, "--visibility-timeout -5"},
		{Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", DryRun: true, VisibilitySeconds: 43201}, "--visibility-timeout 43201"},
		{Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", DryRun: true, VisibilitySeconds: 43200}, ""},
		{Config{QueueURL: "https://sqs.us-east-1.amazonaws.com/1/q", DryRun: true}, ""},
	} {
		err := tc.cfg.Check()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Check(%+v) = %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// awsConfig is an AWS configuration for the moto server: its region and
// credentials, its endpoint as every client's base endpoint.
func awsConfig(srv *motoserver.Server) aws.Config {
	return aws.Config{
		Region:       srv.Region,
		Credentials:  credentials.NewStaticCredentialsProvider(srv.AccessKey, srv.SecretKey, ""),
		BaseEndpoint: aws.String(srv.Endpoint),
	}
}

// watchedOutput collects a replay's output and closes seen once it holds
// want.
type watchedOutput struct {
	mu   sync.Mutex
	buf  bytes.Buffer
	want string
	seen chan struct{}
	once sync.Once
}

func (o *watchedOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	n, err := o.buf.Write(p)
	if strings.Contains(o.buf.String(), o.want) {
		o.once.Do(func() { close(o.seen) })
	}
	return n, err
}

func (o *watchedOutput) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.buf.String()
}

// failFirstDelete is an SQS whose first DeleteMessage fails (a transient
// error after the execution started).
type failFirstDelete struct {
	SQSAPI
	failed bool
}

func (f *failFirstDelete) DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error) {
	if !f.failed {
		f.failed = true
		return nil, fmt.Errorf("injected: connection reset")
	}
	return f.SQSAPI.DeleteMessage(ctx, in, opts...)
}
