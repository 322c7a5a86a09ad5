package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestLine(t *testing.T) {
	w := New(nil, "copy-file")
	w.now = func() time.Time { return time.UnixMilli(1700000000123) }
	got := string(w.Line([]Dimension{{DimensionErrorName, "NoSuchKey"}}, Metric{FilesFailed, Count, 2}))
	want := `{"_aws":{"Timestamp":1700000000123,"CloudWatchMetrics":[{"Namespace":"CopyFilesToArchive","Dimensions":[["Function","ErrorName"]],` +
		`"Metrics":[{"Name":"FilesFailed","Unit":"Count"}]}]},"Function":"copy-file","ErrorName":"NoSuchKey","FilesFailed":2}` + "\n"
	if got != want {
		t.Errorf("line\n got %s\nwant %s", got, want)
	}
}

// A value JSON cannot hold is dropped, never written as invalid JSON; a nil
// Writer writes nothing.
func TestEmitSkipsNonNumbers(t *testing.T) {
	var out bytes.Buffer
	w := New(&out, "f")
	w.Emit(nil, Metric{"A", Count, math.NaN()}, Metric{"B", Count, 1}, Metric{"C", Count, math.Inf(1)})
	w.Emit(nil, Metric{"A", Count, math.NaN()})
	var l map[string]any
	if err := json.Unmarshal(out.Bytes(), &l); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if _, ok := l["A"]; ok || l["B"] != 1.0 {
		t.Errorf("line %s", out.String())
	}
	var nilWriter *Writer
	nilWriter.Emit(nil, Metric{"B", Count, 1}) // no panic
}
