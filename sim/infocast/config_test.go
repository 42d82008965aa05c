package infocast_test

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vigilops/vigil/agent"
	"github.com/vigilops/vigil/sim"
	"github.com/vigilops/vigil/sim/infocast"
)

const goodConfig = `<?xml version="1.0"?>
<infocast>
  <failover> <address>224.0.0.35</address> <port>45566</port> <ttl>5</ttl> <timeout>500</timeout> </failover>
</infocast>`

var configCases = []struct {
	name, doc string
	err       string // part of the error; "" for none
}{
	{"document example", goodConfig, ""},
	{"bootcast", strings.Replace(goodConfig, "</infocast>", `<bootcast><address>224.2.2.2</address><port>22222</port><image>bootcast_1900</image></bootcast></infocast>`, 1), ""},
	{"empty", "", "empty"},
	{"not xml", "<infocast><failover>", "not valid XML"},
	{"root", "<config/>", "root element is <config>"},
	{"no failover", "<infocast/>", "no <failover>"},
	{"no address", strings.Replace(goodConfig, "<address>224.0.0.35</address>", "", 1), "<failover><address> is missing"},
	{"unicast address", strings.Replace(goodConfig, "224.0.0.35", "10.0.0.1", 1), "not an IPv4 multicast address"},
	{"bad port", strings.Replace(goodConfig, "45566", "70000", 1), "<failover><port>"},
	{"bad ttl", strings.Replace(goodConfig, "<ttl>5", "<ttl>five", 1), "<failover><ttl>"},
	{"zero timeout", strings.Replace(goodConfig, "<timeout>500", "<timeout>0", 1), "<failover><timeout>"},
	{"bad image", strings.Replace(goodConfig, "</infocast>", `<bootcast><image>a b</image></bootcast></infocast>`, 1), "<bootcast><image>"},
}

func TestParseConfig(t *testing.T) {
	for _, c := range configCases {
		t.Run(c.name, func(t *testing.T) {
			cfg, err := infocast.ParseConfig("/opt/infocast/conf/infocast.xml", []byte(c.doc))
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) || !strings.Contains(err.Error(), "/opt/infocast/conf/infocast.xml") {
					t.Fatalf("error %v; want one naming the file and saying %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Group != netip.MustParseAddrPort("224.0.0.35:45566") || cfg.TTL != 5 || cfg.Timeout != 500*time.Millisecond {
				t.Errorf("got %+v", cfg)
			}
		})
	}
}

func FuzzParseConfig(f *testing.F) {
	for _, c := range configCases {
		f.Add(c.doc)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		cfg, err := infocast.ParseConfig("infocast.xml", []byte(doc))
		if err == nil && (!cfg.Group.Addr().IsMulticast() || cfg.Timeout <= 0 || len(cfg.Bootcast.Images) == 0) {
			t.Fatalf("accepted %q as %+v", doc, cfg)
		}
	})
}

func TestMessages(t *testing.T) {
	from := netip.MustParseAddrPort("127.0.0.1:40001")
	for _, st := range []string{"joining", "secondary", "primary", "leaving"} {
		b := infocast.EncodeMessage(st, from, 1234)
		gs, gf, gsince, err := infocast.DecodeMessage(b)
		if err != nil || gs != st || gf != from || gsince != 1234 {
			t.Errorf("%q: got %s %s %d %v", b, gs, gf, gsince, err)
		}
	}
	for _, bad := range []string{"", "hello", "INFOCAST-SIM/1 boss 127.0.0.1:1 0", "INFOCAST-SIM/1 primary ::1:1 0",
		"INFOCAST-SIM/1 primary 127.0.0.1:0 0", "INFOCAST-SIM/1 primary 127.0.0.1:1 -5", "INFOCAST-SIM/2 primary 127.0.0.1:1 0",
		"INFOCAST-SIM/1 primary 127.0.0.1:1 0 extra", strings.Repeat("x", 300)} {
		if _, _, _, err := infocast.DecodeMessage([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzDecodeMessage(f *testing.F) {
	f.Add([]byte("INFOCAST-SIM/1 primary 127.0.0.1:40001 1234\n"))
	f.Add([]byte("INFOCAST-SIM/1 leaving 192.0.2.2:1 0"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, from, since, err := infocast.DecodeMessage(b)
		if err != nil {
			return
		}
		again := infocast.EncodeMessage(st, from, since)
		st2, from2, since2, err := infocast.DecodeMessage(again)
		if err != nil || st2 != st || from2 != from || since2 != since {
			t.Fatalf("%q decoded as %s %s %d, which does not round-trip (%v)", b, st, from, since, err)
		}
	})
}

// TestLayout lays out a fleet directory twice, as a fleet restarted on it
// would: the group address and an operator's edits stay, the port is chosen
// again, and each agent configuration is one the agent accepts.
func TestLayout(t *testing.T) {
	dir := t.TempDir()
	l := &sim.Layout{Dirs: map[string]string{}, Exe: "/usr/bin/vigil", Clock: sim.NewClock(time.Now(), 1)}
	sys := infocast.System()
	for _, m := range sys.Members {
		l.Dirs[m.Name] = filepath.Join(dir, m.Name)
	}
	read := func(member string) *infocast.Config {
		t.Helper()
		cfg, err := infocast.LoadConfig(l.Host(member, "opt", "infocast", "conf", "infocast.xml"))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	first, err := sys.Layout(l)
	if err != nil {
		t.Fatal(err)
	}
	ca, cb := read("infocast-a"), read("infocast-b")
	if ca.Group != cb.Group || !ca.Group.Addr().IsMulticast() || ca.TTL > 1 || ca.Timeout != infocast.DefaultTimeout*time.Millisecond {
		t.Fatalf("servers laid out with %+v and %+v; want one group, TTL 0 or 1, the document's timeout", ca, cb)
	}
	path := l.Host("infocast-a", "opt", "infocast", "conf", "infocast.xml")
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.Replace(string(b), "<timeout>500<", "<timeout>2000<", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	again, err := sys.Layout(l)
	if err != nil {
		t.Fatal(err)
	}
	if ra := read("infocast-a"); ra.Group.Addr() != ca.Group.Addr() || ra.Timeout != 2*time.Second || ra.Group.Port() != read("infocast-b").Group.Port() {
		t.Errorf("after a second layout: %+v; want group %s kept, timeout 2s kept, one port for both", ra, ca.Group.Addr())
	}
	for name, body := range map[string]string{"first": first["infocast-a"], "again": again["infocast-b"]} {
		cfg := "name: x\nsystem: infocast\nprofile: infocast\nlisten: 127.0.0.1:0\nstate_dir: .\n" + body
		c, err := agent.ParseConfig(filepath.Join(dir, "agent.yaml"), []byte(cfg))
		if err != nil {
			t.Fatalf("%s agent configuration: %v\n%s", name, err, body)
		}
		if c.RoleProbe.Kind != "log" || c.RoleProbe.Service != infocast.ServiceName || len(c.Facts) == 0 {
			t.Errorf("%s agent configuration: role probe %+v, %d facts", name, c.RoleProbe, len(c.Facts))
		}
	}
}
