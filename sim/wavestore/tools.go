package wavestore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/vigilops/vigil/sim"
)

// runFailoverDelete is `vigil sim wavestore-failover-delete`: Tools →
// Execute Command "failover-delete". It removes the failover configuration
// from this server (keeping a copy of it beside failover.ini) and tells the
// running service, which leaves the failover group at once. With --check it
// only says whether there is anything to delete: exit 0 means there is not,
// for the agent's `unless`.
func runFailoverDelete(ctx context.Context, env *sim.Env) error {
	var check bool
	if err := env.Flags("wavestore-failover-delete", func(fs *flag.FlagSet) {
		fs.BoolVar(&check, "check", false, "only check: exit 0 when there is no failover configuration")
	}); err != nil {
		return err
	}
	p := paths{root: env.Host()}
	path := p.failoverINI()
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		fmt.Printf("failover-delete: %s does not exist: this server has no failover configuration; nothing to delete\n", path)
		return nil
	}
	if err != nil {
		return fmt.Errorf("failover-delete: %w", err)
	}
	f, err := parseINI(path, data)
	if err != nil {
		return fmt.Errorf("failover-delete: %w", err)
	}
	enabled, err := f.boolean("Failover.Enabled", false)
	if err != nil {
		return fmt.Errorf("failover-delete: %w", err)
	}
	mode := f.str("Failover.Mode", modeNone)
	active := enabled && !strings.EqualFold(mode, modeNone)
	if check {
		if active {
			return fmt.Errorf("failover-delete --check: %s holds a failover configuration (Mode %s)", path, mode)
		}
		fmt.Println("failover-delete --check: this server has no failover configuration")
		return nil
	}
	if !active {
		fmt.Printf("failover-delete: %s holds no failover configuration; nothing to delete\n", path)
	} else {
		keep := path + ".before-failover-delete"
		if err := sim.Write(keep, string(data)); err != nil {
			return fmt.Errorf("failover-delete: keep a copy of %s: %w", path, err)
		}
		body := fmt.Sprintf("; Wavestore failover settings (View > Setup > Failover), simulated by Vigil.\n"+
			"; The failover configuration was removed by failover-delete at %s;\n"+
			"; the settings before it are in failover.ini.before-failover-delete.\n"+
			"[Failover]\nEnabled = 0\nMode = None\n", env.Clock.Now().UTC().Format(time.RFC3339))
		if err := sim.Write(path, body); err != nil {
			return fmt.Errorf("failover-delete: rewrite %s: %w", path, err)
		}
		fmt.Printf("failover-delete: the failover configuration (Mode %s) was removed from %s; a copy is in %s\n", mode, path, keep)
	}
	detail, err := notifyService(ctx, p)
	if err != nil {
		fmt.Printf("failover-delete: %v; the change takes effect when the Wavestore service starts\n", err)
		return nil
	}
	fmt.Printf("failover-delete: %s\n", detail)
	return nil
}

// notifyService tells the running Wavestore service of this server to
// apply failover-delete, and returns what it answered.
func notifyService(ctx context.Context, p paths) (string, error) {
	srv, err := readINI(p.serverINI())
	if err != nil {
		return "", err
	}
	name, err := srv.need("Server.Name")
	if err != nil {
		return "", err
	}
	w, err := loadWiring(p.wiringINI())
	if err != nil {
		return "", err
	}
	me, ok := w[name]
	if !ok {
		return "", fmt.Errorf("%s has no address for %s", p.wiringINI(), name)
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return "", err
	}
	defer c.Close()
	idb := make([]byte, 8)
	rand.Read(idb)
	id := hex.EncodeToString(idb)
	req := []byte(fmt.Sprintf(`{"t":%q,"id":%q}`, msgDelete, id))
	buf := make([]byte, maxDatagram+1)
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := c.WriteToUDP(req, me.udp); err != nil {
			return "", err
		}
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			n, _, err := c.ReadFromUDP(buf)
			if err != nil {
				break
			}
			if m, err := decodeMessage(buf[:n]); err == nil && m.Kind == msgAck && m.ID == id {
				return m.Detail, nil
			}
		}
	}
	return "", errors.New("the Wavestore service does not answer (it is not running)")
}
