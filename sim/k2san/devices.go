package k2san

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vigilops/vigil/sim"
)

// A redundant side of the K2 SAN has its own iSCSI bridge (a K2 Media
// Server in the iSCSI bridge role), Ethernet switch and Fibre Channel
// switch. None of them runs a Vigil agent: they are powered, restarted and
// watched from the side's own K2 Media Server, so the simulation keeps each
// side's device power states in one file on that server and changes them
// with the k2-device tool, which the agent runs as declared commands.

// device is one kind of device on a redundant side.
type device struct {
	key     string // the tool's --device and the command names, e.g. fc-switch
	section string // its section in SideDevices.ini
	label   string // as the document names it
	boot    time.Duration
	// critical: the media server reaches the RAID storage through it, so a
	// primary that loses it fails over.
	critical bool
}

var devices = []device{
	{key: "iscsi-bridge", section: "ISCSIBridge", label: "iSCSI bridge", boot: 40 * time.Second},
	{key: "ethernet-switch", section: "EthernetSwitch", label: "Ethernet switch", boot: 20 * time.Second},
	{key: "fc-switch", section: "FCSwitch", label: "Fibre Channel switch", boot: 30 * time.Second, critical: true},
}

// Device power states as SideDevices.ini keeps them.
const (
	devOnline  = "online"
	devBooting = "booting"
	devOff     = "off"
)

// deviceState is one device's entry in SideDevices.ini.
type deviceState struct {
	Name        string
	State       string
	LastStarted time.Time // simulated time the device last powered on
	Starts      int
	Boot        time.Duration
}

// sideDevices is SideDevices.ini: the devices of one redundant side.
type sideDevices struct {
	Side string
	Dev  map[string]*deviceState // by device key
}

// sideDevicesPath is where a server keeps its side's device states.
func sideDevicesPath(host func(...string) string) string {
	return host("ProgramData", "Grass Valley", "K2 SAN", "SideDevices.ini")
}

func sideDevicesDir(host func(...string) string) string {
	return host("ProgramData", "Grass Valley", "K2 SAN")
}

// newSide is the state of a side whose devices all came up at t.
func newSide(side string, t time.Time) *sideDevices {
	s := &sideDevices{Side: side, Dev: map[string]*deviceState{}}
	for _, d := range devices {
		s.Dev[d.key] = &deviceState{Name: d.label + " " + side, State: devOnline, LastStarted: t, Starts: 1, Boot: d.boot}
	}
	return s
}

// readSide reads SideDevices.ini; errors name the file and key.
func readSide(path string) (*sideDevices, error) {
	f, err := readINI(path)
	if err != nil {
		return nil, err
	}
	s := &sideDevices{Dev: map[string]*deviceState{}}
	if s.Side, err = f.oneOf("Side.Name", "A", "B"); err != nil {
		return nil, err
	}
	for _, d := range devices {
		ds := &deviceState{Name: f.opt(d.section+".Name", d.label+" "+s.Side)}
		if ds.State, err = f.oneOf(d.section+".State", devOnline, devBooting, devOff); err != nil {
			return nil, err
		}
		if ds.LastStarted, err = f.timeValue(d.section + ".LastStarted"); err != nil {
			return nil, err
		}
		n, err := strconv.Atoi(f.opt(d.section+".Starts", "0"))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%s: %q is not a count", f.where(d.section+".Starts"), f.opt(d.section+".Starts", ""))
		}
		ds.Starts = n
		if ds.Boot, err = f.seconds(d.section+".BootSeconds", 0, 3600); err != nil {
			return nil, err
		}
		s.Dev[d.key] = ds
	}
	return s, nil
}

func (s *sideDevices) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "; SIMULATED redundant side %s of a K2 SAN (Vigil simulation, not Grass Valley equipment).\n"+
		"; Power state of this side's devices as its K2 Media Server sees them. State is\n"+
		"; online, booting or off; LastStarted is when the device last powered on.\n"+
		"; The k2-device tool (agent commands restart-* and power-off-*) changes it.\n", s.Side)
	fmt.Fprintf(&b, "[Side]\nName=%s\n; Every device of the side has powered on at least once since this time.\nAllStartedSince=%s\n",
		s.Side, stamp(s.allStartedSince()))
	for _, d := range devices {
		ds := s.Dev[d.key]
		fmt.Fprintf(&b, "\n[%s]\nName=%s\nState=%s\nLastStarted=%s\nStarts=%d\nBootSeconds=%g\n",
			d.section, ds.Name, ds.State, stamp(ds.LastStarted), ds.Starts, ds.Boot.Seconds())
	}
	return b.String()
}

// allStartedSince is the earliest of the devices' last starts: each has
// started at least once since then.
func (s *sideDevices) allStartedSince() time.Time {
	var t time.Time
	for _, d := range devices {
		if ls := s.Dev[d.key].LastStarted; t.IsZero() || ls.Before(t) {
			t = ls
		}
	}
	return t
}

// down lists the side's devices that are not online, e.g. "Fibre Channel
// switch A is off"; critical reports whether one of them is critical.
func (s *sideDevices) down() (what []string, critical bool) {
	for _, d := range devices {
		if ds := s.Dev[d.key]; ds.State != devOnline {
			what = append(what, ds.Name+" is "+ds.State)
			critical = critical || d.critical
		}
	}
	return what, critical
}

// deviceTool is `vigil sim k2-device --device D --do restart|power-off`:
// what an operator does to a device of the server's redundant side. It
// exits when done, saying what it did.
func deviceTool(ctx context.Context, env *sim.Env) error {
	var key, op string
	if err := ownFlags(env, "k2-device", func(fs *flag.FlagSet) {
		fs.StringVar(&key, "device", "", "iscsi-bridge, ethernet-switch or fc-switch")
		fs.StringVar(&op, "do", "", "restart or power-off")
	}); err != nil {
		return err
	}
	var dev *device
	for i := range devices {
		if devices[i].key == key {
			dev = &devices[i]
		}
	}
	if dev == nil {
		return fmt.Errorf("vigil sim k2-device: --device %q: expected iscsi-bridge, ethernet-switch or fc-switch", key)
	}
	if op != "restart" && op != "power-off" {
		return fmt.Errorf("vigil sim k2-device: --do %q: expected restart or power-off", op)
	}
	path := sideDevicesPath(env.Host)
	update := func(change func(*deviceState)) (*deviceState, error) {
		s, err := readSide(path)
		if err != nil {
			return nil, fmt.Errorf("read device states: %w", err)
		}
		ds := s.Dev[dev.key]
		change(ds)
		if err := sim.Write(path, s.render()); err != nil {
			return nil, fmt.Errorf("write device states %s: %w", path, err)
		}
		return ds, nil
	}
	say := func(format string, args ...any) {
		fmt.Fprintf(os.Stdout, "%s simulated: %s\n", env.Clock.Now().UTC().Format(time.TimeOnly), fmt.Sprintf(format, args...))
	}
	if op == "power-off" {
		was := ""
		ds, err := update(func(ds *deviceState) { was, ds.State = ds.State, devOff })
		if err != nil {
			return err
		}
		if was == devOff {
			say("%s was already off", ds.Name)
		} else {
			say("%s powered off (it was %s)", ds.Name, was)
		}
		return nil
	}
	ds, err := update(func(ds *deviceState) {
		if ds.State != devOff {
			say("%s powering off to restart (it was %s)", ds.Name, ds.State)
		}
		ds.State, ds.LastStarted, ds.Starts = devBooting, env.Clock.Now(), ds.Starts+1
	})
	if err != nil {
		return err
	}
	say("%s powered on; booting for %s", ds.Name, ds.Boot)
	if err := env.Clock.Sleep(ctx, ds.Boot); err != nil {
		say("%s interrupted while booting; it stays booting until restarted again", ds.Name)
		return fmt.Errorf("restart of %s interrupted: %w", ds.Name, err)
	}
	if ds, err = update(func(ds *deviceState) { ds.State = devOnline }); err != nil {
		return err
	}
	say("%s online (started %s)", ds.Name, stamp(ds.LastStarted))
	return nil
}
