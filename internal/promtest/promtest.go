// Package promtest reads samples out of Prometheus text, for the tests that check what a
// process serves on /metrics.
package promtest

import (
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// Scrape is Sample over what h serves for GET /metrics, which must answer 200.
func Scrape(t testing.TB, h http.Handler, name string, labels ...string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("promtest: GET /metrics answered %d", rec.Code)
	}
	return Sample(rec.Body.String(), name, labels...)
}

// Sum adds up the samples of name whose labels contain every one of labels (`key="value"`,
// or `!key=` for a label they must not have); found is false when there is none. Samples
// without labels count, and label values may hold braces (routes such as "GET /v1/tasks/{id}").
func Sum(text, name string, labels ...string) (sum float64, found bool) {
	for _, v := range matching(text, name, labels) {
		sum, found = sum+v, true
	}
	return sum, found
}

// Sample is the value of the first sample of name matching labels, as Sum selects them, or -1
// when there is none.
func Sample(text, name string, labels ...string) float64 {
	if vs := matching(text, name, labels); len(vs) > 0 {
		return vs[0]
	}
	return -1
}

// matching returns the values of the samples of name whose labels match, in order.
func matching(text, name string, labels []string) []float64 {
	line := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `(?:\{(.*)\})? (\S+)$`)
	var out []float64
	for _, s := range line.FindAllStringSubmatch(text, -1) {
		ok := true
		for _, l := range labels {
			if not, neg := strings.CutPrefix(l, "!"); neg {
				ok = ok && !strings.Contains(s[1], not)
			} else {
				ok = ok && strings.Contains(s[1], l)
			}
		}
		if v, err := strconv.ParseFloat(s[2], 64); ok && err == nil {
			out = append(out, v)
		}
	}
	return out
}
