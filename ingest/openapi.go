package ingest

import (
	_ "embed"
	"net/http"
)

// openapiDoc is the hand-written OpenAPI 3.1 description of every route; a test checks it
// against the registered routes.
//
//go:embed openapi.json
var openapiDoc []byte

// GET /openapi.json
func (s *Server) openAPI(w http.ResponseWriter, _ *http.Request) error {
	writeRawJSON(w, http.StatusOK, s.openapi)
	return nil
}
