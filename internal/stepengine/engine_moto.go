package stepengine

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/motoserver"
)

//go:embed engine_moto.py
var motoScript string

// Engine names accepted by --engine and execution.Config.Engine.
const (
	EngineNode = "node" // aws-local-stepfunctions under Node (the default)
	EngineMoto = "moto" // LocalStack's ASL interpreter inside moto, under Python
)

// MotoVersion is the moto release the moto engine is tested with: the one
// the moto server needs too.
const MotoVersion = motoserver.Version

// ErrMotoMissing reports that the moto engine cannot run here.
var ErrMotoMissing = errors.New("the moto engine needs Python 3 with moto[stepfunctions] " + MotoVersion + " and boto3")

// Engine runs one execution of a definition and reports its events.
type Engine interface {
	Run(ctx context.Context, job Job, onEvent func(Event)) (*Result, error)
}

var (
	_ Engine = (*Node)(nil)
	_ Engine = (*Moto)(nil)
)

// Moto runs executions with moto's Step Functions backend (it embeds
// LocalStack's ASL interpreter) in a Python process driven by
// engine_moto.py. The interpreter writes AWS's own history (TaskStateEntered,
// LambdaFunctionFailed, MapIterationStarted, ...); Run turns it into the
// same Event log the Node engine gives (see awsHistory), keeping each AWS
// event in Raw.
type Moto struct {
	// Python is the interpreter; motoserver.Python decides when empty.
	Python string
	// LambdaEndpoint is the Invoke API URL (AWS_ENDPOINT_URL_LAMBDA).
	LambdaEndpoint string
	// Stderr receives the engine's own diagnostics; discarded when nil.
	Stderr io.Writer
}

// motoJob is what engine_moto.py reads on stdin.
type motoJob struct {
	Definition   json.RawMessage `json:"definition"`
	Input        json.RawMessage `json:"input"`
	Region       string          `json:"region,omitempty"`
	RetryPauseMs int64           `json:"retryPauseMs,omitempty"`
}

// CheckMoto reports whether the moto engine can run: python imports moto
// MotoVersion and boto3. The error wraps ErrMotoMissing and says what was
// found.
func CheckMoto(ctx context.Context, python string) error {
	return motoserver.CheckPython(ctx, motoserver.Python(python),
		"import moto, boto3, antlr4; from moto.stepfunctions.parser.models import StepFunctionsParserBackend", ErrMotoMissing)
}

// Run runs one execution, calling onEvent for each event (translated from
// AWS's history) as the driver reports it, and returns how it ended. The
// job's RetryPause caps every Retry pause (the driver shortens the
// interpreter's sleep; the definition is unchanged); RetryIntervalOverrides
// is the Node engine's option and is ignored here.
func (e *Moto) Run(ctx context.Context, job Job, onEvent func(Event)) (*Result, error) {
	stdin, err := json.Marshal(motoJob{
		Definition:   job.Definition,
		Input:        job.Input,
		Region:       job.Region,
		RetryPauseMs: job.RetryPause.Milliseconds(),
	})
	if err != nil {
		return nil, fmt.Errorf("moto engine: encode job: %w", err)
	}
	python := motoserver.Python(e.Python)
	cmd := exec.CommandContext(ctx, python, "-c", motoScript)
	cmd.Env = append(engineEnv(os.Environ(), e.LambdaEndpoint), "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
	cmd.Stdin = bytes.NewReader(stdin)
	hist := newAWSHistories()
	result, err := streamEngine(ctx, cmd, engineStream{
		name:   "moto engine",
		stderr: e.Stderr,
		startErr: func(err error) error {
			return fmt.Errorf("moto engine: start %s: %w (%w)", python, err, ErrMotoMissing)
		},
		event: func(raw json.RawMessage, child *Iteration) error {
			evs, err := hist.add(raw, child)
			if err != nil {
				return err
			}
			if onEvent != nil {
				for _, ev := range evs {
					onEvent(ev)
				}
			}
			return nil
		},
		noResult: func(waitErr error, stderr string) error {
			return fmt.Errorf("moto engine: %s exited without a result (%v): %s", python, waitErr, stderr)
		},
	})
	if err != nil {
		return nil, err
	}
	switch result.Error {
	case "EngineMissing":
		return nil, fmt.Errorf("%w: %s", ErrMotoMissing, result.Cause)
	case "EngineError":
		return nil, fmt.Errorf("moto engine: %s", result.Cause)
	}
	if result.Status == "INVALID" {
		return nil, &InvalidDefinitionError{Message: result.Cause}
	}
	// As engine.cjs does: the readable cause of a Lambda error is its
	// errorMessage (AWS's cause is the error payload as JSON text).
	result.Cause = readableCause(result.Cause)
	return result, nil
}

// readableCause returns a Lambda error payload's errorMessage, else the
// cause as it is.
func readableCause(cause string) string {
	var p struct {
		ErrorMessage *string `json:"errorMessage"`
	}
	if json.Unmarshal([]byte(cause), &p) == nil && p.ErrorMessage != nil {
		return *p.ErrorMessage
	}
	return cause
}
