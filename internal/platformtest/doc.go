// Package platformtest runs the whole Agentic platform inside a test binary, on real engines:
// the ingest HTTP API behind an httptest server, a worker running tasks with the simulated
// model provider, and the webhook dispatcher, on a fresh PostgreSQL schema (pgtest) and a
// fresh NATS prefix on an embedded JetStream server (natstest).
//
// Tests call New for a platform of their own. Runnable examples, which have no
// *testing.T, call Shared for one platform per test binary; such a package's TestMain must
// be
//
//	func TestMain(m *testing.M) { os.Exit(platformtest.Main(m)) }
//
// so that the shared platform and the embedded NATS servers are stopped and the schema is
// dropped at the end. A missing engine fails the test (or makes Shared return an error):
// it never skips.
package platformtest
