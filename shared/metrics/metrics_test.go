package metrics

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The line is the logger's JSON record with the EMF members at its root.
func TestEmit(t *testing.T) {
	var out bytes.Buffer
	w := New(slog.New(slog.NewJSONHandler(&out, nil)).With("requestId", "r-1"), "copy-file")
	w.now = func() time.Time { return time.UnixMilli(1700000000123) }
	w.Emit(context.Background(), []Dimension{{DimensionErrorName, "NoSuchKey"}}, Metric{FilesFailed, Count, 2})
	var got map[string]any
	if err := json.Unmarshal(out.Bytes(), &got); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	delete(got, "time")
	want := map[string]any{
		"level": "INFO", "msg": "metrics", "requestId": "r-1",
		"_aws": map[string]any{"Timestamp": 1700000000123.0, "CloudWatchMetrics": []any{map[string]any{
			"Namespace": "CopyFilesToArchive", "Dimensions": []any{[]any{"Function", "ErrorName"}},
			"Metrics": []any{map[string]any{"Name": "FilesFailed", "Unit": "Count"}},
		}}},
		"Function": "copy-file", "ErrorName": "NoSuchKey", "FilesFailed": 2.0,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("line (-want +got):\n%s", diff)
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("not one line: %q", out.String())
	}
}

// Metrics are written whatever the logger's level.
func TestEmitIgnoresTheLogLevel(t *testing.T) {
	var out bytes.Buffer
	w := New(slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelError})), "f")
	w.Emit(context.Background(), nil, Metric{"B", Count, 1})
	if !strings.Contains(out.String(), `"B":1`) {
		t.Errorf("no metric line at level ERROR: %q", out.String())
	}
}

// A value JSON cannot hold is dropped, never written as invalid JSON; a nil
// Writer writes nothing.
func TestEmitSkipsNonNumbers(t *testing.T) {
	var out bytes.Buffer
	w := New(slog.New(slog.NewJSONHandler(&out, nil)), "f")
	w.Emit(context.Background(), nil, Metric{"A", Count, math.NaN()}, Metric{"B", Count, 1}, Metric{"C", Count, math.Inf(1)})
	w.Emit(context.Background(), nil, Metric{"A", Count, math.NaN()})
	var l map[string]any
	if err := json.Unmarshal(out.Bytes(), &l); err != nil {
		t.Fatalf("%v: %s", err, out.String())
	}
	if _, ok := l["A"]; ok || l["B"] != 1.0 {
		t.Errorf("line %s", out.String())
	}
	var nilWriter *Writer
	nilWriter.Emit(context.Background(), nil, Metric{"B", Count, 1}) // no panic
}
