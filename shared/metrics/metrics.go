// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines: one
// JSON object per line on the function's standard output, from which
// CloudWatch Logs extracts metrics without any API call or extra permission
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Lambda.html).
// The format is AWS's specification
// (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html):
//
//	{"_aws":{"Timestamp":MILLIS,"CloudWatchMetrics":[{"Namespace":NS,"Dimensions":[["Function",...]],"Metrics":[{"Name":N,"Unit":U}]}]},
//	 "Function":"copy-file", ...dimension values..., N: value}
//
// It is a few dozen lines, so the functions carry no EMF library.
package metrics

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"sync"
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

// Writer writes EMF lines for one function. A nil *Writer writes nothing,
// so handlers built without one (tests) need no checks.
type Writer struct {
	out      io.Writer
	function string
	mu       sync.Mutex
	now      func() time.Time
}

// New returns a Writer of function's metrics to out (the Lambda's stdout).
func New(out io.Writer, function string) *Writer {
	return &Writer{out: out, function: function, now: time.Now}
}

// Emit writes one line with the metrics, all under the dimension set
// Function plus dims. Metrics with the same name on one line are not
// allowed by EMF; callers emit one line per distinct dimension values.
// Write errors are dropped: a metric must never fail a copy.
func (w *Writer) Emit(dims []Dimension, ms ...Metric) {
	if w == nil {
		return
	}
	kept := ms[:0:0]
	for _, m := range ms {
		if !math.IsNaN(m.Value) && !math.IsInf(m.Value, 0) { // not JSON numbers
			kept = append(kept, m)
		}
	}
	if len(kept) == 0 {
		return
	}
	line := w.Line(dims, kept...)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.out.Write(line)
}

// Line renders one EMF line (with its newline).
func (w *Writer) Line(dims []Dimension, ms ...Metric) []byte {
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
	// Members in a fixed order: _aws, dimensions, metrics.
	var buf bytes.Buffer
	buf.WriteString(`{"_aws":`)
	for _, m := range ms {
		dir.Metrics = append(dir.Metrics, metricDef{Name: m.Name, Unit: m.Unit})
	}
	aws, _ := json.Marshal(struct {
		Timestamp         int64       `json:"Timestamp"`
		CloudWatchMetrics []directive `json:"CloudWatchMetrics"`
	}{w.now().UnixMilli(), []directive{dir}})
	buf.Write(aws)
	member := func(name string, value any) {
		buf.WriteByte(',')
		k, _ := json.Marshal(name)
		v, _ := json.Marshal(value)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(v)
	}
	member(DimensionFunction, w.function)
	for _, d := range dims {
		member(d.Name, d.Value)
	}
	for _, m := range ms {
		member(m.Name, m.Value)
	}
	buf.WriteString("}\n")
	return buf.Bytes()
}
