package actions

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Version is Vigil's version, the console's and the agent's alike. Release
// builds set it with -ldflags "-X github.com/vigilops/vigil/actions.Version=...".
var Version = "0.1.0-dev"

// Fingerprint is the lowercase hex SHA-256 of a certificate's public key
// (its SubjectPublicKeyInfo). Pinning the key rather than the certificate
// lets an agent renew its certificate without a new pairing.
func Fingerprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// ShortFingerprintLen is how many hex digits of the fingerprint mDNS carries.
const ShortFingerprintLen = 16

// ErrIdentityChanged is an agent presenting another key than the pinned one.
var ErrIdentityChanged = errors.New("the agent's identity changed")

// MatchFingerprint reports whether the full fingerprint got matches pin,
// which is either a full fingerprint or a prefix of at least
// ShortFingerprintLen hex digits (what mDNS advertises).
func MatchFingerprint(pin, got string) error {
	pin = strings.ToLower(pin)
	if len(pin) < ShortFingerprintLen {
		return fmt.Errorf("no usable key fingerprint to check the agent against (have %q)", pin)
	}
	if !strings.HasPrefix(got, pin) {
		return fmt.Errorf("%w: it presented key %s…, the console pinned %s…; if the host was reinstalled on purpose, pair it again with `vigil pair ADDRESS --code CODE`",
			ErrIdentityChanged, prefix(got), pin[:ShortFingerprintLen])
	}
	return nil
}

func prefix(fp string) string {
	if len(fp) > ShortFingerprintLen {
		return fp[:ShortFingerprintLen]
	}
	return fp
}
