package postgres

// ListQuery exposes ListTasks' SQL to the plan tests.
var ListQuery = listQuery

// UnpublishedSQL is Unpublished's query, for the plan tests.
const UnpublishedSQL = unpublishedSQL

// Batches reports how many multi-statement group commits the store has flushed.
func Batches(s *Store) int64 { return s.batch.batches.Load() }
