// Package starter is the typed Go client that merchant backends, the HTTP API
// and the CLI use to start returns and send them commands. It is built on the
// names and payloads of workflows/contract.go only.
package starter
