package store

import (
	"time"

	"github.com/agentic-run/agentic/client"
)

// MicrosToUSD converts integer micro-dollars to the API's USD number.
func MicrosToUSD(m int64) float64 { return float64(m) / 1e6 }

// USDToMicros converts a USD amount to micro-dollars, rounding to the nearest.
func USDToMicros(usd float64) int64 {
	if usd < 0 {
		return int64(usd*1e6 - 0.5)
	}
	return int64(usd*1e6 + 0.5)
}

// API returns the task as API.md shows it.
func (t *Task) API() client.Task {
	out := client.Task{
		ID:         t.ID,
		Agent:      t.Agent,
		Status:     string(t.Status),
		Input:      t.Input,
		Output:     t.Output,
		Attempts:   t.Attempts,
		Metadata:   t.Metadata,
		Quality:    t.Quality,
		CreatedAt:  t.CreatedAt.UTC(),
		StartedAt:  utc(t.StartedAt),
		FinishedAt: utc(t.FinishedAt),
		TraceID:    t.TraceID,
		Routing:    t.Routing,
		Cache:      t.Cache,
		Usage: client.Usage{
			InputTokens:  t.InputTokens,
			OutputTokens: t.OutputTokens,
			CostUSD:      MicrosToUSD(t.CostMicros),
		},
	}
	if out.Metadata == nil {
		out.Metadata = map[string]string{}
	}
	if t.Error != nil {
		out.Error = &client.TaskError{Code: t.Error.Code, Message: t.Error.Message}
	}
	if t.Model != "" {
		out.Model = &t.Model
	}
	if t.Provider != "" {
		out.Provider = &t.Provider
	}
	if t.WebhookURL != "" {
		out.WebhookURL = &t.WebhookURL
	}
	if t.MaxCostMicros != nil {
		v := MicrosToUSD(*t.MaxCostMicros)
		out.MaxCostUSD = &v
	}
	return out
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
