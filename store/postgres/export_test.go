package postgres

// ListQuery exposes ListTasks' SQL to the plan tests.
var ListQuery = listQuery

// UnpublishedSQL is Unpublished's query, for the plan tests.
const UnpublishedSQL = unpublishedSQL
