package dlqreplay

// Against moto's server as the SQS endpoint (internal/motoserver): a
// dead-letter queue and an intake queue of its own per test.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/motoserver"
)

type world struct {
	t         *testing.T
	ctx       context.Context
	sqs       *sqs.Client
	queueURL  string // the dead-letter queue
	intakeURL string
}

func newWorld(t *testing.T, srv *motoserver.Server) *world {
	t.Helper()
	w := &world{t: t, ctx: context.Background(), sqs: sqs.NewFromConfig(awsConfig(srv))}
	name := fmt.Sprintf("dlq-%d", time.Now().UnixNano())
	w.queueURL = w.createQueue(name)
	w.intakeURL = w.createQueue(name + "-intake")
	return w
}

func (w *world) createQueue(name string) string {
	w.t.Helper()
	q, err := w.sqs.CreateQueue(w.ctx, &sqs.CreateQueueInput{QueueName: aws.String(name)})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(q.QueueUrl)
}

func (w *world) config() Config {
	return Config{QueueURL: w.queueURL, IntakeQueueURL: w.intakeURL}
}

// deadLetter sends body as EventBridge does to a rule target's DLQ.
func (w *world) deadLetter(body string) string {
	w.t.Helper()
	attr := func(v string) sqstypes.MessageAttributeValue {
		return sqstypes.MessageAttributeValue{DataType: aws.String("String"), StringValue: aws.String(v)}
	}
	out, err := w.sqs.SendMessage(w.ctx, &sqs.SendMessageInput{QueueUrl: aws.String(w.queueURL), MessageBody: aws.String(body),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			"ERROR_CODE":                attr("SQS.AccessDenied"),
			"ERROR_MESSAGE":             attr("Access denied"),
			"EXHAUSTED_RETRY_CONDITION": attr("MaximumRetryAttempts"),
			"RETRY_ATTEMPTS":            attr("185"),
			"RULE_ARN":                  attr("arn:aws:events:us-east-1:123456789012:rule/restore"),
			"TARGET_ARN":                attr("arn:aws:sqs:us-east-1:123456789012:intake"),
		}})
	if err != nil {
		w.t.Fatal(err)
	}
	return aws.ToString(out.MessageId)
}

// intake receives every message of the intake queue: body and its
// REPLAYED_FROM attribute.
func (w *world) intake() map[string]string {
	w.t.Helper()
	got := map[string]string{}
	for {
		out, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.intakeURL), MaxNumberOfMessages: 10,
			VisibilityTimeout: 300, MessageAttributeNames: []string{"All"}})
		if err != nil {
			w.t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			return got
		}
		for _, m := range out.Messages {
			from := aws.ToString(m.MessageAttributes[AttributeReplayedFrom].StringValue)
			if _, dup := got[from]; dup {
				w.t.Errorf("dead letter %s sent to the intake twice", from)
			}
			got[from] = aws.ToString(m.Body)
		}
	}
}

// replayedFrom is the REPLAYED_FROM a dead letter's copy carries.
func (w *world) replayedFrom(id string) string { return queueName(w.queueURL) + "/" + id }

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

// wantReplayedOnce checks that a replay ended without error having sent
// exactly dead letter id's body to the intake, and left the queue empty.
func (w *world) wantReplayedOnce(t *testing.T, id, body string, sum Summary, err error, out string) {
	t.Helper()
	if err != nil {
		t.Errorf("Replay: %v\n%s", err, out)
	}
	if diff := cmp.Diff(Summary{Sent: 1}, sum); diff != "" {
		t.Errorf("summary (-want +got):\n%s\n%s", diff, out)
	}
	if diff := cmp.Diff(map[string]string{w.replayedFrom(id): body}, w.intake()); diff != "" {
		t.Errorf("intake (-want +got):\n%s", diff)
	}
	if n := w.queueDepth(); n != 0 {
		t.Errorf("%d messages left in the dead-letter queue\n%s", n, out)
	}
}

// sampleEvent is the restore rule's message for key: the transformed event
// (infra/trigger.go's template) as the intake and both dead-letter queues
// hold it.
func sampleEvent(key string) string {
	return `{"detail-type":"Object Restore Completed","source":"aws.s3","detail":{"bucket":{"name":"restore"},` +
		`"object":{"key":"` + key + `","size":1024,"etag":"d41d8cd98f00b204e9800998ecf8427e","version-id":""},` +
		`"restore-expiry-time":"2026-12-10T00:00:00Z"}}`
}

// wholeEvent is a whole EventBridge event, as a rule's dead letter from
// before the intake held it.
func wholeEvent(t *testing.T, key string) string {
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
		id := w.deadLetter(sampleEvent("granules/one+file.h5"))
		w.deadLetter(sampleEvent("granules/two.h5"))
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, Config{QueueURL: w.queueURL, DryRun: true}, &out)
		if err != nil || sum.Listed != 2 {
			t.Fatalf("Replay: %+v, %v\n%s", sum, err, out.String())
		}
		for _, want := range []string{
			"message " + id + ": s3://restore/granules/one file.h5; dead-lettered: ERROR_CODE=SQS.AccessDenied ERROR_MESSAGE=Access denied EXHAUSTED_RETRY_CONDITION=MaximumRetryAttempts RETRY_ATTEMPTS=185",
			"would be sent to the intake",
			"replay-dlq: 2 listed (dry run: nothing sent or deleted)",
		} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("output lacks %q:\n%s", want, out.String())
			}
		}
		if got := w.intake(); len(got) != 0 {
			t.Errorf("a dry run sent %v", got)
		}
		if got := w.queueDepth(); got != 2 {
			t.Errorf("queue holds %d messages after a dry run, want 2", got)
		}
	})

	t.Run("replay sends each body to the intake, then deletes the dead letter", func(t *testing.T) {
		w := newWorld(t, srv)
		want := map[string]string{}
		for i := range 12 { // more than one receive's worth
			body := sampleEvent(fmt.Sprintf("granules/file-%02d.h5", i))
			if i == 11 {
				body = wholeEvent(t, "granules/before-the-intake.h5")
			}
			want[w.replayedFrom(w.deadLetter(body))] = body
		}
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, w.config(), &out)
		if err != nil || cmp.Diff(Summary{Sent: 12}, sum) != "" {
			t.Fatalf("Replay: %+v, %v\n%s", sum, err, out.String())
		}
		if diff := cmp.Diff(want, w.intake()); diff != "" {
			t.Errorf("intake (-want +got):\n%s", diff)
		}
		if n := w.queueDepth(); n != 0 {
			t.Errorf("%d messages left in the queue", n)
		}
		if !strings.Contains(out.String(), "replay-dlq: 12 sent to the intake, 0 failed") {
			t.Errorf("summary missing:\n%s", out.String())
		}
	})

	t.Run("a message that cannot be sent, or that the workflow would reject, stays in the queue", func(t *testing.T) {
		w := newWorld(t, srv)
		w.deadLetter(sampleEvent("granules/kept.h5"))
		w.deadLetter("not json")
		w.deadLetter(`{"detail-type":"Object Created","source":"aws.s3","detail":{}}`)
		cfg := w.config()
		cfg.IntakeQueueURL = w.intakeURL + "-gone"
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, cfg, &out)
		if err == nil || sum.Failed != 3 || sum.Sent != 0 {
			t.Fatalf("Replay: %+v, %v; want 3 failures\n%s", sum, err, out.String())
		}
		for _, want := range []string{"NOT REPLAYED (kept in the queue): SendMessage to " + cfg.IntakeQueueURL,
			"NOT REPLAYED (kept in the queue): the body is not JSON", "the workflow would reject it: ",
			"replay-dlq: kept 3 in the queue, they could not be replayed",
			"(the body is not JSON, so it is not an event)", "(SendMessage: ", "3 messages stay in the queue unresolved"} {
			if !strings.Contains(out.String()+err.Error(), want) {
				t.Errorf("output lacks %q:\n%s%v", want, out.String(), err)
			}
		}
		if n := w.queueDepth(); n != 3 {
			t.Errorf("%d messages in the queue, want all 3 kept", n)
		}
		if got := w.intake(); len(got) != 0 {
			t.Errorf("intake got %v", got)
		}
	})

	t.Run("a message hidden by another reader when the replay starts is waited for, then replayed", func(t *testing.T) {
		// GIVEN a message another reader (or an earlier replay that
		// stopped) received and holds hidden for 2 s
		w := newWorld(t, srv)
		body := sampleEvent("granules/hidden.h5")
		id := w.deadLetter(body)
		held, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queueURL), VisibilityTimeout: 2})
		if err != nil || len(held.Messages) != 1 {
			t.Fatalf("receive: %v, %d messages", err, len(held.Messages))
		}

		// WHEN the replay runs: its first receive brings nothing
		cfg := w.config()
		cfg.MaxWait, cfg.PollInterval = 30*time.Second, 200*time.Millisecond
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, cfg, &out)

		// THEN it does not end there: it waits for the message, replays
		// it, and ends with the queue empty
		w.wantReplayedOnce(t, id, body, sum, err, out.String())
	})

	t.Run("a message hidden past --max-wait is reported, not taken for an empty queue", func(t *testing.T) {
		w := newWorld(t, srv)
		w.deadLetter(sampleEvent("granules/held.h5"))
		if _, err := w.sqs.ReceiveMessage(w.ctx, &sqs.ReceiveMessageInput{QueueUrl: aws.String(w.queueURL), VisibilityTimeout: 300}); err != nil {
			t.Fatal(err)
		}
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, w.config(), &out)
		if err == nil || sum.NotReceived != 1 {
			t.Errorf("Replay: %+v, %v; want 1 message not received and an error\n%s", sum, err, out.String())
		}
		if want := "replay-dlq: the queue reports 1 more messages that this replay did not receive within --max-wait 0s"; !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	})

	t.Run("a dead letter whose delete failed is deleted when it comes back, not sent again", func(t *testing.T) {
		// GIVEN a message, and an SQS whose first DeleteMessage fails
		w := newWorld(t, srv)
		body := sampleEvent("granules/undeleted.h5")
		id := w.deadLetter(body)
		q := &failFirstDelete{SQSAPI: w.sqs}

		// WHEN the replay sends it, fails to delete it, and the message
		// comes back after its 1 s visibility timeout
		cfg := w.config()
		cfg.VisibilitySeconds, cfg.MaxWait, cfg.PollInterval = 1, 20*time.Second, 200*time.Millisecond
		var out bytes.Buffer
		sum, err := Replay(w.ctx, q, cfg, &out)

		// THEN the replay deletes it then: one message in the intake,
		// nothing left, no "did not receive"
		w.wantReplayedOnce(t, id, body, sum, err, out.String())
		if !strings.Contains(out.String(), "WARNING: sent, but deleting the dead letter failed") {
			t.Errorf("output:\n%s", out.String())
		}
	})

	t.Run("--max replays that many and leaves the rest", func(t *testing.T) {
		w := newWorld(t, srv)
		for i := range 3 {
			w.deadLetter(sampleEvent(fmt.Sprintf("granules/max-%d.h5", i)))
		}
		cfg := w.config()
		cfg.Max = 2
		var out bytes.Buffer
		sum, err := Replay(w.ctx, w.sqs, cfg, &out)
		if err != nil || cmp.Diff(Summary{Sent: 2}, sum) != "" {
			t.Errorf("Replay: %+v, %v\n%s", sum, err, out.String())
		}
		if got, n := len(w.intake()), w.queueDepth(); got != 2 || n != 1 {
			t.Errorf("intake %d, dead letters left %d; want 2 and 1", got, n)
		}
	})
}

func TestConfigCheck(t *testing.T) {
	const q, intake = "https://sqs.us-east-1.amazonaws.com/1/q", "https://sqs.us-east-1.amazonaws.com/1/intake"
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "--queue-url is missing"},
		{Config{QueueURL: "my-queue"}, `--queue-url "my-queue" is not a queue URL`},
		{Config{QueueURL: q}, "--intake-queue-url is missing"},
		{Config{QueueURL: q, IntakeQueueURL: "intake"}, `--intake-queue-url "intake" is not a queue URL`},
		{Config{QueueURL: q, IntakeQueueURL: q + "/"}, "--intake-queue-url is --queue-url"},
		{Config{QueueURL: q, IntakeQueueURL: intake}, ""},
		{Config{QueueURL: q, DryRun: true, Max: -1}, "--max -1 is negative"},
		{Config{QueueURL: q, DryRun: true, MaxWait: -time.Second}, "--max-wait -1s is negative"},
		{Config{QueueURL: q, DryRun: true, VisibilitySeconds: -5}, "--visibility-timeout -5"},
		{Config{QueueURL: q, DryRun: true, VisibilitySeconds: 43201}, "--visibility-timeout 43201"},
		{Config{QueueURL: q, DryRun: true, VisibilitySeconds: 43200}, ""},
		{Config{QueueURL: q, DryRun: true}, ""},
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

// failFirstDelete is an SQS whose first DeleteMessage fails (a transient
// error after the body was sent).
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
