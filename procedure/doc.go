// Package procedure owns the vendor procedures as data and the engine that
// runs them: the loader of the procedure files (assets/procedures and an
// operator's own folder), the conditions they check, preflight, the run
// loop that records every step in the store before and after it runs,
// resume, abort, rehearsal and the after-action report.
//
// It reaches servers only through the Fleet interface (live status and one
// agent action at a time) and people only through the Prompter interface,
// so the GUI wizard and the headless runner drive the same engine, and
// tests drive it with a fake fleet. It must not touch widgets, sockets or
// the terminal, and it never evaluates code from a procedure file:
// conditions are structured data.
package procedure
