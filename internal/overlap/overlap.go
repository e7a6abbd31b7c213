// Package overlap measures how many intervals were open at once, for the tests that check a
// concurrency limit from the start and end times the store recorded.
package overlap

import (
	"sort"
	"time"
)

// Max returns the largest number of the items whose intervals [start, end), as span gives
// them, share an instant. An interval that ends at the instant another starts does not
// overlap it.
func Max[T any](items []T, span func(T) (start, end time.Time)) int {
	type edge struct {
		at    time.Time
		delta int
	}
	edges := make([]edge, 0, 2*len(items))
	for _, it := range items {
		start, end := span(it)
		edges = append(edges, edge{start, 1}, edge{end, -1})
	}
	sort.Slice(edges, func(i, j int) bool {
		if edges[i].at.Equal(edges[j].at) {
			return edges[i].delta < edges[j].delta // an end before a start at the same instant
		}
		return edges[i].at.Before(edges[j].at)
	})
	n, best := 0, 0
	for _, e := range edges {
		n += e.delta
		best = max(best, n)
	}
	return best
}
