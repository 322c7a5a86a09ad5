package runtimeapi

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/runtimeapi/testdata/errorfn/samples"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/contract"
)

// TestErrorTypeMatchesRuntime runs a fixture Lambda that fails with errors
// of every shape, and checks contract.ErrorType and ErrorMessage give
// exactly what the real aws-lambda-go runtime reported.
func TestErrorTypeMatchesRuntime(t *testing.T) {
	binary := BuildFunction(t, "./internal/runtimeapi/testdata/errorfn")
	errs := samples.Errors()
	kinds := make([]string, 0, len(errs))
	for kind := range errs {
		kinds = append(kinds, kind)
	}
	sort.Strings(kinds)
	// What the runtime is known to report (DESIGN.md: outermost type only).
	known := map[string]string{"pointer": "PointerError", "wrapped": "wrapError", "wrapped-twice": "wrapErrors"}
	for _, kind := range kinds {
		t.Run(kind, func(t *testing.T) {
			event, _ := json.Marshal(kind)
			got := InvokeFunction(t, binary, Invocation{Event: event})
			if got.Error == nil {
				t.Fatalf("no error reported; response %s", got.Response)
			}
			want := FunctionError{ErrorType: contract.ErrorType(errs[kind]), ErrorMessage: contract.ErrorMessage(errs[kind])}
			if diff := cmp.Diff(want, *got.Error); diff != "" {
				t.Errorf("contract (-) and the runtime (+) disagree:\n%s", diff)
			}
			if name, ok := known[kind]; ok && got.Error.ErrorType != name {
				t.Errorf("runtime reported %q, want %q", got.Error.ErrorType, name)
			}
		})
	}
}

// An invocation that never reports ends at its deadline with an error. The
// function hangs for ever and the caller's context has no deadline; the
// error names the deadline that ended it. No upper bound on time is
// asserted.
func TestInvokeDeadline(t *testing.T) {
	binary := BuildFunction(t, "./internal/runtimeapi/testdata/errorfn")
	start := time.Now()
	_, err := Invoke(context.Background(), binary, Invocation{Event: []byte(`"hang"`), Deadline: 300 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "reported nothing") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if !strings.Contains(err.Error(), "within the 300ms deadline") {
		t.Errorf("err = %v, want it to end at the invocation's 300ms deadline", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Errorf("gave up after %v, before the 300ms deadline", d)
	}
}

// A binary that exits before reporting gives an error with its logs.
func TestInvokeProcessExits(t *testing.T) {
	_, err := Invoke(context.Background(), "/bin/sh", Invocation{Event: []byte(`{}`), Env: []string{"X=1"}})
	if err == nil || !strings.Contains(err.Error(), "exited without reporting") {
		t.Fatalf("err = %v, want an exit error", err)
	}
}
