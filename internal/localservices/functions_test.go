package localservices

import (
	"maps"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// The runner has a constructor for exactly the folders the workflow's
// functions are built from.
func TestConstructorsCoverTheFunctions(t *testing.T) {
	want := statemachine.Folders()
	slices.Sort(want)
	if diff := cmp.Diff(want, slices.Sorted(maps.Keys(Constructors))); diff != "" {
		t.Errorf("statemachine.Functions (-) and the runner's Constructors (+) differ:\n%s", diff)
	}
}

// Every function is built by the constructor of the folder it is built
// from: the Express lane's copy by copy-file's.
func TestEachFunctionHasItsFoldersConstructor(t *testing.T) {
	for _, f := range statemachine.Functions {
		if _, ok := Constructors[f.Folder()]; !ok {
			t.Errorf("%s: no constructor for functions/%s", f.Name, f.Folder())
		}
	}
	if f := statemachine.Functions[slices.IndexFunc(statemachine.Functions, func(f statemachine.Function) bool {
		return f.Name == statemachine.FunctionCopyFileExpress
	})]; f.Folder() != statemachine.FunctionCopyFile {
		t.Errorf("copy-file-express is built from functions/%s, want copy-file", f.Folder())
	}
}
