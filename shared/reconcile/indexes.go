package reconcile

import (
	"context"
	"errors"
	"time"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// IndexBuildTimeout bounds the index build at the start of a sweep, so
// that a build on a large table leaves the sweep time to run (the function
// times out after 15 minutes). A build cut short leaves an invalid index,
// which later sweeps report and `cmd/recovery create-indexes` rebuilds.
const IndexBuildTimeout = 5 * time.Minute

// ensureIndexes creates the reconcile indexes request_status lacks
// (requeststatus.CreateReconcileIndexes) and returns the warning to report
// when they are still missing or invalid afterwards: the function's
// database user may not own the table, a build may fail. The warning is
// logged; it never fails the sweep, which works without the indexes, only
// slower.
func (r *Reconciler) ensureIndexes(ctx context.Context) []string {
	bctx, cancel := context.WithTimeout(ctx, IndexBuildTimeout)
	defer cancel()
	b, err := requeststatus.CreateReconcileIndexes(bctx, r.DB, false)
	for _, name := range b.Created {
		r.log().InfoContext(ctx, "reconcile: created index on request_status", "index", name)
	}
	after := b.After
	if err != nil {
		// A build cut short by IndexBuildTimeout left bctx done: look
		// again with the sweep's context (the index is invalid now).
		if c, cerr := requeststatus.CheckReconcileIndexes(ctx, r.DB); cerr == nil {
			after = c
		}
	}
	var warnings []string
	if w := after.Warning(); w != "" {
		warnings = append(warnings, w)
	}
	var pe *requeststatus.IndexPrivilegeError
	switch {
	case errors.As(err, &pe):
		warnings = append(warnings, "the function's database user "+pe.User+" may not create indexes on request_status: "+pe.Err.Error())
	case err != nil:
		warnings = append(warnings, err.Error())
	}
	for _, w := range warnings {
		r.log().WarnContext(ctx, "reconcile: "+w)
	}
	return warnings
}
