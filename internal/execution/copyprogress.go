package execution

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
)

// progressWatcher passes the Lambdas' log to next and, for each multipart
// copy progress line copy-file logs (copyfile.LogCopyProgress, every
// COPY_PROGRESS_SECS), prints a short line to out, beside the history: a
// long copy is visibly alive in the runner's output, not only in its log
// file.
type progressWatcher struct {
	next io.Writer
	out  io.Writer
	mu   sync.Mutex
	buf  []byte
}

func newProgressWatcher(next, out io.Writer) io.Writer {
	if next == nil {
		next = io.Discard
	}
	if out == nil {
		return next
	}
	return &progressWatcher{next: next, out: out}
}

func (w *progressWatcher) Write(p []byte) (int, error) {
	n, err := w.next.Write(p)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		line := w.buf[:i]
		if bytes.Contains(line, []byte(copyfile.LogCopyProgress)) {
			if s, ok := copyProgressLine(line); ok {
				fmt.Fprintln(w.out, s)
			}
		}
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > 1<<20 { // a line that never ends: forget it
		w.buf = nil
	}
	return n, err
}

// copyProgressLine renders a copy-file progress log line for the runner's
// output, or false when line is not one.
func copyProgressLine(line []byte) (string, bool) {
	// The functions log as the Lambda runtime's JSON format does
	// (lambdacontext.ReplaceAttr: "timestamp", "message"); plain slog
	// says "time", "msg".
	var rec struct {
		Time       time.Time `json:"time"`
		Timestamp  time.Time `json:"timestamp"`
		Msg        string    `json:"msg"`
		Message    string    `json:"message"`
		Key        string    `json:"source_key"`
		PartsDone  int       `json:"parts_done"`
		PartsTotal int       `json:"parts_total"`
		BytesDone  int64     `json:"bytes_done"`
		BytesTotal int64     `json:"bytes_total"`
		Percent    float64   `json:"percent"`
		Rate       float64   `json:"pass_mb_per_s"`
	}
	if json.Unmarshal(line, &rec) != nil || (rec.Msg != copyfile.LogCopyProgress && rec.Message != copyfile.LogCopyProgress) {
		return "", false
	}
	if rec.Time.IsZero() {
		rec.Time = rec.Timestamp
	}
	if rec.Time.IsZero() {
		rec.Time = time.Now()
	}
	const mib = 1 << 20
	return fmt.Sprintf("%s  copying %s: %d of %d parts, %.1f of %.1f MiB (%.1f%%), %.1f MB/s this pass",
		rec.Time.Local().Format("15:04:05.000"), rec.Key, rec.PartsDone, rec.PartsTotal,
		float64(rec.BytesDone)/mib, float64(rec.BytesTotal)/mib, rec.Percent, rec.Rate), true
}
