package localservices

import (
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// The runner has a constructor for exactly the functions the workflow has.
func TestConstructorsCoverTheFunctions(t *testing.T) {
	want := statemachine.FunctionNames()
	slices.Sort(want)
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(Constructors))); diff != "" {
		t.Errorf("statemachine.Functions (-) and the runner's Constructors (+) differ:\n%s", diff)
	}
}
