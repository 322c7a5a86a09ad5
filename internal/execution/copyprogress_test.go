package execution

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgressWatcher(t *testing.T) {
	var log, out bytes.Buffer
	w := newProgressWatcher(&log, &out)
	lines := `{"timestamp":"2026-11-29T20:49:40.490Z","level":"INFO","message":"multipart copy progress","source_key":"a b.h5","parts_done":2,"parts_total":6,"bytes_done":10485760,"bytes_total":31457280,"percent":33.3,"pass_mb_per_s":10.4}` + "\n" +
		`{"time":"2026-11-29T20:49:41Z","msg":"file copied","source_key":"a b.h5"}` + "\n"
	// Written in two pieces, split inside a line.
	w.Write([]byte(lines[:50]))
	w.Write([]byte(lines[50:]))
	if log.String() != lines {
		t.Errorf("the log is not passed on unchanged:\n%s", log.String())
	}
	got := strings.TrimSpace(out.String())
	if strings.Count(got, "\n") != 0 || !strings.HasSuffix(got, "  copying a b.h5: 2 of 6 parts, 10.0 of 30.0 MiB (33.3%), 10.4 MB/s this pass") {
		t.Errorf("output %q, want one progress line", got)
	}
}
