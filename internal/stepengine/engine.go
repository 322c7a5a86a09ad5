package stepengine

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"
)

//go:embed engine.cjs
var engineScript string

// Job is what the engine script reads on stdin.
type Job struct {
	Definition json.RawMessage `json:"definition"`
	Input      json.RawMessage `json:"input"`
	Region     string          `json:"region,omitempty"`
	// RetryIntervalOverrides maps a state name to the pause in milliseconds
	// before each retry (a number, or one number per retrier, -1 meaning
	// "not overridden").
	RetryIntervalOverrides map[string]any `json:"retryIntervalOverrides,omitempty"`
	// WaitTimeOverrides maps a Wait state name to its pause in milliseconds.
	WaitTimeOverrides map[string]int `json:"waitTimeOverrides,omitempty"`
	// RetryPause, when positive, caps every Retry pause (the moto engine's
	// driver shortens the interpreter's sleep; the Node engine uses
	// RetryIntervalOverrides instead).
	RetryPause time.Duration `json:"-"`
}

// Event is one entry of the engine's execution event log
// (aws-local-stepfunctions docs/execution-event-logs.md). Raw keeps the
// whole event as the engine reported it.
type Event struct {
	Type        string          `json:"type"`
	Timestamp   int64           `json:"timestamp"` // Unix milliseconds
	State       *EventState     `json:"state,omitempty"`
	ParentState *EventState     `json:"parentState,omitempty"`
	Index       *int            `json:"index,omitempty"`
	Input       json.RawMessage `json:"input,omitempty"`
	Output      json.RawMessage `json:"output,omitempty"`
	Error       string          `json:"Error,omitempty"`
	Cause       json.RawMessage `json:"Cause,omitempty"`
	Retry       *struct {
		Attempt int `json:"attempt"`
	} `json:"retry,omitempty"`
	// Path lists the Map iterations the event happened in, outermost
	// first: empty for the execution's own states; a Map iteration's own
	// events (MapIterationStarted, ...) end with that iteration. The first
	// entry of an event in a Distributed Map child names the child. Index,
	// where set, is the last entry's.
	Path []Iteration `json:"mapPath,omitempty"`

	Raw json.RawMessage `json:"-"`
}

// Iteration is one Map iteration: the Map state's name and the item's
// index. For a Distributed Map it is a child execution.
type Iteration struct {
	Map   string `json:"map"`
	Index int    `json:"index"`
}

// EventState names the state an event is about.
type EventState struct {
	Name   string          `json:"name"`
	Type   string          `json:"type"`
	Input  json.RawMessage `json:"input,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
}

// Time returns the event's timestamp.
func (e Event) Time() time.Time { return time.UnixMilli(e.Timestamp) }

// CauseText returns the event's cause as text: a Lambda error's
// errorMessage (the cause being its JSON payload, as text or as an object),
// else the cause as it is.
func (e Event) CauseText() string {
	if len(e.Cause) == 0 {
		return ""
	}
	raw := []byte(e.Cause)
	var s string
	if json.Unmarshal(e.Cause, &s) == nil {
		raw = []byte(s)
	}
	var lambdaErr struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if json.Unmarshal(raw, &lambdaErr) == nil && lambdaErr.ErrorMessage != "" {
		return lambdaErr.ErrorMessage
	}
	return string(raw)
}

// Result is how the execution ended.
type Result struct {
	Status string          `json:"status"` // SUCCEEDED, FAILED or INVALID
	Output json.RawMessage `json:"output,omitempty"`
	Error  string          `json:"error,omitempty"`
	Cause  string          `json:"cause,omitempty"`
}

// Node runs executions with aws-local-stepfunctions under Node.
type Node struct {
	// RepoRoot is the directory holding node_modules (the Node cwd).
	RepoRoot string
	// LambdaEndpoint is the Invoke API URL (AWS_ENDPOINT_URL_LAMBDA).
	LambdaEndpoint string
	// Node is the node binary; "node" when empty.
	Node string
	// Stderr receives the engine's own diagnostics; discarded when nil.
	Stderr io.Writer
}

// Run runs one execution, calling onEvent for each event as it happens
// (from this goroutine), and returns how it ended. An error means the engine
// itself could not run. Cancelling ctx stops the Node process group.
func (e *Node) Run(ctx context.Context, job Job, onEvent func(Event)) (*Result, error) {
	stdin, err := json.Marshal(job)
	if err != nil {
		return nil, fmt.Errorf("engine: encode job: %w", err)
	}
	node := e.Node
	if node == "" {
		node = "node"
	}
	cmd := exec.CommandContext(ctx, node, "-e", engineScript)
	cmd.Dir = e.RepoRoot
	cmd.Env = engineEnv(os.Environ(), e.LambdaEndpoint)
	cmd.Stdin = bytes.NewReader(stdin)
	result, err := streamEngine(ctx, cmd, engineStream{
		name:   "engine",
		stderr: e.Stderr,
		startErr: func(err error) error {
			return fmt.Errorf("engine: start %s: %w", node, err)
		},
		event: func(raw json.RawMessage, _ *Iteration) error {
			var ev Event
			if err := json.Unmarshal(raw, &ev); err != nil {
				return fmt.Errorf("engine: unreadable event: %w", err)
			}
			if n := len(ev.Path); n > 0 {
				ev.Index = &ev.Path[n-1].Index
			}
			ev.Raw = append(json.RawMessage(nil), raw...)
			if onEvent != nil {
				onEvent(ev)
			}
			return nil
		},
		noResult: func(waitErr error, stderr string) error {
			if waitErr != nil {
				return fmt.Errorf("engine: node exited without a result (%v): %s", waitErr, stderr)
			}
			return fmt.Errorf("engine: no result: %s", stderr)
		},
	})
	if err != nil {
		return nil, err
	}
	if result.Status == "INVALID" {
		return nil, &InvalidDefinitionError{Message: result.Cause}
	}
	return result, nil
}

// InvalidDefinitionError reports a definition the engine refused to load.
type InvalidDefinitionError struct{ Message string }

func (e *InvalidDefinitionError) Error() string {
	return "the engine refused the state machine definition: " + e.Message
}

// engineEnv returns the Node process environment: the caller's, with the
// Lambda endpoint pointed at the local Invoke API and dummy credentials so the
// AWS SDK never looks for real ones.
func engineEnv(base []string, lambdaEndpoint string) []string {
	drop := map[string]bool{
		"AWS_ENDPOINT_URL_LAMBDA": true, "AWS_ENDPOINT_URL": true,
		"AWS_ACCESS_KEY_ID": true, "AWS_SECRET_ACCESS_KEY": true, "AWS_SESSION_TOKEN": true,
		"AWS_PROFILE": true, "AWS_MAX_ATTEMPTS": true, "AWS_RETRY_MODE": true,
	}
	env := make([]string, 0, len(base)+4)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	return append(env,
		"AWS_ENDPOINT_URL_LAMBDA="+lambdaEndpoint,
		// One request per Invoke: Step Functions does not retry a
		// refused invocation by itself; the definition's Retry does.
		"AWS_MAX_ATTEMPTS=1",
		"AWS_ACCESS_KEY_ID=local",
		"AWS_SECRET_ACCESS_KEY=local",
		"AWS_EC2_METADATA_DISABLED=true",
	)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
