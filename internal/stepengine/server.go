package stepengine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/motoserver"
)

// ServeJob is the first line the Node engine reads in serve mode.
type ServeJob struct {
	Definition json.RawMessage `json:"definition"`
	TimeScale  float64         `json:"timeScale,omitempty"`
}

// Ended is the line the Node engine prints when an execution ends.
type Ended struct {
	ID          int     `json:"id"`
	Result      *Result `json:"result"`
	Transitions int     `json:"transitions"`
	LogBytes    int64   `json:"logBytes"`
	// LogBytesByType splits LogBytes by event type (the engine's names:
	// AWS's on moto, aws-local-stepfunctions' own on Node).
	LogBytesByType map[string]int64 `json:"logBytesByType"`
	// TransitionsByState splits Transitions by state name (Node engine
	// only: it runs a Distributed Map's children inline, so their states
	// are in the parent's events and Transitions counts them; nil on moto).
	TransitionsByState map[string]int `json:"transitionsByState"`
	// MapIterations gives each Map iteration's run by its Map state's name:
	// on Node every Map's, on moto each Distributed Map child's (from its
	// own history, engine_moto.py's ChildTally).
	MapIterations map[string][]IterationRun `json:"mapIterations"`
	// ChildTransitions is, on moto, the transitions of the Distributed Map
	// children's own histories by Map state name; Transitions is then the
	// parent's alone. Nil on Node.
	ChildTransitions map[string]int `json:"childTransitions"`
}

// IterationRun is one Map iteration's run: how long it took (from its start to
// its end, in the engine's milliseconds) and whether it failed.
type IterationRun struct {
	Ms     int64 `json:"ms"`
	Failed bool  `json:"failed"`
}

// Server is one engine process running many executions of one
// definition (engine.cjs or engine_moto.py with ENGINE_SERVE=1): Start sends
// an execution, Ended delivers how each ended, Wait how the process ended.
type Server struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	mu     sync.Mutex
	ended  chan Ended
	done   chan error
	stderr *childproc.Output
}

// StartServer starts an engine process (engine: EngineNode or EngineMoto)
// serving job's definition; cancelling ctx stops its process group.
func StartServer(ctx context.Context, engine, repoRoot, lambdaEndpoint string, job ServeJob, stderr io.Writer) (*Server, error) {
	var cmd *exec.Cmd
	if engine == EngineMoto {
		cmd = exec.CommandContext(ctx, motoserver.Python(""), "-c", motoScript)
		cmd.Env = append(engineEnv(os.Environ(), lambdaEndpoint), "ENGINE_SERVE=1", "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
	} else {
		cmd = exec.CommandContext(ctx, "node", "-e", engineScript)
		cmd.Env = append(engineEnv(os.Environ(), lambdaEndpoint), "ENGINE_SERVE=1")
	}
	cmd.Dir = repoRoot
	out := &childproc.Output{Max: 8 << 10}
	cmd.Stderr = out
	if stderr != nil {
		cmd.Stderr = io.MultiWriter(out, stderr)
	}
	childproc.StopOnCancel(cmd, 3*time.Second)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("load engine: start %s: %w", cmd.Path, err)
	}
	s := &Server{cmd: cmd, stdin: stdin, ended: make(chan Ended, 1024), done: make(chan error, 1), stderr: out}
	go s.read(stdout)
	first, _ := json.Marshal(job)
	if _, err := stdin.Write(append(first, '\n')); err != nil {
		return nil, fmt.Errorf("load engine: send the definition: %w", err)
	}
	return s, nil
}

func (s *Server) read(stdout io.Reader) {
	scanner := bufio.NewScanner(stdout)
	scanner.Buffer(make([]byte, 0, 1<<20), 64<<20)
	var readErr error
	for scanner.Scan() {
		var line Ended
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil || line.Result == nil {
			readErr = fmt.Errorf("load engine: unreadable line %q", truncate(scanner.Text(), 200))
			continue
		}
		if line.Result.Status == "INVALID" {
			switch line.Result.Error {
			case "EngineMissing":
				readErr = fmt.Errorf("%w: %s", ErrMotoMissing, line.Result.Cause)
			case "EngineError":
				readErr = fmt.Errorf("load engine: %s", line.Result.Cause)
			default:
				readErr = &InvalidDefinitionError{Message: line.Result.Cause}
			}
			continue
		}
		line.Result.Cause = readableCause(line.Result.Cause)
		s.ended <- line
	}
	if readErr == nil {
		readErr = scanner.Err()
	}
	waitErr := s.cmd.Wait()
	if readErr == nil && waitErr != nil {
		readErr = fmt.Errorf("load engine: node exited (%v): %s", waitErr, strings.TrimSpace(s.stderr.String()))
	}
	close(s.ended)
	s.done <- readErr
}

// Start starts execution id with input.
func (s *Server) Start(id int, input json.RawMessage) error {
	line, err := json.Marshal(struct {
		ID    int             `json:"id"`
		Input json.RawMessage `json:"input"`
	}{id, input})
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err = s.stdin.Write(append(line, '\n'))
	return err
}

// CloseInput says no execution follows: the process ends once the running
// ones have.
func (s *Server) CloseInput() error { return s.stdin.Close() }

// Ended delivers how each execution ended; it is closed when the process
// has ended.
func (s *Server) Ended() <-chan Ended { return s.ended }

// Wait returns once the process has ended (after Ended is closed): nil, or
// why the engine failed.
func (s *Server) Wait() error { return <-s.done }
