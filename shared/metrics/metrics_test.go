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

// lambdaKeeps applies Lambda's log-level filter for JSON logs
// (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html):
// an application line is kept when its "level" is at or above the
// function's ApplicationLogLevel; a missing or unknown level counts as INFO.
func lambdaKeeps(t *testing.T, line []byte, applicationLogLevel string) bool {
	t.Helper()
	order := map[string]int{"TRACE": 0, "DEBUG": 1, "INFO": 2, "WARN": 3, "ERROR": 4, "FATAL": 5}
	var rec struct{ Level string }
	if err := json.Unmarshal(line, &rec); err != nil {
		t.Fatalf("not a JSON line: %q", line)
	}
	level, ok := order[strings.ToUpper(rec.Level)]
	if !ok {
		level = order["INFO"]
	}
	return level >= order[applicationLogLevel]
}

// The metrics lines survive Lambda's filter at LambdaLogLevel (what infra
// deploys), whatever level the function's own logger has. At WARN or above
// Lambda would drop them: that is why the level is pinned, not left to an
// operator.
func TestLambdaKeepsMetricLinesAtThePinnedLevel(t *testing.T) {
	for _, loggerLevel := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		var out bytes.Buffer
		w := New(slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: loggerLevel})), "f")
		w.Emit(context.Background(), nil, Metric{"B", Count, 1})
		line := bytes.TrimSpace(out.Bytes())
		if !lambdaKeeps(t, line, LambdaLogLevel) {
			t.Errorf("logger at %v: Lambda at ApplicationLogLevel %s drops the metrics line %s", loggerLevel, LambdaLogLevel, line)
		}
		if lambdaKeeps(t, line, "WARN") {
			t.Errorf("logger at %v: the metrics line %s would survive WARN: then the level need not be pinned", loggerLevel, line)
		}
	}
}

// Log writes a function's outcome line and its metrics as one line: the
// line's own attributes beside the EMF members, at the line's level, one
// line, whatever the logger's level; Lambda keeps it at the pinned level.
func TestLogIsTheOutcomeLineAndTheEMFDocument(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		var out bytes.Buffer
		logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelError + 4}))
		w := New(logger, "request-status")
		w.now = func() time.Time { return time.UnixMilli(1700000000123) }
		w.Log(context.Background(), logger, level, "request status find_open_job",
			[]slog.Attr{slog.String("key", "k"), slog.Float64("duration_ms", 1.5)},
			[]Dimension{{DimensionOperation, "find_open_job"}}, Metric{DatabaseCallMilliseconds, Milliseconds, 1.5}, Metric{"Bad", Count, math.NaN()})
		if strings.Count(out.String(), "\n") != 1 {
			t.Fatalf("%v: not one line: %q", level, out.String())
		}
		var got map[string]any
		if err := json.Unmarshal(out.Bytes(), &got); err != nil {
			t.Fatalf("%v: %s", err, out.String())
		}
		delete(got, "time")
		want := map[string]any{
			"level": level.String(), "msg": "request status find_open_job", "key": "k", "duration_ms": 1.5,
			"_aws": map[string]any{"Timestamp": 1700000000123.0, "CloudWatchMetrics": []any{map[string]any{
				"Namespace": "CopyFilesToArchive", "Dimensions": []any{[]any{"Function", "Operation"}},
				"Metrics": []any{map[string]any{"Name": "DatabaseCallMilliseconds", "Unit": "Milliseconds"}},
			}}},
			"Function": "request-status", "Operation": "find_open_job", "DatabaseCallMilliseconds": 1.5,
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%v: line (-want +got):\n%s", level, diff)
		}
		if !lambdaKeeps(t, bytes.TrimSpace(out.Bytes()), LambdaLogLevel) {
			t.Errorf("Lambda at %s drops the line %s", LambdaLogLevel, out.String())
		}
	}
}

// Without a Writer, or below the metrics' level, or with no value to write,
// the line is logged as any other, through the logger and its level.
func TestLogWithoutMetricsIsAPlainLine(t *testing.T) {
	var out bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var nilWriter *Writer
	nilWriter.Log(context.Background(), logger, slog.LevelInfo, "a", nil, nil, Metric{"B", Count, 1})
	New(logger, "f").Log(context.Background(), logger, slog.LevelInfo, "b", nil, nil, Metric{"B", Count, math.Inf(1)})
	New(logger, "f").Log(context.Background(), logger, slog.LevelDebug, "c", nil, nil, Metric{"B", Count, 1})
	for i, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if strings.Contains(line, "_aws") || !strings.Contains(line, `"msg":"`+string(rune('a'+i))+`"`) {
			t.Errorf("line %d: %s", i, line)
		}
	}
	if n := strings.Count(out.String(), "\n"); n != 3 {
		t.Errorf("%d lines, want 3:\n%s", n, out.String())
	}
}
