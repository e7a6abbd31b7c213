package events_test

import (
	"os"
	"testing"

	"github.com/agentic-run/agentic/internal/natstest"
)

func TestMain(m *testing.M) { os.Exit(natstest.Main(m)) }
