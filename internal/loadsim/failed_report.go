package loadsim

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
)

// FailedExecution is one execution of a load run that failed: its batch
// of events, the error and cause Step Functions gave, and, read from a
// failure report (aggregate's CopyRequestError message), its failed files
// with their reasons and the re-run input of those files.
type FailedExecution struct {
	// Execution is the execution's index in the run (its batch's);
	// Events its events' indexes, Lines their lines in the events file
	// (index+1 until the command numbers them from the file).
	Execution int    `json:"execution"`
	Events    []int  `json:"-"`
	Lines     []int  `json:"lines"`
	Error     string `json:"error"`
	// Cause is the cause as given; in the JSON document only when it is
	// not a failure report (Files and RerunInput say the same, shorter).
	Cause      string          `json:"cause,omitempty"`
	Files      []FailedFile    `json:"files,omitempty"`
	RerunInput json.RawMessage `json:"rerun_input,omitempty"`
}

// FailedFile is a file a failed execution did not copy, and why, with the
// line of the event that named it (0 when none of the batch's did).
type FailedFile struct {
	Line   int    `json:"line"`
	Event  int    `json:"-"`
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// newFailedExecution reads a failed execution of the events of batch;
// keys gives each event of the run its files (eventKeys).
func newFailedExecution(id int, batch []int, keys [][]string, errName, cause string) FailedExecution {
	f := FailedExecution{Execution: id, Events: batch, Error: errName, Cause: cause}
	for _, ev := range batch {
		f.Lines = append(f.Lines, ev+1)
	}
	results, rerun, err := aggregate.ParseMessage(cause)
	if err != nil {
		return f
	}
	eventOf := map[string]int{}
	for _, ev := range batch {
		for _, k := range keys[ev] {
			eventOf[k] = ev
		}
	}
	for _, r := range results {
		if r.Success {
			continue
		}
		file := FailedFile{Event: -1, Bucket: r.SourceBucket, Key: r.SourceKey, Reason: r.ErrMsg}
		if ev, ok := eventOf[r.SourceBucket+"/"+r.SourceKey]; ok {
			file.Event, file.Line = ev, ev+1
		}
		f.Files = append(f.Files, file)
	}
	f.RerunInput = rerun
	return f
}

// MarshalJSON leaves the cause out when the files and re-run input were
// read from it.
func (f FailedExecution) MarshalJSON() ([]byte, error) {
	type plain FailedExecution
	p := plain(f)
	if len(f.Files) > 0 {
		p.Cause = ""
	}
	return json.Marshal(p)
}

// NumberLines gives each failed execution its events' lines in the events
// file, and each failed file its event's (lines[i] is event i's).
func (r *LoadReport) NumberLines(lines []EventLine) {
	line := func(ev int) int {
		if ev >= 0 && ev < len(lines) {
			return lines[ev].Line
		}
		return 0
	}
	for i := range r.Failed {
		f := &r.Failed[i]
		for j, ev := range f.Events {
			f.Lines[j] = line(ev)
		}
		for j := range f.Files {
			f.Files[j].Line = line(f.Files[j].Event)
		}
	}
	sortFailed(r.Failed)
}

func sortFailed(failed []FailedExecution) {
	sort.Slice(failed, func(i, j int) bool { return failed[i].Execution < failed[j].Execution })
}

// sessionsMeasure says what PeakDBConnections measured. On PGlite nothing:
// the run creates no role there to count the sessions of, and PGlite runs
// one Postgres session onto which pglite-server multiplexes up to
// PGliteMaxConnections client connections (pglite.go).
func (l *Load) sessionsMeasure() string {
	if l.Role == "" {
		return fmt.Sprintf("not measured: PGlite runs one session, shared by up to %d connections", localservices.PGliteMaxConnections)
	}
	return fmt.Sprintf("sessions of role %s in pg_stat_activity, sampled every 20 ms", l.Role)
}

// sessionsNow is the progress line's database part.
func (l *Load) sessionsNow(w *connectionWatch) string {
	if l.Role == "" {
		return "database: PGlite (one session)"
	}
	return fmt.Sprintf("%d database sessions", w.now())
}

// PrintFailed lists every failed execution: one line per failed file with
// its event's line and its reason, or the execution's error and cause, with
// its events' lines, when the cause is not a failure report.
func PrintFailed(w io.Writer, failed []FailedExecution) {
	for _, f := range failed {
		if len(f.Files) == 0 {
			fmt.Fprintf(w, "  execution %d (lines %s)\t%s: %s\n", f.Execution, lineList(f.Lines), f.Error, execution.OneLine(f.Cause, 400))
			continue
		}
		for _, file := range f.Files {
			fmt.Fprintf(w, "  line %d\t%s s3://%s/%s: %s\n", file.Line, f.Error, file.Bucket, file.Key, execution.OneLine(file.Reason, 400))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "  \t(--json gives each failed execution's re-run input)\n")
	}
}

// lineList prints lines, at most 10 of them.
func lineList(lines []int) string {
	var parts []string
	for i, n := range lines {
		if i == 10 {
			parts = append(parts, fmt.Sprintf("... %d more", len(lines)-10))
			break
		}
		parts = append(parts, strconv.Itoa(n))
	}
	return strings.Join(parts, ", ")
}
