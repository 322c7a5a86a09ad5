package requeststatus

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// tableSQL matches a statement that reads or writes request_status.
// "ON request_status" is not matched: a test may create a trigger on the
// table to count or refuse updates (test-only instrumentation, as in
// internal/localrun's load and reconcile tests), and the load runner
// grants its role access to the table.
var tableSQL = regexp.MustCompile(`(?i)\b(from|into|update|join)\s+request_status\b`)

// sqlOutsideOwner are the files outside shared/requeststatus allowed to
// hold SQL on request_status, and why.
var sqlOutsideOwner = map[string]string{}

// Every SQL statement on request_status lives in this package (pkgsite
// keeps every query of its tables in one package): a string literal of a
// .go file elsewhere that reads or writes the table fails this test,
// unless sqlOutsideOwner lists its file. An entry whose file holds no
// such SQL any more fails too, so that the list only shrinks.
func TestOnlyThisPackageHoldsSQLOnTheTable(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	found := sqlOnTable(t, root)
	for _, file := range slices.Sorted(maps.Keys(found)) {
		if strings.HasPrefix(file, "shared/requeststatus/") {
			continue
		}
		if _, ok := sqlOutsideOwner[file]; !ok {
			t.Errorf("%s: SQL on request_status at line(s) %v: call a requeststatus.Table (or Store) method instead; add one there if none fits", file, found[file])
		}
	}
	for _, file := range slices.Sorted(maps.Keys(sqlOutsideOwner)) {
		why := sqlOutsideOwner[file]
		if _, ok := found[file]; !ok {
			t.Errorf("%s is listed in sqlOutsideOwner (%s) but holds no SQL on request_status: remove the entry", file, why)
		}
	}
}

// sqlOnTable returns the .go files under root (slash-separated, relative)
// with a string literal matching tableSQL, and the literals' lines.
func sqlOnTable(t *testing.T, root string) map[string][]int {
	t.Helper()
	found := map[string][]int{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || slices.Contains([]string{"node_modules", "cdk.out"}, d.Name())) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && tableSQL.MatchString(s) {
				found[filepath.ToSlash(rel)] = append(found[filepath.ToSlash(rel)], fset.Position(lit.Pos()).Line)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}
