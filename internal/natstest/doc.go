// Package natstest gives tests a real NATS JetStream server without any set-up: an embedded
// github.com/nats-io/nats-server/v2 started lazily once per test binary on a random loopback
// port with a temporary store directory, plus helpers that hand each test its own
// connections and its own subject prefix (events.Names), so tests run in parallel without
// sharing streams.
//
// Server, URL, Conn and JetStream use the shared server; Names and Setup give a test a fresh
// prefix whose streams are deleted when the test ends. StartServer starts a separate server
// on a given store directory for tests that stop and restart NATS; restarting on the same
// directory reuses the same port, so clients reconnect by themselves.
//
// A package may call Main from its TestMain to shut the shared server down and remove its
// store directory when the tests end; without it the server exits with the test binary and
// the next binary to start a shared server removes the directory left behind. Set
// NATSTEST_LOG=1 to see the server's log.
package natstest
