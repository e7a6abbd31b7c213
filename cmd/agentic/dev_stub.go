package main

import (
	"context"
	"errors"
	"io"
)

func dev(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	return errors.New("dev: not built yet")
}
