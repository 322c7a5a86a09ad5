package localrun

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// EventLine is one event of an events file with the line it starts on
// (1-based), so reports can name it as the user sees the file.
type EventLine struct {
	Line  int
	Event []byte
}

// ReadEventLines reads NDJSON: one event (classic S3 notification or
// EventBridge) per non-empty line. A line that is not JSON is an error
// naming its line number.
func ReadEventLines(r io.Reader, name string) ([]EventLine, error) {
	scanner := bufio.NewScanner(r)
	scanner.Buffer(make([]byte, 0, 1<<20), 16<<20)
	var out []EventLine
	for n := 1; scanner.Scan(); n++ {
		line := bytes.TrimSpace(scanner.Bytes())
		if len(line) == 0 {
			continue
		}
		if !json.Valid(line) {
			return nil, &ConfigError{fmt.Errorf("%s line %d: not a JSON document (one event per line)", name, n)}
		}
		out = append(out, EventLine{Line: n, Event: append([]byte(nil), line...)})
	}
	if err := scanner.Err(); err != nil {
		return nil, &ConfigError{fmt.Errorf("read %s: %w", name, err)}
	}
	if len(out) == 0 {
		return nil, &ConfigError{fmt.Errorf("%s has no events", name)}
	}
	return out, nil
}

// readEventsFile reads the events of name ("-" reads stdin): one JSON
// document, however it is indented (the form `run --event` takes), or one
// event per line (the form `load --events` takes).
func (c *CLI) readEventsFile(name string) ([]EventLine, error) {
	var b []byte
	var err error
	if name == "-" {
		b, err = io.ReadAll(c.Stdin)
	} else {
		b, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("read the events: %w", err)}
	}
	if doc := bytes.TrimSpace(b); json.Valid(doc) {
		lead := len(b) - len(bytes.TrimLeft(b, " \t\r\n"))
		return []EventLine{{Line: 1 + bytes.Count(b[:lead], []byte("\n")), Event: doc}}, nil
	}
	return ReadEventLines(bytes.NewReader(b), name)
}

// parseEventFiles parses each event with parseevent, as the workflow's first
// task does; an event it refuses is an error naming its line.
func parseEventFiles(name string, events []EventLine) ([][]contract.File, error) {
	out := make([][]contract.File, len(events))
	for i, ev := range events {
		files, err := parseevent.ParseEvent(ev.Event)
		if err != nil {
			return nil, &ConfigError{fmt.Errorf("%s line %d: %w", name, ev.Line, err)}
		}
		out[i] = files
	}
	return out, nil
}
