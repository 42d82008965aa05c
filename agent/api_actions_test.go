package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigilops/vigil/actions"
)

// counter is an executor that counts its effects, so tests can prove an
// action happened once.
type counter struct {
	mu      sync.Mutex
	effects int
	dryRuns int
}

func (c *counter) Do(ctx context.Context, params map[string]string, dryRun bool) (actions.Outcome, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if dryRun {
		c.dryRuns++
		return actions.Outcome{Changed: true, Diff: "would drop " + params["name"]}, nil
	}
	c.effects++
	return actions.Outcome{Changed: true, Diff: "would drop " + params["name"]}, nil
}

// apiServer serves a real agent's API over TLS, through wrap.
func apiServer(t *testing.T, exec actions.Executor, wrap func(http.Handler) http.Handler) (*Agent, *actions.Client) {
	t.Helper()
	dir := t.TempDir()
	cfg, err := ParseConfig(filepath.Join(dir, "agent.yaml"), []byte(
		"name: t\nsystem: s\nprofile: redstor\nlisten: 127.0.0.1:0\nstate_dir: state\nadvertise: false\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a.SetExecutor(actions.TaskfileDrop, exec)
	srv := httptest.NewUnstartedServer(wrap(a.Handler()))
	srv.TLS = a.Pairing().TLSConfig(a.Identity().Cert)
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	c := pinnedClient(t, a, strings.TrimPrefix(srv.URL, "https://"))
	return a, c
}

func drop(id string) actions.Request {
	return actions.Request{RequestID: id, Epoch: 1, Action: actions.TaskfileDrop,
		Params: map[string]string{"queue": "as", "name": "Failover.UpdateSettingsOnSS"}, Operator: "night shift"}
}

func TestSameRequestTenTimesWithResponsesDroppedActsOnce(t *testing.T) {
	var posts atomic.Int32
	exec := &counter{}
	// The first nine answers to POST are lost after the agent has acted:
	// the connection is cut before a byte of the response is written.
	loseAnswers := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodPost && posts.Add(1) <= 9 {
				next.ServeHTTP(httptest.NewRecorder(), r)
				panic(http.ErrAbortHandler)
			}
			if r.Method == http.MethodGet {
				// Make the client resend the POST rather than find the
				// result with GET, so ten POSTs arrive.
				http.NotFound(w, r)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	_, c := apiServer(t, exec, loseAnswers)
	c.RetryMin, c.RetryMax = time.Millisecond, 10*time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := c.Do(ctx, drop(actions.NewRequestID()))
	if err != nil {
		t.Fatal(err)
	}
	if got := posts.Load(); got != 10 {
		t.Errorf("%d POSTs reached the agent, want 10", got)
	}
	if exec.effects != 1 {
		t.Errorf("%d effects from one request sent 10 times, want 1", exec.effects)
	}
	if res.State != actions.StateDone || res.Outcome == nil || res.Outcome.Diff != "would drop Failover.UpdateSettingsOnSS" {
		t.Errorf("result = %+v", res)
	}
}

func TestRequestIDReuseAndEpochs(t *testing.T) {
	exec := &counter{}
	a, c := apiServer(t, exec, func(h http.Handler) http.Handler { return h })
	ctx := context.Background()

	id := actions.NewRequestID()
	if _, err := c.Do(ctx, drop(id)); err != nil {
		t.Fatal(err)
	}
	other := drop(id)
	other.Params["name"] = "Something.Else"
	_, err := c.Do(ctx, other)
	var ae *actions.AgentError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict {
		t.Errorf("same id, other params: err = %v, want 409", err)
	}

	newer := drop(actions.NewRequestID())
	newer.Epoch = 7
	if _, err := c.Do(ctx, newer); err != nil {
		t.Fatal(err)
	}
	stale := drop(actions.NewRequestID())
	stale.Epoch = 6
	_, err = c.Do(ctx, stale)
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || !strings.Contains(ae.Result.Error, "epoch 6 is lower than 7") {
		t.Errorf("stale epoch: err = %v, want 409 naming both epochs", err)
	}
	if exec.effects != 2 {
		t.Errorf("effects = %d, want 2 (the conflict and the stale request must not act)", exec.effects)
	}

	bad := drop("short")
	_, err = c.Do(ctx, bad)
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Errorf("bad request id: err = %v, want 400", err)
	}
	undeclared := actions.Request{RequestID: actions.NewRequestID(), Action: actions.CommandRun, Params: map[string]string{"command": "rm"}}
	_, err = c.Do(ctx, undeclared)
	if !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
		t.Errorf("undeclared action: err = %v, want 403", err)
	}

	entries, err := a.oplog.AuditSince(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var results []string
	for _, e := range entries {
		results = append(results, e.Result)
	}
	want := "done refused done refused refused refused"
	if strings.Join(results, " ") != want {
		t.Errorf("audit results = %q, want %q", strings.Join(results, " "), want)
	}
	if entries[0].Operator != "night shift" || entries[0].Params["name"] != "Failover.UpdateSettingsOnSS" {
		t.Errorf("audit entry = %+v", entries[0])
	}
}

func TestDryRunHasNoEffect(t *testing.T) {
	exec := &counter{}
	_, c := apiServer(t, exec, func(h http.Handler) http.Handler { return h })
	ctx := context.Background()
	dry := drop(actions.NewRequestID())
	dry.DryRun = true
	res, err := c.Do(ctx, dry)
	if err != nil || !res.DryRun || res.Outcome.Diff == "" {
		t.Fatalf("dry run: %+v, %v", res, err)
	}
	if exec.effects != 0 || exec.dryRuns != 1 {
		t.Errorf("after a dry run: %d effects, %d dry runs", exec.effects, exec.dryRuns)
	}
}

func TestIndeterminateAfterRestart(t *testing.T) {
	dir := t.TempDir()
	l, _, err := OpenOpLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	req := drop(actions.NewRequestID())
	if _, fresh, err := l.Begin(&req, "", time.Now()); err != nil || !fresh {
		t.Fatalf("begin: %v", err)
	}
	l.Close() // the agent dies here, mid-action

	l, n, err := OpenOpLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if n != 1 {
		t.Errorf("%d operations marked indeterminate, want 1", n)
	}
	res, fresh, err := l.Begin(&req, "", time.Now())
	if err != nil || fresh || res.State != actions.StateIndeterminate {
		t.Errorf("resent after restart: fresh=%v state=%s err=%v; want the recorded indeterminate result", fresh, res.State, err)
	}
}
