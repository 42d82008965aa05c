package actions

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// NewRequestID makes a UUIDv7: unique, and sorted by time in agents' logs.
func NewRequestID() string {
	return uuid.Must(uuid.NewV7()).String()
}

// DefaultDoTimeout bounds Do when ctx has no deadline.
const DefaultDoTimeout = 30 * time.Second

// UncertainError says that no answer came back: the agent may or may not
// have acted. Sending the same request id again is safe: the agent returns
// what it recorded instead of acting twice.
type UncertainError struct {
	RequestID string
	Last      error
}

func (e *UncertainError) Error() string {
	return fmt.Sprintf("no answer from the agent for request %s, so it may or may not have acted (last error: %v); "+
		"send it again with the same request id to learn its outcome; the agent will not act twice", e.RequestID, e.Last)
}

func (e *UncertainError) Unwrap() error { return e.Last }

// AgentError is a request the agent answered but did not carry out:
// refused, a bad parameter, a conflict or a stale epoch.
type AgentError struct {
	Status int
	Result Result
}

func (e *AgentError) Error() string {
	return fmt.Sprintf("agent refused %s (%d %s): %s", e.Result.Action, e.Status, http.StatusText(e.Status), e.Result.Error)
}

// Do sends req and waits for its outcome. Failures of the connection are
// retried with the same request id, and a request the agent is still
// running is polled, until ctx ends. The returned Result has a final state;
// a failed action is a Result with State failed, not an error.
func (c *Client) Do(ctx context.Context, req Request) (Result, error) {
	if req.RequestID == "" {
		req.RequestID = NewRequestID()
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultDoTimeout)
		defer cancel()
	}
	body, err := json.Marshal(req)
	if err != nil {
		return Result{}, err
	}
	var last error
	backoff := c.RetryMin
	sent := false
	for {
		var (
			res    Result
			status int
		)
		if sent {
			// Ask first: the request may have arrived even though the
			// answer did not.
			res, status, err = c.call(ctx, http.MethodGet, "/v1/actions/"+req.RequestID, nil)
			if err == nil && status == http.StatusNotFound {
				res, status, err = c.call(ctx, http.MethodPost, "/v1/actions", body)
			}
		} else {
			res, status, err = c.call(ctx, http.MethodPost, "/v1/actions", body)
		}
		switch {
		case err != nil:
			last = err
			sent = true
		case status == http.StatusOK && res.Final():
			return res, nil
		case status == http.StatusAccepted || status == http.StatusOK:
			sent, last = true, fmt.Errorf("still running")
			backoff = c.RetryMin
		case status >= 500:
			sent, last = true, fmt.Errorf("agent error %d: %s", status, res.Error)
		default:
			return res, &AgentError{Status: status, Result: res}
		}
		select {
		case <-ctx.Done():
			return Result{}, &UncertainError{RequestID: req.RequestID, Last: last}
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, c.RetryMax)
	}
}

func (c *Client) call(ctx context.Context, method, path string, body []byte) (Result, int, error) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	hreq, err := http.NewRequestWithContext(rctx, method, c.base+path, rd)
	if err != nil {
		return Result{}, 0, err
	}
	if body != nil {
		hreq.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.http.Do(hreq)
	if err != nil {
		return Result{}, 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Result{}, 0, err
	}
	var res Result
	if err := json.Unmarshal(raw, &res); err != nil {
		// An error status may come from something in front of the agent (a
		// proxy) with a text body; its status still counts.
		if resp.StatusCode < 300 {
			return Result{}, 0, fmt.Errorf("%s %s%s: answer is not JSON: %w", method, c.base, path, err)
		}
		res.Error = strings.TrimSpace(string(raw))
	}
	return res, resp.StatusCode, nil
}
