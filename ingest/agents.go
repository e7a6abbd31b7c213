package ingest

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/agentic-run/agentic/agents"
	"github.com/agentic-run/agentic/client"
	"github.com/agentic-run/agentic/store"
)

// agentDocs holds the catalog's JSON, encoded once: the catalog does not change while the
// server runs.
type agentDocs struct {
	list []byte
	byID map[string][]byte
}

func buildAgentDocs(c *agents.Catalog) (agentDocs, error) {
	all := c.List()
	docs := agentDocs{byID: make(map[string][]byte, len(all))}
	list := client.AgentList{Data: make([]client.Agent, 0, len(all))}
	for _, a := range all {
		api := a.API()
		b, err := json.Marshal(api)
		if err != nil {
			return agentDocs{}, fmt.Errorf("ingest: encode agent %s: %w", a.ID, err)
		}
		docs.byID[a.ID] = b
		list.Data = append(list.Data, api)
	}
	b, err := json.Marshal(list)
	if err != nil {
		return agentDocs{}, fmt.Errorf("ingest: encode agent list: %w", err)
	}
	docs.list = b
	return docs, nil
}

// GET /v1/agents
func (s *Server) listAgents(w http.ResponseWriter, _ *http.Request, _ *store.APIKey) error {
	writeRawJSON(w, http.StatusOK, s.agents.list)
	return nil
}

// GET /v1/agents/{id}
func (s *Server) getAgent(w http.ResponseWriter, r *http.Request, _ *store.APIKey) error {
	b, ok := s.agents.byID[r.PathValue("id")]
	if !ok {
		return notFound("agent")
	}
	writeRawJSON(w, http.StatusOK, b)
	return nil
}
