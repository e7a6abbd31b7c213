package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/agentic-run/agentic/health"
)

// newWorkerID names this worker process in its heartbeats: its hostname and a random suffix,
// so that two workers on one host (or a restarted one) are told apart.
func newWorkerID() (id, hostname string) {
	hostname, _ = os.Hostname()
	if hostname == "" {
		hostname = "unknown"
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hostname + "-" + hex.EncodeToString(b[:]), hostname
}

// announceWorker publishes the heartbeat that hb returns on the workers' heartbeat subject at
// once and then every health.HeartbeatInterval until ctx ends, and then a last one saying the
// worker is stopping. Publishing is core NATS: a heartbeat sent while NATS is away is lost,
// and the next one is on time.
func announceWorker(ctx context.Context, nc *nats.Conn, subject string, log *slog.Logger, hb func() health.Heartbeat) {
	publish := func(h health.Heartbeat) {
		data, err := json.Marshal(h)
		if err != nil {
			log.Warn("worker heartbeat: encode", "error", err)
			return
		}
		if err := nc.Publish(subject, data); err != nil {
			log.Debug("worker heartbeat: publish", "error", err)
		}
	}
	publish(hb())
	tick := time.NewTicker(health.HeartbeatInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			last := hb()
			last.Stopping = true
			publish(last)
			_ = nc.FlushTimeout(time.Second)
			return
		case <-tick.C:
			publish(hb())
		}
	}
}

// collectWorkers keeps the workers' heartbeats in a health.Workers until the returned stop is
// called.
func collectWorkers(nc *nats.Conn, subject string, log *slog.Logger) (*health.Workers, func(), error) {
	workers := &health.Workers{}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		var hb health.Heartbeat
		if err := json.Unmarshal(m.Data, &hb); err != nil {
			log.Debug("worker heartbeat: decode", "error", err)
			return
		}
		workers.Observe(hb)
	})
	if err != nil {
		return nil, nil, err
	}
	// The subscription is in place on the server before the first worker's heartbeat.
	if err := nc.FlushTimeout(5 * time.Second); err != nil {
		log.Warn("worker heartbeat: subscribe", "error", err)
	}
	return workers, func() { _ = sub.Unsubscribe() }, nil
}
