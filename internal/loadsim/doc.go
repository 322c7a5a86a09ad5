// Package loadsim simulates a mass recovery on one machine: many
// executions of the workflow on one engine process, the Lambdas behind an
// account-wide concurrency limit, Postgres connections watched, S3 given,
// started (versitygw) or modelled (the calibrated S3 model), and what it
// would cost in AWS from the price table in prices.go.
package loadsim
