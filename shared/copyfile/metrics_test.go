package copyfile

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/metrics"
)

// emfLine is an EMF line as CloudWatch reads it.
type emfLine struct {
	AWS struct {
		Timestamp         int64 `json:"Timestamp"`
		CloudWatchMetrics []struct {
			Namespace  string
			Dimensions [][]string
			Metrics    []struct{ Name, Unit string }
		}
	} `json:"_aws"`
	Members map[string]any `json:"-"`
}

// parseEMF parses and checks an EMF line against AWS's specification: the
// _aws metadata with a Timestamp and one directive, every dimension and
// metric named there present as a member of the root object, dimension
// values strings and metric values numbers. It returns the metric values
// by "name unit" and the dimension values by name.
func parseEMF(t *testing.T, line string) (map[string]float64, map[string]string) {
	t.Helper()
	var l emfLine
	if err := json.Unmarshal([]byte(line), &l); err != nil {
		t.Fatalf("EMF line is not JSON: %v\n%s", err, line)
	}
	if err := json.Unmarshal([]byte(line), &l.Members); err != nil {
		t.Fatal(err)
	}
	if l.AWS.Timestamp <= 0 || len(l.AWS.CloudWatchMetrics) != 1 {
		t.Fatalf("bad _aws metadata: %s", line)
	}
	d := l.AWS.CloudWatchMetrics[0]
	if d.Namespace != metrics.Namespace || len(d.Dimensions) != 1 || len(d.Metrics) == 0 {
		t.Fatalf("bad directive: %s", line)
	}
	dims := map[string]string{}
	for _, name := range d.Dimensions[0] {
		v, ok := l.Members[name].(string)
		if !ok {
			t.Fatalf("dimension %s has no string member: %s", name, line)
		}
		dims[name] = v
	}
	values := map[string]float64{}
	for _, m := range d.Metrics {
		v, ok := l.Members[m.Name].(float64)
		if !ok {
			t.Fatalf("metric %s has no number member: %s", m.Name, line)
		}
		values[m.Name+" "+m.Unit] = v
	}
	return values, dims
}

// The EMF line a finished copy writes: size, the copy's whole duration over
// its passes, throughput and passes; nothing for a paused pass or a failure.
func TestCopyWritesEMF(t *testing.T) {
	for _, tc := range []struct {
		name    string
		outcome contract.CopyOutcome
		err     error
		want    map[string]float64
	}{
		{"finished on the third pass", contract.CopyOutcome{Bytes: 3 * 1000 * 1000 * 1000, Multipart: true, Complete: true, DurationMS: 2000}, nil,
			map[string]float64{"BytesCopied Bytes": 3e9, "CopySeconds Seconds": 10, "CopyThroughput Megabytes/Second": 300, "CopyPasses Count": 3}},
		{"not copied: already archived", contract.CopyOutcome{Bytes: 3e9, Complete: true, AlreadyArchived: true, DurationMS: 2000}, nil,
			map[string]float64{"BytesCopied Bytes": 0, "CopySeconds Seconds": 10, "CopyPasses Count": 3}},
		{"paused", contract.CopyOutcome{Bytes: 3e9, Multipart: true, DurationMS: 2000, UploadID: "u"}, nil, nil},
		{"failed", contract.CopyOutcome{}, &PermanentCopyError{Code: "NoSuchKey"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			h := &CopyHandler{
				Copier: copierFunc(func(context.Context, contract.CopyRequest) (contract.CopyOutcome, error) { return tc.outcome, tc.err }),
				Logger: slog.New(slog.DiscardHandler), Metrics: metrics.New(slog.New(slog.NewJSONHandler(&out, nil)), "copy-file"),
			}
			h.Handle(context.Background(), contract.CopyRequest{SourceBucket: "r", SourceKey: "k", TargetBucket: "a", Passes: 2, ElapsedMS: 8000})
			if tc.want == nil {
				if out.Len() != 0 {
					t.Errorf("EMF written: %s", out.String())
				}
				return
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if len(lines) != 1 {
				t.Fatalf("%d EMF lines, want 1:\n%s", len(lines), out.String())
			}
			got, dims := parseEMF(t, lines[0])
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("metrics (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(map[string]string{"Function": "copy-file"}, dims); diff != "" {
				t.Errorf("dimensions (-want +got):\n%s", diff)
			}
			t.Logf("EMF bytes of one finished copy: %d", out.Len())
		})
	}
}
