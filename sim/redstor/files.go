package redstor

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/vigilops/vigil/sim"
)

// Where the vendor's files lie under a simulated server's host/ root.
var (
	asServiceDir = []string{"ProgramData", "Attix5 Pro", "AS_Service"}
	ssServiceDir = []string{"ProgramData", "Attix5 Pro", "SS_Service"}
	// The StoragePlatform database. The real one is a SQL Server database;
	// the simulation keeps the same tables in one JSON file (see database).
	databaseDir = []string{"Program Files", "Microsoft SQL Server", "MSSQL", "DATA"}
	storageDir  = []string{"StorageServerData"}
)

const (
	settingsFile    = "Settings.xml"
	diagnosticsFile = "Diagnostics.xml"
	databaseFile    = "StoragePlatform.json"
	taskQueue       = "TaskQueue"
	taskUpdateSS    = "Failover.UpdateSettingsOnSS"
	serverConfig    = "ServerConfig.xml"
	accountSettings = "AccountSettings.xml"
	accountsFile    = "Accounts.xml"
)

// vendorLog is a service's own log, as the product keeps it; every line says
// it comes from a simulation.
type vendorLog struct{ *sim.VendorLog }

func (l vendorLog) Printf(format string, args ...any) {
	l.VendorLog.Printf("[simulated] "+format, args...)
}

// maxFile bounds every vendor file the simulation reads: they are kilobytes.
const maxFile = 4 << 20

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("%s is larger than %d bytes; it is not a file this service wrote", path, maxFile)
	}
	return b, nil
}

// serverSettings is what a service reads from its Settings.xml.
type serverSettings struct {
	GUID           string
	Name           string
	IsSlave        bool     // AccountServer
	hasIsSlave     bool     // false when the file has no <IsSlave> (the default, False, applies)
	Mirroring      bool     // StorageServer: whether it mirrors to its MirrorServers
	AccountServers []string // StorageServer: the AccountServers it asks for its configuration
}

// settingsXML is Settings.xml as encoding/xml sees it; elements are lists so
// that a repeated one is found and refused.
type settingsXML struct {
	XMLName        xml.Name `xml:"Settings"`
	ServerGuid     []string `xml:"ServerGuid"`
	ServerName     []string `xml:"ServerName"`
	IsSlave        []string `xml:"IsSlave"`
	Mirroring      []string `xml:"Mirroring"`
	AccountServers []string `xml:"AccountServers"`
}

// parseSettings reads a Settings.xml. Errors name the file and the element.
func parseSettings(path string, doc []byte) (serverSettings, error) {
	var s serverSettings
	var x settingsXML
	d := xml.NewDecoder(bytes.NewReader(bytes.TrimPrefix(doc, []byte("\xEF\xBB\xBF"))))
	d.CharsetReader = func(label string, r io.Reader) (io.Reader, error) {
		if strings.EqualFold(label, "us-ascii") || strings.EqualFold(label, "ascii") {
			return r, nil
		}
		return nil, fmt.Errorf("encoding %q is not supported; save the file as UTF-8", label)
	}
	if err := d.Decode(&x); err != nil {
		return s, fmt.Errorf("%s: not a valid Settings.xml: %w", path, err)
	}
	one := func(name string, vals []string, required bool) (string, bool, error) {
		switch len(vals) {
		case 0:
			if required {
				return "", false, fmt.Errorf("%s: <%s> is missing", path, name)
			}
			return "", false, nil
		case 1:
			return strings.TrimSpace(vals[0]), true, nil
		}
		return "", false, fmt.Errorf("%s: <%s> is given %d times; keep one", path, name, len(vals))
	}
	boolean := func(name string, vals []string, def bool) (bool, bool, error) {
		v, ok, err := one(name, vals, false)
		if err != nil || !ok {
			return def, ok, err
		}
		switch strings.ToLower(v) {
		case "true":
			return true, true, nil
		case "false":
			return false, true, nil
		}
		return def, true, fmt.Errorf("%s: <%s> is %q; expected True or False", path, name, v)
	}
	g, _, err := one("ServerGuid", x.ServerGuid, true)
	if err != nil {
		return s, err
	}
	if _, err := uuid.Parse(g); err != nil || len(g) != 36 {
		return s, fmt.Errorf("%s: <ServerGuid> %q is not a GUID such as a40b132e-b8b1-4316-b1f2-c27d301ad2e5", path, g)
	}
	s.GUID = strings.ToLower(g)
	if s.Name, _, err = one("ServerName", x.ServerName, false); err != nil {
		return s, err
	}
	if s.IsSlave, s.hasIsSlave, err = boolean("IsSlave", x.IsSlave, false); err != nil {
		return s, err
	}
	if s.Mirroring, _, err = boolean("Mirroring", x.Mirroring, true); err != nil {
		return s, err
	}
	as, _, err := one("AccountServers", x.AccountServers, false)
	if err != nil {
		return s, err
	}
	for _, h := range strings.Split(as, ",") {
		if h = strings.TrimSpace(h); h != "" {
			s.AccountServers = append(s.AccountServers, h)
		}
	}
	return s, nil
}

func readSettings(path string) (serverSettings, []byte, error) {
	doc, err := readBounded(path)
	if err != nil {
		return serverSettings{}, nil, fmt.Errorf("read settings: %w", err)
	}
	s, err := parseSettings(path, doc)
	return s, doc, err
}

// isSlaveLine is how the AccountServer writes IsSlave, as the document
// shows it.
func isSlaveLine(v bool) string {
	return fmt.Sprintf(`<IsSlave choices="True,False" default="False">%s</IsSlave>`, pyBool(v))
}

func pyBool(v bool) string {
	if v {
		return "True"
	}
	return "False"
}

func asSettingsXML(guid, name string, isSlave bool) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?>
<!-- SIMULATED Redstor (Attix5 Pro) AccountServer settings (vigil sim). Stop the AccountServer service before editing. -->
<Settings>
  <ServerGuid>%s</ServerGuid>
  <ServerName>%s</ServerName>
  %s
  <Port default="%d">%d</Port>
</Settings>
`, guid, name, isSlaveLine(isSlave), portAS, portAS)
}

func ssSettingsXML(guid, name string, accountServers []string) string {
	return fmt.Sprintf(`<?xml version="1.0" encoding="utf-8"?>
<!-- SIMULATED Redstor (Attix5 Pro) StorageServer settings (vigil sim). The first eight characters of ServerGuid are the one-time password for adding this server in the SP Console. -->
<Settings>
  <ServerGuid>%s</ServerGuid>
  <ServerName>%s</ServerName>
  <Port default="%d">%d</Port>
  <AccountServers>%s</AccountServers>
  <Mirroring choices="True,False" default="True">True</Mirroring>
</Settings>
`, guid, name, portSS, portSS, strings.Join(accountServers, ","))
}

// diagnostics is a service's Diagnostics.xml, which the agent's facts read.
// It is written whole on every start and again when a value changes.
type diagnostics struct {
	path string
	last []byte
}

// write writes the fields in order, unless they are what was written last.
func (d *diagnostics) write(fields [][2]string) error {
	var b bytes.Buffer
	b.WriteString("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<!-- SIMULATED Redstor diagnostics (vigil sim); rewritten by the service. -->\n<Diagnostics>\n")
	for _, f := range fields {
		b.WriteString("  <" + f[0] + ">")
		xml.EscapeText(&b, []byte(f[1]))
		b.WriteString("</" + f[0] + ">\n")
	}
	b.WriteString("</Diagnostics>\n")
	if d.last != nil && bytes.Equal(b.Bytes(), d.last) {
		return nil
	}
	if err := sim.Write(d.path, b.String()); err != nil {
		return fmt.Errorf("write diagnostics %s: %w", d.path, err)
	}
	d.last = b.Bytes()
	return nil
}

// database is the StoragePlatform database. The real platform keeps it in
// SQL Server; the simulation keeps the same tables in one small JSON file,
// which the AccountServer service rewrites whole (atomically) on every
// change. JSON rather than SQLite: the tables are a few rows, the service
// reads them into memory anyway, and linking a SQL engine into every
// simulated AccountServer would cost several megabytes of memory each. An
// operator's direct edit of the file (SQL Management Studio in the document,
// settings.set here) is noticed by its modification time and re-read.
type database struct {
	Revision     int64          `json:"Revision"`
	BackupServer []backupServer `json:"BackupServer"`
	Groups       []group        `json:"Groups"`
	Accounts     []account      `json:"Accounts"`
}

type backupServer struct {
	ServerGUID string `json:"ServerGUID"`
	Name       string `json:"Name"`
	Type       string `json:"Type"`
	IP         string `json:"IP"` // host name or IP address
	Port       int    `json:"Port"`
	OnLine     bool   `json:"OnLine"`
	// MirrorServer rows: the Name of the StorageServer row mirrored, and
	// whether that StorageServer mirrors to this one.
	MirrorOf         string `json:"MirrorOf"`
	MirroringEnabled bool   `json:"MirroringEnabled"`
	// A server added anew has a one-time password (the first eight
	// characters of its ServerGUID) until it has answered.
	OneTimePassword string `json:"OneTimePassword"`
}

type group struct {
	Name     string `json:"Name"`
	Disabled bool   `json:"Disabled"`
}

type account struct {
	AccountID      int    `json:"AccountID"`
	Name           string `json:"Name"`
	Group          string `json:"Group"`
	StorageServer  string `json:"StorageServer"` // the Name of its StorageServer row
	HomeServerGUID string `json:"HomeServerGUID"`
	// Created anchors the simulated Agent's backup schedule.
	Created time.Time `json:"Created"`
}

var serverTypes = []string{typeMaster, typeSlave, typeSS, typeMirror}

func parseDatabase(path string, doc []byte) (*database, error) {
	var db database
	d := json.NewDecoder(bytes.NewReader(doc))
	d.DisallowUnknownFields()
	if err := d.Decode(&db); err != nil {
		return nil, fmt.Errorf("StoragePlatform database %s: not valid: %w", path, err)
	}
	if err := db.check(); err != nil {
		return nil, fmt.Errorf("StoragePlatform database %s: %w", path, err)
	}
	return &db, nil
}

func (db *database) check() error {
	for i, r := range db.BackupServer {
		where := fmt.Sprintf("BackupServer[%d] (%s)", i, r.Name)
		if _, err := uuid.Parse(r.ServerGUID); err != nil {
			return fmt.Errorf("%s: ServerGUID %q is not a GUID", where, r.ServerGUID)
		}
		if !slices.Contains(serverTypes, r.Type) {
			return fmt.Errorf("%s: Type %q is not one of %s", where, r.Type, strings.Join(serverTypes, ", "))
		}
		if r.IP == "" {
			return fmt.Errorf("%s: IP is empty; expected a host name or IP address", where)
		}
		if r.Type == typeMirror && r.MirrorOf == "" {
			return fmt.Errorf("%s: a MirrorServer needs MirrorOf, the Name of the StorageServer it mirrors", where)
		}
	}
	groups := map[string]bool{}
	for _, g := range db.Groups {
		groups[g.Name] = true
	}
	ids := map[int]bool{}
	for i, a := range db.Accounts {
		where := fmt.Sprintf("Accounts[%d] (%s)", i, a.Name)
		if ids[a.AccountID] {
			return fmt.Errorf("%s: AccountID %d is used twice", where, a.AccountID)
		}
		ids[a.AccountID] = true
		if !groups[a.Group] {
			return fmt.Errorf("%s: Group %q is not in the Groups table", where, a.Group)
		}
		if db.row(a.StorageServer, typeSS) < 0 {
			return fmt.Errorf("%s: StorageServer %q is not a StorageServer in the BackupServer table", where, a.StorageServer)
		}
		if _, err := uuid.Parse(a.HomeServerGUID); err != nil {
			return fmt.Errorf("%s: HomeServerGUID %q is not a GUID", where, a.HomeServerGUID)
		}
	}
	return nil
}

// row is the index of the row of that name and type, or -1.
func (db *database) row(name, typ string) int {
	return slices.IndexFunc(db.BackupServer, func(r backupServer) bool { return r.Name == name && r.Type == typ })
}

func (db *database) clone() *database {
	c := *db
	c.BackupServer = slices.Clone(db.BackupServer)
	c.Groups = slices.Clone(db.Groups)
	c.Accounts = slices.Clone(db.Accounts)
	return &c
}

func (db *database) encode() ([]byte, error) {
	b, err := json.MarshalIndent(db, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func loadDatabase(path string) (*database, os.FileInfo, error) {
	doc, err := readBounded(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, nil, err
	}
	db, err := parseDatabase(path, doc)
	return db, fi, err
}

// homeGUIDs summarises the accounts' HomeServerGUIDs, "GUID:count" most
// common first: the fact that shows Failover.UpdateSettingsOnSS's effect.
func (db *database) homeGUIDs() string {
	n := map[string]int{}
	for _, a := range db.Accounts {
		n[a.HomeServerGUID]++
	}
	keys := make([]string, 0, len(n))
	for k := range n {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if n[keys[i]] != n[keys[j]] {
			return n[keys[i]] > n[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, n[k])
	}
	return strings.Join(parts, ",")
}

// spEntry is one BackupServer row as the Master tells a StorageServer about
// it; spMirror is a MirrorServer it is to mirror to.
type spEntry struct {
	Name string `json:"name" xml:"Name,attr"`
	Type string `json:"type" xml:"Type,attr"`
}

type spMirror struct {
	Name    string `json:"name" xml:"Name,attr"`
	Host    string `json:"host" xml:"Host,attr"`
	Enabled bool   `json:"enabled" xml:"Enabled,attr"`
}

// spConfig is what a StorageServer knows of its place in the Storage
// Platform, cached in SS_Service/ServerConfig.xml for when no Master
// answers.
type spConfig struct {
	XMLName       xml.Name   `xml:"ServerConfig" json:"-"`
	AccountServer string     `xml:"AccountServer,attr" json:"account_server"`
	Revision      int64      `xml:"Revision,attr" json:"revision"`
	Entries       []spEntry  `xml:"Entry" json:"entries"`
	Mirrors       []spMirror `xml:"Mirror" json:"mirrors"`
}

func (c spConfig) role() string {
	role := roleUnassigned
	for _, e := range c.Entries {
		switch e.Type {
		case typeSS:
			return roleStorage
		case typeMirror:
			role = roleMirror
		}
	}
	return role
}

func (c spConfig) same(o spConfig) bool {
	return c.AccountServer == o.AccountServer && slices.Equal(c.Entries, o.Entries) && slices.Equal(c.Mirrors, o.Mirrors)
}

// accountSetting is an account's settings as synced to a StorageServer.
type accountSetting struct {
	ID             int    `xml:"AccountID,attr" json:"id"`
	Name           string `xml:"Name,attr" json:"name"`
	Group          string `xml:"Group,attr" json:"group"`
	HomeServerGUID string `xml:"HomeServerGUID,attr" json:"home_server_guid"`
}

type accountSettingsXML struct {
	XMLName  xml.Name         `xml:"AccountSettings"`
	Accounts []accountSetting `xml:"Account"`
}

// storedAccount is one backup account's data on a StorageServer: the
// Agent's backup number Seq, how many bytes of it are here, and when the
// last complete backup was taken. Bytes short of agentTotal(Seq) means
// files are missing (a mirror that had not finished).
type storedAccount struct {
	ID    int       `xml:"AccountID,attr" json:"id"`
	Seq   int       `xml:"Backup,attr" json:"seq"`
	Bytes int64     `xml:"Bytes,attr" json:"bytes"`
	At    time.Time `xml:"At,attr" json:"at"`
}

type storedAccountsXML struct {
	XMLName  xml.Name        `xml:"Accounts"`
	Accounts []storedAccount `xml:"Account"`
}

func readXMLFile(path string, v any) error {
	doc, err := readBounded(path)
	if err != nil {
		return err
	}
	if err := xml.Unmarshal(doc, v); err != nil {
		return fmt.Errorf("%s: not valid: %w", path, err)
	}
	return nil
}

func writeXMLFile(path, comment string, v any) error {
	b, err := xml.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return sim.Write(path, xml.Header+"<!-- "+comment+" -->\n"+string(b)+"\n")
}

// modTime is a file's modification time, zero when it is missing.
func modTime(path string) time.Time {
	fi, err := os.Stat(path)
	if err != nil {
		return time.Time{}
	}
	return fi.ModTime()
}

// queued lists the task files waiting in a queue directory, sorted.
func queued(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range ents {
		if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// setAside moves a task file the service will not act on into the queue's
// Failed folder, so that a corrected one can be dropped.
func setAside(dir, name string) error {
	failed := filepath.Join(dir, "Failed")
	if err := os.MkdirAll(failed, 0o755); err != nil {
		return err
	}
	return os.Rename(filepath.Join(dir, name), filepath.Join(failed, name+"."+time.Now().UTC().Format("20060102T150405.000")))
}

func gib(b int64) string {
	switch {
	case b >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(b)/(1<<30))
	default:
		return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
	}
}

// under is a path below one of the folders above.
func under(dir []string, more ...string) []string {
	return append(append([]string(nil), dir...), more...)
}
