package limits

import (
	"context"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// pipeline sends concurrent script calls to Redis together: calls queue while earlier
// pipelines are in flight and each flush sends what is queued as one pipeline — one write and
// one read for many calls instead of a round trip each, which is what a busy ingest replica
// spends most on. A call at low load goes out at once, alone, so batching adds no latency.
type pipeline struct {
	c           redis.UniversalClient
	script      *redis.Script
	maxInflight int
	maxBatch    int

	mu       sync.Mutex
	queue    []*scriptCall
	inflight int
}

// scriptCall is one queued EVALSHA and its answer.
type scriptCall struct {
	ctx  context.Context
	keys []string
	args []any
	cmd  *redis.Cmd
	done chan struct{}
}

func newPipeline(c redis.UniversalClient, script *redis.Script) *pipeline {
	return &pipeline{c: c, script: script, maxInflight: 4, maxBatch: 256}
}

// run calls the script with keys and args in the next flush and returns its reply (whose
// Err is the call's).
func (p *pipeline) run(ctx context.Context, keys []string, args ...any) (*redis.Cmd, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	call := &scriptCall{ctx: ctx, keys: keys, args: args, done: make(chan struct{})}
	p.mu.Lock()
	p.queue = append(p.queue, call)
	if p.inflight < p.maxInflight {
		p.inflight++
		go p.flushLoop()
	}
	p.mu.Unlock()
	select {
	case <-call.done:
		return call.cmd, call.cmd.Err()
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (p *pipeline) flushLoop() {
	for {
		p.mu.Lock()
		n := min(len(p.queue), p.maxBatch)
		if n == 0 {
			p.inflight--
			p.mu.Unlock()
			return
		}
		calls := make([]*scriptCall, n)
		copy(calls, p.queue)
		p.queue = p.queue[n:]
		if len(p.queue) == 0 {
			p.queue = nil
		}
		p.mu.Unlock()
		p.flush(calls)
	}
}

// flush sends calls as one pipeline of EVALSHA; if Redis lost the script (a restart, a
// failover), it loads it and sends the calls that failed once more.
func (p *pipeline) flush(calls []*scriptCall) {
	defer func() {
		for _, c := range calls {
			close(c.done)
		}
	}()
	ctx := calls[0].ctx // the first caller's deadline bounds the flush
	pending := calls
	for attempt := 0; attempt < 2 && len(pending) > 0; attempt++ {
		cmds := make([]*redis.Cmd, len(pending))
		_, _ = p.c.Pipelined(context.WithoutCancel(ctx), func(pipe redis.Pipeliner) error {
			for i, c := range pending {
				cmds[i] = p.script.EvalSha(c.ctx, pipe, c.keys, c.args...)
			}
			return nil
		})
		var again []*scriptCall
		for i, c := range pending {
			c.cmd = cmds[i]
			if err := c.cmd.Err(); err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") {
				again = append(again, c)
			}
		}
		if len(again) > 0 {
			if err := p.script.Load(context.WithoutCancel(ctx), p.c).Err(); err != nil {
				break // the calls keep their NOSCRIPT errors
			}
		}
		pending = again
	}
}
