package app

import (
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/vigilops/vigil/model"
)

// lossyHold is how long the lossy links are watched for a false alarm. It
// is an observation window, not a wait for something to happen: every
// event the console raises in it is checked. VIGIL_LOSSY_HOLD sets it, so
// that a longer run can be asked for by hand (and VIGIL_LOSSY_HOG adds a
// saturated machine: see lossyHog).
func lossyHold(t *testing.T) time.Duration {
	if s := os.Getenv("VIGIL_LOSSY_HOLD"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("VIGIL_LOSSY_HOLD=%q: %v", s, err)
		}
		return d
	}
	return 60 * time.Second
}

// lossyPercent is the loss on every link of TestLossyLinksRaiseNoAlarm.
const lossyPercent = 5

// lossyHog, when VIGIL_LOSSY_HOG is set, keeps every core of the machine
// busy for the hold with as many spinning processes, so that a run by hand
// can add a saturated machine to the lossy links; it returns their stop.
func lossyHog(t *testing.T) func() {
	if os.Getenv("VIGIL_LOSSY_HOG") == "" {
		return func() {}
	}
	var hogs []*exec.Cmd
	for range runtime.NumCPU() {
		cmd := exec.Command("sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		hogs = append(hogs, cmd)
	}
	t.Logf("%d processes keep every core busy", len(hogs))
	return func() {
		for _, h := range hogs {
			h.Process.Kill()
			h.Wait()
		}
	}
}

// TestLossyLinksRaiseNoAlarm runs the console and two agents of one system,
// each on a host of its own in a lab, with every link (console to each
// agent, and between the agents) dropping 5 % of its packets at random.
// A link like that delays lines (TCP sends a lost segment again) and fails
// a peer's handshake now and then, but every server is alive and sees the
// other: for the whole hold the console raises no event that an operator
// would be alerted to (no unreachable, no down, no lost peer link), and
// both servers end up.
func TestLossyLinksRaiseNoAlarm(t *testing.T) {
	t.Parallel()
	ls, inside := startLabSystem(t, "lossy")
	if !inside {
		return
	}
	lab, c, view, events := ls.lab, ls.c, ls.view, ls.events
	hc, ha, hb := lab.Host("console"), lab.Host("A"), lab.Host("B")
	idA, idB := ls.idA, ls.idB
	// What was said while the links were clean is not this test's.
	for drained := false; !drained; {
		select {
		case <-events:
		default:
			drained = true
		}
	}

	lab.Lossy(hc, ha, lossyPercent)
	lab.Lossy(hc, hb, lossyPercent)
	lab.Lossy(ha, hb, lossyPercent)
	hold := lossyHold(t)
	stopHog := lossyHog(t)
	defer stopHog()
	t.Logf("every link drops %d %% of its packets; watching for %v", lossyPercent, hold)
	for end := time.After(hold); end != nil; {
		select {
		case e := <-events:
			t.Logf("on lossy links: %s %s %s %s: %s", e.Severity, e.Server, e.Kind, e.To, e.Detail)
			if e.Severity != model.SeverityInfo {
				t.Errorf("a live server on a lossy link raised %s %s of %s: %s", e.Severity, e.Kind, e.Server, e.Detail)
			}
		case <-end:
			end = nil
		}
	}
	dropped := lab.Dropped()
	t.Logf("the router dropped %d packets in %v", dropped, hold)
	if dropped == 0 {
		t.Fatal("the lossy links dropped nothing: the test did not test a lossy link")
	}
	for _, id := range []string{idA, idB} {
		if v := view(id); v.Health != model.HealthUp {
			t.Errorf("%s after %v on lossy links: %s (%s)", v.Name, hold, v.Health, v.Detail)
		}
		if st, ok := c.mon.Status(id); ok {
			for peer, l := range st.Peers {
				t.Logf("%s's link to %s: %s since %v, %s failing", view(id).Name, peer, l.State,
					l.Since.Format(time.TimeOnly), strconv.Itoa(l.Failing))
			}
		}
	}
}
