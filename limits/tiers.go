package limits

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Tier is what a tenant's plan allows: requests per minute and task executions per hour,
// each a rolling window, tasks running at once, and a weight in fair dispatch.
type Tier struct {
	RequestsPerMinute int `yaml:"requests_per_minute"`
	ExecutionsPerHour int `yaml:"executions_per_hour"`
	Concurrent        int `yaml:"concurrent"`
	// Weight is the tier's share in fair dispatch relative to other tiers (default: its
	// Concurrent, so a tenant allowed more at once is also served more often).
	Weight int `yaml:"weight"`
}

// Tiers maps a tier's name to its limits.
type Tiers map[string]Tier

// DefaultTiers are DESIGN.md's tiers.
func DefaultTiers() Tiers {
	return Tiers{
		"free":       {RequestsPerMinute: 10, ExecutionsPerHour: 10, Concurrent: 1, Weight: 1},
		"basic":      {RequestsPerMinute: 100, ExecutionsPerHour: 100, Concurrent: 3, Weight: 3},
		"pro":        {RequestsPerMinute: 1_000, ExecutionsPerHour: 1_000, Concurrent: 10, Weight: 10},
		"enterprise": {RequestsPerMinute: 10_000, ExecutionsPerHour: 10_000, Concurrent: 50, Weight: 50},
	}
}

// Names returns the tier names in a stable order.
func (ts Tiers) Names() []string {
	names := make([]string, 0, len(ts))
	for n := range ts {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// ParseTiers reads tiers from YAML, a map from tier name to its limits:
//
//	free:
//	  requests_per_minute: 10
//	  executions_per_hour: 10
//	  concurrent: 1
//
// Every tier of DefaultTiers must be present (tenants already have them); other tiers may be
// added. Unknown fields, missing or non-positive limits are errors naming the tier and field.
func ParseTiers(b []byte) (Tiers, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var ts Tiers
	if err := dec.Decode(&ts); err != nil {
		// One line: the decoder lists several problems on lines of their own.
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.ReplaceAll(strings.TrimPrefix(msg, "unmarshal errors:\n  "), "\n  ", "; ")
		return nil, fmt.Errorf("tiers: %s", msg)
	}
	if len(ts) == 0 {
		return nil, errors.New("tiers: no tier defined")
	}
	for _, name := range DefaultTiers().Names() {
		if _, ok := ts[name]; !ok {
			return nil, fmt.Errorf("tiers: tier %q is missing", name)
		}
	}
	for _, name := range ts.Names() {
		t := ts[name]
		for _, f := range []struct {
			field string
			v     int
		}{{"requests_per_minute", t.RequestsPerMinute}, {"executions_per_hour", t.ExecutionsPerHour}, {"concurrent", t.Concurrent}} {
			if f.v <= 0 {
				return nil, fmt.Errorf("tiers: %s.%s must be a positive integer", name, f.field)
			}
		}
		if t.Weight < 0 {
			return nil, fmt.Errorf("tiers: %s.weight must not be negative", name)
		}
		if t.Weight == 0 {
			t.Weight = t.Concurrent
		}
		ts[name] = t
	}
	return ts, nil
}

// LoadTiers reads the tiers file at path (AGENTIC_TIERS_FILE); "" gives DefaultTiers.
func LoadTiers(path string) (Tiers, error) {
	if path == "" {
		return DefaultTiers(), nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tiers: %w", err)
	}
	return ParseTiers(b)
}
