package agent

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/vigilops/vigil/actions"
)

// Files in the state directory.
const (
	keyFile     = "agent.key"  // private key, mode 0600
	certFile    = "agent.crt"  // self-signed certificate for that key
	idFile      = "agent.id"   // stable agent id, made once
	AddressFile = "agent.addr" // the address the API is bound to, written on every start
)

// Identity is the agent's stable id and its key pair.
type Identity struct {
	ID          string
	Cert        tls.Certificate
	Fingerprint string // full hex SHA-256 of the public key
}

// LoadIdentity reads the agent's identity from stateDir, creating the id and
// a key pair on first start.
func LoadIdentity(stateDir, name string) (*Identity, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory %s: %w", stateDir, err)
	}
	id, err := loadOrMakeID(filepath.Join(stateDir, idFile))
	if err != nil {
		return nil, err
	}
	keyPath, certPath := filepath.Join(stateDir, keyFile), filepath.Join(stateDir, certFile)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		if err := makeKeyPair(keyPath, certPath, name); err != nil {
			return nil, err
		}
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return nil, fmt.Errorf("agent key pair in %s: %w (move both %s and %s away to make a new one; consoles must then pair again)",
			stateDir, err, keyFile, certFile)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("agent certificate %s: %w", certPath, err)
	}
	cert.Leaf = leaf
	return &Identity{ID: id, Cert: cert, Fingerprint: actions.Fingerprint(leaf)}, nil
}

func loadOrMakeID(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if id == "" || len(id) > 64 {
			return "", fmt.Errorf("agent id file %s is damaged; remove it to make a new id", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("agent id: %w", err)
	}
	raw := make([]byte, 12)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	id := "ag-" + hex.EncodeToString(raw)
	if err := actions.WriteFileAtomic(path, []byte(id+"\n"), 0o600); err != nil {
		return "", fmt.Errorf("agent id: %w", err)
	}
	return id, nil
}

func makeKeyPair(keyPath, certPath, name string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"Vigil agent"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(20, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{name, "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return fmt.Errorf("make agent certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// The key goes first: a crash between the two writes leaves a key with no
	// certificate, which the next start reports instead of silently replacing.
	if err := actions.WriteFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return fmt.Errorf("write agent key: %w", err)
	}
	if err := actions.WriteFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return fmt.Errorf("write agent certificate: %w", err)
	}
	return nil
}
