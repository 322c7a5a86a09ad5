// Package motoserver starts moto's server (`python3 -m moto.server`, the
// same program as moto_server) on a loopback port for tests: a second S3
// peer that knows storage classes, RestoreObject and versioning, and an SSM
// Parameter Store that the real SDK clients talk to. Nothing here enters the
// functions' dependency graph.
package motoserver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
	"github.com/copy-files-to-archive/copy-files-to-archive/internal/testenv"
)

// Version is the moto release the tests are written against.
const Version = "5.2.1"

// PythonEnv names the variable choosing the Python interpreter (default
// python3 on PATH).
const PythonEnv = "LOCAL_PYTHON"

// ErrMissing reports that moto's server cannot run here.
var ErrMissing = errors.New("motoserver: needs Python 3 with moto[server] " + Version)

// Region is the region clients should sign for.
const Region = "us-east-1"

// Server is a running moto server. It accepts any credentials; AccessKey
// and SecretKey are the ones to use.
type Server struct {
	// Endpoint is the base URL, e.g. http://127.0.0.1:41234.
	Endpoint             string
	AccessKey, SecretKey string
	Region               string

	proc *childproc.Process
}

// Python returns the Python interpreter to run moto with: p when set, else
// $LOCAL_PYTHON, else python3 on PATH. The moto server and the local
// runner's moto engine both use it.
func Python(p string) string {
	if p != "" {
		return p
	}
	if p := os.Getenv(PythonEnv); p != "" {
		return p
	}
	return "python3"
}

func python() string { return Python("") }

// CheckPython reports whether python runs the import statement imports and
// has moto Version. Its error wraps missing and says what was found (the
// interpreter's output cut to 400 characters).
func CheckPython(ctx context.Context, python, imports string, missing error) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, python, "-c", imports+"; print(moto.__version__)").CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if len(msg) > 400 {
			msg = msg[:400] + "..."
		}
		return fmt.Errorf("%w: %s: %v: %s", missing, python, err, msg)
	}
	if v := strings.TrimSpace(string(out)); v != Version {
		return fmt.Errorf("%w: %s has moto %s", missing, python, v)
	}
	return nil
}

// Check reports whether moto's server can run: python imports moto
// Version with its server extras (flask, werkzeug).
func Check(ctx context.Context) error {
	return CheckPython(ctx, python(), "import moto, moto.server, flask, werkzeug", ErrMissing)
}

// Start runs moto's server on a free loopback port and waits until it
// answers. Its output goes to log (nil discards it). Close stops it.
func Start(ctx context.Context, log io.Writer) (*Server, error) {
	if log == nil {
		log = io.Discard
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // the port may be taken between probe and bind
		s, err := start(ctx, log)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if ctx.Err() != nil || errors.Is(err, ErrMissing) {
			break
		}
	}
	return nil, lastErr
}

func start(ctx context.Context, log io.Writer) (*Server, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("motoserver: find a free port: %w", err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	tail := &childproc.Output{Max: 8 << 10}
	cmd := exec.Command(python(), "-m", "moto.server", "-H", "127.0.0.1", "-p", fmt.Sprint(addr.Port))
	cmd.Env = append(os.Environ(), "PYTHONUNBUFFERED=1", "PYTHONDONTWRITEBYTECODE=1")
	out := io.MultiWriter(log, tail)
	cmd.Stdout, cmd.Stderr = out, out
	proc, err := childproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("motoserver: start %s: %v (%w)", python(), err, ErrMissing)
	}
	s := &Server{
		Endpoint: "http://" + addr.String(), AccessKey: "moto", SecretKey: "moto", Region: Region,
		proc: proc,
	}
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		s.Close()
		return nil, fmt.Errorf("%w; server output:\n%s", err, tail.String())
	}
	return s, nil
}

// waitReady polls moto's own API until it answers, and checks the process
// still runs afterwards (if another process held the port, ours exits).
func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	client := &http.Client{Timeout: time.Second}
	var last error
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.Endpoint+"/moto-api/data.json", nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				time.Sleep(100 * time.Millisecond)
				select {
				case <-s.proc.Exited():
					return fmt.Errorf("motoserver: exited (%v) although %s answered: another process holds the port", s.proc.Err(), s.Endpoint)
				default:
					return nil
				}
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		last = err
		select {
		case <-s.proc.Exited():
			if s.proc.Err() != nil && strings.Contains(s.proc.Err().Error(), "executable file not found") {
				return fmt.Errorf("%w: %v", ErrMissing, s.proc.Err())
			}
			return fmt.Errorf("motoserver: exited before answering (%v); last probe of %s: %v", s.proc.Err(), s.Endpoint, last)
		case <-ctx.Done():
			return fmt.Errorf("motoserver: no answer on %s: %w; last probe: %v", s.Endpoint, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Close stops the server. Safe to call more than once.
func (s *Server) Close() { s.proc.Stop() }

// Require stops the test when moto's server cannot run here
// (testenv.Unavailable: skipped loudly, failed under CI=true).
func Require(t testing.TB) {
	t.Helper()
	if err := Check(context.Background()); err != nil {
		testenv.Unavailable(t, fmt.Sprintf("moto's server cannot run: %v", err))
	}
}

// StartForTest starts a server stopped in t.Cleanup (see Require for what
// happens without moto).
func StartForTest(t testing.TB) *Server {
	t.Helper()
	Require(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	log := &childproc.Output{Max: 16 << 10}
	s, err := Start(ctx, log)
	if err != nil {
		t.Fatalf("motoserver: %v", err)
	}
	t.Cleanup(func() {
		s.Close()
		if t.Failed() {
			t.Logf("moto server output (last 16 KiB):\n%s", log.String())
		}
	})
	return s
}
