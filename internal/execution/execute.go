package execution

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/invokeapi"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// Execution is one run of a definition on a local engine, with the Lambda
// tasks served by in-process handlers.
type Execution struct {
	// Engine is EngineNode (default when empty) or EngineMoto.
	Engine string
	// Python runs the moto engine ($LOCAL_PYTHON or python3 when empty).
	Python string
	// RepoRoot holds node_modules (aws-local-stepfunctions).
	RepoRoot string
	// Definition is the rendered ASL.
	Definition []byte
	// Functions serve the definition's Lambda tasks, by function name.
	Functions []invokeapi.Function
	// ErrorReport names handler errors as the Lambda runtime does.
	ErrorReport invokeapi.ErrorReport
	// RetryIntervalOverrides shortens Retry pauses on the Node engine
	// (engine option; the definition is unchanged). Nil keeps the
	// definition's timing.
	RetryIntervalOverrides map[string]any
	// RetryPause, when positive, caps every Retry pause on the moto engine
	// (its driver shortens the interpreter's sleep; the definition is
	// unchanged), and every Wait state's pause on both engines.
	RetryPause time.Duration
	// Out receives one line per execution event and progress lines; nil
	// prints nothing.
	Out io.Writer
	// EngineLog receives the engine's stderr; nil discards it.
	EngineLog io.Writer
	// ProgressEvery is how often running copies are reported once they
	// have run ProgressAfter (defaults 5 s and 10 s).
	ProgressEvery, ProgressAfter time.Duration
}

// Result is how an execution ended. Its JSON form is the runner's --json
// document.
type Result struct {
	Status string            `json:"status"` // SUCCEEDED or FAILED
	Output json.RawMessage   `json:"output"`
	Error  *string           `json:"error"`
	Cause  *string           `json:"cause"`
	Events []json.RawMessage `json:"events"`

	// History is the parsed event log.
	History []stepengine.Event `json:"-"`
	// MaxCopiesInFlight is the most invocations of copy-file's code (both
	// lanes' copy functions together) the Invoke API served at once; MaxCopiesInHistory the most copy states the history
	// shows running at once.
	MaxCopiesInFlight  int `json:"-"`
	MaxCopiesInHistory int `json:"-"`
	// Calls counts the invocations of each function that ran its
	// handler; Throttled those the Invoke API refused (ThrottleFirst).
	Calls     map[string]int `json:"-"`
	Throttled map[string]int `json:"-"`
	// Duration is the wall time of the execution.
	Duration time.Duration `json:"-"`
}

// Succeeded reports whether the execution succeeded.
func (r *Result) Succeeded() bool { return r.Status == "SUCCEEDED" }

// ErrorName returns the error name, or "".
func (r *Result) ErrorName() string { return deref(r.Error) }

// CauseText returns the cause, or "".
func (r *Result) CauseText() string { return deref(r.Cause) }

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// copyStateNames are the copy task states of statemachine/definition.asl.json
// (the Standard lane's and the Express lane's), used to count copies in
// flight in the history.
var copyStateNames = []string{"Copy file", "Copy file (Express)"}

// aslStates is what childMaps reads of a definition: its states, and of each
// Map its Label and ItemProcessor.
type aslStates struct {
	States map[string]struct {
		Type          string     `json:"Type"`
		Label         string     `json:"Label"`
		ItemProcessor *aslStates `json:"ItemProcessor"`
		Iterator      *aslStates `json:"Iterator"`
	} `json:"States"`
	ProcessorConfig struct {
		Mode string `json:"Mode"`
	} `json:"ProcessorConfig"`
}

// childMaps names each Distributed Map of a definition (at any depth) by its
// Label, else its state name: its iterations are child executions.
func childMaps(definition []byte) map[string]string {
	children := map[string]string{}
	var walk func(s *aslStates)
	walk = func(s *aslStates) {
		if s == nil {
			return
		}
		for name, st := range s.States {
			if st.ItemProcessor != nil && st.ItemProcessor.ProcessorConfig.Mode == "DISTRIBUTED" {
				children[name] = cmp.Or(st.Label, name)
			}
			walk(st.ItemProcessor)
			walk(st.Iterator)
		}
	}
	var def aslStates
	if json.Unmarshal(definition, &def) == nil {
		walk(&def)
	}
	return children
}

// Execute runs the execution with the given input event. An error means the
// run could not happen (engine missing, definition refused, cancelled); a
// failed execution is a Result with Status FAILED.
func Execute(ctx context.Context, x Execution, event []byte) (*Result, error) {
	if !json.Valid(event) {
		return nil, &localservices.ConfigError{Err: fmt.Errorf("the event is not valid JSON")}
	}
	srv, err := invokeapi.Start(x.Functions, x.ErrorReport)
	if err != nil {
		return nil, err
	}
	defer srv.Close()

	history := NewHistory(x.Out, copyStateNames...)
	history.Children = childMaps(x.Definition)
	stopProgress := reportProgress(srv, history, x.ProgressEvery, x.ProgressAfter)
	defer stopProgress()

	if err := CheckEngine(x.Engine); err != nil {
		return nil, err
	}
	var engine stepengine.Engine = &stepengine.Node{RepoRoot: x.RepoRoot, LambdaEndpoint: srv.URL, Stderr: x.EngineLog}
	if x.Engine == stepengine.EngineMoto {
		engine = &stepengine.Moto{Python: x.Python, LambdaEndpoint: srv.URL, Stderr: x.EngineLog}
	}
	job := stepengine.Job{
		Definition:             x.Definition,
		Input:                  event,
		RetryIntervalOverrides: x.RetryIntervalOverrides,
		RetryPause:             x.RetryPause,
	}
	if x.RetryPause > 0 && x.Engine != stepengine.EngineMoto {
		// Wait states pause as briefly as retries (moto's driver caps them
		// with RetryPause itself).
		if job.WaitTimeOverrides, err = localservices.WaitOverrides(x.Definition, int(x.RetryPause.Milliseconds())); err != nil {
			return nil, err
		}
	}
	start := time.Now()
	res, err := engine.Run(ctx, job, history.Add)
	stopProgress()
	if err != nil {
		return nil, err
	}
	out := &Result{
		Status:             res.Status,
		History:            history.Events(),
		MaxCopiesInFlight:  srv.MaxInFlightOfCode(statemachine.FunctionCopyFile),
		MaxCopiesInHistory: history.MaxCopiesInFlight(),
		Duration:           time.Since(start),
		Calls:              map[string]int{},
		Throttled:          map[string]int{},
	}
	for _, f := range x.Functions {
		out.Calls[f.Name] = srv.Calls(f.Name)
		out.Throttled[f.Name] = srv.Throttled(f.Name)
	}
	for _, ev := range out.History {
		out.Events = append(out.Events, ev.Raw)
	}
	if res.Status == "SUCCEEDED" {
		out.Output = res.Output
		if len(out.Output) == 0 {
			out.Output = json.RawMessage("null")
		}
	} else {
		out.Output = json.RawMessage("null")
		out.Error, out.Cause = &res.Error, &res.Cause
	}
	return out, nil
}

// reportProgress prints a line for each copy that has run longer than after,
// every period, until the returned stop is called (idempotent).
func reportProgress(srv *invokeapi.Server, h *History, every, after time.Duration) (stop func()) {
	if every <= 0 {
		every = 5 * time.Second
	}
	if after <= 0 {
		after = 10 * time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				for _, inv := range srv.InFlight() {
					if inv.Code != statemachine.FunctionCopyFile || now.Sub(inv.Started) < after {
						continue
					}
					key := findString(inv.Payload, "source_key")
					h.Printf("%s", progressLine(now, key, inv.Started))
				}
			}
		}
	}()
	var stopped bool
	return func() {
		if !stopped {
			stopped = true
			close(done)
			<-finished
		}
	}
}
