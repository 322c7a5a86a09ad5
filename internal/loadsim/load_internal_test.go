package loadsim

import (
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestS3PriceClass(t *testing.T) {
	tests := []struct {
		method, target string
		copySource     string
		put, copy      bool
	}{
		{"PUT", "/archive/a.txt?x-id=CopyObject", "restore/a.txt", true, true},
		{"PUT", "/archive/a.txt?partNumber=1&uploadId=u", "restore/a.txt", true, true},
		{"PUT", "/archive/a.txt", "", true, false},
		{"POST", "/archive/a.txt?uploads", "", true, false},
		{"POST", "/archive/a.txt?uploadId=u", "", true, false},
		{"GET", "/archive?list-type=2", "", true, false},
		{"HEAD", "/restore/a.txt", "", false, false},
		{"GET", "/restore/a.txt?tagging", "", false, false},
		{"GET", "/restore/a.txt", "", false, false},
		{"DELETE", "/archive/a.txt?uploadId=u", "", false, false},
	}
	for _, tc := range tests {
		r := httptest.NewRequest(tc.method, tc.target, nil)
		if tc.copySource != "" {
			r.Header.Set("X-Amz-Copy-Source", tc.copySource)
		}
		if got := isCopyRequest(r); got != tc.copy {
			t.Errorf("%s %s: copy %v, want %v", tc.method, tc.target, got, tc.copy)
		}
		if got := tc.copy || isPutClassRequest(r); got != tc.put {
			t.Errorf("%s %s: PUT class %v, want %v", tc.method, tc.target, got, tc.put)
		}
	}
}

func TestScaleTaskTimeouts(t *testing.T) {
	in := []byte(`{"States":{"A":{"Type":"Task","TimeoutSeconds":60,"Retry":[{"IntervalSeconds":2}]},
		"M":{"Type":"Map","ItemProcessor":{"States":{"B":{"Type":"Task","TimeoutSeconds":960}}}}}}`)
	out, err := scaleTaskTimeouts(in, 20)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	states := doc["States"].(map[string]any)
	a := states["A"].(map[string]any)
	b := states["M"].(map[string]any)["ItemProcessor"].(map[string]any)["States"].(map[string]any)["B"].(map[string]any)
	got := []any{a["TimeoutSeconds"], b["TimeoutSeconds"], a["Retry"].([]any)[0].(map[string]any)["IntervalSeconds"]}
	if diff := cmp.Diff([]any{1200.0, 19200.0, 2.0}, got); diff != "" {
		t.Errorf("timeouts scaled, Retry kept (-want +got):\n%s", diff)
	}
}

func TestReadEvents(t *testing.T) {
	in := "{\"Records\":[]}\n\n  {\"detail-type\":\"Object Restore Completed\"}  \n"
	got, err := ReadEvents(strings.NewReader(in), "events.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{`{"Records":[]}`, `{"detail-type":"Object Restore Completed"}`}, []string{string(got[0]), string(got[1])}); diff != "" || len(got) != 2 {
		t.Errorf("events (-want +got):\n%s", diff)
	}
	if _, err := ReadEvents(strings.NewReader("\n\n"), "empty.ndjson"); err == nil || !strings.Contains(err.Error(), "empty.ndjson has no events") {
		t.Errorf("empty file: %v", err)
	}
}
