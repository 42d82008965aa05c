package agent

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/vigilops/vigil/actions"
)

// maxRequestBody bounds POST /v1/actions: settings values are small.
const maxRequestBody = 256 << 10

// actionAPI serves POST /v1/actions, GET /v1/actions/{request_id} and
// GET /v1/audit.
type actionAPI struct {
	log       *OpLog
	executors map[string]actions.Executor
	now       func() time.Time
	// console names the client of a request (its key fingerprint); empty
	// until pairing exists.
	console func(*http.Request) string
	// audited is told the id of every new audit entry, so consoles learn
	// there is something to mirror.
	audited func(id uint64)
	// epoch is told the epoch of every request accepted, so consoles
	// learn the one to exceed.
	epoch func(uint64)

	// mutating actions run one at a time: two consoles must not interleave
	// the steps of a failover on one host.
	mutating sync.Mutex
}

func (api *actionAPI) handlePost(w http.ResponseWriter, r *http.Request) {
	console := api.console(r)
	req, err := actions.DecodeRequest(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err != nil {
		api.refuse(r.Context(), w, http.StatusBadRequest, &req, console, err.Error())
		return
	}
	exec, ok := api.executors[req.Action]
	if !ok {
		api.refuse(r.Context(), w, http.StatusForbidden, &req, console,
			"this agent's config declares nothing for "+req.Action)
		return
	}
	res, fresh, err := api.log.Begin(&req, console, api.now())
	switch {
	case errors.Is(err, ErrConflict):
		api.refuse(r.Context(), w, http.StatusConflict, &req, console, err.Error())
		return
	case errors.Is(err, ErrStaleEpoch):
		api.refuse(r.Context(), w, http.StatusConflict, &req, console, err.Error())
		return
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	if fresh && api.epoch != nil {
		api.epoch(req.Epoch)
	}
	if !fresh {
		// A retry: the request was received before; never act twice.
		writeJSON(w, statusOf(res), res)
		return
	}

	if actions.Mutating(req.Action) {
		api.mutating.Lock()
		defer api.mutating.Unlock()
	}
	// The action runs to its end even if the console hangs up: the result
	// is logged for the console to fetch with GET /v1/actions/{id}.
	ctx := context.WithoutCancel(r.Context())
	out, runErr := exec.Do(ctx, req.Params, req.DryRun)
	var refused *actions.RefusedError
	var badParam *actions.ParamError
	res, err = api.log.Finish(req.RequestID, out, runErr, api.now())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	result := res.State
	if errors.As(runErr, &refused) {
		result = actions.StateRefused
	}
	api.audit(ctx, &req, console, result, res.Error)
	switch {
	case errors.As(runErr, &refused):
		writeJSON(w, http.StatusForbidden, res)
	case errors.As(runErr, &badParam):
		writeJSON(w, http.StatusBadRequest, res)
	default:
		writeJSON(w, statusOf(res), res)
	}
}

func (api *actionAPI) handleGet(w http.ResponseWriter, r *http.Request) {
	res, err := api.log.Get(r.PathValue("request_id"))
	switch {
	case errors.Is(err, ErrNotFound):
		writeJSON(w, http.StatusNotFound, apiError{"the agent never received request " + r.PathValue("request_id")})
	case err != nil:
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
	default:
		writeJSON(w, statusOf(res), res)
	}
}

func (api *actionAPI) handleAudit(w http.ResponseWriter, r *http.Request) {
	var since uint64
	if s := r.URL.Query().Get("since"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{"since: expected the id of the last entry already read"})
			return
		}
		since = n
	}
	entries, err := api.log.AuditSince(r.Context(), since, 1000)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Entries []actions.AuditEntry `json:"entries"`
	}{entries})
}

// refuse answers and audits a request the agent will not act on.
func (api *actionAPI) refuse(ctx context.Context, w http.ResponseWriter, code int, req *actions.Request, console, why string) {
	api.audit(ctx, req, console, actions.StateRefused, why)
	writeJSON(w, code, actions.Result{RequestID: req.RequestID, State: actions.StateRefused, Action: req.Action,
		DryRun: req.DryRun, Error: why, Received: api.now().UTC()})
}

func (api *actionAPI) audit(ctx context.Context, req *actions.Request, console, result, detail string) {
	// An audit failure must not hide the answer from the console; the
	// operation log still holds the request.
	id, err := api.log.Audit(ctx, actions.AuditEntry{Time: api.now(), Console: console, Operator: req.Operator,
		RequestID: req.RequestID, Action: req.Action, Params: req.Params, Result: result, Detail: detail})
	if err == nil && api.audited != nil {
		api.audited(id)
	}
}

func statusOf(res actions.Result) int {
	if res.State == actions.StateRunning {
		return http.StatusAccepted
	}
	return http.StatusOK
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
