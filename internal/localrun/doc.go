// Package localrun is the local runner's command line (go run ./cmd/local):
// run, demo, seed, load, reconcile and rerun, on the services of
// localservices, executions of package execution and the load simulator of
// loadsim.
package localrun
