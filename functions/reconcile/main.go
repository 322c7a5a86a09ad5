// Command reconcile is the scheduled Lambda that sweeps request_status for
// restored files no event brought into the copy workflow, and starts their
// copies or records why they cannot be copied. Its wiring is
// reconcile.NewHandlerFromEnv.
package main

import (
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/lambdafn"
	"github.com/copy-files-to-archive/copy-files-to-archive/shared/reconcile"
)

func main() { lambdafn.Start(reconcile.FunctionName, reconcile.NewHandlerFromEnv) }
