// Package alert sends email alerts about events: the settings (SMTP server,
// recipients, rules, quiet hours), the SMTP client (go-smtp, every step
// bounded), and the durable outbox that keeps alerts in the console's store
// until the mail server has accepted them.
//
// An event enqueued is in the store before anything is sent; the sender
// retries with backoff while the mail server is down, coalesces bursts to the
// same recipients into one message, and records a refusal (a 5xx reply) as
// failed instead of retrying it forever. See Outbox for what "exactly once"
// means here.
//
// It must not touch widgets or know about Fyne: desktop notifications and the
// tray belong to the GUI, which can read Status. It never logs the SMTP
// password or puts it in an error.
package alert
