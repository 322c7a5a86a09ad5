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
// on, which Distributed Map child (child execution) an event belongs to, and
// how many copies run at once. It prints one line per event when given a
// writer. It is safe for concurrent use.
type History struct {
	// CopyStates are the names of the copy task states (for the in-flight
	// count): the Standard lane's and the Express lane's.
	CopyStates []string
	// Children names each Distributed Map state whose iterations are child
	// executions by its Label (or its name), for the EXECUTION column.
	Children map[string]string

	mu         sync.Mutex
	out        io.Writer
	events     []stepengine.Event
	keyByPath  map[string]string
	copying    map[string]bool
	maxCopying int
	headed     bool
}

// NewHistory returns a History printing to out (nil prints nothing).
func NewHistory(out io.Writer, copyStates ...string) *History {
	return &History{
		CopyStates: copyStates,
		Children:   map[string]string{},
		out:        out,
		keyByPath:  map[string]string{},
		copying:    map[string]bool{},
	}
}

// historyHeader is the first line History prints (docs/local.md shows it).
var historyHeader = fmt.Sprintf("%-12s  %-15s  %-30s  %-21s  %-40s  %s", "TIME", "EXECUTION", "STATE", "EVENT", "FILE", "DETAIL")

// Add records an event and prints its line.
func (h *History) Add(ev stepengine.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev)
	h.learnKey(ev)
	h.countCopies(ev)
	if h.out != nil {
		if !h.headed {
			h.headed = true
			fmt.Fprintln(h.out, historyHeader)
		}
		fmt.Fprintln(h.out, h.line(ev))
	}
}

// learnKey notes the file an iteration works on: from its
// MapIterationStarted input or, as AWS's MapIterationStarted carries none
// (the moto engine), from its first state's input. An iteration of a
// chunk of files has no one key.
func (h *History) learnKey(ev stepengine.Event) {
	if len(ev.Path) == 0 {
		return
	}
	p := pathKey(ev.Path)
	if _, ok := h.keyByPath[p]; ok {
		return
	}
	input := ev.Input
	if ev.Type == "StateEntered" && ev.State != nil {
		input = ev.State.Input
	}
	if ev.Type == "MapIterationStarted" || ev.Type == "StateEntered" || ev.Type == "ExecutionStarted" {
		if key := findString(input, "source_key"); key != "" {
			h.keyByPath[p] = key
		}
	}
}

// countCopies follows the copy states running at once.
func (h *History) countCopies(ev stepengine.Event) {
	if len(ev.Path) == 0 {
		return
	}
	p := pathKey(ev.Path)
	if ev.State != nil && h.isCopyState(ev.State.Name) {
		switch ev.Type {
		case "StateEntered":
			h.copying[p] = true
		case "StateExited", "StateCaught":
			delete(h.copying, p)
		}
		h.maxCopying = max(h.maxCopying, len(h.copying))
	}
	if ev.Type == "MapIterationFailed" || ev.Type == "ExecutionFailed" {
		for q := range h.copying {
			if strings.HasPrefix(q, p) {
				delete(h.copying, q)
			}
		}
	}
}

func (h *History) isCopyState(name string) bool {
	for _, s := range h.CopyStates {
		if s == name {
			return true
		}
	}
	return false
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

// pathKey is a Map iteration path as text, each level ending in "/", so
// that a path's text is a prefix of the paths inside it.
func pathKey(path []stepengine.Iteration) string {
	var b strings.Builder
	for _, it := range path {
		fmt.Fprintf(&b, "%s#%d/", it.Map, it.Index)
	}
	return b.String()
}

// key returns the file the event is about, where known: its iteration's, or
// the innermost enclosing iteration's that has one.
func (h *History) key(ev stepengine.Event) string {
	for n := len(ev.Path); n > 0; n-- {
		if k, ok := h.keyByPath[pathKey(ev.Path[:n])]; ok {
			return k
		}
	}
	if ev.State != nil {
		return findString(ev.State.Input, "source_key")
	}
	return ""
}

// where splits an event's path into the child execution it belongs to
// ("parent" outside any) and the Map iterations inside that execution.
func (h *History) where(ev stepengine.Event) (execution string, inner []stepengine.Iteration) {
	if len(ev.Path) > 0 {
		if label, ok := h.Children[ev.Path[0].Map]; ok {
			return fmt.Sprintf("%s#%d", label, ev.Path[0].Index), ev.Path[1:]
		}
	}
	return "parent", ev.Path
}

// line formats one event: time, execution, state, event type, file,
// detail.
func (h *History) line(ev stepengine.Event) string {
	state := "-"
	switch {
	case ev.State != nil:
		state = ev.State.Name
	case ev.ParentState != nil:
		state = ev.ParentState.Name
	}
	execution, inner := h.where(ev)
	file := h.key(ev)
	if n := len(inner); n > 0 {
		file = strings.TrimSpace(fmt.Sprintf("#%d %s", inner[n-1].Index, file))
	}
	return strings.TrimRight(fmt.Sprintf("%s  %-15s  %-30s  %-21s  %-40s  %s",
		ev.Time().Format("15:04:05.000"), execution, state, ev.Type, file, OneLine(eventDetail(ev), 400)), " ")
}

// eventDetail is what the line says beyond the event's type: an error and
// its cause, a retry's attempt, a catcher's next state.
func eventDetail(ev stepengine.Event) string {
	switch ev.Type {
	case "StateFailed", "ExecutionFailed", "MapIterationFailed":
		detail := ev.Error
		if c := ev.CauseText(); c != "" {
			detail += ": " + c
		}
		return detail
	case "StateRetried":
		if ev.Retry != nil {
			return fmt.Sprintf("retry %d", ev.Retry.Attempt)
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
			return "-> " + c.Catch.Catcher.Next
		}
	}
	return ""
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
