package loadsim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// Run sends every event to the intake queue at cfg.Rate; the stand-in
// Pipe starts one execution per batch. It waits for all of them to end. An
// error means the runner itself failed; executions that failed are counted
// in the report.
func (l *Load) Run(ctx context.Context, events [][]byte) (*LoadReport, error) {
	if len(events) == 0 {
		return nil, &localservices.ConfigError{Err: errors.New("no events to run")}
	}
	sink := &lockedWriter{w: l.cfg.LambdaLog}
	l.lambdaLog = map[string]*functionLog{}
	for _, f := range statemachine.Functions {
		l.lambdaLog[f.Name] = &functionLog{name: f.Name, sink: sink}
	}
	l.seedModel(events)
	fns, err := l.functions(ctx)
	if err != nil {
		return nil, err
	}
	srv, err := invokeapi.StartAccount(invokeapi.Account{Concurrency: l.cfg.AccountConcurrency}, fns, execution.LambdaErrorReport)
	if err != nil {
		return nil, &localservices.ConfigError{Err: err}
	}
	defer srv.Close()
	engine, err := stepengine.StartServer(ctx, l.cfg.Engine, l.cfg.RepoRoot, srv.URL, stepengine.ServeJob{
		Definition: l.Definition, TimeScale: l.cfg.TimeScale,
	}, l.cfg.ServerLog)
	if err != nil {
		return nil, err
	}
	peakDB := l.watchConnections()
	defer peakDB.stop()

	rep := &LoadReport{Failures: map[string]int{}, Failed: []FailedExecution{}, ThrottlesPerFunction: map[string]int{}, Environments: map[string]int{}, TimeScale: l.cfg.TimeScale, S3: l.s3Backend()}
	t := &tally{start: time.Now(), events: len(events), batches: map[int][]int{}, keys: eventKeys(events)}
	p, intakeErr := l.intake(ctx, engine, events, t)
	if err := l.collect(ctx, engine, t, rep, func(final bool) { l.progress(t, rep, srv, peakDB, final) }); err != nil {
		return nil, err
	}
	if err := <-intakeErr; err != nil {
		return nil, err
	}
	rep.Seconds = time.Since(t.start).Seconds()
	peakDB.stop()
	l.progress(t, rep, srv, peakDB, true)
	rep.Executions.Started = t.startedNow()
	if t.ended != rep.Executions.Started {
		return nil, fmt.Errorf("load engine: %d of %d executions reported an end", t.ended, rep.Executions.Started)
	}
	rep.PeakDBConnections = peakDB.peak()
	rep.DBSessionsMeasured, rep.DBSessions = l.Role != "", l.sessionsMeasure()
	sortFailed(rep.Failed)
	if err := l.countFiles(ctx, events, rep); err != nil {
		return nil, err
	}
	if rep.Seconds > 0 {
		rep.FilesPerSecond = float64(rep.Files.Complete) / rep.Seconds
	}
	rep.Intake.PipeSettings, rep.Intake.IntakeCalls = l.Pipe, p.counts()
	l.usage(srv, events, t, rep)
	return rep, nil
}

// tally is what a load run counts as its executions start and end.
type tally struct {
	start  time.Time
	events int

	mu      sync.Mutex
	started int
	// batches gives each execution (by id) its events' indexes.
	batches map[int][]int
	// keys gives each event's files as bucket/key (eventKeys).
	keys [][]string

	ended    int
	billed   stepFunctionsUsage
	logBytes int64 // the state machine's log at its deployed level

	lastLine    string
	lastPrinted time.Time
}

func (t *tally) startedNow() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.started
}

func (t *tally) batch(id int) []int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.batches[id]
}

// intake sends the events to the stand-in queue at cfg.Rate while the
// stand-in Pipe polls it and starts each batch on engine; once the Pipe has
// drained the queue the engine's input is closed. The channel says why the
// intake stopped early, or nil.
func (l *Load) intake(ctx context.Context, engine *stepengine.Server, events [][]byte, t *tally) (*pipe, <-chan error) {
	q := newIntakeQueue()
	p := newPipe(q, l.Pipe, l.cfg.TimeScale, func(b pipeBatch) error {
		t.mu.Lock()
		t.batches[b.id] = b.events
		t.mu.Unlock()
		if err := engine.Start(b.id, b.input); err != nil {
			return fmt.Errorf("load engine: start the execution of batch %d: %w", b.id, err)
		}
		t.mu.Lock()
		t.started++
		t.mu.Unlock()
		return nil
	})
	sendErr := make(chan error, 1)
	go func() {
		defer q.Close()
		sendErr <- l.send(ctx, q, events, t.start)
	}()
	done := make(chan error, 1)
	go func() {
		defer engine.CloseInput()
		err := p.run(ctx)
		if sErr := <-sendErr; err == nil {
			err = sErr
		}
		done <- err
	}()
	return p, done
}

// send is EventBridge's SendMessage of each event to the queue, at
// cfg.Rate (all at once without one).
func (l *Load) send(ctx context.Context, q *intakeQueue, events [][]byte, start time.Time) error {
	var interval time.Duration
	if l.cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) / l.cfg.Rate)
	}
	for i, ev := range events {
		if interval > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * interval)); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return ctx.Err()
				}
			}
		}
		q.Send(i, ev)
	}
	return nil
}

// collect counts the executions as engine reports their ends, calling
// progress every cfg.ProgressEvery, until the engine process has ended.
func (l *Load) collect(ctx context.Context, engine *stepengine.Server, t *tally, rep *LoadReport, progress func(final bool)) error {
	every := l.cfg.ProgressEvery
	if every <= 0 {
		every = time.Second
	}
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case line, ok := <-engine.Ended():
			if !ok {
				return engine.Wait()
			}
			t.ended++
			t.billed.add(l.shape.bill(line, l.cfg.TimeScale))
			t.logBytes += stateMachineLogBytes(line, statemachine.LogLevel)
			if line.Result.Status == "SUCCEEDED" {
				rep.Executions.Succeeded++
				continue
			}
			rep.Executions.Failed++
			rep.Failures[line.Result.Error]++
			rep.Failed = append(rep.Failed, newFailedExecution(line.ID, t.batch(line.ID), t.keys, line.Result.Error, line.Result.Cause))
		case <-tick.C:
			progress(false)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// progress prints a line to cfg.Progress when something changed, else
// every 10 s, and always when final.
func (l *Load) progress(t *tally, rep *LoadReport, srv *invokeapi.Server, peakDB *connectionWatch, final bool) {
	if l.cfg.Progress == nil {
		return
	}
	throttles := 0
	for _, f := range statemachine.Functions {
		throttles += srv.Stats(f.Name).Throttled
	}
	line := fmt.Sprintf("%d events, %d executions started, %d ended (%d succeeded, %d failed), %d invocations in flight, %d throttled, %s",
		t.events, t.startedNow(), t.ended, rep.Executions.Succeeded, rep.Executions.Failed,
		len(srv.InFlight()), throttles, l.sessionsNow(peakDB))
	if line == t.lastLine && !final && time.Since(t.lastPrinted) < 10*time.Second {
		return
	}
	t.lastLine, t.lastPrinted = line, time.Now()
	fmt.Fprintf(l.cfg.Progress, "local: load %5.1fs: %s\n", time.Since(t.start).Seconds(), line)
}

// usage fills in the report's billed units and what they would cost in
// AWS.
func (l *Load) usage(srv *invokeapi.Server, events [][]byte, t *tally, rep *LoadReport) {
	rep.PeakInFlight = srv.PeakInFlight()
	u := Usage{
		StepFunctions: t.billed, StartExecutions: rep.Executions.Started, Intake: rep.Intake.IntakeCalls,
		LogBytesBySource: map[string]int64{LogSourceStateMachine: t.logBytes},
	}
	rep.Functions = map[string]FunctionUsage{}
	for _, f := range statemachine.Functions {
		st := srv.Stats(f.Name)
		u.LogBytesBySource[f.Name] = l.lambdaLog[f.Name].n.Load() + int64(st.Calls)*platformBytesPerInvocation(deployedSystemLogLevel, f.MemoryMB)
		rep.Throttles += st.Throttled
		rep.ThrottlesPerFunction[f.Name] = st.Throttled
		rep.Environments[f.Name] = st.Environments
		rep.PeakEnvironments += st.Environments
		fu := FunctionUsage{MemoryMB: f.MemoryMB, Requests: st.Calls, BilledMs: st.Billed.Milliseconds() + l.heldMs(f.Name)}
		fu.GBSeconds = float64(fu.BilledMs) / 1000 * float64(f.MemoryMB) / 1024
		rep.Functions[f.Name] = fu
		u.LambdaRequests += fu.Requests
		u.LambdaGBSeconds += fu.GBSeconds
	}
	if l.model != nil {
		rep.S3Operations = l.model.Stats().Requests
	}
	for _, keys := range t.keys {
		u.Files += len(keys)
	}
	for _, p := range l.s3 {
		u.S3PutClass += p.copies.Hits() + p.puts.Hits()
		u.S3GetClass += p.gets.Hits()
	}
	rep.StepFunctionsCounted = "parents and children (the Node engine runs them inline; moto's serve mode reads each child's own history)"
	if !t.billed.ChildrenCounted {
		rep.StepFunctionsCounted = "parents only (the engine gave no figures of the children)"
	}
	u.fill(rep)
}

// eventKeys gives each event's files as bucket/key, as parse-event reads
// them (none for an event it refuses).
func eventKeys(events [][]byte) [][]string {
	out := make([][]string, len(events))
	for i, ev := range events {
		files, err := parseevent.ParseEvent(ev)
		if err != nil {
			continue
		}
		for _, f := range files {
			out[i] = append(out[i], f.SourceBucket+"/"+f.SourceKey)
		}
	}
	return out
}
