package api

// NotStoredDetail exposes notStoredDetail to the external tests.
var NotStoredDetail = notStoredDetail
