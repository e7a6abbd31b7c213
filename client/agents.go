package client

import (
	"context"
	"net/http"
)

// ListAgents calls GET /v1/agents: the marketplace catalog, sorted by id.
func (c *Client) ListAgents(ctx context.Context) ([]Agent, error) {
	var out AgentList
	if _, err := c.do(ctx, &call{method: http.MethodGet, path: "/v1/agents", auth: tenantAuth}, &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// GetAgent calls GET /v1/agents/{id}.
func (c *Client) GetAgent(ctx context.Context, id string) (*Agent, error) {
	p, err := pathID("agent", id)
	if err != nil {
		return nil, err
	}
	var out Agent
	if _, err := c.do(ctx, &call{method: http.MethodGet, path: "/v1/agents/" + p, auth: tenantAuth}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
