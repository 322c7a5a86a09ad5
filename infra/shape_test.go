package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"testing"
)

// maxFunctionLines is the longest a function of the CDK app may be: a
// longer one is split into named steps (issue 23; docs/changing.md).
const maxFunctionLines = 80

// TestFunctionsAreShort: no function of the CDK app (infra and
// infra/cdkcontext, tests aside) is longer than maxFunctionLines.
func TestFunctionsAreShort(t *testing.T) {
	fset := token.NewFileSet()
	for _, glob := range []string{"*.go", "cdkcontext/*.go"} {
		files, err := filepath.Glob(glob)
		if err != nil || len(files) == 0 {
			t.Fatalf("%s: no files (%v)", glob, err)
		}
		for _, f := range files {
			if matched, _ := filepath.Match("*_test.go", filepath.Base(f)); matched {
				continue
			}
			file, err := parser.ParseFile(fset, f, nil, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range file.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok {
					continue
				}
				if n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1; n > maxFunctionLines {
					t.Errorf("%s: %s is %d lines, more than %d: split it into named steps", f, fn.Name.Name, n, maxFunctionLines)
				}
			}
		}
	}
}
