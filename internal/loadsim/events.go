package loadsim

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
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
			return nil, &localservices.ConfigError{Err: fmt.Errorf("%s line %d: not a JSON document (one event per line)", name, n)}
		}
		out = append(out, EventLine{Line: n, Event: append([]byte(nil), line...)})
	}
	if err := scanner.Err(); err != nil {
		return nil, &localservices.ConfigError{Err: fmt.Errorf("read %s: %w", name, err)}
	}
	if len(out) == 0 {
		return nil, &localservices.ConfigError{Err: fmt.Errorf("%s has no events", name)}
	}
	return out, nil
}
