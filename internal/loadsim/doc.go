// Package loadsim simulates a mass recovery on one machine: many
// executions of the workflow on one engine process, the Lambdas behind an
// account-wide concurrency limit, Postgres connections watched, and what it
// would cost in AWS from the price table in prices.go.
package loadsim
