// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines. Each
// is one JSON object per line in the function's log. CloudWatch Logs
// extracts the metrics, with no API call and no extra permission
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html).
// The format is AWS's specification
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
//
//	{"timestamp":...,"level":"INFO","message":"metrics","requestId":...,
//	 "_aws":{"Timestamp":MILLIS,"CloudWatchMetrics":[{"Namespace":NS,"Dimensions":[["Function",...]],"Metrics":[{"Name":N,"Unit":U}]}]},
//	 "Function":"copy-file", ...dimension values..., N: value}
//
// It is a few dozen lines, so the functions carry no EMF library.
package metrics

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"time"
)

// Namespace is the CloudWatch namespace of every metric the functions write.
const Namespace = "CopyFilesToArchive"

// DimensionFunction is the dimension every metric has: the function's name
// (functions/<name>).
const DimensionFunction = "Function"

// Units the functions use (CloudWatch's unit names).
const (
	Count        = "Count"
	Bytes        = "Bytes"
	Seconds      = "Seconds"
	Milliseconds = "Milliseconds"
	MBPerSecond  = "Megabytes/Second"
)

// The metrics the functions write, by name (the dashboard in infra/ reads
// the same names).
const (
	// FilesCopied and FilesFailed (aggregate, Count): each file's final
	// outcome; FilesFailed by DimensionErrorName.
	FilesCopied = "FilesCopied"
	FilesFailed = "FilesFailed"
	// BytesCopied, CopySeconds, CopyThroughput, CopyPasses (copy-file,
	// once per finished copy): its size, the time its passes took together,
	// size / time in MB/s, and how many invocations (passes) it needed.
	BytesCopied    = "BytesCopied"
	CopySeconds    = "CopySeconds"
	CopyThroughput = "CopyThroughput"
	CopyPasses     = "CopyPasses"
	// DatabaseCallMilliseconds and DatabaseUnavailable (request-status, by
	// DimensionOperation): each call's latency, and a 1 when the database
	// could not be reached (DatabaseUnavailableError).
	DatabaseCallMilliseconds = "DatabaseCallMilliseconds"
	DatabaseUnavailable      = "DatabaseUnavailable"
)

// Dimension names besides Function.
const (
	DimensionErrorName = "ErrorName"
	DimensionOperation = "Operation"
)

// Metric is one value.
type Metric struct {
	Name  string
	Unit  string
	Value float64
}

// Dimension is a dimension name and its value for one line.
type Dimension struct{ Name, Value string }

// Writer writes EMF lines for one function, through the function's
// logger. Each line is a log record. Its attributes are the EMF members
// (_aws, the dimensions, the values) beside the logger's own (timestamp,
// level, message "metrics" from Emit or the outcome line's own from Log,
// requestId). The lines go wherever the function logs, whatever the
// logger's level. A nil *Writer writes no metrics.
// docs/functions.md says why.
type Writer struct {
	logger   *slog.Logger
	function string
	now      func() time.Time
}

// LogMessage is the message of a metrics log line.
const LogMessage = "metrics"

// Level is the level of every metrics line ("level":"INFO"). LambdaLogLevel
// is the application log level the functions must be deployed with to keep
// them: Lambda drops JSON lines below ApplicationLogLevel by their "level"
// key. infra pins it (docs/runbook.md, "Dashboard and metrics";
// https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html).
const (
	Level          = slog.LevelInfo
	LambdaLogLevel = "INFO"
)

// New returns a Writer of function's metrics to logger.
func New(logger *slog.Logger, function string) *Writer {
	return &Writer{logger: logger, function: function, now: time.Now}
}

// Emit writes one line with the metrics, all under the dimension set
// Function plus dims. EMF allows a metric name once per line; callers emit
// one line per distinct dimension values. Values that are not JSON numbers
// (NaN, infinities) are dropped; a write error is ignored: a metric must
// never fail a copy.
func (w *Writer) Emit(ctx context.Context, dims []Dimension, ms ...Metric) {
	if w == nil || w.logger == nil {
		return
	}
	kept := finite(ms)
	if len(kept) == 0 {
		return
	}
	r := slog.NewRecord(w.now(), Level, LogMessage, 0)
	r.AddAttrs(w.Attrs(dims, kept...)...)
	// The handler, not the logger: the logger would drop the record below
	// its level.
	_ = w.logger.Handler().Handle(ctx, r)
}

// Log writes one log line, level and msg with attrs, that is also the EMF
// document of ms: a function's outcome line and its metrics in one line,
// instead of two that both carry the timestamp, level, message and request
// id (docs/runbook.md, "Logs"). Like Emit it writes whatever the logger's
// level, so its metrics are never lost to it; Lambda keeps it at
// LambdaLogLevel as long as level is Level or above. A nil Writer, or no
// value to write, logs the line through logger as usual; else it goes
// where the Writer's metrics go (the function's logger: the same one in
// every function's wiring).
func (w *Writer) Log(ctx context.Context, logger *slog.Logger, level slog.Level, msg string, attrs []slog.Attr, dims []Dimension, ms ...Metric) {
	kept := finite(ms)
	if w == nil || w.logger == nil || len(kept) == 0 || level < Level {
		if logger != nil {
			logger.LogAttrs(ctx, level, msg, attrs...)
		}
		return
	}
	r := slog.NewRecord(w.now(), level, msg, 0)
	r.AddAttrs(attrs...)
	r.AddAttrs(w.Attrs(dims, kept...)...)
	_ = w.logger.Handler().Handle(ctx, r)
}

// finite keeps the metrics whose values JSON can hold.
func finite(ms []Metric) []Metric {
	kept := ms[:0:0]
	for _, m := range ms {
		if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) {
			kept = append(kept, m)
		}
	}
	return kept
}

// Attrs are one line's EMF members: _aws (the metadata, as raw JSON),
// Function and the other dimensions, then the metric values.
func (w *Writer) Attrs(dims []Dimension, ms ...Metric) []slog.Attr {
	type metricDef struct {
		Name string `json:"Name"`
		Unit string `json:"Unit"`
	}
	type directive struct {
		Namespace  string      `json:"Namespace"`
		Dimensions [][]string  `json:"Dimensions"`
		Metrics    []metricDef `json:"Metrics"`
	}
	set := []string{DimensionFunction}
	for _, d := range dims {
		set = append(set, d.Name)
	}
	dir := directive{Namespace: Namespace, Dimensions: [][]string{set}}
	for _, m := range ms {
		dir.Metrics = append(dir.Metrics, metricDef{Name: m.Name, Unit: m.Unit})
	}
	meta, _ := json.Marshal(struct {
		Timestamp         int64       `json:"Timestamp"`
		CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
	}{w.now().UnixMilli(), []directive{dir}})
	attrs := []slog.Attr{slog.Any("_aws", json.RawMessage(meta)), slog.String(DimensionFunction, w.function)}
	for _, d := range dims {
		attrs = append(attrs, slog.String(d.Name, d.Value))
	}
	for _, m := range ms {
		attrs = append(attrs, slog.Float64(m.Name, m.Value))
	}
	return attrs
}
