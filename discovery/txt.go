package discovery

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/vigilops/vigil/model"
)

// Limits of the TXT codec. They bound what a hostile or broken advert can
// make the console hold or log; a real advert stays far below all of them.
const (
	// MaxStrings is how many TXT strings DecodeTXT looks at; the rest are
	// reported as one problem.
	MaxStrings = 64
	// MaxStringLen is the DNS limit on one TXT string (RFC 6763 §6.1): its
	// length travels in a single byte.
	MaxStringLen = 255
	// MaxValueLen bounds the value of a known key.
	MaxValueLen = 128
	// MaxIDLen bounds an agent id.
	MaxIDLen = 64
	// FingerprintLen is the number of lowercase hex digits of the SHA-256 of
	// the agent's public key that an advert carries.
	FingerprintLen = 16
	// Version is the value of the v key this package writes and reads.
	Version = "1"
)

// The TXT keys of DESIGN.md, in the order TXT writes them.
const (
	keyVersion     = "v"
	keyID          = "id"
	keySystem      = "sys"
	keyProfile     = "prof"
	keyRole        = "role"
	keyFingerprint = "fp"
)

// knownKeys are the keys DecodeTXT reads; any other key is skipped without
// complaint so that a newer agent can add keys without upsetting an older
// console.
var knownKeys = map[string]bool{
	keyVersion: true, keyID: true, keySystem: true,
	keyProfile: true, keyRole: true, keyFingerprint: true,
}

// ErrRejected is wrapped by every error DecodeTXT returns: the record cannot
// describe an agent at all.
var ErrRejected = errors.New("TXT record rejected")

// Advert is what an agent says about itself in its TXT record. Every field is
// a hint for display: identity comes from the pinned key, never from here.
type Advert struct {
	ID          string     // agent id; required
	System      string     // the redundant system the server belongs to
	Profile     string     // the system's profile, e.g. "k2san"
	Role        model.Role // generic role; empty is written as unknown
	Fingerprint string     // first 16 lowercase hex digits of SHA-256(public key)
}

// TXT encodes the advert as TXT strings: v=1 first, then the other keys in a
// fixed order so that the record only changes when the advert does. Empty
// optional fields are left out; the role is always written.
func (a Advert) TXT() []string {
	txt := []string{keyVersion + "=" + Version, keyID + "=" + a.ID}
	if a.System != "" {
		txt = append(txt, keySystem+"="+a.System)
	}
	if a.Profile != "" {
		txt = append(txt, keyProfile+"="+a.Profile)
	}
	txt = append(txt, keyRole+"="+a.Role.String())
	if a.Fingerprint != "" {
		txt = append(txt, keyFingerprint+"="+a.Fingerprint)
	}
	return txt
}

// Validate reports whether DecodeTXT would read the advert back unchanged and
// without problems. Advertising an advert that fails it would only make every
// console log complaints, so Advertise refuses it.
func (a Advert) Validate() error {
	if err := checkID(a.ID); err != nil {
		return err
	}
	for _, f := range []struct{ key, value string }{{keySystem, a.System}, {keyProfile, a.Profile}} {
		if reason := checkValue(f.value); reason != "" {
			return fmt.Errorf("%s %q: %s", f.key, truncate(f.value, 40), reason)
		}
	}
	if a.Role != "" && !slices.Contains(model.Roles, a.Role) {
		return fmt.Errorf("role %q is not one of primary, standby, out-of-service, failed, unknown", truncate(string(a.Role), 40))
	}
	if a.Fingerprint != "" && !isFingerprint(a.Fingerprint) {
		return fmt.Errorf("fp %q is not %d lowercase hex digits", truncate(a.Fingerprint, 40), FingerprintLen)
	}
	return nil
}

// Problem is one TXT string that DecodeTXT ignored. Problems do not reject the
// record; they are worth logging because they point at a broken or outdated
// agent.
type Problem struct {
	Key    string // lowercased key, or "" when no usable key could be read
	Reason string
}

func (p Problem) String() string {
	if p.Key == "" {
		return p.Reason
	}
	return p.Key + ": " + p.Reason
}

// field is one occurrence of a known key.
type field struct {
	value    string
	bad      string // why the value is unusable, or ""
	reported bool   // the whole string was unusable and is already a problem
}

// DecodeTXT reads an agent's TXT record. It never panics, whatever the input.
//
// The record is rejected, with an error wrapping ErrRejected, when v is
// missing, repeated or not "1", or when id is missing, repeated or not a valid
// agent id; problems found so far are returned with the error. Otherwise the
// advert is returned with one Problem for each string or key that was
// ignored: oversized, garbled, duplicated, or with a value that makes no
// sense. A bad role reads as unknown and a bad fingerprint as empty. Unknown
// keys are skipped silently. Keys are case-insensitive (RFC 6763 §6.4).
func DecodeTXT(txt []string) (Advert, []Problem, error) {
	var problems []Problem
	fields := make(map[string][]field)

	for i, s := range txt {
		if i == MaxStrings {
			problems = append(problems, Problem{Reason: fmt.Sprintf("too many: %d strings beyond the limit of %d ignored", len(txt)-MaxStrings, MaxStrings)})
			break
		}
		if s == "" {
			// RFC 6763 §6.1: an empty string is how a record with no data is
			// written; it carries nothing.
			continue
		}
		rawKey, value, hasEq := strings.Cut(s, "=")
		key := ""
		if isCleanKey(rawKey) {
			key = strings.ToLower(rawKey)
		}
		var broken string
		switch {
		case len(s) > MaxStringLen:
			broken = fmt.Sprintf("oversized: string of %d bytes exceeds %d", len(s), MaxStringLen)
		case !hasEq:
			// RFC 6763 allows a key alone as a boolean attribute, but none of
			// ours is boolean.
			broken = fmt.Sprintf("garbled: no '=' in %s", quote(s))
		case rawKey == "":
			broken = fmt.Sprintf("garbled: empty key in %s", quote(s))
		case key == "":
			broken = fmt.Sprintf("garbled: key %s is not printable ASCII of at most %d bytes", quote(rawKey), maxKeyLen)
		}
		if broken != "" {
			problems = append(problems, Problem{Key: key, Reason: broken})
			if knownKeys[key] {
				// Still an occurrence: a second, broken id must reject the
				// record as surely as a second, readable one.
				fields[key] = append(fields[key], field{reported: true})
			}
			continue
		}
		if knownKeys[key] {
			fields[key] = append(fields[key], field{value: value, bad: checkValue(value)})
		}
	}

	var a Advert
	// A record without exactly one good v and one good id cannot name an
	// agent: taking either of two ids would let a broken agent pose as
	// another.
	v, err := required(fields, keyVersion)
	if err != nil {
		return Advert{}, problems, err
	}
	if v != Version {
		return Advert{}, problems, fmt.Errorf("%w: unsupported version v=%s", ErrRejected, quote(v))
	}
	if a.ID, err = required(fields, keyID); err != nil {
		return Advert{}, problems, err
	}
	if err := checkID(a.ID); err != nil {
		return Advert{}, problems, fmt.Errorf("%w: %w", ErrRejected, err)
	}

	a.System, _, problems = optional(fields, keySystem, problems)
	a.Profile, _, problems = optional(fields, keyProfile, problems)

	a.Role = model.RoleUnknown
	role, ok, problems := optional(fields, keyRole, problems)
	if ok {
		r, err := model.ParseRole(role)
		if err != nil {
			problems = append(problems, Problem{Key: keyRole, Reason: fmt.Sprintf("bad value: %s is not one of primary, standby, out-of-service, failed, unknown; read as unknown", quote(role))})
		}
		a.Role = r
	}

	fp, ok, problems := optional(fields, keyFingerprint, problems)
	if ok {
		if isFingerprint(fp) {
			a.Fingerprint = fp
		} else {
			problems = append(problems, Problem{Key: keyFingerprint, Reason: fmt.Sprintf("bad value: %s is not %d lowercase hex digits; dropped", quote(fp), FingerprintLen)})
		}
	}
	return a, problems, nil
}

// required returns the single usable value of a key the record cannot do
// without.
func required(fields map[string][]field, key string) (string, error) {
	fs := fields[key]
	switch {
	case len(fs) == 0:
		return "", fmt.Errorf("%w: no %s key", ErrRejected, key)
	case len(fs) > 1:
		return "", fmt.Errorf("%w: %s key appears %d times", ErrRejected, key, len(fs))
	case fs[0].reported:
		return "", fmt.Errorf("%w: %s key is unreadable", ErrRejected, key)
	case fs[0].bad != "":
		return "", fmt.Errorf("%w: %s: %s", ErrRejected, key, fs[0].bad)
	}
	return fs[0].value, nil
}

// optional returns the value of an optional key and whether it is usable,
// adding a problem when it is repeated or unusable. A repeated key is ignored
// altogether since nothing says which occurrence is right.
func optional(fields map[string][]field, key string, problems []Problem) (string, bool, []Problem) {
	fs := fields[key]
	switch {
	case len(fs) == 0:
		return "", false, problems
	case len(fs) > 1:
		return "", false, append(problems, Problem{Key: key, Reason: fmt.Sprintf("duplicated: appears %d times; all ignored", len(fs))})
	case fs[0].reported:
		return "", false, problems
	case fs[0].bad != "":
		return "", false, append(problems, Problem{Key: key, Reason: fs[0].bad + "; ignored"})
	}
	return fs[0].value, true, problems
}

// checkValue returns why a value of a known key is unusable, or "".
func checkValue(v string) string {
	if len(v) > MaxValueLen {
		return fmt.Sprintf("oversized: value of %d bytes exceeds %d", len(v), MaxValueLen)
	}
	if !utf8.ValidString(v) {
		return fmt.Sprintf("garbled: value %s is not valid UTF-8", quote(v))
	}
	for _, r := range v {
		if !unicode.IsPrint(r) {
			return fmt.Sprintf("garbled: value %s has non-printable characters", quote(v))
		}
	}
	return ""
}

// checkID reports whether id can name an agent. The character set keeps ids
// safe to use in file names, URLs and log lines.
func checkID(id string) error {
	if id == "" {
		return errors.New("id is empty")
	}
	if len(id) > MaxIDLen {
		return fmt.Errorf("id of %d bytes exceeds %d", len(id), MaxIDLen)
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("id %s has characters outside [A-Za-z0-9._-]", quote(id))
		}
	}
	return nil
}

// maxKeyLen bounds a key; RFC 6763 §6.4 asks for at most nine characters, so
// anything far longer is noise rather than a key from a newer agent.
const maxKeyLen = 32

// isCleanKey reports whether k is a key as RFC 6763 §6.4 defines it:
// printable US-ASCII without '='.
func isCleanKey(k string) bool {
	if k == "" || len(k) > maxKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

func isFingerprint(fp string) bool {
	if len(fp) != FingerprintLen {
		return false
	}
	for i := 0; i < len(fp); i++ {
		c := fp[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// quote makes untrusted bytes safe to put into a log line or a dialog: it
// bounds their length and escapes everything that is not printable ASCII.
func quote(s string) string {
	const max = 32
	if len(s) > max {
		return fmt.Sprintf("%+q…", s[:max])
	}
	return fmt.Sprintf("%+q", s)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
