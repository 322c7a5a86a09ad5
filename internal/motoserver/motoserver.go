// Package motoserver starts moto's server (`python3 -m moto.server`, the
// Python AWS mock, Apache-2.0) for tests that need an SQS and Step Functions
// endpoint: real protocol peers for what the replay command talks to. It is
// test support only; no function imports it.
package motoserver

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
)

// Python is the interpreter that runs moto (MOTO_PYTHON, default python3).
func Python() string {
	if p := os.Getenv("MOTO_PYTHON"); p != "" {
		return p
	}
	return "python3"
}

// Server is a running moto server.
type Server struct {
	Endpoint string
	proc     *childproc.Process
}

// Region and the credentials moto accepts (any).
const (
	Region    = "us-east-1"
	AccessKey = "testing"
	SecretKey = "testing"
)

// Config is an AWS configuration for the server: region, static
// credentials, and its endpoint as the base endpoint of every client.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKey, SecretKey, ""),
		BaseEndpoint: aws.String(s.Endpoint),
	}
}

// StartForTest starts a moto server for the test and stops it at cleanup.
// Without moto it skips the test, saying how to install it, or fails it
// when CI=true (CI must run every test).
func StartForTest(t testing.TB) *Server {
	t.Helper()
	if err := exec.Command(Python(), "-c", "import moto.server").Run(); err != nil {
		msg := fmt.Sprintf("SKIPPING: moto's server is not installed for %s (pip install 'moto[server]==5.2.1'): %v", Python(), err)
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	var out childproc.Output
	cmd := exec.Command(Python(), "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	cmd.Stdout, cmd.Stderr = &out, &out
	proc, err := childproc.Start(cmd)
	if err != nil {
		t.Fatalf("start moto: %v", err)
	}
	s := &Server{Endpoint: fmt.Sprintf("http://127.0.0.1:%d", port), proc: proc}
	t.Cleanup(proc.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		resp, err := http.Get(s.Endpoint + "/moto-api/")
		if err == nil {
			resp.Body.Close()
			return s
		}
		select {
		case <-proc.Exited():
			t.Fatalf("moto exited: %v\n%s", proc.Err(), out.String())
		case <-ctx.Done():
			t.Fatalf("moto did not answer within 60 s:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
