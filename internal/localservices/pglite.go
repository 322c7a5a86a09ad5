package localservices

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/copy-files-to-archive/copy-files-to-archive/internal/childproc"
)

// PGlite is a running PGlite server (Postgres compiled to WebAssembly, served
// over the Postgres wire protocol by @electric-sql/pglite-socket), the
// embedded database of the local runner. It needs only Node and the npm
// packages the repository pins.
//
// PGlite is a single-session database: pglite-server multiplexes its
// connections onto that one session, so sessions are not isolated: URL asks
// pgx for a pool of one connection (PoolMaxConns) that uses the simple query
// protocol (no prepared statements that a later connection would collide
// with). The server accepts a few more connections than that, because it
// forgets a closed connection asynchronously and a pool that reconnects at
// once would otherwise be refused.
type PGlite struct {
	// URL is the connection string to use (pgx / pgxpool syntax).
	URL string
	// Dir holds the database files.
	Dir string

	proc *childproc.Process
	lock *os.File
}

// PGlite connection limits: the server's, and the pool's given in URL.
const (
	PGliteMaxConnections = 4
	PGlitePoolMaxConns   = 1
)

// StartPGlite starts node_modules/.bin/pglite-server on a free loopback port
// with its data in dir, and waits until it answers queries. Only one runner
// may use dir at a time (a lock file guards it). Server output goes to log.
func StartPGlite(ctx context.Context, repoRoot, dir string, log io.Writer) (*PGlite, error) {
	if log == nil {
		log = io.Discard
	}
	bin := filepath.Join(repoRoot, "node_modules", ".bin", "pglite-server")
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("%w: %s not found (run `npm ci` in %s)", ErrNodeModulesMissing, bin, repoRoot)
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("pglite: data dir: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ { // the free port may be taken meanwhile
		p, err := startPGlite(ctx, bin, repoRoot, dir, log)
		if err == nil {
			p.lock = lock
			return p, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			break
		}
	}
	lock.Close()
	return nil, lastErr
}

func startPGlite(ctx context.Context, bin, repoRoot, dir string, log io.Writer) (*PGlite, error) {
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("pglite: find a free port: %w", err)
	}
	tail := &childproc.Output{Max: 8 << 10}
	cmd := exec.Command(bin,
		"--db="+filepath.Join(dir, "data"),
		"--host=127.0.0.1",
		fmt.Sprintf("--port=%d", port),
		fmt.Sprintf("--max-connections=%d", PGliteMaxConnections))
	cmd.Dir = repoRoot
	// One writer for both streams: exec then copies them in one goroutine,
	// so log and tail are never written to at once.
	out := io.MultiWriter(log, tail)
	cmd.Stdout = out
	cmd.Stderr = out
	proc, err := childproc.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("pglite: start %s: %w", bin, err)
	}
	p := &PGlite{
		URL: fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable"+
			"&default_query_exec_mode=simple_protocol&pool_max_conns=%d", port, PGlitePoolMaxConns),
		Dir:  dir,
		proc: proc,
	}
	if err := p.waitReady(ctx, port, 90*time.Second); err != nil {
		p.proc.Stop()
		return nil, fmt.Errorf("%w; pglite-server output:\n%s", err, tail.String())
	}
	return p, nil
}

// waitReady connects until a query succeeds. The first start initialises
// the database files, which takes several seconds.
func (p *PGlite) waitReady(ctx context.Context, port int, limit time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	url := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable&default_query_exec_mode=simple_protocol&connect_timeout=5", port)
	for {
		conn, err := pgx.Connect(ctx, url)
		if err == nil {
			_, err = conn.Exec(ctx, "SELECT 1")
			conn.Close(context.Background())
			if err == nil {
				return nil
			}
		}
		select {
		case <-p.proc.Exited():
			return fmt.Errorf("pglite: pglite-server exited before answering: %v", p.proc.Err())
		case <-ctx.Done():
			return fmt.Errorf("pglite: no answer on port %d: %w (last error: %v)", port, ctx.Err(), err)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Close stops the server (childproc's Stop: SIGTERM to its process group,
// SIGKILL after five seconds) and releases the data directory.
func (p *PGlite) Close() error {
	p.proc.Stop()
	if p.lock != nil {
		p.lock.Close()
	}
	return nil
}

// lockDir takes an exclusive, non-blocking lock on dir/.lock.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("pglite: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("pglite: %s is in use by another local runner", dir)
		}
		return nil, fmt.Errorf("pglite: lock %s: %w", dir, err)
	}
	return f, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
