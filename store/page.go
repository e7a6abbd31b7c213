package store

import (
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// Page sizes of ListTasks: a zero TaskFilter.Limit means DefaultListLimit; others are clamped
// to 1..MaxListLimit.
const (
	DefaultListLimit = 20
	MaxListLimit     = 100
)

// PageLimit is the page size a TaskFilter.Limit asks for.
func PageLimit(limit int) int {
	switch {
	case limit == 0:
		return DefaultListLimit
	case limit < 1:
		return 1
	case limit > MaxListLimit:
		return MaxListLimit
	}
	return limit
}

// EncodeCursor makes the opaque next_cursor of a page that ends with the task created at 'at'
// with that id: base64url of "unix-microseconds,id". Every store issues the same cursors.
func EncodeCursor(at time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(at.UnixMicro(), 10) + "," + id))
}

// DecodeCursor reads a cursor made by EncodeCursor; anything else is ErrInvalidCursor.
func DecodeCursor(c string) (time.Time, string, error) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", ErrInvalidCursor
	}
	micros, id, ok := strings.Cut(string(raw), ",")
	if !ok || id == "" {
		return time.Time{}, "", ErrInvalidCursor
	}
	n, err := strconv.ParseInt(micros, 10, 64)
	if err != nil {
		return time.Time{}, "", ErrInvalidCursor
	}
	return time.UnixMicro(n).UTC(), id, nil
}
