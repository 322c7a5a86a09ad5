package aggregate

import (
	"encoding/json"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
)

// CopyRequestError is the aggregate Lambda's error when any file was not
// copied and recorded, a message of the batch was rejected, or the event
// was rejected as a whole.
//
// Its message starts as the original Lambda's: "File copy failed. " and
// the JSON list of the FAILED files' results (contract.FailureMessage).
// Then, for a batch, a line sums it up ("3 of 100 files failed; 1 message
// of the batch rejected."); when files failed, a line holds the re-run
// input (see Rerun), starting "Re-run input for the N failed files (...): ";
// when messages were rejected, a last line lists them, starting "Rejected
// messages (...): ". ParseReport reads them back.
//
// The message fits contract.MaxCauseChars. The failed files' results come
// first: all of them, the longest error messages shortened if needed
// (contract.FitErrMsgs); when even empty messages would not fit, only the
// first ones, messages cut to contract.ReportErrMsgChars. The rejected
// messages take the room left in the same way, then the re-run input names
// as many failed files as the rest holds. Each part says how many it left
// out, and the handler's log always has all of them (LogFileFailed,
// LogMessageRejected, LogRerunInput). docs/event-size.md says why.
type CopyRequestError struct {
	// Results holds the failed files' results.
	Results []contract.FileResult
	// Failed lists the failed files, in the order of Results: the files the
	// re-run input names.
	Failed []contract.File
	// Files is how many files the execution carried; 0 for an event
	// rejected as a whole (then the message has no summary line).
	Files int
	// Rejected lists the messages of the batch that parse-event rejected.
	Rejected []contract.RejectedMessage

	fit *causeFit // rendered once, by Error
}

// The handler's log lines that hold, in full, what the error's message may
// have had to leave out.
const (
	LogFileFailed      = "file failed"
	LogMessageRejected = "message rejected"
	LogRerunInput      = "re-run input"
)

func (e *CopyRequestError) Error() string {
	return e.render().message
}

// Rerun is the re-run input for every failed file, even when the message
// could not hold it all. It is a classic S3 event ({"Records":[...]})
// naming only those files. Keys are encoded as S3 encodes them; version
// ids, ETags and restore expiry are kept. It is nil when no file failed
// (a rejected event names no file).
func (e *CopyRequestError) Rerun() json.RawMessage {
	if len(e.Failed) == 0 {
		return nil
	}
	return parseevent.NotificationEvent(e.Failed)
}

// LeftOut returns how many failed files the message's re-run input leaves
// out to fit contract.MaxCauseChars (0 when it names them all).
func (e *CopyRequestError) LeftOut() int {
	return len(e.Failed) - e.render().shown.rerun
}

// causeFit is the message as rendered to fit contract.MaxCauseChars.
type causeFit struct {
	message string
	shown   layout
}

// layout is what a message shows: the results and rejected messages it
// lists (the first ones, their messages maybe shortened), and how many
// failed files its re-run input names.
type layout struct {
	results  []contract.FileResult
	rejected []contract.RejectedMessage
	rerun    int
}

func (e *CopyRequestError) render() *causeFit {
	if e.fit != nil {
		return e.fit
	}
	fits := func(l layout) bool {
		return contract.CauseChars(contract.ErrorTypeCopyRequest, e.message(l)) <= contract.MaxCauseChars
	}
	if e.Files == 0 && len(e.Rejected) == 0 { // an event rejected whole: only its result
		results, _ := contract.FitErrMsgs(e.Results)
		e.fit = &causeFit{message: contract.FailureMessage(results), shown: layout{results: results}}
		return e.fit
	}
	l := layout{results: e.Results, rejected: e.Rejected, rerun: len(e.Failed)}
	if !fits(l) {
		// Each part in turn takes what room the parts before it leave.
		l = layout{}
		l.results = fitList(e.Results, withErrMsgsCut, func(rs []contract.FileResult) bool { return fits(layout{results: rs}) })
		l.rejected = fitList(e.Rejected, withErrorsCut, func(rj []contract.RejectedMessage) bool {
			return fits(layout{results: l.results, rejected: rj})
		})
		l.rerun = largest(0, len(e.Failed), func(k int) bool { return fits(layout{l.results, l.rejected, k}) })
	}
	e.fit = &causeFit{message: e.message(l), shown: l}
	return e.fit
}

// fitList returns the most of list that ok accepts: all of it; else all
// of it with every message cut to the same length, as long as it can be
// (as contract.FitErrMsgs does); else, when even empty messages do not
// fit, the first ones that fit, messages cut to
// contract.ReportErrMsgChars.
func fitList[T any](list []T, cut func([]T, int) []T, ok func([]T) bool) []T {
	if ok(list) {
		return list
	}
	if ok(cut(list, 0)) {
		return cut(list, largest(0, 1<<20, func(n int) bool { return ok(cut(list, n)) }))
	}
	k := largest(0, len(list), func(k int) bool { return ok(cut(list[:k], contract.ReportErrMsgChars)) })
	return cut(list[:k], contract.ReportErrMsgChars)
}

// largest is the largest n in [lo, hi] for which ok holds, ok holding for
// every n up to it (lo when it holds for none).
func largest(lo, hi int, ok func(int) bool) int {
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if ok(mid) {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return lo
}

// withErrMsgsCut returns results with every error message longer than n
// characters cut to n.
func withErrMsgsCut(results []contract.FileResult, n int) []contract.FileResult {
	out := make([]contract.FileResult, len(results))
	for i, r := range results {
		r.ErrMsg = cutText(r.ErrMsg, n)
		out[i] = r
	}
	return out
}

// withErrorsCut returns rejected with every error longer than n characters
// cut to n.
func withErrorsCut(rejected []contract.RejectedMessage, n int) []contract.RejectedMessage {
	out := make([]contract.RejectedMessage, len(rejected))
	for i, r := range rejected {
		r.Error = cutText(r.Error, n)
		out[i] = r
	}
	return out
}

// cutText cuts s to n characters, the last one "…".
func cutText(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	return string([]rune(s)[:n-1]) + "…"
}

// message renders the layout l.
func (e *CopyRequestError) message(l layout) string {
	var b strings.Builder
	b.WriteString(contract.FailureMessage(l.results))
	b.WriteString("\n" + e.summary(len(l.results)))
	if len(e.Failed) > 0 {
		b.WriteString("\n" + e.rerunLine(l.rerun))
	}
	if len(e.Rejected) > 0 {
		b.WriteString("\n" + e.rejectedLine(l.rejected))
	}
	return b.String()
}

// summary is the line after the results: how many files failed, of how
// many, how many messages were rejected, and whether the list above names
// every failed file (listed of them).
func (e *CopyRequestError) summary(listed int) string {
	s := fmt.Sprintf("%d of %d files failed", len(e.Failed), e.Files)
	switch len(e.Rejected) {
	case 0:
	case 1:
		s += "; 1 message of the batch rejected"
	default:
		s += fmt.Sprintf("; %d messages of the batch rejected", len(e.Rejected))
	}
	s += "."
	if listed < len(e.Results) {
		s += fmt.Sprintf(" The list names the first %d failed files, to fit the %d-character limit of an error cause: "+
			"the aggregate function's log has a %q line for each", listed, contract.MaxCauseChars, LogFileFailed)
	}
	return s
}

// rerunLine is the re-run input of the first k failed files, saying how
// many were left out when k is not all of them.
func (e *CopyRequestError) rerunLine(k int) string {
	what := fmt.Sprintf("the %d failed files", len(e.Failed))
	if len(e.Failed) == 1 {
		what = "the failed file"
	}
	how := "start a new execution with it once the cause is fixed"
	if k < len(e.Failed) {
		what = fmt.Sprintf("%d of the %d failed files", k, len(e.Failed))
		how += fmt.Sprintf("; %d failed files are left out to fit the %d-character limit of an error cause: "+
			"the aggregate function's log has the full re-run input, in its %q line", len(e.Failed)-k, contract.MaxCauseChars, LogRerunInput)
	}
	return "Re-run input for " + what + " (" + how + "): " + string(parseevent.NotificationEvent(e.Failed[:k]))
}

// rejectedLine lists the rejected messages shown, saying how many were
// left out when they are not all of them.
func (e *CopyRequestError) rejectedLine(shown []contract.RejectedMessage) string {
	how := "send each one's event again once the cause is fixed"
	if len(shown) < len(e.Rejected) {
		how = fmt.Sprintf("the first %d of %d, to fit the %d-character limit of an error cause: the aggregate function's log "+
			"has a %q line for each; ", len(shown), len(e.Rejected), contract.MaxCauseChars, LogMessageRejected) + how
	}
	if shown == nil {
		shown = []contract.RejectedMessage{}
	}
	list, _ := marshalNoEscape(shown)
	return "Rejected messages of the batch (" + how + "): " + list
}

// marshalNoEscape is json.Marshal without HTML escaping, so that keys with
// &, < or > stay readable.
func marshalNoEscape(v any) (string, error) {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return strings.TrimSuffix(b.String(), "\n"), nil
}

// Report is a CopyRequestError's message read back: the failed files'
// results it lists, its re-run input (nil when none) and the rejected
// messages it lists.
type Report struct {
	Results  []contract.FileResult
	Rerun    json.RawMessage
	Rejected []contract.RejectedMessage
}

// ParseMessage reads a CopyRequestError's message back: the file results it
// lists and, when it has one, its re-run input (nil otherwise).
func ParseMessage(msg string) ([]contract.FileResult, json.RawMessage, error) {
	r, err := ParseReport(msg)
	if err != nil {
		return nil, nil, err
	}
	return r.Results, r.Rerun, nil
}

// ParseReport reads a CopyRequestError's message back.
func ParseReport(msg string) (Report, error) {
	const prefix = "File copy failed. "
	rest, ok := strings.CutPrefix(msg, prefix)
	if !ok {
		return Report{}, fmt.Errorf("the message does not start with %q", prefix)
	}
	var r Report
	tail, err := decodeFirst(rest, &r.Results)
	if err != nil {
		return Report{}, fmt.Errorf("the result list: %w", err)
	}
	if s, ok := strings.CutPrefix(tail, "\n"); ok && !strings.HasPrefix(s, "Re-run input ") && !strings.HasPrefix(s, "Rejected messages ") {
		// The summary line.
		_, tail, _ = strings.Cut(s, "\n")
		tail = "\n" + tail
	}
	if s, ok := strings.CutPrefix(tail, "\nRe-run input "); ok {
		// The label's parenthesis may hold a quoted "): " only inside the
		// note's %q, never followed by "{": the input starts at the first "): {".
		i := strings.Index(s, "): {")
		if i < 0 {
			return Report{}, fmt.Errorf("the re-run line has no input: %.40q", s)
		}
		if tail, err = decodeFirst(s[i+len("): "):], &r.Rerun); err != nil {
			return Report{}, fmt.Errorf("the re-run input is not JSON (was the cause cut?): %w", err)
		}
	}
	if s, ok := strings.CutPrefix(tail, "\nRejected messages "); ok {
		i := strings.Index(s, "): [")
		if i < 0 {
			return Report{}, fmt.Errorf("the rejected line has no list: %.40q", s)
		}
		if tail, err = decodeFirst(s[i+len("): "):], &r.Rejected); err != nil {
			return Report{}, fmt.Errorf("the rejected messages: %w", err)
		}
	}
	if strings.TrimSpace(tail) != "" {
		return Report{}, fmt.Errorf("unexpected text in the message: %.40q", strings.TrimSpace(tail))
	}
	return r, nil
}

// decodeFirst decodes the JSON value s starts with into v and returns
// what follows it.
func decodeFirst(s string, v any) (string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	if err := dec.Decode(v); err != nil {
		return "", err
	}
	return s[dec.InputOffset():], nil
}
