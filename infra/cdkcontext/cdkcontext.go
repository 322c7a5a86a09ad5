// Package cdkcontext reads the CDK app's context values (cdk.json's
// "context", or `-c key=value`) into the workflow's settings. It imports
// nothing from the CDK, so the local runner reads cdk.json as a deploy does.
package cdkcontext

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// WorkflowSettings reads the workflow policy from CDK context values
// (cdk.json's "context" object, or the values `-c key=value` gives, which are
// strings). Every key must be present: cdk.json holds the defaults. The
// function ARNs are left empty for the caller to set.
func WorkflowSettings(ctx map[string]any) (statemachine.Settings, error) {
	var s statemachine.Settings
	var errs []error
	ints := []struct {
		key string
		dst *int
	}{
		{statemachine.ContextMapMaxConcurrency, &s.MapMaxConcurrency},
		{statemachine.ContextCopyRetries, &s.CopyRetries},
		{statemachine.ContextCopyRetrySleepSecs, &s.CopyRetrySleepSecs},
		{statemachine.ContextCopyRetryMaxDelaySecs, &s.CopyRetryMaxDelaySecs},
		{statemachine.ContextDatabaseRetries, &s.DatabaseRetries},
		{statemachine.ContextDatabaseRetryIntervalSecs, &s.DatabaseRetryIntervalSecs},
		{statemachine.ContextDatabaseRetryMaxDelaySecs, &s.DatabaseRetryMaxDelaySecs},
		{statemachine.ContextCopyTaskTimeoutSecs, &s.CopyTaskTimeoutSecs},
		{statemachine.ContextTaskTimeoutSecs, &s.TaskTimeoutSecs},
		{statemachine.ContextChunkFiles, &s.ChunkFiles},
		{statemachine.ContextChunkMapMaxConcurrency, &s.ChunkMapMaxConcurrency},
	}
	for _, f := range ints {
		v, err := Number(ctx, f.key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if v != float64(int(v)) {
			errs = append(errs, fmt.Errorf("context %s = %v: must be a whole number", f.key, v))
			continue
		}
		*f.dst = int(v)
	}
	floats := []struct {
		key string
		dst *float64
	}{
		{statemachine.ContextCopyRetryBackoffRate, &s.CopyRetryBackoffRate},
		{statemachine.ContextDatabaseRetryBackoffRate, &s.DatabaseRetryBackoffRate},
	}
	for _, f := range floats {
		v, err := Number(ctx, f.key)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		*f.dst = v
	}
	if err := errors.Join(errs...); err != nil {
		return statemachine.Settings{}, err
	}
	if err := s.ValidatePolicy(); err != nil {
		return statemachine.Settings{}, fmt.Errorf("context: %w", err)
	}
	return s, nil
}

// WorkflowKeys lists the context keys WorkflowSettings reads, sorted.
func WorkflowKeys() []string {
	keys := []string{
		statemachine.ContextMapMaxConcurrency, statemachine.ContextCopyRetries, statemachine.ContextCopyRetrySleepSecs,
		statemachine.ContextCopyRetryBackoffRate, statemachine.ContextCopyRetryMaxDelaySecs,
		statemachine.ContextDatabaseRetries, statemachine.ContextDatabaseRetryIntervalSecs,
		statemachine.ContextDatabaseRetryBackoffRate, statemachine.ContextDatabaseRetryMaxDelaySecs,
		statemachine.ContextCopyTaskTimeoutSecs, statemachine.ContextTaskTimeoutSecs,
		statemachine.ContextChunkFiles, statemachine.ContextChunkMapMaxConcurrency,
	}
	sort.Strings(keys)
	return keys
}

// Number reads the context value key, given as a JSON number (cdk.json)
// or as a string (`-c key=value`).
func Number(ctx map[string]any, key string) (float64, error) {
	raw, ok := ctx[key]
	if !ok || raw == nil {
		return 0, fmt.Errorf("context %s is missing (cdk.json defines the defaults)", key)
	}
	switch v := raw.(type) {
	case float64:
		return v, nil
	case int:
		return float64(v), nil
	case int64:
		return float64(v), nil
	case json.Number:
		f, err := v.Float64()
		if err != nil {
			return 0, fmt.Errorf("context %s = %q: not a number", key, v)
		}
		return f, nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		if err != nil {
			return 0, fmt.Errorf("context %s = %q: not a number", key, v)
		}
		return f, nil
	default:
		return 0, fmt.Errorf("context %s = %v (%T): not a number", key, raw, raw)
	}
}
