package loadsim

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/execution"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/localservices"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
)

// FailedExecution is one execution of a load run that failed: its event,
// the error and cause Step Functions gave, and, read from a failure report
// (aggregate's CopyRequestError message), its failed files with their
// reasons and the re-run input of those files.
type FailedExecution struct {
	// Event is the event's index in the run; Line its line in the events
	// file (Event+1 until the command numbers it from the file).
	Event int    `json:"-"`
	Line  int    `json:"line"`
	Error string `json:"error"`
	// Cause is the cause as given; in the JSON document only when it is
	// not a failure report (Files and RerunInput say the same, shorter).
	Cause      string          `json:"cause,omitempty"`
	Files      []FailedFile    `json:"files,omitempty"`
	RerunInput json.RawMessage `json:"rerun_input,omitempty"`
}

// FailedFile is a file a failed execution did not copy, and why.
type FailedFile struct {
	Bucket string `json:"bucket"`
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

func newFailedExecution(event int, errName, cause string) FailedExecution {
	f := FailedExecution{Event: event, Line: event + 1, Error: errName, Cause: cause}
	results, rerun, err := aggregate.ParseMessage(cause)
	if err != nil {
		return f
	}
	for _, r := range results {
		if !r.Success {
			f.Files = append(f.Files, FailedFile{Bucket: r.SourceBucket, Key: r.SourceKey, Reason: r.ErrMsg})
		}
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

// NumberLines gives each failed execution its event's line in the events
// file (lines[i] is event i's).
func (r *LoadReport) NumberLines(lines []EventLine) {
	for i := range r.Failed {
		if ev := r.Failed[i].Event; ev >= 0 && ev < len(lines) {
			r.Failed[i].Line = lines[ev].Line
		}
	}
	sortFailed(r.Failed)
}

func sortFailed(failed []FailedExecution) {
	sort.Slice(failed, func(i, j int) bool { return failed[i].Event < failed[j].Event })
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

// PrintFailed lists every failed execution by its event's line: one line
// per failed file with its reason, or the error and cause when the cause is
// not a failure report.
func PrintFailed(w io.Writer, failed []FailedExecution) {
	for _, f := range failed {
		if len(f.Files) == 0 {
			fmt.Fprintf(w, "  line %d\t%s: %s\n", f.Line, f.Error, execution.OneLine(f.Cause, 400))
			continue
		}
		for _, file := range f.Files {
			fmt.Fprintf(w, "  line %d\t%s s3://%s/%s: %s\n", f.Line, f.Error, file.Bucket, file.Key, execution.OneLine(file.Reason, 400))
		}
	}
	if len(failed) > 0 {
		fmt.Fprintf(w, "  \t(--json gives each failed execution's re-run input)\n")
	}
}
