package localservices

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/copy-files-to-archive/copy-files-to-archive/infra/cdkcontext"
	"github.com/copy-files-to-archive/copy-files-to-archive/statemachine"
)

// FunctionARN is the ARN the local definition names a function by
// (statemachine.FunctionParseEvent, ...).
func FunctionARN(name string) string {
	return "arn:aws:lambda:us-east-1:123456789012:function:" + name
}

// The environment variables that override cdk.json's workflow policy for a
// local run.
const (
	EnvCopyRetries        = "COPY_RETRIES"
	EnvCopyRetrySleepSecs = "COPY_RETRY_SLEEP_SECS"
	EnvMapMaxConcurrency  = "MAP_MAX_CONCURRENCY"
	// EnvChunkFiles and EnvChunkMapMaxConcurrency bound the Express lane:
	// files per child (all copied at once) and children at once.
	EnvChunkFiles             = "CHUNK_FILES"
	EnvChunkMapMaxConcurrency = "CHUNK_MAP_MAX_CONCURRENCY"
)

// ConfigError is a usage or configuration problem (exit status 2).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// CDKContext returns cdk.json's "context" under repoRoot, which
// infra/cdkcontext reads for the CDK app and the local runner alike; its
// errors are *ConfigError.
func CDKContext(repoRoot string) (map[string]any, error) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "cdk.json"))
	if err != nil {
		return nil, &ConfigError{fmt.Errorf("read cdk.json: %w", err)}
	}
	var doc struct {
		Context map[string]any `json:"context"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, &ConfigError{fmt.Errorf("cdk.json: %w", err)}
	}
	return doc.Context, nil
}

// LoadSettings returns the workflow settings CDK deploys with (cdk.json's
// context under repoRoot), overridden by COPY_RETRIES, COPY_RETRY_SLEEP_SECS,
// MAP_MAX_CONCURRENCY, CHUNK_FILES and CHUNK_MAP_MAX_CONCURRENCY when getenv
// has them, with the local function ARNs.
func LoadSettings(repoRoot string, getenv func(string) string) (statemachine.Settings, error) {
	ctx, err := CDKContext(repoRoot)
	if err != nil {
		return statemachine.Settings{}, err
	}
	s, err := cdkcontext.WorkflowSettings(ctx)
	if err != nil {
		return statemachine.Settings{}, &ConfigError{fmt.Errorf("cdk.json: %w", err)}
	}
	var errs []error
	for _, o := range []struct {
		env string
		dst *int
	}{
		{EnvCopyRetries, &s.CopyRetries},
		{EnvCopyRetrySleepSecs, &s.CopyRetrySleepSecs},
		{EnvMapMaxConcurrency, &s.MapMaxConcurrency},
		{EnvChunkFiles, &s.ChunkFiles},
		{EnvChunkMapMaxConcurrency, &s.ChunkMapMaxConcurrency},
	} {
		v := strings.TrimSpace(getenv(o.env))
		if v == "" {
			continue
		}
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: not a whole number", o.env, v))
			continue
		}
		*o.dst = n
	}
	if err := errors.Join(errs...); err != nil {
		return statemachine.Settings{}, &ConfigError{err}
	}
	s.FunctionARNs = map[string]string{}
	for _, f := range statemachine.Functions {
		s.FunctionARNs[f.Name] = FunctionARN(f.Name)
	}
	if err := s.Validate(); err != nil {
		return statemachine.Settings{}, &ConfigError{fmt.Errorf("workflow settings (cdk.json context with %s, %s, %s, %s, %s): %w",
			EnvCopyRetries, EnvCopyRetrySleepSecs, EnvMapMaxConcurrency, EnvChunkFiles, EnvChunkMapMaxConcurrency, err)}
	}
	return s, nil
}

// RetryOverrides returns retryIntervalOverrides for the engine that make every
// state with a Retry field pause ms milliseconds before each retry, instead of
// the definition's IntervalSeconds/BackoffRate. The definition is unchanged.
func RetryOverrides(definition []byte, ms int) (map[string]any, error) {
	var doc any
	if err := json.Unmarshal(definition, &doc); err != nil {
		return nil, fmt.Errorf("definition: %w", err)
	}
	out := map[string]any{}
	var walk func(states map[string]any)
	walk = func(states map[string]any) {
		for name, v := range states {
			st, ok := v.(map[string]any)
			if !ok {
				continue
			}
			if _, ok := st["Retry"]; ok {
				out[name] = ms
			}
			for _, sub := range []string{"ItemProcessor", "Iterator"} {
				if p, ok := st[sub].(map[string]any); ok {
					if inner, ok := p["States"].(map[string]any); ok {
						walk(inner)
					}
				}
			}
			if branches, ok := st["Branches"].([]any); ok {
				for _, b := range branches {
					if bm, ok := b.(map[string]any); ok {
						if inner, ok := bm["States"].(map[string]any); ok {
							walk(inner)
						}
					}
				}
			}
		}
	}
	if m, ok := doc.(map[string]any); ok {
		if states, ok := m["States"].(map[string]any); ok {
			walk(states)
		}
	}
	return out, nil
}

// WaitOverrides returns waitTimeOverrides for the Node engine that make
// every Wait state of the definition (the deferred files' "Wait before
// going round", at any depth) pause ms milliseconds instead of its Seconds
// or SecondsPath. The definition is unchanged.
func WaitOverrides(definition []byte, ms int) (map[string]int, error) {
	var doc struct {
		States map[string]json.RawMessage `json:"States"`
	}
	if err := json.Unmarshal(definition, &doc); err != nil {
		return nil, fmt.Errorf("definition: %w", err)
	}
	out := map[string]int{}
	for name, raw := range doc.States {
		var st struct {
			Type          string          `json:"Type"`
			ItemProcessor json.RawMessage `json:"ItemProcessor"`
		}
		if err := json.Unmarshal(raw, &st); err != nil {
			return nil, fmt.Errorf("state %q: %w", name, err)
		}
		if st.Type == "Wait" {
			out[name] = ms
		}
		if len(st.ItemProcessor) > 0 {
			inner, err := WaitOverrides(st.ItemProcessor, ms)
			if err != nil {
				return nil, err
			}
			maps.Copy(out, inner)
		}
	}
	return out, nil
}
