// Package invokeapi serves the AWS Lambda Invoke API on a loopback port,
// backed by Lambda handlers running in this process, so that a Step Functions
// engine pointed at it (AWS_ENDPOINT_URL_LAMBDA) invokes our own Go handlers
// exactly as it would invoke the deployed functions.
//
// Like Lambda, the server can bound concurrency (Account.Concurrency across
// every function, Function.ReservedConcurrency for one) and answer the
// invocation beyond it 429 TooManyRequestsException, and can run each
// function in execution environments created on demand and reused, each its
// own handler serving one invocation at a time (Function.NewEnvironment).
//
// Only synchronous invocation (RequestResponse) is served. A handler error is
// answered as AWS answers it: HTTP 200, header X-Amz-Function-Error:
// Unhandled, body {"errorType": ..., "errorMessage": ...}, the errorType
// computed by the same rule aws-lambda-go uses in the Lambda runtime; an
// invocation that runs into the function's Timeout is answered
// {"errorType": "Sandbox.Timedout", ...}, as Lambda answers it.
package invokeapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// ErrorReport names a handler error and gives its message the way the
// Lambda runtime reports them as errorType and errorMessage.
type ErrorReport func(error) (errorType, errorMessage string)

// Function is one Lambda function the server answers for.
type Function struct {
	// Name is the function name; invocations by name or by any ARN ending in
	// ":function:<Name>" (optionally with a qualifier) reach it.
	Name string
	// Handler serves every invocation (any number at once) unless
	// NewEnvironment is set.
	Handler lambda.Handler
	// NewEnvironment, when set, builds the handler of one execution
	// environment, as Lambda runs a function's init code once per
	// environment: an invocation that finds no idle environment gets a new
	// one (after ColdStart), which then serves one invocation at a time and
	// is kept for the next. A handler with a Close method is closed when
	// the server closes. An error answers the invocation as a function
	// error and the environment is not kept.
	NewEnvironment func(ctx context.Context) (lambda.Handler, error)
	// ColdStart is slept before a new environment's first invocation
	// (Lambda's init duration; counted within the concurrency).
	ColdStart time.Duration
	// ReservedConcurrency, when positive, is the function's reserved
	// concurrency: at most that many of its invocations at once, drawn
	// from its own share, which the other functions cannot use.
	ReservedConcurrency int
	// Timeout, when set, is the function's configured timeout: each
	// invocation's context gets that deadline, as in Lambda, so handlers
	// that plan around their deadline behave as deployed, and an
	// invocation that has not answered by then is answered as Lambda
	// answers it: errorType Sandbox.Timedout (TimeoutErrorType).
	Timeout time.Duration
	// ThrottleFirst, when positive, makes the server refuse the function's
	// first ThrottleFirst invocations as Lambda refuses an invocation
	// beyond the account's or the function's concurrency: HTTP 429
	// TooManyRequestsException, the handler not run (tests of the
	// workflow's throttle retries).
	ThrottleFirst int
	// Code names the code the function runs, when other functions run it
	// too (two deployments of one handler): MaxInFlightOfCode counts their
	// invocations together. Empty means Name.
	Code string
}

// code is what MaxInFlightOfCode counts fn's invocations under.
func (fn Function) code() string {
	if fn.Code != "" {
		return fn.Code
	}
	return fn.Name
}

// Invocation is one invocation in progress.
type Invocation struct {
	Function string
	// Code is the function's Code (its Name when it has none).
	Code    string
	Payload []byte
	Started time.Time
}

// Account is what the functions share, as in one AWS account and region.
type Account struct {
	// Concurrency, when positive, is the account's concurrency quota: at
	// most that many invocations at once across every function; the
	// reserved functions' shares are taken from it, the others share the
	// rest (unreserved concurrency).
	Concurrency int
}

// Stats are one function's counters.
type Stats struct {
	// Calls counts invocations whose handler ran; Throttled those refused
	// with 429.
	Calls, Throttled int
	// Environments counts the execution environments created
	// (NewEnvironment); PeakInFlight the most invocations at once.
	Environments, PeakInFlight int
	// Billed is the invocations' total duration, each rounded up to the
	// millisecond as Lambda bills it, the cold start (ColdStart and
	// NewEnvironment) counted in the invocation that waited for it.
	Billed time.Duration
}

// environment is one execution environment of a function.
type environment struct {
	handler lambda.Handler
}

// Server is a running Invoke API endpoint.
type Server struct {
	// URL is the endpoint to give the engine, e.g. http://127.0.0.1:41234.
	URL string

	functions map[string]Function
	report    ErrorReport
	account   Account
	// unreserved is the concurrency the unreserved functions share (0: no
	// limit).
	unreserved int
	http       *http.Server
	cancel     context.CancelFunc

	mu          sync.Mutex
	nextID      int
	inFlight    map[int]Invocation
	perFunction map[string]int
	maxInFlight map[string]int
	// perCode and maxPerCode are perFunction and maxInFlight by
	// Function.Code.
	perCode, maxPerCode map[string]int
	calls               map[string]int
	throttled           map[string]int
	// inFlightUnreserved counts the unreserved functions' invocations now;
	// inFlightAll every function's, peakAll its largest value.
	inFlightUnreserved, inFlightAll, peakAll int
	idle                                     map[string][]*environment
	environments                             map[string][]*environment
	billed                                   map[string]time.Duration
}

// Start listens on a free loopback port and serves the given functions.
// report names handler errors; pass the runtime's rule.
func Start(functions []Function, report ErrorReport) (*Server, error) {
	return StartAccount(Account{}, functions, report)
}

// StartAccount is Start with the account's limits.
func StartAccount(account Account, functions []Function, report ErrorReport) (*Server, error) {
	if report == nil {
		return nil, errors.New("invokeapi: an ErrorReport is required")
	}
	byName := make(map[string]Function, len(functions))
	for _, f := range functions {
		if f.Name == "" || (f.Handler == nil && f.NewEnvironment == nil) {
			return nil, fmt.Errorf("invokeapi: function %q has no name or no handler", f.Name)
		}
		byName[f.Name] = f
	}
	unreserved := 0
	if account.Concurrency > 0 {
		unreserved = account.Concurrency
		for _, f := range functions {
			unreserved -= f.ReservedConcurrency
		}
		if unreserved < 1 {
			return nil, fmt.Errorf("invokeapi: the reserved concurrency of the functions leaves %d of the account's %d for the others: at least 1 is needed", unreserved, account.Concurrency)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("invokeapi: listen on loopback: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		URL:          "http://" + ln.Addr().String(),
		functions:    byName,
		report:       report,
		account:      account,
		unreserved:   unreserved,
		idle:         map[string][]*environment{},
		environments: map[string][]*environment{},
		billed:       map[string]time.Duration{},
		cancel:       cancel,
		inFlight:     map[int]Invocation{},
		perFunction:  map[string]int{},
		maxInFlight:  map[string]int{},
		perCode:      map[string]int{},
		maxPerCode:   map[string]int{},
		calls:        map[string]int{},
		throttled:    map[string]int{},
	}
	s.http = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	go s.http.Serve(ln) //nolint:errcheck // Serve returns ErrServerClosed on Close.
	return s, nil
}

// Close stops the server and cancels the contexts of running invocations.
func (s *Server) Close() error {
	s.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.http.Shutdown(ctx)
	if err != nil {
		err = s.http.Close()
	}
	s.mu.Lock()
	envs := s.environments
	s.environments, s.idle = map[string][]*environment{}, map[string][]*environment{}
	s.mu.Unlock()
	for _, list := range envs {
		for _, e := range list {
			if c, ok := e.handler.(interface{ Close() }); ok {
				c.Close()
			}
		}
	}
	return err
}

// Stats returns the named function's counters.
func (s *Server) Stats(function string) Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{
		Calls: s.calls[function], Throttled: s.throttled[function],
		Environments: len(s.environments[function]), PeakInFlight: s.maxInFlight[function],
		Billed: s.billed[function],
	}
}

// PeakInFlight returns the most invocations in flight at once across every
// function.
func (s *Server) PeakInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peakAll
}

// InFlight returns the invocations running now, oldest first.
func (s *Server) InFlight() []Invocation {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Invocation, 0, len(s.inFlight))
	for _, inv := range s.inFlight {
		out = append(out, inv)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Started.Before(out[j].Started) })
	return out
}

// MaxInFlight returns the largest number of concurrent invocations of the
// named function seen so far.
func (s *Server) MaxInFlight(function string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxInFlight[function]
}

// MaxInFlightOfCode returns the largest number of concurrent invocations
// of the functions that run code (Function.Code) seen so far.
func (s *Server) MaxInFlightOfCode(code string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxPerCode[code]
}

// Throttled returns how many invocations of the named function were refused
// with TooManyRequestsException (see Function.ThrottleFirst).
func (s *Server) Throttled(function string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled[function]
}

// throttle reports whether this invocation of fn is refused, counting it.
func (s *Server) throttle(fn Function) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.throttled[fn.Name] >= fn.ThrottleFirst {
		return false
	}
	s.throttled[fn.Name]++
	return true
}

// Calls returns how many times the named function's handler was invoked
// (throttled invocations not counted).
func (s *Server) Calls(function string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[function]
}

// invokeError is the body of an Unhandled function error, as AWS sends it.
type invokeError struct {
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

const invokePrefix = "/2015-03-31/functions/"

// ServeHTTP answers POST /2015-03-31/functions/{FunctionName}/invocations.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fn, name, payload, ok := s.request(w, r)
	if !ok {
		return
	}
	if s.throttle(fn) {
		// As Lambda answers an Invoke beyond the concurrency limit
		// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors):
		// 429 TooManyRequestsException; the function does not run.
		writeThrottled(w, "Rate Exceeded.", "ReservedFunctionConcurrentInvocationLimitExceeded")
		return
	}
	id, reason := s.begin(fn, payload)
	if reason != "" {
		// Beyond the account's unreserved concurrency or the function's
		// reserved concurrency, Lambda refuses the invocation with 429
		// TooManyRequestsException and a Reason
		// (https://docs.aws.amazon.com/lambda/latest/api/API_Invoke.html#API_Invoke_Errors,
		// https://docs.aws.amazon.com/lambda/latest/dg/lambda-concurrency.html).
		writeThrottled(w, "Rate Exceeded.", reason)
		return
	}
	started := time.Now()
	out, err := s.run(r.Context(), fn, name, id, payload)
	s.end(id, fn, time.Since(started))
	s.answer(w, out, err)
}

// request reads an Invoke request: the function it names and its payload.
// When ok is false it has answered with Lambda's error for the request.
func (s *Server) request(w http.ResponseWriter, r *http.Request) (fn Function, name string, payload []byte, ok bool) {
	rest, ok1 := strings.CutPrefix(r.URL.EscapedPath(), invokePrefix)
	nameEscaped, ok2 := strings.CutSuffix(rest, "/invocations")
	if !ok1 || !ok2 || r.Method != http.MethodPost {
		writeServiceError(w, http.StatusNotFound, "UnknownOperationException", "only POST "+invokePrefix+"{FunctionName}/invocations is served")
		return Function{}, "", nil, false
	}
	name, err := url.PathUnescape(nameEscaped)
	if err != nil {
		writeServiceError(w, http.StatusBadRequest, "InvalidParameterValueException", "bad function name: "+err.Error())
		return Function{}, "", nil, false
	}
	name = FunctionName(name)
	fn, found := s.functions[name]
	if !found {
		writeServiceError(w, http.StatusNotFound, "ResourceNotFoundException", "Function not found: "+name)
		return Function{}, "", nil, false
	}
	if t := r.Header.Get("X-Amz-Invocation-Type"); t != "" && t != "RequestResponse" {
		writeServiceError(w, http.StatusBadRequest, "InvalidParameterValueException", "only RequestResponse invocations are served, got "+t)
		return Function{}, "", nil, false
	}
	payload, err = io.ReadAll(r.Body)
	if err != nil {
		writeServiceError(w, http.StatusBadRequest, "InvalidRequestContentException", "read payload: "+err.Error())
		return Function{}, "", nil, false
	}
	if len(payload) == 0 {
		payload = []byte("{}")
	}
	return fn, name, payload, true
}

// run invokes fn in an execution environment (within its timeout, if it
// has one) and returns its answer.
func (s *Server) run(ctx context.Context, fn Function, name string, id int, payload []byte) ([]byte, error) {
	requestID := fmt.Sprintf("local-%08d", id)
	ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{
		AwsRequestID:       requestID,
		InvokedFunctionArn: "arn:aws:lambda:us-east-1:123456789012:function:" + name,
	})
	env, err := s.environment(ctx, fn)
	if err != nil {
		return nil, err
	}
	var out []byte
	if fn.Timeout > 0 {
		out, err = s.invokeWithin(ctx, fn, env.handler, payload, requestID)
	} else {
		out, err = s.invoke(ctx, env.handler, payload)
	}
	var timedOut *timeoutError
	if !errors.As(err, &timedOut) {
		// Lambda does not reuse an environment whose invocation
		// timed out (its handler may still be running here).
		s.release(fn, env)
	}
	return out, err
}

// answer writes the invocation's answer as Lambda does: the handler's
// output, or its error document with X-Amz-Function-Error: Unhandled.
func (s *Server) answer(w http.ResponseWriter, out []byte, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amz-Executed-Version", "$LATEST")
	if err != nil {
		w.Header().Set("X-Amz-Function-Error", "Unhandled")
		errorType, errorMessage := s.report(err)
		switch e := err.(type) {
		case *panicError:
			errorType, errorMessage = e.typ, e.msg
		case *timeoutError:
			errorType, errorMessage = TimeoutErrorType, e.Error()
		}
		out, _ = json.Marshal(invokeError{ErrorType: errorType, ErrorMessage: errorMessage})
	}
	w.WriteHeader(http.StatusOK)
	w.Write(out) //nolint:errcheck // the engine sees a broken connection.
}

// TimeoutErrorType is the errorType Lambda reports for an invocation that
// ran into the function's timeout: the runtime is stopped at the deadline and
// the caller gets {"errorType": "Sandbox.Timedout", "errorMessage":
// "RequestId: ... Error: Task timed out after N.NN seconds"}, which reaches a
// state machine as the error Sandbox.Timedout (Lambda's troubleshooting page,
// https://docs.aws.amazon.com/lambda/latest/dg/troubleshooting-invocation.html#troubleshooting-timeouts;
// older runtimes said Lambda.Unknown).
const TimeoutErrorType = "Sandbox.Timedout"

// timeoutError is an invocation stopped at the function's deadline.
type timeoutError struct {
	requestID string
	timeout   time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("RequestId: %s Error: Task timed out after %.2f seconds", e.requestID, e.timeout.Seconds())
}

// invokeWithin runs the handler with the function's deadline on its context
// and answers as Lambda does when the deadline passes first: Lambda stops
// the runtime there, so the caller gets a timeout error, never what the
// handler returns later (a handler that returns only after the deadline,
// error or not, would have been killed). The handler's goroutine is left to
// finish on its own: a process cannot stop it, and its context is done.
func (s *Server) invokeWithin(ctx context.Context, fn Function, handler lambda.Handler, payload []byte, requestID string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fn.Timeout)
	defer cancel()
	type result struct {
		out []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		out, err := s.invoke(ctx, handler, payload)
		done <- result{out, err}
	}()
	select {
	case r := <-done:
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &timeoutError{requestID: requestID, timeout: fn.Timeout}
		}
		return r.out, r.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, &timeoutError{requestID: requestID, timeout: fn.Timeout}
		}
		r := <-done // the request was cancelled (server closing): wait for the handler
		return r.out, r.err
	}
}

// invoke runs the handler. A panic is reported as the Lambda runtime
// reports it: errorType is the type name of the panic value, errorMessage
// its text.
func (s *Server) invoke(ctx context.Context, handler lambda.Handler, payload []byte) (out []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &panicError{typ: typeName(p), msg: fmt.Sprint(p)}
		}
	}()
	return handler.Invoke(ctx, payload)
}

// panicError carries a recovered panic's errorType and errorMessage.
type panicError struct{ typ, msg string }

func (e *panicError) Error() string { return e.msg }

func typeName(v any) string {
	t := reflect.TypeOf(v)
	if t.Kind() == reflect.Pointer {
		return t.Elem().Name()
	}
	return t.Name()
}

// begin admits an invocation of fn and counts it, or returns the Reason
// Lambda gives for refusing it.
func (s *Server) begin(fn Function, payload []byte) (id int, refused string) {
	name := fn.Name
	s.mu.Lock()
	defer s.mu.Unlock()
	if fn.ReservedConcurrency > 0 {
		if s.perFunction[name] >= fn.ReservedConcurrency {
			s.throttled[name]++
			return 0, "ReservedFunctionConcurrentInvocationLimitExceeded"
		}
	} else if s.unreserved > 0 {
		if s.inFlightUnreserved >= s.unreserved {
			s.throttled[name]++
			return 0, "ConcurrentInvocationLimitExceeded"
		}
		s.inFlightUnreserved++
	}
	s.inFlightAll++
	s.peakAll = max(s.peakAll, s.inFlightAll)
	s.nextID++
	s.inFlight[s.nextID] = Invocation{Function: name, Code: fn.code(), Payload: payload, Started: time.Now()}
	s.perFunction[name]++
	s.calls[name]++
	if s.perFunction[name] > s.maxInFlight[name] {
		s.maxInFlight[name] = s.perFunction[name]
	}
	s.perCode[fn.code()]++
	s.maxPerCode[fn.code()] = max(s.maxPerCode[fn.code()], s.perCode[fn.code()])
	return s.nextID, ""
}

func (s *Server) end(id int, fn Function, took time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.inFlight, id)
	s.perFunction[fn.Name]--
	s.perCode[fn.code()]--
	s.inFlightAll--
	if fn.ReservedConcurrency == 0 && s.unreserved > 0 {
		s.inFlightUnreserved--
	}
	// Lambda bills each invocation's duration rounded up to the millisecond.
	s.billed[fn.Name] += (took + time.Millisecond - 1).Truncate(time.Millisecond)
}

// environment returns an idle environment of fn, or a new one. Without
// NewEnvironment every invocation shares fn.Handler.
func (s *Server) environment(ctx context.Context, fn Function) (*environment, error) {
	if fn.NewEnvironment == nil {
		return &environment{handler: fn.Handler}, nil
	}
	s.mu.Lock()
	if idle := s.idle[fn.Name]; len(idle) > 0 {
		// Lambda does not say which idle environment an invocation
		// gets: any of them, here.
		i := rand.IntN(len(idle))
		env := idle[i]
		idle[i] = idle[len(idle)-1]
		s.idle[fn.Name] = idle[:len(idle)-1]
		s.mu.Unlock()
		return env, nil
	}
	s.mu.Unlock()
	if fn.ColdStart > 0 {
		select {
		case <-time.After(fn.ColdStart):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	h, err := fn.NewEnvironment(ctx)
	if err != nil {
		return nil, &InitError{Function: fn.Name, Err: err}
	}
	env := &environment{handler: h}
	s.mu.Lock()
	s.environments[fn.Name] = append(s.environments[fn.Name], env)
	s.mu.Unlock()
	return env, nil
}

// release makes env idle again for fn's next invocation.
func (s *Server) release(fn Function, env *environment) {
	if fn.NewEnvironment == nil {
		return
	}
	s.mu.Lock()
	s.idle[fn.Name] = append(s.idle[fn.Name], env)
	s.mu.Unlock()
}

// InitError is an environment whose init (NewEnvironment) failed. It is
// answered as a function error, named by the ErrorReport like a handler's.
type InitError struct {
	Function string
	Err      error
}

func (e *InitError) Error() string { return fmt.Sprintf("init of %s failed: %v", e.Function, e.Err) }
func (e *InitError) Unwrap() error { return e.Err }

// FunctionName returns the function name of a name, a partial ARN
// ("123456789012:function:name") or a full ARN, dropping any version or
// alias qualifier.
func FunctionName(nameOrARN string) string {
	if _, after, ok := strings.Cut(nameOrARN, ":function:"); ok {
		name, _, _ := strings.Cut(after, ":")
		return name
	}
	if name, _, ok := strings.Cut(nameOrARN, ":"); ok {
		return name // name:qualifier
	}
	return nameOrARN
}

// writeServiceError answers a request the Lambda service itself rejects
// (not a function error), in the JSON shape the AWS SDKs parse.
func writeServiceError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", code)
	w.WriteHeader(status)
	body, _ := json.Marshal(map[string]string{"Type": "User", "message": message})
	w.Write(body) //nolint:errcheck // the caller sees a broken connection.
}

// writeThrottled answers 429 TooManyRequestsException in the shape of
// Lambda's Invoke error (Type, message, Reason, retryAfterSeconds).
func writeThrottled(w http.ResponseWriter, message, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", "TooManyRequestsException")
	w.WriteHeader(http.StatusTooManyRequests)
	body, _ := json.Marshal(map[string]string{"Type": "User", "message": message, "Reason": reason, "retryAfterSeconds": "1"})
	w.Write(body) //nolint:errcheck // the caller sees a broken connection.
}
