package recovery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// GroupProgress is one request group's selected files by status at one
// reading, and how fast they finish.
type GroupProgress struct {
	RequestGroupID string `json:"request_group_id"`
	Complete       int64  `json:"complete"`
	Error          int64  `json:"error"`
	// InProgress counts every row neither complete nor error (rows
	// without job_status too: they are not finished either).
	InProgress int64 `json:"inprogress"`
	// PerMinute is the files finished (complete or error) per minute over
	// the rate window; RateKnown is false until two readings span time.
	PerMinute float64 `json:"files_per_minute"`
	RateKnown bool    `json:"rate_known"`
}

// Total is the group's selected files.
func (g GroupProgress) Total() int64 { return g.Complete + g.Error + g.InProgress }

// Done is the group's files complete or error.
func (g GroupProgress) Done() int64 { return g.Complete + g.Error }

// ETA is the time left at the current rate; ok is false when the rate is
// unknown or zero while files remain.
func (g GroupProgress) ETA() (d time.Duration, ok bool) {
	if g.InProgress == 0 {
		return 0, true
	}
	if !g.RateKnown || g.PerMinute <= 0 {
		return 0, false
	}
	return time.Duration(float64(g.InProgress) / g.PerMinute * float64(time.Minute)), true
}

// ReadProgress counts sel's rows per request group, the groups in
// request_group_id order. It is status's count by job_status, grouped by
// request group as well.
func ReadProgress(ctx context.Context, db Querier, sel Selector, now time.Time) ([]GroupProgress, error) {
	var rows progressRows = requeststatus.NewTable(db)
	counts, err := rows.CountByGroup(ctx, sel.selection(now))
	if err != nil {
		return nil, err
	}
	groups := make([]GroupProgress, len(counts))
	for i, c := range counts {
		groups[i] = GroupProgress{RequestGroupID: c.RequestGroupID, Complete: c.Complete, Error: c.Error, InProgress: c.InProgress}
	}
	return groups, nil
}

// progressRows is what the watch needs of request_status:
// requeststatus.Table satisfies it.
type progressRows interface {
	CountByGroup(ctx context.Context, sel requeststatus.Selection) ([]requeststatus.GroupCounts, error)
}

// RateWindow turns readings of a finished-files count into files per
// minute over a sliding window of time.
type RateWindow struct {
	// Window is how far back the rate looks; the newest reading at or
	// before the window's start is kept as its base.
	Window  time.Duration
	samples []rateSample
}

type rateSample struct {
	at   time.Time
	done int64
}

// Add records a reading.
func (r *RateWindow) Add(at time.Time, done int64) {
	r.samples = append(r.samples, rateSample{at, done})
	cutoff := at.Add(-r.Window)
	for len(r.samples) > 2 && !r.samples[1].at.After(cutoff) {
		r.samples = r.samples[1:]
	}
}

// PerMinute is the files finished per minute between the window's base
// and the newest reading; ok is false before two readings apart in time.
// A count that went down (rows deleted or reset) gives 0, not a negative
// rate.
func (r *RateWindow) PerMinute() (rate float64, ok bool) {
	if len(r.samples) < 2 {
		return 0, false
	}
	first, last := r.samples[0], r.samples[len(r.samples)-1]
	span := last.at.Sub(first.at)
	if span <= 0 {
		return 0, false
	}
	return max(0, float64(last.done-first.done)/span.Minutes()), true
}

// Watch redraws the progress of the selected files (selected at its first
// reading) per request group on every tick until every one is complete or
// error, or ctx ends.
type Watch struct {
	DB       Querier
	Selector Selector
	Out      io.Writer
	// Terminal redraws in place (ANSI cursor movement); otherwise every
	// reading prints one plain line per group.
	Terminal bool
	// Tick delivers the reading times after the first (time.Ticker.C);
	// Now gives the first one.
	Tick <-chan time.Time
	Now  func() time.Time
	// Interval is the ticker's, shown in the header.
	Interval time.Duration
	// Window is the rate's sliding window (DefaultRateWindow when 0).
	Window time.Duration
	// MaxGroups bounds the groups drawn (DefaultWatchGroups when 0);
	// unfinished groups come first, the rest are summed in one line.
	MaxGroups int

	rates map[string]*RateWindow
	drawn int // lines of the last frame on a terminal
}

// Defaults of Watch.
const (
	DefaultWatchInterval = 5 * time.Second
	DefaultRateWindow    = 5 * time.Minute
	DefaultWatchGroups   = 20
	barWidth             = 30
	totalRow             = "all selected"
)

// ErrInterrupted says the watch was stopped before the files finished.
var ErrInterrupted = errors.New("interrupted")

// Run reads and draws until the selected files are all complete or error,
// or ctx ends. It returns the last reading. The error says when some files
// ended in error or none is selected. When ctx ends it is ErrInterrupted;
// the last reading stays on screen, with a line saying how many files were
// left.
func (w *Watch) Run(ctx context.Context) ([]GroupProgress, error) {
	if w.Window <= 0 {
		w.Window = DefaultRateWindow
	}
	if w.MaxGroups <= 0 {
		w.MaxGroups = DefaultWatchGroups
	}
	w.rates = map[string]*RateWindow{}
	if w.Terminal {
		// Hide the cursor while redrawing, and turn the terminal's
		// line wrap off (DECAWM). A line wider than the terminal is then
		// clipped instead of taking two rows, so moving up one row per
		// line finds the frame's start. Both are restored at the end.
		io.WriteString(w.Out, "\x1b[?25l\x1b[?7l")
		defer io.WriteString(w.Out, "\x1b[?7h\x1b[?25h")
	}
	var last []GroupProgress
	at := w.Now()
	// The selection is the files selected at the start: --since counts
	// back from the first reading, or files still inprogress would slide
	// out of the window and the watch end as if they had finished.
	start := at
	for {
		groups, err := ReadProgress(ctx, w.DB, w.Selector, start)
		if err != nil {
			if ctx.Err() != nil {
				return last, w.interrupted(last)
			}
			return last, err
		}
		last = w.rate(at, groups)
		w.draw(at, last)
		total := last[len(last)-1]
		if total.Total() == 0 {
			return last, errors.New("no rows match the selection")
		}
		if total.InProgress == 0 {
			if total.Error > 0 {
				return last, fmt.Errorf("%d of %d files ended in error (recovery status lists them by error; recovery rerun --failed re-runs them)", total.Error, total.Total())
			}
			return last, nil
		}
		select {
		case <-ctx.Done():
			return last, w.interrupted(last)
		case at = <-w.Tick:
		}
	}
}

// rate adds the reading to each group's window and returns the groups
// with their rates, the total of all selected last.
func (w *Watch) rate(at time.Time, groups []GroupProgress) []GroupProgress {
	total := GroupProgress{RequestGroupID: totalRow}
	for _, g := range groups {
		total.Complete += g.Complete
		total.Error += g.Error
		total.InProgress += g.InProgress
	}
	out := append(groups, total)
	for i := range out {
		r := w.rates[out[i].RequestGroupID]
		if r == nil {
			r = &RateWindow{Window: w.Window}
			w.rates[out[i].RequestGroupID] = r
		}
		r.Add(at, out[i].Done())
		out[i].PerMinute, out[i].RateKnown = r.PerMinute()
	}
	return out
}

func (w *Watch) interrupted(last []GroupProgress) error {
	// The last frame (or its plain lines) stays on screen; this line
	// goes below it.
	if len(last) > 0 {
		fmt.Fprintf(w.Out, "interrupted: %d of %d files still inprogress\n", last[len(last)-1].InProgress, last[len(last)-1].Total())
	}
	return ErrInterrupted
}

// draw writes one frame: on a terminal over the previous one, else as
// plain lines stamped with the reading's time.
func (w *Watch) draw(at time.Time, groups []GroupProgress) {
	var b bytes.Buffer
	if w.Terminal {
		if w.drawn > 0 {
			fmt.Fprintf(&b, "\x1b[%dA", w.drawn) // back to the frame's first line
		}
		lines := w.frameLines(at, groups)
		for _, l := range lines {
			b.WriteString("\x1b[2K" + l + "\n")
		}
		w.drawn = len(lines)
	} else {
		for _, l := range PlainLines(at, groups, w.MaxGroups) {
			b.WriteString(l + "\n")
		}
	}
	w.Out.Write(b.Bytes())
}

// shown orders the groups to draw: unfinished first, each part by
// request_group_id. It cuts them at max and sums the rest in one extra
// row. The total row stays last.
func shown(groups []GroupProgress, maxGroups int) []GroupProgress {
	total := groups[len(groups)-1]
	gs := append([]GroupProgress(nil), groups[:len(groups)-1]...)
	sort.SliceStable(gs, func(i, j int) bool { return gs[i].InProgress > 0 && gs[j].InProgress == 0 })
	if len(gs) > maxGroups {
		rest := GroupProgress{RequestGroupID: fmt.Sprintf("%d more groups", len(gs)-maxGroups)}
		for _, g := range gs[maxGroups:] {
			rest.Complete += g.Complete
			rest.Error += g.Error
			rest.InProgress += g.InProgress
		}
		gs = append(gs[:maxGroups], rest)
	}
	if len(groups) > 2 || len(gs) == 0 {
		gs = append(gs, total)
	}
	return gs
}

// frameLines is a terminal frame: a header, then a line per group and the
// total of all selected files when there is more than one group.
func (w *Watch) frameLines(at time.Time, groups []GroupProgress) []string {
	lines := []string{fmt.Sprintf("request_status progress (%s) at %s, every %s; Ctrl-C stops", scope(w.Selector), at.UTC().Format(time.RFC3339), w.Interval)}
	for _, g := range shown(groups, w.MaxGroups) {
		lines = append(lines, "  "+ProgressLine(g))
	}
	return lines
}

// PlainLines is one reading for a log or a pipe: a line per group, each
// stamped with the time.
func PlainLines(at time.Time, groups []GroupProgress, maxGroups int) []string {
	var lines []string
	for _, g := range shown(groups, maxGroups) {
		lines = append(lines, at.UTC().Format(time.RFC3339)+"  "+ProgressLine(g))
	}
	return lines
}

// ProgressLine is a group's bar, time left, rate and counts. A narrow
// terminal clips the line, so the counts come last:
//
//	0f8fad5b-d9cb-469f-a165-70867728950e  [#########x....................]   41%  ETA 9m0s  2.0 files/min  12 complete  1 error  18 inprogress  of 31
func ProgressLine(g GroupProgress) string {
	pct := int64(100)
	if g.Total() > 0 {
		pct = g.Done() * 100 / g.Total()
	}
	rate, eta := "rate unknown", "ETA unknown"
	if g.RateKnown {
		rate = fmt.Sprintf("%.1f files/min", g.PerMinute)
	}
	if d, ok := g.ETA(); ok {
		eta = "ETA " + d.Round(time.Second).String()
	}
	if g.InProgress == 0 {
		eta = "finished"
	}
	return fmt.Sprintf("%-36s  [%s]  %3d%%  %s  %s  %d complete  %d error  %d inprogress  of %d",
		g.RequestGroupID, Bar(g, barWidth), pct, eta, rate, g.Complete, g.Error, g.InProgress, g.Total())
}

// Bar draws a group in width cells: '#' complete, 'x' error, '.' not
// finished.
func Bar(g GroupProgress, width int) string {
	total := g.Total()
	if total == 0 {
		return strings.Repeat(".", width)
	}
	c := int(g.Complete * int64(width) / total)
	d := int(g.Done() * int64(width) / total)
	return strings.Repeat("#", c) + strings.Repeat("x", d-c) + strings.Repeat(".", width-d)
}

// scope names the selection as status's report does.
func scope(sel Selector) string {
	var s []string
	if sel.RequestGroupID != "" {
		s = append(s, "request group "+sel.RequestGroupID)
	}
	if sel.GranuleID != "" {
		s = append(s, "granule "+sel.GranuleID)
	}
	if sel.SinceText != "" {
		s = append(s, "requested within "+sel.SinceText)
	}
	if len(s) == 0 {
		return "all rows"
	}
	return strings.Join(s, ", ")
}
