package execution

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/stepengine"
)

// History follows an execution's events: which file each Map iteration works
// on, and how many copies run at once. It prints one line per event when
// given a writer. It is safe for concurrent use.
type History struct {
	// CopyState is the name of the copy task state (for the in-flight count).
	CopyState string

	mu         sync.Mutex
	out        io.Writer
	events     []stepengine.Event
	keyByIndex map[int]string
	copying    map[int]bool
	maxCopying int
	headed     bool
}

// NewHistory returns a History printing to out (nil prints nothing).
func NewHistory(out io.Writer, copyState string) *History {
	return &History{
		CopyState:  copyState,
		out:        out,
		keyByIndex: map[int]string{},
		copying:    map[int]bool{},
	}
}

// Add records an event and prints its line.
func (h *History) Add(ev stepengine.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
	if ev.Type == "MapIterationStarted" && ev.Index != nil {
		if key := findString(ev.Input, "source_key"); key != "" {
			h.keyByIndex[*ev.Index] = key
		}
	}
	if ev.Type == "StateEntered" && ev.Index != nil && h.keyByIndex[*ev.Index] == "" {
		// AWS's MapIterationStarted carries no input (the moto engine):
		// the iteration's first state input names the file.
		if key := findString(ev.Input, "source_key"); key != "" {
			h.keyByIndex[*ev.Index] = key
		}
	}
	if ev.State != nil && ev.Index != nil && ev.State.Name == h.CopyState {
		switch ev.Type {
		case "StateEntered":
			h.copying[*ev.Index] = true
		case "StateExited", "StateCaught":
			delete(h.copying, *ev.Index)
		}
		h.maxCopying = max(h.maxCopying, len(h.copying))
	}
	if ev.Type == "MapIterationFailed" && ev.Index != nil {
		delete(h.copying, *ev.Index)
	}
	if h.out != nil {
		if !h.headed {
			h.headed = true
			fmt.Fprintf(h.out, "%-12s  %-22s  %-19s  %-40s  %s\n", "TIME", "STATE", "EVENT", "FILE", "DETAIL")
		}
		fmt.Fprintln(h.out, h.line(ev))
	}
}

// Printf prints a line of its own (e.g. progress) between event lines.
func (h *History) Printf(format string, args ...any) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.out != nil {
		fmt.Fprintf(h.out, format+"\n", args...)
	}
}

// Events returns the events so far.
func (h *History) Events() []stepengine.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]stepengine.Event(nil), h.events...)
}

// MaxCopiesInFlight is the most copy states that ran at once, by the history.
func (h *History) MaxCopiesInFlight() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.maxCopying
}

// Key returns the file key of the event, where known.
func (h *History) key(ev stepengine.Event) string {
	if ev.Index != nil {
		if k, ok := h.keyByIndex[*ev.Index]; ok {
			return k
		}
	}
	if ev.State != nil {
		return findString(ev.State.Input, "source_key")
	}
	return ""
}

// line formats one event: time, state, file key, event type, detail.
func (h *History) line(ev stepengine.Event) string {
	state := "-"
	switch {
	case ev.State != nil:
		state = ev.State.Name
	case ev.ParentState != nil:
		state = ev.ParentState.Name
	}
	file := h.key(ev)
	if ev.Index != nil {
		file = fmt.Sprintf("#%d %s", *ev.Index, file)
	}
	var detail string
	switch ev.Type {
	case "StateFailed", "ExecutionFailed", "MapIterationFailed":
		detail = ev.Error
		if c := ev.CauseText(); c != "" {
			detail += ": " + c
		}
	case "StateRetried":
		if ev.Retry != nil {
			detail = fmt.Sprintf("retry %d", ev.Retry.Attempt)
		}
	case "StateCaught":
		var c struct {
			Catch struct {
				Catcher struct {
					Next string `json:"Next"`
				} `json:"catcher"`
			} `json:"catch"`
		}
		if json.Unmarshal(ev.Raw, &c) == nil && c.Catch.Catcher.Next != "" {
			detail = "-> " + c.Catch.Catcher.Next
		}
	}
	return strings.TrimRight(fmt.Sprintf("%s  %-22s  %-19s  %-40s  %s",
		ev.Time().Format("15:04:05.000"), state, ev.Type, file, OneLine(detail, 400)), " ")
}

// findString returns the first string value of the named field anywhere in
// a JSON document, or "".
func findString(raw json.RawMessage, field string) string {
	if len(raw) == 0 {
		return ""
	}
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return ""
	}
	var find func(any) string
	find = func(v any) string {
		switch t := v.(type) {
		case map[string]any:
			if s, ok := t[field].(string); ok {
				return s
			}
			for _, k := range []string{"file", "files"} { // the likely places first
				if s := find(t[k]); s != "" {
					return s
				}
			}
		case []any:
			if len(t) == 1 {
				return find(t[0])
			}
		}
		return ""
	}
	return find(v)
}

// OneLine is s on one line (runs of white space made one space), cut
// after n bytes.
func OneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// progressLine describes a copy still running.
func progressLine(now time.Time, key string, started time.Time) string {
	return fmt.Sprintf("%s  copying %s: still running after %s",
		now.Format("15:04:05.000"), key, now.Sub(started).Round(time.Second))
}
