package requeststatus

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Queryer is what a Table needs from a database handle: *pgxpool.Pool,
// *pgx.Conn and pgx.Tx satisfy it.
type Queryer interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// Table holds the queries on request_status outside the workflow: the
// reconcile sweep's (sweepqueries.go), the operators' reports and rerun
// selection (reports.go) and the seeding of tests and demos (seed.go).
// The workflow's own queries are Store's. Every query is parameterized.
type Table struct {
	db Queryer
}

// NewTable returns a Table on db.
func NewTable(db Queryer) *Table { return &Table{db: db} }

// Selection narrows the operators' queries to some rows. Every field set
// must match; the zero Selection selects every row.
type Selection struct {
	// RequestGroupID is a request_group_id (a UUID).
	RequestGroupID string
	// GranuleID is a granule_id.
	GranuleID string
	// RequestedAfter selects rows whose request_time is at or after it.
	RequestedAfter time.Time
}

// where returns sel's conditions ("" for none). Their arguments are
// appended to args and numbered after the ones already there.
func (sel Selection) where(args *[]any) string {
	var conds []string
	add := func(cond string, v any) {
		*args = append(*args, v)
		conds = append(conds, fmt.Sprintf(cond, len(*args)))
	}
	if sel.RequestGroupID != "" {
		add("request_group_id = $%d::uuid", sel.RequestGroupID)
	}
	if sel.GranuleID != "" {
		add("granule_id = $%d", sel.GranuleID)
	}
	if !sel.RequestedAfter.IsZero() {
		add("request_time >= $%d", sel.RequestedAfter)
	}
	return strings.Join(conds, " AND ")
}

// whereAll joins the non-empty conditions into a WHERE clause ("" for
// none).
func whereAll(conds ...string) string {
	var kept []string
	for _, c := range conds {
		if c != "" {
			kept = append(kept, c)
		}
	}
	if len(kept) == 0 {
		return ""
	}
	return "WHERE " + strings.Join(kept, " AND ")
}
