package loadsim

import (
	"context"
	"encoding/json"
	"time"
)

// pipeBatch is one batch the Pipe started an execution with: its index
// (the execution's id), the events of its messages, and its input.
type pipeBatch struct {
	id     int
	events []int
	input  []byte
}

// pipe stands in for the EventBridge Pipe (intake.go): it polls queue and
// hands each batch to start, whose error stops it (the run failed).
type pipe struct {
	queue    *intakeQueue
	settings PipeSettings
	// window and longPoll are the batch window and SQS's long poll in the
	// run's time (scaled like the engine's timers).
	window, longPoll time.Duration
	start            func(pipeBatch) error

	batches           int
	largest, largestB int
	requests          int
}

func newPipe(q *intakeQueue, s PipeSettings, timeScale float64, start func(pipeBatch) error) *pipe {
	scale := func(secs int) time.Duration { return time.Duration(float64(secs) * float64(time.Second) / timeScale) }
	return &pipe{queue: q, settings: s, window: scale(s.WindowSecs), longPoll: scale(sqsLongPollSecs), start: start}
}

// run polls until the queue is closed and drained, starting each batch as
// it is cut.
func (p *pipe) run(ctx context.Context) error {
	for {
		msgs, received, drained, err := p.collect(ctx)
		if err != nil {
			return err
		}
		if len(msgs) > 0 {
			if err := p.deliver(msgs, received); err != nil {
				return err
			}
		}
		if drained {
			return nil
		}
	}
}

// collect polls for one batch: it ends when BatchSize messages are in, the
// window since the first message has passed, or the queue is drained (no
// message can come: the runner does not wait out a window that would bring
// nothing, so the batch is the one the Pipe would start, only sooner).
func (p *pipe) collect(ctx context.Context) (msgs []queuedMessage, received time.Time, drained bool, err error) {
	var deadline time.Time
	for len(msgs) < p.settings.BatchSize {
		wait := p.longPoll
		if len(msgs) > 0 {
			if wait = time.Until(deadline); wait <= 0 {
				break
			}
		}
		got, done, err := p.queue.Receive(ctx, p.settings.BatchSize-len(msgs), wait)
		if err != nil {
			return nil, received, false, err
		}
		if len(got) > 0 && len(msgs) == 0 {
			received = time.Now()
			deadline = received.Add(p.window)
		}
		msgs = append(msgs, got...)
		if done {
			return msgs, received, true, nil
		}
	}
	return msgs, received, false, nil
}

// deliver starts the batch's execution, counts what the Pipe bills for it,
// and deletes its messages.
func (p *pipe) deliver(msgs []queuedMessage, received time.Time) error {
	records := make([]sqsRecord, len(msgs))
	events := make([]int, len(msgs))
	for i, m := range msgs {
		records[i] = newSQSRecord(m, received)
		events[i] = m.event
		p.requests += pipeRequests(records[i])
	}
	input, err := json.Marshal(records)
	if err != nil {
		return err
	}
	b := pipeBatch{id: p.batches, events: events, input: input}
	if err := p.start(b); err != nil {
		return err
	}
	p.batches++
	p.largest = max(p.largest, len(msgs))
	p.largestB = max(p.largestB, len(input))
	p.queue.DeleteBatch(msgs)
	return nil
}

// pipeRequests is what the Pipe bills for delivering one message: one
// request per 64 KB chunk of the record ("Pipes ... requests ... Each 64 KB
// chunk of payload is billed as 1 request", https://aws.amazon.com/eventbridge/pricing/).
// That a batch is billed per message, not per invocation, is this runner's
// reading of that page (the larger count); it cannot be checked offline.
func pipeRequests(r sqsRecord) int {
	b, _ := json.Marshal(r)
	return chunks(len(b))
}

// counts adds the Pipe's figures to the queue's calls.
func (p *pipe) counts() IntakeCalls {
	c := p.queue.Calls()
	c.PipeRequests = p.requests
	c.Batches, c.LargestBatch, c.LargestBatchBytes = p.batches, p.largest, p.largestB
	return c
}
