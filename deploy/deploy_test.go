package deploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"text/template"

	"go.yaml.in/yaml/v3"
)

const (
	dashboardFile = "grafana/agentic-dashboard.json"
	rulesFile     = "prometheus/agentic-alerts.yaml"
	readmeFile    = "README.md"
)

// family is one metric family the processes serve, as Prometheus names it.
type family struct {
	histogram bool     // served as NAME_bucket, NAME_sum and NAME_count
	labels    []string // its own labels, besides the target's
}

// families are the metric families the dashboard and the alerts may use. Keep it in step with
// what the processes register (telemetry, and the instruments of each package).
var families = map[string]family{
	"http_server_request_duration_seconds": {histogram: true, labels: []string{"http_request_method", "http_route", "http_response_status_code"}},

	"agentic_tasks_submitted_total":   {labels: []string{"agent"}},
	"agentic_tasks_finished_total":    {labels: []string{"agent", "status"}},
	"agentic_task_queue_wait_seconds": {histogram: true, labels: []string{"agent"}},
	"agentic_task_run_time_seconds":   {histogram: true, labels: []string{"agent", "status"}},
	"agentic_tasks_pending":           {},
	"agentic_consumer_pending":        {labels: []string{"consumer"}},

	"gen_ai_client_operation_duration_seconds": {histogram: true, labels: []string{"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "error_type"}},
	"gen_ai_client_token_usage":                {histogram: true, labels: []string{"gen_ai_token_type", "gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"}},
	"agentic_llm_calls_total":                  {labels: []string{"provider", "model", "outcome"}},
	"agentic_llm_cost_total":                   {labels: []string{"provider", "model"}},
	"agentic_llm_breaker_state":                {labels: []string{"provider", "model"}},

	"agentic_limits_rejected_total":     {labels: []string{"limit"}},
	"agentic_limits_unavailable_total":  {labels: []string{"limit", "failing"}},
	"agentic_webhooks_deliveries_total": {labels: []string{"outcome"}},
	"agentic_cache_lookups_total":       {labels: []string{"cache", "layer", "result"}},

	"agentic_backup_runs_total":                     {labels: []string{"trigger", "outcome"}},
	"agentic_backup_failures_total":                 {labels: []string{"step"}},
	"agentic_backup_duration_seconds":               {histogram: true, labels: []string{"outcome"}},
	"agentic_backup_size_bytes":                     {},
	"agentic_backup_last_success_timestamp_seconds": {},
}

// targetLabels are the labels Prometheus's scrape adds (and Kubernetes relabeling commonly).
var targetLabels = []string{"job", "instance", "namespace", "pod", "container"}

// metricLabels returns the labels a served metric name may carry, and whether the name is
// served at all: a family's name (with _bucket, _sum or _count for a histogram), or a Go
// runtime or process collector's (go_*, process_*), or up.
func metricLabels(name string) ([]string, bool) {
	labels := slices.Clone(targetLabels)
	if f, ok := families[name]; ok && !f.histogram {
		return append(labels, f.labels...), true
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if f, known := families[base]; ok && known && f.histogram {
			labels = append(labels, f.labels...)
			if suffix == "_bucket" {
				labels = append(labels, "le")
			}
			return labels, true
		}
	}
	if strings.HasPrefix(name, "go_") || strings.HasPrefix(name, "process_") {
		return append(labels, "quantile", "version"), true
	}
	return labels, name == "up"
}

// allLabels is every label any served metric may carry, for grouping clauses.
func allLabels() []string {
	all := append(slices.Clone(targetLabels), "le", "quantile", "version")
	for _, f := range families {
		all = append(all, f.labels...)
	}
	return all
}

// keywords are PromQL's words that are neither metrics nor labels when not followed by "(".
var keywords = []string{"and", "or", "unless", "bool", "offset", "inf", "nan", "start", "end"}

// aggregations are PromQL's aggregation operators, which "by (…)" may follow before "(".
var aggregations = []string{"sum", "min", "max", "avg", "group", "stddev", "stdvar", "count", "count_values",
	"bottomk", "topk", "quantile", "limitk", "limit_ratio"}

// grouping are the keywords followed by a parenthesized list of labels.
var grouping = []string{"by", "without", "on", "ignoring", "group_left", "group_right"}

// exprUse is what a PromQL expression refers to.
type exprUse struct {
	metrics  []string            // metric names selected
	matchers map[string][]string // label names matched, by metric name
	grouped  []string            // label names in by, without, on, ignoring and group_* lists
	ranges   []string            // what range selectors and subqueries hold: "5m", "$__rate_interval"
}

// scanExpr lexes a PromQL expression (with Grafana's $variables) far enough to find the metric
// names it selects and the label names it uses, and fails on unbalanced brackets or quotes.
func scanExpr(expr string) (exprUse, error) {
	use := exprUse{matchers: map[string][]string{}}
	var stack []byte
	closing := map[byte]byte{')': '(', ']': '[', '}': '{'}
	isIdent := func(c byte, first bool) bool {
		return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (!first && c >= '0' && c <= '9')
	}
	next := func(i int) int { // index of the next non-space byte at or after i
		for i < len(expr) && strings.ContainsRune(" \t\r\n", rune(expr[i])) {
			i++
		}
		return i
	}
	ident := func(i int) (string, int) {
		j := i
		for j < len(expr) && isIdent(expr[j], j == i) {
			j++
		}
		return expr[i:j], j
	}
	// labelList reads a parenthesized list of label names starting at the "(" at i, or a
	// matcher block starting at "{", and returns the names and the index after it.
	labelList := func(i int) ([]string, int, error) {
		end := byte(')')
		if expr[i] == '{' {
			end = '}'
		}
		var names []string
		for i++; i < len(expr); {
			c := expr[i]
			switch {
			case c == end:
				return names, i + 1, nil
			case c == '"' || c == '\'' || c == '`':
				j := i + 1
				for j < len(expr) && expr[j] != c {
					if expr[j] == '\\' && c != '`' {
						j++ // an escaped character
					}
					j++
				}
				if j >= len(expr) {
					return nil, 0, fmt.Errorf("unterminated string at %d", i)
				}
				i = j + 1
			case isIdent(c, true):
				var name string
				name, i = ident(i)
				names = append(names, name)
			default:
				i++
			}
		}
		return nil, 0, fmt.Errorf("unterminated %q list", end)
	}
	for i := 0; i < len(expr); {
		c := expr[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			return use, fmt.Errorf("string outside a label matcher at %d", i)
		case c == '(':
			stack = append(stack, c)
			i++
		case c == '[':
			j := strings.IndexAny(expr[i+1:], "[]")
			if j < 0 || expr[i+1+j] != ']' {
				return use, fmt.Errorf("unclosed '[' at %d", i)
			}
			use.ranges = append(use.ranges, expr[i+1:i+1+j])
			i += j + 2
		case c == ')' || c == ']':
			if len(stack) == 0 || stack[len(stack)-1] != closing[c] {
				return use, fmt.Errorf("unbalanced %q at %d", c, i)
			}
			stack = stack[:len(stack)-1]
			i++
		case c == '{': // a selector without a metric name
			names, j, err := labelList(i)
			if err != nil {
				return use, err
			}
			use.matchers[""] = append(use.matchers[""], names...)
			i = j
		case c == '$': // a Grafana variable
			i++
			if i < len(expr) && expr[i] == '{' {
				j := strings.IndexByte(expr[i:], '}')
				if j < 0 {
					return use, fmt.Errorf("unterminated ${ at %d", i)
				}
				i += j + 1
			}
			for i < len(expr) && isIdent(expr[i], false) {
				i++
			}
		case c >= '0' && c <= '9' || c == '.': // a number or a duration
			for i < len(expr) && (isIdent(expr[i], false) || expr[i] == '.') {
				i++
			}
		case isIdent(c, true):
			name, j := ident(i)
			k := next(j)
			switch {
			case slices.Contains(grouping, name):
				if k < len(expr) && expr[k] == '(' {
					names, after, err := labelList(k)
					if err != nil {
						return use, err
					}
					use.grouped = append(use.grouped, names...)
					j = after
				}
			case k < len(expr) && expr[k] == '(': // a function or an aggregation
			case slices.Contains(aggregations, name):
			case slices.Contains(keywords, name):
			default:
				use.metrics = append(use.metrics, name)
				if k < len(expr) && expr[k] == '{' {
					names, after, err := labelList(k)
					if err != nil {
						return use, err
					}
					use.matchers[name] = append(use.matchers[name], names...)
					j = after
				}
			}
			i = j
		default:
			i++
		}
	}
	if len(stack) > 0 {
		return use, fmt.Errorf("unclosed %q", stack[len(stack)-1])
	}
	return use, nil
}

// checkExpr fails t for an expression that does not scan, names a metric not served, or
// uses a label the metric (or, in a grouping, any metric) does not carry.
func checkExpr(t *testing.T, where, expr string) {
	t.Helper()
	if strings.TrimSpace(expr) == "" {
		t.Errorf("%s: empty expr", where)
		return
	}
	use, err := scanExpr(expr)
	if err != nil {
		t.Errorf("%s: %v in %s", where, err, expr)
		return
	}
	if len(use.metrics) == 0 {
		t.Errorf("%s: no metric in %s", where, expr)
	}
	for _, m := range use.metrics {
		if _, ok := metricLabels(m); !ok {
			t.Errorf("%s: metric %q is not one the processes serve", where, m)
		}
	}
	for m, names := range use.matchers {
		allowed, _ := metricLabels(m)
		if m == "" {
			allowed = allLabels()
		}
		for _, l := range names {
			if !slices.Contains(allowed, l) && l != "__name__" {
				t.Errorf("%s: %s has no label %q", where, m, l)
			}
		}
	}
	for _, l := range use.grouped {
		if !slices.Contains(allLabels(), l) {
			t.Errorf("%s: no metric has the label %q it groups by", where, l)
		}
	}
	// histogram_quantile must get buckets summed by le (and whatever else), never raw series.
	for _, m := range regexp.MustCompile(`histogram_quantile\(\s*[0-9.]+\s*,\s*(\w+)(?:\s+by\s*\(([^)]*)\))?`).FindAllStringSubmatch(expr, -1) {
		if !slices.Contains(splitLabels(m[2]), "le") {
			t.Errorf("%s: histogram_quantile over %q must sum by (le, …): %s", where, m[1], expr)
		}
	}
	if strings.Count(expr, "_bucket") != strings.Count(expr, "histogram_quantile") {
		t.Errorf("%s: every _bucket selector should be under its own histogram_quantile: %s", where, expr)
	}
}

func splitLabels(s string) []string {
	var out []string
	for l := range strings.SplitSeq(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func TestScanExpr(t *testing.T) {
	use, err := scanExpr(`histogram_quantile(0.99, sum by (le, http_route) (rate(http_server_request_duration_seconds_bucket{namespace=~"$namespace", http_route!~".*/v1/tasks/[^/]+(/events)?"}[$__rate_interval]))) > 5 and on (job) up{job="a\"}"} offset 5m`)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"http_server_request_duration_seconds_bucket", "up"}; !slices.Equal(use.metrics, want) {
		t.Errorf("metrics %v, want %v", use.metrics, want)
	}
	if want := []string{"le", "http_route", "job"}; !slices.Equal(use.grouped, want) {
		t.Errorf("grouped %v, want %v", use.grouped, want)
	}
	if want := []string{"namespace", "http_route"}; !slices.Equal(use.matchers["http_server_request_duration_seconds_bucket"], want) {
		t.Errorf("matchers %v, want %v", use.matchers, want)
	}
	if want := []string{"$__rate_interval"}; !slices.Equal(use.ranges, want) {
		t.Errorf("ranges %v, want %v", use.ranges, want)
	}
	for _, bad := range []string{`sum(rate(x[5m])`, `rate(x{a="b}[5m])`, `x)`, `sum(x]`} {
		if _, err := scanExpr(bad); err == nil {
			t.Errorf("scanExpr(%q) accepted it", bad)
		}
	}
	for name, want := range map[string]bool{
		"agentic_tasks_pending": true, "agentic_task_run_time_seconds_bucket": true, "agentic_task_run_time_seconds": false,
		"agentic_tasks_pending_count": false, "go_goroutines": true, "up": true, "agentic_unknown_total": false,
	} {
		if _, got := metricLabels(name); got != want {
			t.Errorf("metricLabels(%q) = %v, want %v", name, got, want)
		}
	}
}

type panel struct {
	ID         int             `json:"id"`
	Type       string          `json:"type"`
	Title      string          `json:"title"`
	Datasource json.RawMessage `json:"datasource"`
	GridPos    *struct{ H, W, X, Y int }
	Targets    []struct {
		RefID      string          `json:"refId"`
		Expr       string          `json:"expr"`
		Datasource json.RawMessage `json:"datasource"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a row's, when collapsed
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
}

func TestDashboard(t *testing.T) {
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	if !json.Valid(b) {
		t.Fatalf("%s is not valid JSON", dashboardFile)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	if d.UID == "" || d.Title == "" {
		t.Error("the dashboard needs a uid and a title")
	}
	if d.SchemaVersion < 39 {
		t.Errorf("schemaVersion %d, want ≥ 39", d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
		if v.Name == "datasource" && (v.Type != "datasource" || v.Query != "prometheus") {
			t.Errorf("variable datasource is a %s of %v, want a datasource variable of prometheus", v.Type, v.Query)
		}
	}
	if !vars["datasource"] {
		t.Error("no datasource variable")
	}

	ids := map[int]string{}
	var rows, graphs int
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			where := fmt.Sprintf("panel %d %q", p.ID, p.Title)
			if p.ID <= 0 {
				t.Errorf("%s: no id", where)
			} else if other, dup := ids[p.ID]; dup {
				t.Errorf("%s: id also used by %q", where, other)
			}
			ids[p.ID] = p.Title
			if p.GridPos == nil || p.GridPos.W <= 0 || p.GridPos.H <= 0 || p.GridPos.X+p.GridPos.W > 24 {
				t.Errorf("%s: bad gridPos %+v", where, p.GridPos)
			}
			if p.Type == "row" {
				rows++
				walk(p.Panels)
				continue
			}
			graphs++
			if !strings.Contains(string(p.Datasource), "${datasource}") {
				t.Errorf("%s: datasource %s, want the ${datasource} variable", where, p.Datasource)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no target", where)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if refs[tg.RefID] {
					t.Errorf("%s: refId %q twice", where, tg.RefID)
				}
				refs[tg.RefID] = true
				if len(tg.Datasource) > 0 && !strings.Contains(string(tg.Datasource), "${datasource}") {
					t.Errorf("%s: target %s datasource %s, want the ${datasource} variable", where, tg.RefID, tg.Datasource)
				}
				checkExpr(t, where, tg.Expr)
				use, _ := scanExpr(tg.Expr)
				for _, r := range use.ranges {
					if r != "$__rate_interval" && r != "$__range" {
						t.Errorf("%s: range [%s], want [$__rate_interval] (or [$__range] for totals)", where, r)
					}
				}
			}
		}
	}
	walk(d.Panels)
	if rows < 7 || graphs < 20 {
		t.Errorf("%d rows and %d panels: the dashboard lost some", rows, graphs)
	}
}

type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// durationRE is Prometheus's duration syntax.
var durationRE = regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)

// checkTemplate parses an annotation as Prometheus expands it: text/template with $labels
// and $value defined and Prometheus's functions (stubbed here; only their names matter).
func checkTemplate(s string) error {
	funcs := template.FuncMap{}
	for _, name := range []string{"humanize", "humanize1024", "humanizeDuration", "humanizePercentage",
		"humanizeTimestamp", "title", "toUpper", "toLower", "first", "label", "value", "query",
		"reReplaceAll", "match", "graphLink", "tableLink", "args", "safeHtml", "pathPrefix",
		"externalURL", "sortByLabel", "strvalue", "stripPort", "stripDomain", "parseDuration", "urlQueryEscape"} {
		funcs[name] = func(...any) any { return nil }
	}
	_, err := template.New("").Funcs(funcs).Parse(
		"{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}" + s)
	return err
}

func TestAlertRules(t *testing.T) {
	f, err := os.Open(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	dec.KnownFields(true)
	var rf ruleFile
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	readme, err := os.ReadFile(readmeFile)
	if err != nil {
		t.Fatal(err)
	}
	groups, alerts := map[string]bool{}, map[string]bool{}
	for _, g := range rf.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("group %q: empty or repeated name", g.Name)
		}
		groups[g.Name] = true
		if g.Interval != "" && !durationRE.MatchString(g.Interval) {
			t.Errorf("group %s: interval %q", g.Name, g.Interval)
		}
		if len(g.Rules) == 0 {
			t.Errorf("group %s: no rules", g.Name)
		}
		for _, r := range g.Rules {
			where := fmt.Sprintf("%s/%s", g.Name, r.Alert)
			if r.Alert == "" {
				t.Errorf("%s: a rule without alert (record %q): this file holds alerts only", g.Name, r.Record)
				continue
			}
			if alerts[r.Alert] {
				t.Errorf("%s: alert name used twice", where)
			}
			alerts[r.Alert] = true
			checkExpr(t, where, r.Expr)
			if !durationRE.MatchString(r.For) {
				t.Errorf("%s: for %q, want a duration", where, r.For)
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q, want critical, warning or info", where, s)
			}
			for _, a := range []string{"summary", "description"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: no %s annotation", where, a)
				}
			}
			if r.Annotations["runbook"] == "" && r.Annotations["runbook_url"] == "" {
				t.Errorf("%s: no runbook or runbook_url annotation", where)
			}
			for k, v := range r.Annotations {
				if err := checkTemplate(v); err != nil {
					t.Errorf("%s: annotation %s: %v", where, k, err)
				}
			}
			if !strings.Contains(string(readme), "`"+r.Alert+"`") {
				t.Errorf("%s: not described in %s", where, readmeFile)
			}
		}
	}
	for _, want := range []string{"AgenticHTTPErrorRateHigh", "AgenticHTTPLatencyHigh", "AgenticTaskFailureRatioHigh",
		"AgenticLLMBreakerOpen", "AgenticBackupFailed", "AgenticBackupMissing", "AgenticTaskBacklogGrowing",
		"AgenticLimitsFailingClosed", "AgenticLimitsFailingOpen", "AgenticTargetDown"} {
		if !alerts[want] {
			t.Errorf("alert %s is missing", want)
		}
	}
}
