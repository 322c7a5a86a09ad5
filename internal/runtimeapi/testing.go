package runtimeapi

import (
	"context"
	"testing"
)

// BuildFunction builds the Lambda main package pkg (relative to the module
// root, such as "./functions/aggregate") into t.TempDir() and returns the
// binary's path; a build failure fails the test.
func BuildFunction(t testing.TB, pkg string) string {
	t.Helper()
	ctx := context.Background()
	dir, err := ModuleDir(ctx)
	if err != nil {
		t.Fatal(err)
	}
	binary, err := Build(ctx, dir, pkg, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return binary
}

// InvokeFunction runs one invocation of binary (see Invoke); a function
// that reports nothing fails the test.
func InvokeFunction(t testing.TB, binary string, inv Invocation) Result {
	t.Helper()
	r, err := Invoke(t.Context(), binary, inv)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
