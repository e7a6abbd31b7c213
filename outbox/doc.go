// Package outbox makes "persist, then publish" lose nothing: a task's row is committed in
// the store first, and its message is then published to the tasks stream with Nats-Msg-Id =
// task id. If the process dies between the two, the row stays unpublished (published_at is
// null) and Sweep, run periodically by a reconciler, republishes it; JetStream's duplicate
// window drops a republish of a message that did get through.
//
// Relay is the fast path used by ingest: Enqueue publishes asynchronously right after the
// commit, never waiting for the stream, and a background loop collects the acks and records
// them with Store.MarkPublished in batches (every 20 ms or 1,000 ids). The number of
// unacknowledged publishes is bounded: Enqueue blocks briefly when the bound is reached. A
// publish that fails is logged and left for the sweep.
package outbox
