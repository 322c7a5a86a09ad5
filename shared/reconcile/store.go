package reconcile

import (
	"context"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// DB is what the sweep needs from a database handle, the handle
// requeststatus.Table queries: *pgxpool.Pool, *pgx.Conn and pgx.Tx satisfy
// it (PoolDB adapts requeststatus.LazyPool).
type DB = requeststatus.Queryer

// PoolDB is a DB on a requeststatus.LazyPool: the host and password are
// read from SSM at the first query, inside the invocation. Exec goes
// through the LazyPool, which drops its pool when the database refuses a
// rotated password. Query uses the pool as it is. The next Exec, or the
// next invocation after a failed one, reads SSM again.
type PoolDB struct {
	Lazy *requeststatus.LazyPool
}

// The sweep's queries run on a PoolDB (requeststatus.Table).
var _ requeststatus.Queryer = PoolDB{}

// Query runs sql on the pool.
func (p PoolDB) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	pool, err := p.Lazy.Pool(ctx)
	if err != nil {
		return nil, err
	}
	return pool.Query(ctx, sql, args...)
}

// Exec runs sql through the LazyPool.
func (p PoolDB) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	return p.Lazy.Exec(ctx, sql, args...)
}

// StuckRow is an inprogress row the sweep lists (requeststatus.StuckRow).
type StuckRow = requeststatus.StuckRow

// stuckRows is what the sweep needs of request_status:
// requeststatus.Table's sweep queries satisfy it.
type stuckRows interface {
	ListStuck(ctx context.Context, q requeststatus.StuckPage) ([]requeststatus.StuckRow, error)
	ApplyGuarded(ctx context.Context, updates []requeststatus.GuardedUpdate) (map[string]bool, error)
	UndoClaims(ctx context.Context, claims []requeststatus.UndoneClaim) (map[string]bool, error)
}

var _ stuckRows = (*requeststatus.Table)(nil)

// Status words, as requeststatus has them.
const (
	statusInProgress = requeststatus.StatusInProgress
	statusError      = requeststatus.StatusError
)
