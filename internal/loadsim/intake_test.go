package loadsim

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// startPipe runs a pipe over a new queue, handing its batches to the
// returned channel.
func startPipe(t *testing.T, s PipeSettings, timeScale float64) (*intakeQueue, *pipe, <-chan pipeBatch, <-chan error) {
	t.Helper()
	q := newIntakeQueue()
	batches := make(chan pipeBatch, 100)
	p := newPipe(q, s, timeScale, func(b pipeBatch) error { batches <- b; return nil })
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- p.run(ctx) }()
	return q, p, batches, done
}

func event(i int) []byte {
	return []byte(fmt.Sprintf(`{"Records":[{"s3":{"bucket":{"name":"restore"},"object":{"key":"file-%d.dat","size":10}}}]}`, i))
}

// Events sent at once are cut into batches of BatchSize, in order, the
// last one when the queue is drained; each batch is the Pipe's array of
// SQS records whose body is the event as sent; the calls are counted as
// SQS and Pipes bill them.
func TestPipeBatchesBySize(t *testing.T) {
	q, p, batches, done := startPipe(t, PipeSettings{BatchSize: 12, WindowSecs: 300}, 1)
	for i := 0; i < 25; i++ {
		q.Send(i, event(i))
	}
	q.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var sizes []int
	var first []int
	for n := len(batches); n > 0; n-- {
		b := <-batches
		sizes = append(sizes, len(b.events))
		first = append(first, b.events[0])
		var records []sqsRecord
		if err := json.Unmarshal(b.input, &records); err != nil {
			t.Fatalf("batch %d: %v", b.id, err)
		}
		for i, r := range records {
			ev := b.events[i]
			sum := md5.Sum(event(ev))
			if r.Body != string(event(ev)) || r.MD5OfBody != hex.EncodeToString(sum[:]) || r.EventSource != "aws:sqs" ||
				r.EventSourceARN != intakeQueueARN || r.AWSRegion != intakeRegion || r.MessageID == "" || r.ReceiptHandle == "" ||
				r.Attributes["ApproximateReceiveCount"] != "1" {
				t.Errorf("batch %d record %d: %+v, want event %d's SQS record", b.id, i, r, ev)
			}
		}
	}
	if diff := cmp.Diff([]int{12, 12, 1}, sizes); diff != "" {
		t.Errorf("batch sizes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{0, 12, 24}, first); diff != "" {
		t.Errorf("first events (-want +got):\n%s", diff)
	}
	c := p.counts()
	// 25 SendMessage; ReceiveMessage of at most 10: 2 + 2 + 1 with messages,
	// the third batch's ending with the drained queue; DeleteMessageBatch
	// of at most 10: 2 + 2 + 1.
	want := IntakeCalls{SendMessage: 25, ReceiveMessage: 5, DeleteMessageBatch: 5, SQSRequests: 35, PipeRequests: 25,
		Batches: 3, LargestBatch: 12, LargestBatchBytes: c.LargestBatchBytes}
	if diff := cmp.Diff(want, c); diff != "" {
		t.Errorf("calls (-want +got):\n%s", diff)
	}
}

// A batch that does not fill is started when its window (scaled) has
// passed since its first message, before any more message comes.
func TestPipeBatchWindow(t *testing.T) {
	q, p, batches, done := startPipe(t, PipeSettings{BatchSize: 100, WindowSecs: 2}, 20) // 100 ms
	q.Send(0, event(0))
	q.Send(1, event(1))
	select {
	case b := <-batches:
		if diff := cmp.Diff([]int{0, 1}, b.events); diff != "" {
			t.Errorf("first batch (-want +got):\n%s", diff)
		}
	case <-time.After(time.Minute): // a guard, not a measure: the window is 100 ms
		t.Fatal("no batch while the queue stays open: the window did not cut it")
	}
	q.Send(2, event(2))
	q.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if b := <-batches; len(b.events) != 1 || b.events[0] != 2 || b.id != 1 {
		t.Errorf("second batch %d: events %v, want batch 1 with event 2", b.id, b.events)
	}
	if c := p.counts(); c.Batches != 2 || c.SendMessage != 3 || c.DeleteMessageBatch != 2 {
		t.Errorf("calls %+v: want 2 batches, 3 SendMessage, 2 DeleteMessageBatch", c)
	}
}

// An empty long poll is a ReceiveMessage SQS bills too.
func TestQueueCountsEmptyReceives(t *testing.T) {
	q := newIntakeQueue()
	msgs, drained, err := q.Receive(context.Background(), 10, time.Millisecond)
	if err != nil || len(msgs) != 0 || drained {
		t.Fatalf("receive: %v, %v, %v", msgs, drained, err)
	}
	if c := q.Calls(); c.ReceiveMessage != 1 || c.EmptyReceives != 1 || c.SQSRequests != 1 {
		t.Errorf("calls %+v: want one empty ReceiveMessage, one SQS request", c)
	}
	big := make([]byte, billedChunk+1)
	q.Send(0, big)
	if c := q.Calls(); c.SQSRequests != 3 {
		t.Errorf("a message of 64 KB + 1 byte: %d SQS requests in all, want 1 + 2", c.SQSRequests)
	}
}

// TestLoadPipeSettings: the stand-in reads the Pipe's keys as the CDK app
// does (cdkcontext.Intake): what cdk.json says, and the deploy's refusals.
func TestLoadPipeSettings(t *testing.T) {
	dir := t.TempDir()
	write := func(context string) {
		if err := os.WriteFile(filepath.Join(dir, "cdk.json"), []byte(`{"context":`+context+`}`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(`{"pipeBatchSize": 50, "pipeBatchWindowSecs": 30}`)
	if s, err := LoadPipeSettings(dir); err != nil || s != (PipeSettings{BatchSize: 50, WindowSecs: 30, Source: "cdk.json"}) {
		t.Errorf("both keys: %+v, %v", s, err)
	}
	for _, tc := range []struct{ context, want string }{
		{`{"pipeBatchWindowSecs": 30}`, "pipeBatchSize is missing"},
		{`{"pipeBatchSize": 101, "pipeBatchWindowSecs": 30}`, "pipeBatchSize = 101"}, // one execution carries 100 files
		{`{"pipeBatchSize": 50, "pipeBatchWindowSecs": 301}`, "pipeBatchWindowSecs = 301"},
	} {
		write(tc.context)
		if _, err := LoadPipeSettings(dir); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one naming %q", tc.context, err, tc.want)
		}
	}
}
