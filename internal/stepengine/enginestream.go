package stepengine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
)

// engineLine is one line an engine process prints on stdout: an event as the
// execution goes, or the result at the end.
type engineLine struct {
	Event  json.RawMessage `json:"event,omitempty"`
	Result *Result         `json:"result,omitempty"`
	// Child names the Distributed Map child whose own history the event
	// belongs to (the moto engine); nil for the execution's own events.
	Child *Iteration `json:"child,omitempty"`
}

// engineStream is what differs between the engine drivers around the child
// process they share the protocol of.
type engineStream struct {
	// name prefixes the errors ("engine", "moto engine").
	name string
	// stderr also receives the process's stderr; nil discards it.
	stderr io.Writer
	// startErr builds the error for a process that could not start.
	startErr func(err error) error
	// event handles one event line (called from the caller's goroutine),
	// child naming the Distributed Map child it comes from, if any; an
	// error is returned as is when no result line follows.
	event func(raw json.RawMessage, child *Iteration) error
	// noResult builds the error for a process that printed no result line,
	// given cmd.Wait's error and the tail of its stderr (trimmed).
	noResult func(waitErr error, stderr string) error
}

// streamEngine starts cmd (stdin and environment already set), reads its
// stdout as engineLines until it ends, waits for it and returns the result
// line. Cancelling ctx stops the process group: SIGTERM, SIGKILL after 3 s.
// Without a result line the error is, first of all, the reading error, then
// the last unreadable line or event, then s.noResult's.
func streamEngine(ctx context.Context, cmd *exec.Cmd, s engineStream) (*Result, error) {
	stderr := childproc.Output{Max: 8 << 10}
	cmd.Stderr = &stderr
	if s.stderr != nil {
		cmd.Stderr = io.MultiWriter(&stderr, s.stderr)
	}
	childproc.StopOnCancel(cmd, 3*time.Second)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", s.name, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, s.startErr(err)
	}

	var result *Result
	scanner := bufio.NewScanner(stdout)
	scanner.Buffer(make([]byte, 0, 1<<20), 256<<20)
	var decodeErr error
	for scanner.Scan() {
		var line engineLine
		if err := json.Unmarshal(scanner.Bytes(), &line); err != nil {
			decodeErr = fmt.Errorf("%s: unreadable output line %q: %w", s.name, truncate(scanner.Text(), 200), err)
			continue
		}
		switch {
		case line.Result != nil:
			result = line.Result
		case line.Event != nil:
			if err := s.event(line.Event, line.Child); err != nil {
				decodeErr = err
			}
		}
	}
	scanErr := scanner.Err()
	waitErr := cmd.Wait()
	if ctx.Err() != nil {
		return nil, fmt.Errorf("%s: %w", s.name, ctx.Err())
	}
	if result == nil {
		switch {
		case scanErr != nil:
			return nil, fmt.Errorf("%s: read output: %w", s.name, scanErr)
		case decodeErr != nil:
			return nil, decodeErr
		default:
			return nil, s.noResult(waitErr, strings.TrimSpace(stderr.String()))
		}
	}
	return result, nil
}
