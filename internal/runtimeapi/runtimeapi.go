// Package runtimeapi runs a real Lambda function binary against a minimal
// fake of the Lambda Runtime API, so tests can see exactly what
// aws-lambda-go reports for an invocation: the response payload, or the
// errorType and errorMessage that Step Functions routes on.
//
// Only what aws-lambda-go uses is served: GET .../runtime/invocation/next
// (one event, then nothing), POST .../invocation/{id}/response and
// .../invocation/{id}/error, and POST .../runtime/init/error.
package runtimeapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
)

// FunctionError is the error document a function posts to the Runtime API.
type FunctionError struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// Result is what a function reported for one invocation: exactly one of
// Response and Error is set.
type Result struct {
	// Response is the function's response payload.
	Response json.RawMessage
	// Error is the function's error.
	Error *FunctionError
	// Logs is what the process wrote to stdout and stderr.
	Logs string
}

// Invocation describes one invocation of a function binary.
type Invocation struct {
	// Event is the payload, as Lambda would pass it.
	Event []byte
	// Env is the process's whole environment besides the Runtime API
	// address; nothing is inherited from the caller's environment.
	Env []string
	// Deadline is how long the function is given (Lambda-Runtime-Deadline-Ms)
	// and how long Invoke waits for it; 30s when zero.
	Deadline time.Duration
	// RequestID is the Lambda-Runtime-Aws-Request-Id; a fixed id when empty.
	RequestID string
	// FunctionARN is the Lambda-Runtime-Invoked-Function-Arn; derived from
	// the binary's name when empty.
	FunctionARN string
}

const apiPrefix = "/2018-06-01/runtime/"

// Build compiles the Lambda main package pkg (such as "./functions/aggregate",
// relative to moduleDir) the way it is deployed, with -tags lambda.norpc and
// CGO_ENABLED=0, for the machine running the tests, into outDir. It returns
// the binary's path.
func Build(ctx context.Context, moduleDir, pkg, outDir string) (string, error) {
	out := filepath.Join(outDir, filepath.Base(pkg))
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "lambda.norpc", "-o", out, pkg)
	cmd.Dir = moduleDir
	cmd.Env = append(cmd.Environ(), "CGO_ENABLED=0")
	if output, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, output)
	}
	return out, nil
}

// fakeAPI serves one invocation and collects what the function reports.
type fakeAPI struct {
	inv      Invocation
	deadline time.Time

	mu     sync.Mutex
	served bool
	result chan Result // buffered: the first report wins
	done   chan struct{}
}

func (f *fakeAPI) report(r Result) {
	select {
	case f.result <- r:
	default:
	}
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	next := apiPrefix + "invocation/next"
	invocation := apiPrefix + "invocation/" + f.inv.RequestID + "/"
	switch {
	case r.Method == http.MethodGet && r.URL.Path == next:
		f.mu.Lock()
		first := !f.served
		f.served = true
		f.mu.Unlock()
		if !first {
			// One invocation only: hold the function here until the end.
			select {
			case <-f.done:
			case <-r.Context().Done():
			}
			http.Error(w, "no more invocations", http.StatusGone)
			return
		}
		w.Header().Set("Lambda-Runtime-Aws-Request-Id", f.inv.RequestID)
		w.Header().Set("Lambda-Runtime-Deadline-Ms", strconv.FormatInt(f.deadline.UnixMilli(), 10))
		w.Header().Set("Lambda-Runtime-Invoked-Function-Arn", f.inv.FunctionARN)
		w.Header().Set("Lambda-Runtime-Trace-Id", "Root=1-00000000-000000000000000000000000;Sampled=0")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(f.inv.Event)
	case r.Method == http.MethodPost && r.URL.Path == invocation+"response":
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		f.report(Result{Response: json.RawMessage(body)})
	case r.Method == http.MethodPost && (r.URL.Path == invocation+"error" || r.URL.Path == apiPrefix+"init/error"):
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		var fe FunctionError
		if err := json.Unmarshal(body, &fe); err != nil {
			fe = FunctionError{ErrorType: "runtimeapi.UnreadableError", ErrorMessage: string(body)}
		}
		f.report(Result{Error: &fe})
	default:
		http.Error(w, "not served by this fake: "+r.Method+" "+r.URL.Path, http.StatusNotFound)
	}
}

// Invoke starts the function binary with inv.Env, serves it inv.Event as
// its one invocation, and returns what it reported. The process is killed
// once it has reported, or when the deadline or ctx ends first; an error
// means it reported nothing (it exited, or timed out), and carries its logs.
func Invoke(ctx context.Context, binary string, inv Invocation) (Result, error) {
	if inv.Deadline == 0 {
		inv.Deadline = 30 * time.Second
	}
	if inv.RequestID == "" {
		inv.RequestID = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
	}
	name := filepath.Base(binary)
	if inv.FunctionARN == "" {
		inv.FunctionARN = "arn:aws:lambda:us-west-2:111122223333:function:" + name
	}
	api := &fakeAPI{
		inv:      inv,
		deadline: time.Now().Add(inv.Deadline),
		result:   make(chan Result, 1),
		done:     make(chan struct{}),
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return Result{}, err
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() {
		close(api.done)
		_ = srv.Close()
	}()

	ctx, cancel := context.WithDeadlineCause(ctx, api.deadline,
		fmt.Errorf("%w: no report within the %s deadline", context.DeadlineExceeded, inv.Deadline))
	defer cancel()
	var logs childproc.Output
	cmd := exec.Command(binary)
	cmd.Env = append(append([]string{
		"AWS_LAMBDA_FUNCTION_NAME=" + name,
		"AWS_LAMBDA_FUNCTION_VERSION=$LATEST",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128",
	}, inv.Env...), "AWS_LAMBDA_RUNTIME_API="+ln.Addr().String())
	cmd.Stdout = &logs
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return Result{}, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stop := func() {
		_ = cmd.Process.Kill()
		<-exited
	}

	select {
	case r := <-api.result:
		stop()
		r.Logs = logs.String()
		return r, nil
	case err := <-exited:
		// It may have reported just before exiting.
		select {
		case r := <-api.result:
			r.Logs = logs.String()
			return r, nil
		default:
		}
		return Result{Logs: logs.String()}, fmt.Errorf("%s exited without reporting (%v); logs:\n%s", name, err, logs.String())
	case <-ctx.Done():
		stop()
		return Result{Logs: logs.String()}, fmt.Errorf("%s reported nothing: %w; logs:\n%s", name, context.Cause(ctx), logs.String())
	}
}

var errNoModule = errors.New("not inside a Go module")

// ModuleDir returns the directory of the main module the current directory
// belongs to (where go.mod is).
func ModuleDir(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := string(bytes.TrimSpace(out))
	if gomod == "" || gomod == "/dev/null" {
		return "", errNoModule
	}
	return filepath.Dir(gomod), nil
}
