// Package loadsim simulates a mass recovery on one machine: events sent
// through stand-ins of the intake queue and its Pipe, which start one
// execution per batch on one engine process, the Lambdas behind an
// account-wide concurrency limit, Postgres connections watched, S3 given,
// started (versitygw) or modelled (the calibrated S3 model), and what it
// would cost in AWS: billed units counted from what happened (billing.go),
// priced by prices.go.
package loadsim
