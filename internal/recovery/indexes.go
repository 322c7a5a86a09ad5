package recovery

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/copy-files-to-archive/copy-files-to-archive/shared/requeststatus"
)

// CreateIndexesCommand is the command that makes sure request_status has
// the reconcile indexes (requeststatus.CreateIndexesCommand names it in
// warnings).
const CreateIndexesCommand = "create-indexes"

// createIndexes is `cmd/recovery create-indexes [--check]`: it builds the
// reconcile indexes request_status lacks, and rebuilds those a failed build
// left invalid, each with CREATE INDEX CONCURRENTLY (the workflow keeps
// writing meanwhile; no deadline, however long the table). Run it as the
// table's owner. --check only reports. It prints what it did and the
// indexes' state; it returns an error (exit status 1) unless both indexes
// end valid.
func (c *CLI) createIndexes(ctx context.Context, fs *flag.FlagSet, args []string) error {
	check := fs.Bool("check", false, "only report which indexes are missing or invalid; build nothing")
	if err := parse(fs, args); err != nil {
		return err
	}
	svc, err := c.connect(ctx, "")
	if err != nil {
		return err
	}
	defer svc.close()

	var after requeststatus.IndexCheck
	if *check {
		after, err = requeststatus.CheckReconcileIndexes(ctx, svc.db)
	} else {
		var b requeststatus.IndexBuild
		b, err = requeststatus.CreateReconcileIndexes(ctx, svc.db, true)
		for _, name := range b.Created {
			fmt.Fprintf(c.Stdout, "created %s\n", name)
		}
		for _, name := range b.Rebuilt {
			fmt.Fprintf(c.Stdout, "rebuilt %s (it was invalid)\n", name)
		}
		after = b.After
	}
	if w := after.Warning(); w != "" {
		fmt.Fprintf(c.Stdout, "warning: %s\n", w)
	}
	if err != nil {
		return err
	}
	if !after.OK() {
		return errors.New("the reconcile indexes are not all valid")
	}
	fmt.Fprintf(c.Stdout, "request_status has the reconcile indexes %s, valid\n", strings.Join(requeststatus.ReconcileIndexes, " and "))
	return nil
}

// indexWarnings is what status says of the reconcile indexes: nothing when
// both are there and valid, else the warning naming the missing or invalid
// ones and the command that creates them.
func indexWarnings(ctx context.Context, db Querier) []string {
	c, err := requeststatus.CheckReconcileIndexes(ctx, db)
	if err != nil {
		return []string{err.Error()}
	}
	if w := c.Warning(); w != "" {
		return []string{w}
	}
	return nil
}
