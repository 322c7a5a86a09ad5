package localrun

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/loadsim"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// readEventsFile reads the events of name ("-" reads stdin): one JSON
// document, however it is indented (the form `run --event` takes), or one
// event per line (the form `load --events` takes).
func (c *CLI) readEventsFile(name string) ([]loadsim.EventLine, error) {
	b, err := c.readInput(name, "the events")
	if err != nil {
		return nil, err
	}
	if doc := bytes.TrimSpace(b); json.Valid(doc) {
		lead := len(b) - len(bytes.TrimLeft(b, " \t\r\n"))
		return []loadsim.EventLine{{Line: 1 + bytes.Count(b[:lead], []byte("\n")), Event: doc}}, nil
	}
	return loadsim.ReadEventLines(bytes.NewReader(b), name)
}

// parseEventFiles parses each event with parseevent, as the workflow's first
// task does; an event it refuses is an error naming its line.
func parseEventFiles(name string, events []loadsim.EventLine) ([][]contract.File, error) {
	out := make([][]contract.File, len(events))
	for i, ev := range events {
		files, err := parseevent.ParseEvent(ev.Event)
		if err != nil {
			return nil, &localservices.ConfigError{Err: fmt.Errorf("%s line %d: %w", name, ev.Line, err)}
		}
		out[i] = files
	}
	return out, nil
}
