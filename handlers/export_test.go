package handlers

// ResponseKey is responseKey, for tests that put entries where a task will look.
var ResponseKey = responseKey
