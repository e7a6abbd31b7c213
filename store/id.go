package store

import (
	"crypto/rand"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
)

// NewID returns prefix + "_" + a lowercase ULID, for example "tsk_01jd8q3w7y5x0m2k4n6p8r9s1t".
// The ULID's 48-bit millisecond timestamp comes first, so ids of different milliseconds sort
// by creation time; the remaining 80 bits come from crypto/rand, which is safe for concurrent
// use, so ids never collide in practice across goroutines or processes.
func NewID(prefix string) string {
	id := ulid.MustNew(ulid.Timestamp(time.Now()), rand.Reader)
	return prefix + "_" + strings.ToLower(id.String())
}
