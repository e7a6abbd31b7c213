package handlers

import (
	"time"

	"github.com/cenkalti/backoff/v5"
)

// expBackoff is the delay before retry n (1-based) of an exponential backoff with jitter
// starting at initial and capped at ceiling.
func expBackoff(n uint64, initial, ceiling time.Duration) time.Duration {
	b := backoff.ExponentialBackOff{
		InitialInterval:     initial,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         ceiling,
	}
	b.Reset()
	d := initial
	for i := uint64(0); i < max(n, 1) && i < 64; i++ {
		d = b.NextBackOff()
	}
	return d
}
