package discovery

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/vigilops/vigil/model"
)

// fill returns n strings of unknown keys, to push others past MaxStrings.
func fill(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "x=y"
	}
	return s
}

func cat(parts ...[]string) []string { return slices.Concat(parts...) }

var decodeTests = []struct {
	name     string
	txt      []string
	want     Advert
	problems []string // "key:kind", kind being the Reason up to its first ':'
	reject   string   // substring of the error; "" when accepted
}{
	// Accepted without problems.
	{
		name: "full",
		txt:  []string{"v=1", "id=k2-a.01_x", "sys=Newsroom K2", "prof=k2san", "role=primary", "fp=0123456789abcdef"},
		want: Advert{ID: "k2-a.01_x", System: "Newsroom K2", Profile: "k2san", Role: model.RolePrimary, Fingerprint: "0123456789abcdef"},
	},
	{
		name: "minimal reads as unknown role",
		txt:  []string{"v=1", "id=a"},
		want: Advert{ID: "a", Role: model.RoleUnknown},
	},
	{
		name: "keys are case-insensitive",
		txt:  []string{"V=1", "Id=a", "SYS=s", "Role=Standby", "FP=00000000000000ff"},
		want: Advert{ID: "a", System: "s", Role: model.RoleStandby, Fingerprint: "00000000000000ff"},
	},
	{
		name: "any order",
		txt:  []string{"role=failed", "id=a", "v=1"},
		want: Advert{ID: "a", Role: model.RoleFailed},
	},
	{
		name: "unknown keys are ignored silently, whatever their value",
		txt:  []string{"v=1", "id=a", "color=blue", "x=\xff\x01", "future=" + strings.Repeat("z", 200)},
		want: Advert{ID: "a", Role: model.RoleUnknown},
	},
	{
		name: "empty strings carry nothing",
		txt:  []string{"", "v=1", "", "id=a"},
		want: Advert{ID: "a", Role: model.RoleUnknown},
	},
	{
		name: "value may hold '=' and UTF-8",
		txt:  []string{"v=1", "id=a", "sys=a=b", "prof=Café ünïcode", "role=out-of-service"},
		want: Advert{ID: "a", System: "a=b", Profile: "Café ünïcode", Role: model.RoleOutOfService},
	},
	{
		name: "limits are inclusive",
		txt:  []string{"v=1", "id=" + strings.Repeat("i", MaxIDLen), "sys=" + strings.Repeat("s", MaxValueLen)},
		want: Advert{ID: strings.Repeat("i", MaxIDLen), System: strings.Repeat("s", MaxValueLen), Role: model.RoleUnknown},
	},

	// Accepted with problems.
	{
		name:     "unknown role",
		txt:      []string{"v=1", "id=a", "role=leader"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"role:bad value"},
	},
	{
		name:     "empty role",
		txt:      []string{"v=1", "id=a", "role="},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"role:bad value"},
	},
	{
		name:     "uppercase fingerprint",
		txt:      []string{"v=1", "id=a", "fp=0123456789ABCDEF"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"fp:bad value"},
	},
	{
		name:     "short fingerprint",
		txt:      []string{"v=1", "id=a", "fp=0123"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"fp:bad value"},
	},
	{
		name:     "full SHA-256 fingerprint",
		txt:      []string{"v=1", "id=a", "fp=" + strings.Repeat("ab", 32)},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"fp:bad value"},
	},
	{
		name:     "duplicated optional key drops every copy",
		txt:      []string{"v=1", "id=a", "sys=one", "SYS=two", "prof=p"},
		want:     Advert{ID: "a", Profile: "p", Role: model.RoleUnknown},
		problems: []string{"sys:duplicated"},
	},
	{
		name:     "duplicated role reads as unknown",
		txt:      []string{"v=1", "id=a", "role=primary", "role=primary"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"role:duplicated"},
	},
	{
		name:     "oversized string",
		txt:      []string{"v=1", "id=a", "sys=" + strings.Repeat("s", MaxStringLen)},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"sys:oversized"},
	},
	{
		name:     "oversized value",
		txt:      []string{"v=1", "id=a", "prof=" + strings.Repeat("p", MaxValueLen+1), "sys=s"},
		want:     Advert{ID: "a", System: "s", Role: model.RoleUnknown},
		problems: []string{"prof:oversized"},
	},
	{
		name:     "oversized string of an unknown key is still reported",
		txt:      []string{"v=1", "id=a", "future=" + strings.Repeat("z", MaxStringLen)},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"future:oversized"},
	},
	{
		name:     "no equals sign",
		txt:      []string{"v=1", "id=a", "primary"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"primary:garbled"},
	},
	{
		name:     "known key without equals sign",
		txt:      []string{"v=1", "id=a", "role"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"role:garbled"},
	},
	{
		name:     "empty key",
		txt:      []string{"v=1", "id=a", "=primary"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{":garbled"},
	},
	{
		name:     "non-printable key",
		txt:      []string{"v=1", "id=a", "ro\x01le=primary", "s\xffs=x"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{":garbled", ":garbled"},
	},
	{
		name:     "overlong key",
		txt:      []string{"v=1", "id=a", strings.Repeat("k", 33) + "=v"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{":garbled"},
	},
	{
		name:     "invalid UTF-8 value",
		txt:      []string{"v=1", "id=a", "sys=caf\xe9", "prof=p"},
		want:     Advert{ID: "a", Profile: "p", Role: model.RoleUnknown},
		problems: []string{"sys:garbled"},
	},
	{
		name:     "control character in value",
		txt:      []string{"v=1", "id=a", "prof=a\x1bb", "role=primary\n"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"prof:garbled", "role:garbled"},
	},
	{
		name:     "strings past the limit are not read",
		txt:      cat([]string{"v=1", "id=a"}, fill(MaxStrings-2), []string{"role=primary", "sys=late"}),
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{":too many"},
	},
	{
		name:     "several problems at once",
		txt:      []string{"v=1", "id=a", "role=boss", "fp=xyz", "sys=1", "sys=2", "junk"},
		want:     Advert{ID: "a", Role: model.RoleUnknown},
		problems: []string{"junk:garbled", "sys:duplicated", "role:bad value", "fp:bad value"},
	},

	// Rejected.
	{name: "nil", txt: nil, reject: "no v key"},
	{name: "only empty string", txt: []string{""}, reject: "no v key"},
	{name: "missing v", txt: []string{"id=a", "role=primary"}, reject: "no v key"},
	{name: "v=2", txt: []string{"v=2", "id=a"}, reject: "unsupported version"},
	{name: "empty v", txt: []string{"v=", "id=a"}, reject: "unsupported version"},
	{name: "v with spaces", txt: []string{"v= 1", "id=a"}, reject: "unsupported version"},
	{name: "duplicated v", txt: []string{"v=1", "V=1", "id=a"}, reject: "v key appears 2 times"},
	{name: "garbled v", txt: []string{"v", "id=a"}, reject: "v key is unreadable"},
	{name: "missing id", txt: []string{"v=1", "sys=s"}, reject: "no id key"},
	{name: "empty id", txt: []string{"v=1", "id="}, reject: "id is empty"},
	{name: "id too long", txt: []string{"v=1", "id=" + strings.Repeat("i", MaxIDLen+1)}, reject: "exceeds 64"},
	{name: "id with space", txt: []string{"v=1", "id=a b"}, reject: "outside [A-Za-z0-9._-]"},
	{name: "id with slash", txt: []string{"v=1", "id=../etc"}, reject: "outside [A-Za-z0-9._-]"},
	{name: "id with unicode", txt: []string{"v=1", "id=agént"}, reject: "outside [A-Za-z0-9._-]"},
	{name: "id with control byte", txt: []string{"v=1", "id=a\x01"}, reject: "id: garbled"},
	{name: "two ids", txt: []string{"v=1", "id=a", "id=b"}, reject: "id key appears 2 times"},
	{name: "two equal ids differing in key case", txt: []string{"v=1", "id=a", "ID=a"}, reject: "id key appears 2 times"},
	{name: "id plus a broken id", txt: []string{"v=1", "id=a", "id"}, reject: "id key appears 2 times"},
	{name: "id plus an oversized id", txt: []string{"v=1", "id=a", "id=" + strings.Repeat("i", MaxStringLen)}, reject: "id key appears 2 times"},
	{name: "oversized id", txt: []string{"v=1", "id=" + strings.Repeat("i", MaxStringLen)}, reject: "id key is unreadable"},
	{name: "id past the string limit", txt: cat([]string{"v=1"}, fill(MaxStrings-1), []string{"id=a"}), reject: "no id key"},
}

func TestDecodeTXT(t *testing.T) {
	for _, tt := range decodeTests {
		t.Run(tt.name, func(t *testing.T) {
			got, problems, err := DecodeTXT(tt.txt)
			if tt.reject != "" {
				if err == nil {
					t.Fatalf("DecodeTXT accepted %q as %+v, want rejection %q", tt.txt, got, tt.reject)
				}
				if !errors.Is(err, ErrRejected) || !strings.Contains(err.Error(), tt.reject) {
					t.Fatalf("error = %v, want ErrRejected mentioning %q", err, tt.reject)
				}
				if got != (Advert{}) {
					t.Errorf("rejected record decoded as %+v, want zero Advert", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("DecodeTXT: %v", err)
			}
			if got != tt.want {
				t.Errorf("Advert = %+v, want %+v", got, tt.want)
			}
			var kinds []string
			for _, p := range problems {
				kind, _, _ := strings.Cut(p.Reason, ":")
				kinds = append(kinds, p.Key+":"+kind)
				if p.String() == "" || !printable(p.String()) {
					t.Errorf("Problem.String() = %q, want printable text", p.String())
				}
			}
			if !reflect.DeepEqual(kinds, tt.problems) {
				t.Errorf("problems = %q, want %q\n%v", kinds, tt.problems, problems)
			}
		})
	}
}

func TestProblemString(t *testing.T) {
	for _, tt := range []struct {
		p    Problem
		want string
	}{
		{Problem{Key: "role", Reason: "bad value: x"}, "role: bad value: x"},
		{Problem{Reason: "garbled: empty key"}, "garbled: empty key"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("%#v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestAdvertRoundTrip(t *testing.T) {
	adverts := []Advert{
		{ID: "a", Role: model.RoleUnknown},
		{ID: "k2-server-a", System: "Newsroom K2", Profile: "k2san", Role: model.RolePrimary, Fingerprint: "0123456789abcdef"},
		{ID: "x", System: `back\slash = "quoted"`, Profile: "Café", Role: model.RoleOutOfService},
		{ID: strings.Repeat("I", MaxIDLen), System: strings.Repeat("é", MaxValueLen/2), Role: model.RoleFailed},
	}
	for _, r := range model.Roles {
		adverts = append(adverts, Advert{ID: "r", Role: r})
	}
	for _, a := range adverts {
		if err := a.Validate(); err != nil {
			t.Errorf("%+v.Validate() = %v", a, err)
			continue
		}
		txt := a.TXT()
		if txt[0] != "v=1" {
			t.Errorf("TXT() = %q, want v=1 first", txt)
		}
		got, problems, err := DecodeTXT(txt)
		if err != nil || len(problems) > 0 || got != a {
			t.Errorf("DecodeTXT(%q) = %+v, %v, %v; want %+v", txt, got, problems, err, a)
		}
	}
}

func TestAdvertTXTOrder(t *testing.T) {
	a := Advert{ID: "a", System: "s", Profile: "p", Role: model.RoleStandby, Fingerprint: "0123456789abcdef"}
	want := []string{"v=1", "id=a", "sys=s", "prof=p", "role=standby", "fp=0123456789abcdef"}
	if got := a.TXT(); !slices.Equal(got, want) {
		t.Errorf("TXT() = %q, want %q", got, want)
	}
	if got, want := (Advert{ID: "a"}).TXT(), []string{"v=1", "id=a", "role=unknown"}; !slices.Equal(got, want) {
		t.Errorf("TXT() of a bare advert = %q, want %q", got, want)
	}
}

func TestAdvertValidate(t *testing.T) {
	for _, a := range []Advert{
		{},
		{ID: "a b"},
		{ID: strings.Repeat("i", MaxIDLen+1)},
		{ID: "a", System: strings.Repeat("s", MaxValueLen+1)},
		{ID: "a", Profile: "bad\x00"},
		{ID: "a", System: "caf\xe9"},
		{ID: "a", Role: "leader"},
		{ID: "a", Role: "Primary"},
		{ID: "a", Role: " primary"},
		{ID: "a", Fingerprint: "0123456789ABCDEF"},
		{ID: "a", Fingerprint: "0123"},
	} {
		if err := a.Validate(); err == nil {
			t.Errorf("%+v.Validate() = nil, want an error", a)
		}
	}
}

// fuzzSep joins a TXT record into one fuzz input; a zero byte cannot appear
// inside the table's strings.
const fuzzSep = "\x00"

func FuzzDecodeTXT(f *testing.F) {
	for _, tt := range decodeTests {
		f.Add([]byte(strings.Join(tt.txt, fuzzSep)))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		txt := strings.Split(string(data), fuzzSep)
		a, problems, err := DecodeTXT(txt)
		if err != nil {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("error %v does not wrap ErrRejected", err)
			}
			return
		}
		if checkID(a.ID) != nil {
			t.Fatalf("accepted invalid id %q", a.ID)
		}
		if !slices.Contains(model.Roles, a.Role) {
			t.Fatalf("accepted unknown role %q", a.Role)
		}
		if a.Fingerprint != "" && !isFingerprint(a.Fingerprint) {
			t.Fatalf("accepted bad fingerprint %q", a.Fingerprint)
		}
		// What was accepted is exactly what an agent could advertise, and it
		// reads back the same.
		if err := a.Validate(); err != nil {
			t.Fatalf("accepted advert %+v fails Validate: %v", a, err)
		}
		again, againProblems, err := DecodeTXT(a.TXT())
		if err != nil || len(againProblems) > 0 || again != a {
			t.Fatalf("round trip of %+v gave %+v, %v, %v", a, again, againProblems, err)
		}
		for _, p := range problems {
			if !printable(p.String()) || len(p.String()) > 512 {
				t.Fatalf("problem is not short printable text: %q", p.String())
			}
		}
	})
}
