package contract_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/aggregate"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/copyfile"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/parseevent"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// Each routed error's constant is the name the Lambda runtime reports for
// its Go type (reflection, as the runtime does), and the list holds each
// once.
func TestRoutedErrorNamesAreTypeNames(t *testing.T) {
	types := map[string]error{
		contract.InvalidEventError:         &parseevent.InvalidEventError{},
		contract.TransientCopyError:        &copyfile.TransientCopyError{},
		contract.PermanentCopyError:        &copyfile.PermanentCopyError{},
		contract.NoOpenJobError:            &requeststatus.NoOpenJobError{},
		contract.DatabaseUnavailableError:  &requeststatus.DatabaseUnavailableError{},
		contract.StatusUpdateError:         &requeststatus.StatusUpdateError{},
		contract.DatabaseError:             &requeststatus.DatabaseError{},
		contract.InvalidStatusRequestError: &requeststatus.InvalidStatusRequestError{},
		contract.CopyRequestError:          &aggregate.CopyRequestError{},
	}
	for name, err := range types {
		if got := contract.ErrorType(err); got != name {
			t.Errorf("constant %q names the type %T, which the runtime reports as %q", name, err, got)
		}
	}
	// TestEveryErrorTypeIsListed checks that the list is complete; a new
	// routed error need not be added here.
	listed := slices.Sorted(slices.Values(contract.RoutedErrors))
	for name := range types {
		if !slices.Contains(listed, name) {
			t.Errorf("constant %q is not in RoutedErrors", name)
		}
	}
	if len(slices.Compact(listed)) != len(contract.RoutedErrors) {
		t.Errorf("RoutedErrors lists a name twice: %v", contract.RoutedErrors)
	}
}

// outsideWorkflow are the packages of shared/ whose function is no state of
// the workflow (statemachine.OtherFunctions): no Retry or Catch sees their
// errors. reconcile runs on a schedule and reports a SweepError.
var outsideWorkflow = map[string]bool{"reconcile": true}

// notRouted are error types declared in a workflow package that no handler
// of the workflow returns, each with where it goes instead.
var notRouted = map[string]string{
	"IndexPrivilegeError": "requeststatus.CreateReconcileIndexes returns it to the reconcile sweep and cmd/recovery create-indexes, never to the request-status handler",
}

// Every error type the workflow functions' packages declare (a named type
// with an Error method, in shared/) is a routed error: a new one must be
// listed.
func TestEveryErrorTypeIsListed(t *testing.T) {
	var declared []string
	dirs, err := filepath.Glob("../*")
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range dirs {
		if outsideWorkflow[filepath.Base(dir)] {
			continue
		}
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool { return !strings.HasSuffix(fi.Name(), "_test.go") }, 0)
		if err != nil {
			continue // not a Go package
		}
		for _, pkg := range pkgs {
			for _, f := range pkg.Files {
				for _, d := range f.Decls {
					fn, ok := d.(*ast.FuncDecl)
					if !ok || fn.Recv == nil || fn.Name.Name != "Error" || !fn.Name.IsExported() {
						continue
					}
					recv := fn.Recv.List[0].Type
					if star, ok := recv.(*ast.StarExpr); ok {
						recv = star.X
					}
					if id, ok := recv.(*ast.Ident); ok && id.IsExported() && notRouted[id.Name] == "" {
						declared = append(declared, id.Name)
					}
				}
			}
		}
	}
	sort.Strings(declared)
	if diff := cmp.Diff(slices.Sorted(slices.Values(contract.RoutedErrors)), declared); diff != "" {
		t.Errorf("error types declared in shared/ (+) and contract.RoutedErrors (-) differ; list a new routed error in shared/contract/errors.go:\n%s", diff)
	}
}

// routedErrorsDoc holds the table of routed errors.
const routedErrorsDoc = "../../docs/workflow.md"

// The documentation's table of routed errors lists exactly RoutedErrors, in
// their order.
func TestDocumentedRoutedErrors(t *testing.T) {
	b, err := os.ReadFile(routedErrorsDoc)
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `([A-Za-z]+)` \\|")
	_, table, ok := strings.Cut(string(b), "## Errors the workflow routes on\n")
	if !ok {
		t.Fatalf("%s has no section \"Errors the workflow routes on\"", routedErrorsDoc)
	}
	if i := strings.Index(table, "\n#"); i >= 0 {
		table = table[:i]
	}
	var documented []string
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		documented = append(documented, m[1])
	}
	if diff := cmp.Diff(contract.RoutedErrors, documented); diff != "" {
		t.Errorf("%s's table (+) and contract.RoutedErrors (-) differ:\n%s", routedErrorsDoc, diff)
	}
}
