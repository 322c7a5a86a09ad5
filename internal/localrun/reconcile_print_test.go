package localrun

import (
	"bytes"
	"strings"
	"testing"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

// `reconcile` (text) names the files the sweep counted as missing, expired,
// not here and started, and says when the sweep was cut short.
func TestPrintSweepNamesFiles(t *testing.T) {
	rep := &reconcile.Report{Window: "20260101T0000", Missing: 1, Expired: 1, NotHere: 1, Started: 1,
		CutShort: true, NotReached: 7,
		Files: reconcile.NamedFiles{
			Missing: []reconcile.FileRef{{RequestID: "r-1", Bucket: "restore", Key: "gone.dat"}},
			Expired: []reconcile.FileRef{{RequestID: "r-2", Bucket: "restore", Key: "old.dat"}},
			NotHere: []reconcile.FileRef{{RequestID: "r-3", Key: "elsewhere.dat"}},
			Started: []reconcile.FileRef{{RequestID: "r-4", Bucket: "restore", Key: "a b.dat"}},
			LeftOut: 2,
		}}
	var out bytes.Buffer
	printSweep(&out, &SweepResult{Report: rep})
	for _, want := range []string{
		"1 not in this stack's restore buckets",
		"cut short before its deadline: 7 rows listed but not asked about",
		"missing:\n  s3://restore/gone.dat (request r-1)\n",
		"expired:\n  s3://restore/old.dat (request r-2)\n",
		"not in this stack's restore buckets (left alone):\n  elsewhere.dat (request r-3)\n",
		"started:\n  s3://restore/a b.dat (request r-4)\n",
		"(2 more files not named: the report names at most 50 a list)",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output does not say %q:\n%s", want, out.String())
		}
	}
}
