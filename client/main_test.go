package client_test

import (
	"os"
	"testing"

	"github.com/agentic-run/agentic/internal/platformtest"
)

func TestMain(m *testing.M) { os.Exit(platformtest.Main(m)) }
