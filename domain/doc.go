// Package domain holds what a return is and the rules that govern it: the
// request and its lines, money, status values, the policy with the seeds'
// default timings, validation, and the pure decisions (eligibility, review
// routing, fees and refunds) the workflow takes.
//
// It imports neither the Temporal SDK nor database/sql so the same rules can be
// table-tested without a server and reused by the API, the CLI and the
// workflow alike; a test enforces that.
package domain
