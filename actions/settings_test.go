package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// redstorXML is an AccountServer Settings.xml as Windows tools leave it:
// a byte order mark, CRLF line endings, comments, attributes.
var redstorXML = "\ufeff" + strings.ReplaceAll(`<?xml version="1.0" encoding="utf-8"?>
<!-- Attix5 Pro AccountServer settings. Stop the service before editing. -->
<Settings version="8.1">
  <ServerGuid>a40b132e-b8b1-4316-b1f2-c27d301ad2e5</ServerGuid>
  <IsSlave choices="True,False" default="False">False</IsSlave>
  <!-- <IsSlave>True</IsSlave> -->
  <Port default='5555'>5555</Port>
  <DatabasePath>C:\ProgramData\Attix5 Pro\AS_Service\db</DatabasePath>
  <Servers>
    <Server><Address>10.0.0.1</Address><Port>5000</Port></Server>
    <Server><Address>10.0.0.2</Address><Port>5000</Port></Server>
  </Servers>
  <Notes>Backups &amp; mirrors</Notes>
  <Secret><![CDATA[p<w>d]]></Secret>
  <EmptyValue />
</Settings>
`, "\n", "\r\n")

var redstorINI = "\ufeff" + strings.ReplaceAll(`; AccountServer options
Mode=Standalone

[Failover]
IsSlave = False
Peer = "10.0.0.2"
# Peer = 10.0.0.1
Empty=
[Mirror.Site]
Address=10.0.0.3
`, "\n", "\r\n")

var redstorJSON = `{
  "server": {"role": "slave", "port": 5555, "peers": ["10.0.0.1", "10.0.0.2"]},
  "enabled": false,
  "path": "C:\\ProgramData\\Attix5 Pro",
  "dup": {"a": 1, "a": 2}
}
`

type setCase struct {
	name, file, content string
	params              map[string]string // dir and path are added
	old, new            string            // the bytes that change, unique in content
}

var setCases = []setCase{
	{"xml element", "AS_Service/Settings.xml", redstorXML,
		map[string]string{"key": "Settings/IsSlave", "value": "True"}, ">False</IsSlave>", ">True</IsSlave>"},
	{"xml attribute", "AS_Service/Settings.xml", redstorXML,
		map[string]string{"key": "Settings/IsSlave/@default", "value": "True"}, `default="False"`, `default="True"`},
	{"xml single-quoted attribute", "AS_Service/Settings.xml", redstorXML,
		map[string]string{"key": "Settings/Port/@default", "value": "it's"}, `default='5555'`, `default='it&#39;s'`},
	{"xml indexed", "AS_Service/Settings.xml", redstorXML,
		map[string]string{"key": "Settings/Servers/Server[2]/Address", "value": "10.0.0.9"}, "10.0.0.2", "10.0.0.9"},
	{"xml escaped", "AS_Service/Settings.xml", redstorXML,
		map[string]string{"key": "Settings/Notes", "value": `A & B <c> "d" 'e'`}, "Backups &amp; mirrors", "A &amp; B &lt;c&gt; &#34;d&#34; &#39;e&#39;"},
	{"xml CDATA", "AS_Service/Settings.xml", redstorXML,
		map[string]string{"key": "Settings/Secret", "value": "new<pw>"}, "<![CDATA[p<w>d]]>", "new&lt;pw&gt;"},
	{"xml self-closing", "AS_Service/Settings.xml", redstorXML,
		map[string]string{"key": "Settings/EmptyValue", "value": "x"}, "<EmptyValue />", "<EmptyValue >x</EmptyValue>"},
	{"xml to empty", "AS_Service/Settings.xml", redstorXML,
		map[string]string{"key": "/Settings/DatabasePath", "value": ""}, `C:\ProgramData\Attix5 Pro\AS_Service\db`, ""},
	{"xml attribute after a >", "s.xml", `<a b="x>y" c='1'/>`,
		map[string]string{"key": "a/@c", "value": "2"}, "c='1'", "c='2'"},
	{"xml newline in value", "s.xml", "<a><b>x</b></a>",
		map[string]string{"key": "a/b", "value": "1\r\n2\t"}, "<b>x</b>", "<b>1&#xD;&#xA;2&#x9;</b>"},
	{"xml format param", "AS_Service/Settings.txt", redstorXML,
		map[string]string{"key": "Settings/IsSlave", "value": "True", "format": "xml"}, ">False</IsSlave>", ">True</IsSlave>"},

	{"ini in section", "as.ini", redstorINI,
		map[string]string{"key": "Failover.IsSlave", "value": "True"}, "IsSlave = False\r\n", "IsSlave = True\r\n"},
	{"ini any case", "as.ini", redstorINI,
		map[string]string{"key": "failover.isslave", "value": "True"}, "IsSlave = False\r\n", "IsSlave = True\r\n"},
	{"ini quoted", "as.ini", redstorINI,
		map[string]string{"key": "Failover.Peer", "value": " 10.0.0.9 "}, `"10.0.0.2"`, `" 10.0.0.9 "`},
	{"ini before sections", "as.ini", redstorINI,
		map[string]string{"key": "Mode", "value": "Master"}, "Mode=Standalone", "Mode=Master"},
	{"ini empty", "as.ini", redstorINI,
		map[string]string{"key": "Failover.Empty", "value": "1"}, "Empty=\r\n", "Empty=1\r\n"},
	{"ini dotted section", "as.cfg", redstorINI,
		map[string]string{"key": "Mirror.Site.Address", "value": "10.0.0.4"}, "10.0.0.3", "10.0.0.4"},

	{"json string", "cfg/server.json", redstorJSON,
		map[string]string{"key": "server.role", "value": "master"}, `"slave"`, `"master"`},
	{"json array element", "cfg/server.json", redstorJSON,
		map[string]string{"key": "server.peers.1", "value": "10.0.0.9"}, `"10.0.0.2"`, `"10.0.0.9"`},
	{"json escapes", "cfg/server.json", redstorJSON,
		map[string]string{"key": "path", "value": `D:\Vendor "x" <é>`}, `"C:\\ProgramData\\Attix5 Pro"`, `"D:\\Vendor \"x\" <é>"`},
	{"json raw bool", "cfg/server.json", "\ufeff" + strings.ReplaceAll(redstorJSON, "\n", "\r\n"),
		map[string]string{"key": "enabled", "value": "true", "type": "raw"}, "false", "true"},
	{"json raw number", "cfg/server.json", redstorJSON,
		map[string]string{"key": "server.port", "value": "6000", "type": "raw"}, "5555", "6000"},
	{"json string over number", "cfg/server.json", redstorJSON,
		map[string]string{"key": "server.port", "value": "6000", "type": "string"}, "5555", `"6000"`},
}

var t0 = time.Date(2026, 3, 1, 12, 30, 45, 123456789, time.UTC)

// stepClock returns a clock that advances a millisecond on every call.
func stepClock() func() time.Time {
	n := 0
	return func() time.Time { n++; return t0.Add(time.Duration(n) * time.Millisecond) }
}

type settingsEnv struct {
	root, backups string
	roots         []SettingsRoot
	set, get      Executor
}

func newSettingsEnv(t *testing.T) *settingsEnv {
	t.Helper()
	base := t.TempDir()
	e := &settingsEnv{root: filepath.Join(base, "vendor"), backups: filepath.Join(base, "backups")}
	if err := os.MkdirAll(e.root, 0o755); err != nil {
		t.Fatal(err)
	}
	e.roots = []SettingsRoot{{Name: "other", Dir: base}, {Name: "vendor", Dir: e.root}}
	e.set = NewSettingsSet(e.roots, e.backups, stepClock())
	e.get = NewSettingsGet(e.roots)
	return e
}

func (e *settingsEnv) put(t *testing.T, rel, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(e.root, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	write(t, p, content)
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func params(base map[string]string, kv ...string) map[string]string {
	p := map[string]string{}
	for k, v := range base {
		p[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		p[kv[i]] = kv[i+1]
	}
	return p
}

func TestSettingsSet(t *testing.T) {
	ctx := context.Background()
	for _, tc := range setCases {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Count(tc.content, tc.old) != 1 {
				t.Fatalf("test case: %q is not unique in the file", tc.old)
			}
			e := newSettingsEnv(t)
			path := e.put(t, tc.file, tc.content, 0o640)
			wantOwner := chownForTest(t, path)
			p := params(tc.params, "dir", "vendor", "path", tc.file)
			want := strings.Replace(tc.content, tc.old, tc.new, 1)

			dry, err := e.set.Do(ctx, p, true)
			if err != nil {
				t.Fatalf("dry run: %v", err)
			}
			if got := readFile(t, path); got != tc.content {
				t.Fatalf("the dry run changed the file")
			}
			if _, err := os.Stat(e.backups); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the dry run made the backup directory: %v", err)
			}

			done, err := e.set.Do(ctx, p, false)
			if err != nil {
				t.Fatalf("set: %v", err)
			}
			got := readFile(t, path)
			if got != want {
				t.Fatalf("file after set:\n%q\nwant:\n%q", got, want)
			}
			checkOnlySpanChanged(t, tc, got)

			backup := done.Backup
			done.Backup = ""
			if dry != done {
				t.Errorf("dry run %+v, real run %+v", dry, done)
			}
			if !done.Changed || done.Value != tc.params["value"] {
				t.Errorf("outcome %+v: want Changed and Value %q", done, tc.params["value"])
			}
			checkDiffApplies(t, tc.content, got, done.Diff)
			checkBackup(t, e.backups, backup, filepath.Base(path), tc.content)
			checkModeAndOwner(t, path, 0o640, wantOwner)
			checkNoTempFiles(t, filepath.Dir(path))

			delete(p, "type")
			if _, err := e.get.Do(ctx, p, false); !isParamErr(err, "value") {
				t.Errorf("get took a value parameter: %v", err)
			}
			delete(p, "value")
			if g, err := e.get.Do(ctx, p, false); err != nil || g.Value != expectGet(tc) {
				t.Errorf("get after set = %+v, %v; want %q", g, err, expectGet(tc))
			}

			again, err := e.set.Do(ctx, params(tc.params, "dir", "vendor", "path", tc.file), false)
			if err != nil || again.Changed || again.Diff != "" || again.Backup != "" {
				t.Errorf("second set = %+v, %v; want no change", again, err)
			}
			if n := len(readDir(t, e.backups)); n != 1 {
				t.Errorf("%d backups after a set and a no-op, want 1", n)
			}
			if readFile(t, path) != want {
				t.Errorf("the no-op set changed the file")
			}
		})
	}
}

// expectGet is what get returns for the value a case wrote: JSON raw
// strings read back as their text.
func expectGet(tc setCase) string {
	if tc.params["type"] == "raw" {
		return jsonText([]byte(tc.params["value"]))
	}
	return tc.params["value"]
}

// checkOnlySpanChanged checks, independently of the expected file, that only
// the bytes of the value moved: the new file keeps the old one's prefix up to
// the value and its suffix after it.
func checkOnlySpanChanged(t *testing.T, tc setCase, got string) {
	t.Helper()
	i := strings.Index(tc.content, tc.old)
	prefix, suffix := tc.content[:i], tc.content[i+len(tc.old):]
	if !strings.HasPrefix(got, prefix) || !strings.HasSuffix(got, suffix) || len(got) < len(prefix)+len(suffix) {
		t.Fatalf("bytes outside %q changed", tc.old)
	}
}

func checkBackup(t *testing.T, dir, backup, base, content string) {
	t.Helper()
	re := regexp.MustCompile(`^` + regexp.QuoteMeta(base) + `\.\d{8}T\d{6}\.\d{9}Z\.bak$`)
	if filepath.Dir(backup) != dir || !re.MatchString(filepath.Base(backup)) {
		t.Errorf("backup %q: want %s/%s.<20060102T150405.000000000Z>.bak", backup, dir, base)
	}
	if got := readFile(t, backup); got != content {
		t.Errorf("backup holds %q, want the original", got)
	}
	if runtime.GOOS == "windows" {
		return
	}
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("backup directory mode %v, %v; want 0700", fi.Mode(), err)
	}
	if fi, err := os.Stat(backup); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("backup mode %v, %v; want 0600", fi.Mode(), err)
	}
}

// chownForTest gives the file an owner the agent is not, when the test runs
// as root, so that keeping the owner is tested. It returns the owner to
// expect after a set.
func chownForTest(t *testing.T, path string) [2]int {
	t.Helper()
	if runtime.GOOS == "windows" || os.Geteuid() != 0 {
		return [2]int{-1, -1}
	}
	if err := os.Chown(path, 4242, 4343); err != nil {
		t.Fatal(err)
	}
	return [2]int{4242, 4343}
}

func checkModeAndOwner(t *testing.T, path string, mode os.FileMode, owner [2]int) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != mode {
		t.Errorf("mode after set %v, want %v", fi.Mode().Perm(), mode)
	}
	if owner[0] >= 0 {
		if u, g, _ := fileOwner(fi); u != owner[0] || g != owner[1] {
			t.Errorf("owner after set %d:%d, want %d:%d", u, g, owner[0], owner[1])
		}
	}
}

func checkNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	for _, n := range readDir(t, dir) {
		if strings.HasPrefix(n, ".vigil-") {
			t.Errorf("temporary file %s left behind", n)
		}
	}
}

func readDir(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func isParamErr(err error, param string) bool {
	var pe *ParamError
	return errors.As(err, &pe) && pe.Param == param
}

func TestSettingsGet(t *testing.T) {
	tests := []struct {
		file, content, key, want string
	}{
		{"s.xml", redstorXML, "Settings/IsSlave", "False"},
		{"s.xml", redstorXML, "/Settings/IsSlave", "False"},
		{"s.xml", redstorXML, "Settings/IsSlave/@choices", "True,False"},
		{"s.xml", redstorXML, "Settings/@version", "8.1"},
		{"s.xml", redstorXML, "Settings/Servers/Server[1]/Port", "5000"},
		{"s.xml", redstorXML, "Settings/Servers[1]/Server[2]/Address", "10.0.0.2"},
		{"s.xml", redstorXML, "Settings/Notes", "Backups & mirrors"},
		{"s.xml", redstorXML, "Settings/Secret", "p<w>d"},
		{"s.xml", redstorXML, "Settings/EmptyValue", ""},
		{"s.XML", redstorXML, "Settings/Port", "5555"},
		{"s.config", `<configuration><appSettings><add key="a" value="b"/></appSettings></configuration>`, "configuration/appSettings/add/@value", "b"},
		{"ns.xml", `<x:S xmlns:x="urn:x"><x:A>1</x:A><A>2</A></x:S>`, "x:S/x:A", "1"},
		{"ns.xml", `<x:S xmlns:x="urn:x"><x:A>1</x:A><A>2</A></x:S>`, "x:S/A", "2"},
		{"s.ini", redstorINI, "Failover.IsSlave", "False"},
		{"s.ini", redstorINI, "Failover.Peer", "10.0.0.2"},
		{"s.ini", redstorINI, "Mode", "Standalone"},
		{"s.ini", redstorINI, "FAILOVER.EMPTY", ""},
		{"s.conf", "a.b = 1\n[s]\nk: v w \n", "a.b", "1"},
		{"s.conf", "a.b = 1\n[s]\nk: v w \n", "s.k", "v w"},
		{"s.json", redstorJSON, "server.role", "slave"},
		{"s.json", redstorJSON, "server.port", "5555"},
		{"s.json", redstorJSON, "server.peers.0", "10.0.0.1"},
		{"s.json", redstorJSON, "server.peers", `["10.0.0.1", "10.0.0.2"]`},
		{"s.json", redstorJSON, "enabled", "false"},
		{"s.json", redstorJSON, "path", `C:\ProgramData\Attix5 Pro`},
		{"s.json", `[{"0": "zero"}]`, "0.0", "zero"},
	}
	for _, tt := range tests {
		t.Run(tt.file+" "+tt.key, func(t *testing.T) {
			e := newSettingsEnv(t)
			e.put(t, tt.file, tt.content, 0o644)
			out, err := e.get.Do(context.Background(), map[string]string{"dir": "vendor", "path": tt.file, "key": tt.key}, false)
			if err != nil || out.Value != tt.want || out.Changed {
				t.Fatalf("get = %+v, %v; want Value %q", out, err, tt.want)
			}
		})
	}
}

func TestSettingsErrors(t *testing.T) {
	e := newSettingsEnv(t)
	e.put(t, "AS_Service/Settings.xml", redstorXML, 0o644)
	e.put(t, "as.ini", redstorINI, 0o644)
	e.put(t, "s.json", redstorJSON, 0o644)
	e.put(t, "bad.xml", "<Settings><IsSlave>False</Settings>", 0o644)
	e.put(t, "two.xml", "<a/><b/>", 0o644)
	e.put(t, "latin.xml", `<?xml version="1.0" encoding="ISO-8859-1"?><a>x</a>`, 0o644)
	e.put(t, "utf16.xml", "\xff\xfe<\x00a\x00/\x00>\x00", 0o644)
	e.put(t, "commented.xml", "<a><b>x<!-- keep --></b></a>", 0o644)
	e.put(t, "settings.yaml", "a: 1\n", 0o644)
	e.put(t, "dup.ini", "[s]\nk=1\n[S]\nK=2\n", 0o644)
	e.put(t, "broken.ini", "[s\nk=1\n", 0o644)
	big := e.put(t, "big.xml", "", 0o644)
	if err := os.Truncate(big, MaxSettingsSize+1); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(filepath.Dir(e.root), "secret.xml")
	write(t, outside, "<a>secret</a>")
	if err := os.Symlink(outside, filepath.Join(e.root, "link.xml")); err != nil {
		t.Log("no symbolic links:", err)
	}

	xml := map[string]string{"dir": "vendor", "path": "AS_Service/Settings.xml", "key": "Settings/IsSlave", "value": "True"}
	type check func(t *testing.T, err error)
	param := func(name string) check {
		return func(t *testing.T, err error) {
			if !isParamErr(err, name) {
				t.Errorf("err = %v, want a *ParamError for %s", err, name)
			}
		}
	}
	refused := func(t *testing.T, err error) {
		var re *RefusedError
		if !errors.As(err, &re) {
			t.Errorf("err = %v, want a *RefusedError", err)
		}
	}
	says := func(parts ...string) check {
		return func(t *testing.T, err error) {
			if err == nil {
				t.Fatal("no error")
			}
			for _, p := range parts {
				if !strings.Contains(err.Error(), p) {
					t.Errorf("error %q does not say %q", err, p)
				}
			}
		}
	}
	noKey := func(t *testing.T, err error) {
		says("Settings.xml", "Settings/IsMaster", "not found")(t, err)
		if !errors.Is(err, ErrNoKey) {
			t.Errorf("err = %v, want ErrNoKey", err)
		}
	}
	tests := []struct {
		name   string
		params map[string]string
		check  check
	}{
		{"missing dir", params(xml, "dir", ""), param("dir")},
		{"unknown dir", params(xml, "dir", "nope"), param("dir")},
		{"missing path", params(xml, "path", ""), param("path")},
		{"missing key", params(xml, "key", ""), param("key")},
		{"missing value", func() map[string]string { p := params(xml); delete(p, "value"); return p }(), param("value")},
		{"unknown param", params(xml, "colour", "red"), param("colour")},
		{"create", params(xml, "create", "true"), param("create")},
		{"unknown format", params(xml, "format", "yaml"), param("format")},
		{"no format from extension", params(xml, "path", "settings.yaml"), param("format")},
		{"type on xml", params(xml, "type", "raw"), param("type")},
		{"bad key", params(xml, "key", "Settings/Server[0]"), param("key")},
		{"bad attribute key", params(xml, "key", "@x"), param("key")},
		{"value XML cannot hold", params(xml, "value", "a\x01b"), param("value")},
		{"value not UTF-8", params(xml, "value", "\xff"), param("value")},

		{"climbing path", params(xml, "path", "../../etc/passwd"), refused},
		{"absolute path", params(xml, "path", "/etc/passwd"), refused},
		{"windows path", params(xml, "path", `C:\ProgramData\x.xml`), refused},
		{"symbolic link out", params(xml, "path", "link.xml", "key", "a"), refused},

		{"key not found", params(xml, "key", "Settings/IsMaster"), noKey},
		{"attribute not found", params(xml, "key", "Settings/IsSlave/@nope"), says("nope", "not found")},
		{"ambiguous", params(xml, "key", "Settings/Servers/Server/Address"), says("matches 2 elements", "Address[1]")},
		{"element with children", params(xml, "key", "Settings/Servers"), says("child elements")},
		{"element with comment", params(xml, "path", "commented.xml", "key", "a/b"), says("comments")},
		{"malformed XML", params(xml, "path", "bad.xml"), says("bad.xml", "not well-formed")},
		{"two roots", params(xml, "path", "two.xml", "key", "a"), says("more than one root")},
		{"latin-1", params(xml, "path", "latin.xml", "key", "a"), says("ISO-8859-1")},
		{"UTF-16", params(xml, "path", "utf16.xml", "key", "a"), says("UTF-16")},
		{"too large", params(xml, "path", "big.xml"), says("big.xml", "8 MiB")},
		{"directory", params(xml, "path", "AS_Service", "format", "xml"), says("not a regular file")},
		{"missing file", params(xml, "path", "AS_Service/Nope.xml"), says("Nope.xml")},

		{"ini line break", map[string]string{"dir": "vendor", "path": "as.ini", "key": "Failover.IsSlave", "value": "a\nb"}, param("value")},
		{"ini bare value with spaces", map[string]string{"dir": "vendor", "path": "as.ini", "key": "Mode", "value": " x"}, param("value")},
		{"ini bare value with quotes", map[string]string{"dir": "vendor", "path": "as.ini", "key": "Mode", "value": `"x"`}, param("value")},
		{"ini ambiguous", map[string]string{"dir": "vendor", "path": "dup.ini", "key": "s.k", "value": "3"}, says("ambiguous", "lines 2, 4")},
		{"ini broken", map[string]string{"dir": "vendor", "path": "broken.ini", "key": "s.k", "value": "3"}, says("line 1")},
		{"ini not found", map[string]string{"dir": "vendor", "path": "as.ini", "key": "Failover.Nope", "value": "3"}, says("as.ini", "Failover.Nope", "not found")},

		{"json bool without type", map[string]string{"dir": "vendor", "path": "s.json", "key": "enabled", "value": "true"}, param("type")},
		{"json raw invalid", map[string]string{"dir": "vendor", "path": "s.json", "key": "enabled", "value": "yes", "type": "raw"}, param("value")},
		{"json bad type", map[string]string{"dir": "vendor", "path": "s.json", "key": "enabled", "value": "1", "type": "int"}, param("type")},
		{"json duplicate name", map[string]string{"dir": "vendor", "path": "s.json", "key": "dup.a", "value": "3", "type": "raw"}, says("more than once")},
		{"json empty step", map[string]string{"dir": "vendor", "path": "s.json", "key": "server..role", "value": "x"}, param("key")},
		{"json index out of range", map[string]string{"dir": "vendor", "path": "s.json", "key": "server.peers.2", "value": "x"}, says("not found")},
		{"json path through a string", map[string]string{"dir": "vendor", "path": "s.json", "key": "server.role.x", "value": "x"}, says("not found")},
	}
	before := snapshot(t, e.root)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "symbolic link out" {
				if _, err := os.Lstat(filepath.Join(e.root, "link.xml")); err != nil {
					t.Skip("no symbolic links")
				}
			}
			for _, dry := range []bool{true, false} {
				out, err := e.set.Do(context.Background(), tt.params, dry)
				if out != (Outcome{}) {
					t.Errorf("failed set returned %+v", out)
				}
				tt.check(t, err)
			}
		})
	}
	if after := snapshot(t, e.root); after != before {
		t.Errorf("failed sets changed the directory")
	}
	if _, err := os.Stat(e.backups); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed sets made backups")
	}
	// get refuses the same paths.
	for _, p := range []string{"../../etc/passwd", "/etc/passwd", "link.xml"} {
		_, err := e.get.Do(context.Background(), map[string]string{"dir": "vendor", "path": p, "key": "a"}, false)
		var re *RefusedError
		if _, lerr := os.Lstat(filepath.Join(e.root, p)); p == "link.xml" && lerr != nil {
			continue
		}
		if !errors.As(err, &re) {
			t.Errorf("get %s: err = %v, want a *RefusedError", p, err)
		}
	}
}

// snapshot lists every file under dir with its content.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		b.WriteString(p + "\n")
		if d.Type().IsRegular() && !strings.HasSuffix(p, "big.xml") {
			c, _ := os.ReadFile(p)
			b.Write(c)
		}
		return nil
	})
	return b.String()
}

func TestSettingsSetWithoutBackupDir(t *testing.T) {
	e := newSettingsEnv(t)
	path := e.put(t, "s.ini", "k=1\n", 0o644)
	set := NewSettingsSet(e.roots, "", nil)
	p := map[string]string{"dir": "vendor", "path": "s.ini", "key": "k", "value": "2"}
	for _, dry := range []bool{true, false} {
		if _, err := set.Do(context.Background(), p, dry); err == nil || !strings.Contains(err.Error(), "backup") {
			t.Fatalf("dry %v: err = %v, want a refusal to edit without backups", dry, err)
		}
	}
	if readFile(t, path) != "k=1\n" {
		t.Fatal("the file changed without a backup")
	}
}

// TestSettingsSetConcurrent sets many keys of one file at once, through
// separate executors as an agent might build them: no change may be lost.
func TestSettingsSetConcurrent(t *testing.T) {
	e := newSettingsEnv(t)
	var doc strings.Builder
	const n = 20
	for i := range n {
		fmt.Fprintf(&doc, "k%d=old\r\n", i)
	}
	path := e.put(t, "s.ini", doc.String(), 0o644)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			set := NewSettingsSet(e.roots, e.backups, func() time.Time { return t0.Add(time.Duration(i) * time.Second) })
			p := map[string]string{"dir": "vendor", "path": "s.ini", "key": fmt.Sprintf("k%d", i), "value": "new"}
			if _, err := set.Do(context.Background(), p, false); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got, want := readFile(t, path), strings.ReplaceAll(doc.String(), "old", "new"); got != want {
		t.Errorf("after concurrent sets:\n%s\nwant:\n%s", got, want)
	}
	if b := readDir(t, e.backups); len(b) != n {
		t.Errorf("%d backups, want %d", len(b), n)
	}
}

// TestSettingsSetThroughLink edits the file a link inside the directory
// points to, and leaves the link a link.
func TestSettingsSetThroughLink(t *testing.T) {
	e := newSettingsEnv(t)
	target := e.put(t, "real/s.ini", "k=1\n", 0o644)
	link := filepath.Join(e.root, "s.ini")
	if err := os.Symlink(filepath.Join("real", "s.ini"), link); err != nil {
		t.Skip(err)
	}
	out, err := e.set.Do(context.Background(), map[string]string{"dir": "vendor", "path": "s.ini", "key": "k", "value": "2"}, false)
	if err != nil || !out.Changed {
		t.Fatalf("set = %+v, %v", out, err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was replaced by a file")
	}
	if got := readFile(t, target); got != "k=2\n" {
		t.Errorf("target holds %q", got)
	}
}

// checkEdit is the property the fuzz tests check: an edit that succeeds
// reads back as asked, and leaves every byte outside the value's span as it
// was; and the span is the value's, not a wider piece of the file.
func checkEdit(t *testing.T, c settingsCodec, doc []byte, key, value string, opt setOptions, span func(t *testing.T, old, repl []byte)) {
	before, getErr := c.get(doc, key)
	if !utf8.ValidString(value) {
		return // refused as a parameter before any codec sees it
	}
	out, sp, err := editSettings(c, doc, key, value, opt)
	if err != nil {
		return
	}
	if getErr != nil {
		t.Fatalf("edit succeeded where get failed: %v", getErr)
	}
	if sp.same {
		if before != sp.want {
			t.Fatalf("no-op edit: the value is %q, not %q", before, sp.want)
		}
		return
	}
	if sp.start < 0 || sp.end < sp.start || sp.end > len(doc) {
		t.Fatalf("span [%d,%d) outside the file of %d bytes", sp.start, sp.end, len(doc))
	}
	if !bytes.Equal(out[:sp.start], doc[:sp.start]) || !bytes.Equal(out[len(out)-(len(doc)-sp.end):], doc[sp.end:]) {
		t.Fatalf("bytes outside the span changed")
	}
	got, err := c.get(out, key)
	if err != nil || got != sp.want {
		t.Fatalf("get after edit = %q, %v; want %q", got, err, sp.want)
	}
	if opt.typ != "raw" && got != value {
		t.Fatalf("get after edit = %q, want %q", got, value)
	}
	span(t, doc[sp.start:sp.end], sp.repl)
}

func FuzzSettingsXML(f *testing.F) {
	for _, tc := range setCases {
		if strings.HasSuffix(tc.file, ".xml") {
			f.Add([]byte(tc.content), tc.params["key"], tc.params["value"])
		}
	}
	f.Add([]byte(`<a b="1" c='2'><d/><d>x</d></a>`), "a/d[2]", "y")
	f.Add([]byte(`<a b="1" c='2'><d/><d>x</d></a>`), "a/@c", `"'`)
	f.Fuzz(func(t *testing.T, doc []byte, key, value string) {
		checkEdit(t, xmlCodec{}, doc, key, value, setOptions{}, func(t *testing.T, old, repl []byte) {
			// The "/>" of an empty tag, or character data, or an attribute
			// value: no markup but CDATA sections.
			if string(old) == "/>" {
				if !bytes.HasPrefix(repl, []byte(">")) {
					t.Fatalf("self-closing tag replaced by %q", repl)
				}
				return
			}
			if bytes.Contains(withoutCDATA(old), []byte("<")) {
				t.Fatalf("the span %q is more than a value", old)
			}
		})
	})
}

func withoutCDATA(b []byte) []byte {
	var out []byte
	for {
		i := bytes.Index(b, []byte("<![CDATA["))
		if i < 0 {
			return append(out, b...)
		}
		out = append(out, b[:i]...)
		j := bytes.Index(b[i:], []byte("]]>"))
		if j < 0 {
			return append(out, b[i:]...)
		}
		b = b[i+j+3:]
	}
}

func FuzzSettingsINI(f *testing.F) {
	for _, tc := range setCases {
		if strings.HasSuffix(tc.file, ".ini") || strings.HasSuffix(tc.file, ".cfg") {
			f.Add([]byte(tc.content), tc.params["key"], tc.params["value"])
		}
	}
	f.Add([]byte("a=1\r\n[s]\r\nb = '2' \r\n"), "s.b", "3")
	f.Fuzz(func(t *testing.T, doc []byte, key, value string) {
		checkEdit(t, iniCodec{}, doc, key, value, setOptions{}, func(t *testing.T, old, repl []byte) {
			if bytes.ContainsAny(old, "\r\n") || bytes.ContainsAny(repl, "\r\n") {
				t.Fatalf("the span %q -> %q crosses a line", old, repl)
			}
		})
		// Every other entry keeps its value.
		entries, err := parseINI(doc)
		if err != nil || !utf8.ValidString(value) {
			return
		}
		out, sp, err := editSettings(iniCodec{}, doc, key, value, setOptions{})
		if err != nil || sp.same {
			return
		}
		after, err := parseINI(out)
		if err != nil || len(after) != len(entries) {
			t.Fatalf("entries before %d, after %d (%v)", len(entries), len(after), err)
		}
		for i := range entries {
			if entries[i].start != sp.start && string(doc[entries[i].start:entries[i].end]) != string(out[after[i].start:after[i].end]) {
				t.Fatalf("entry %d changed", i)
			}
		}
	})
}

func FuzzSettingsJSON(f *testing.F) {
	for _, tc := range setCases {
		if strings.HasSuffix(tc.file, ".json") {
			f.Add([]byte(tc.content), tc.params["key"], tc.params["value"], tc.params["type"] == "raw")
		}
	}
	f.Add([]byte(`{"a":[1,{"b":"c"}],"d":null}`), "a.1.b", `{"x":[true]}`, true)
	f.Fuzz(func(t *testing.T, doc []byte, key, value string, raw bool) {
		opt := setOptions{typ: "string"}
		if raw {
			opt.typ = "raw"
		}
		checkEdit(t, jsonCodec{}, doc, key, value, opt, func(t *testing.T, old, repl []byte) {
			if !jsonValidValue(old) || !jsonValidValue(repl) {
				t.Fatalf("the span %q -> %q is not one JSON value", old, repl)
			}
		})
	})
}

func jsonValidValue(b []byte) bool {
	_, _, err := locateJSON([]byte(`{"v":`+string(b)+`}`), "v")
	return err == nil && len(bytes.TrimSpace(b)) == len(b)
}
