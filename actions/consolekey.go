package actions

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Files of the console's identity in its data directory.
const (
	ConsoleKeyFile  = "console.key" // private key, mode 0600
	ConsoleCertFile = "console.crt" // self-signed client certificate for that key
)

// consoleCertLife is long because agents pin the key, not the certificate:
// the certificate only has to be valid, and renewing it (below) keeps the key.
const consoleCertLife = 20 * 365 * 24 * time.Hour

// renewBefore is how long before expiry LoadConsoleIdentity re-issues the
// certificate, so that agents never see an expired one.
const renewBefore = 30 * 24 * time.Hour

// LoadConsoleIdentity returns the console's client certificate and the
// fingerprint of its public key, making a P-256 key and a self-signed
// certificate in dataDir on first use.
func LoadConsoleIdentity(dataDir string) (tls.Certificate, string, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return tls.Certificate{}, "", fmt.Errorf("console data directory %s: %w", dataDir, err)
	}
	keyPath, certPath := filepath.Join(dataDir, ConsoleKeyFile), filepath.Join(dataDir, ConsoleCertFile)
	if _, err := os.Stat(keyPath); errors.Is(err, os.ErrNotExist) {
		if err := makeConsoleKey(keyPath, certPath); err != nil {
			return tls.Certificate{}, "", err
		}
	}
	cert, err := tls.LoadX509KeyPair(certPath, keyPath)
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("console key pair in %s: %w (moving %s and %s away makes a new one, after which every agent must be paired again)",
			dataDir, err, ConsoleKeyFile, ConsoleCertFile)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return tls.Certificate{}, "", fmt.Errorf("console certificate %s: %w", certPath, err)
	}
	if time.Until(leaf.NotAfter) < renewBefore {
		// Same key, new certificate: the agents' pins stay valid.
		if err := issueConsoleCert(certPath, cert.PrivateKey); err != nil {
			return tls.Certificate{}, "", fmt.Errorf("renew console certificate %s: %w", certPath, err)
		}
		return LoadConsoleIdentity(dataDir)
	}
	cert.Leaf = leaf
	return cert, Fingerprint(leaf), nil
}

func makeConsoleKey(keyPath, certPath string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	// The key goes first: a crash before the certificate is written leaves a
	// key that the next start reports rather than silently replaces.
	if err := WriteFileAtomic(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return fmt.Errorf("write console key: %w", err)
	}
	if err := issueConsoleCert(certPath, key); err != nil {
		return fmt.Errorf("write console certificate: %w", err)
	}
	return nil
}

func issueConsoleCert(certPath string, priv any) error {
	key, ok := priv.(*ecdsa.PrivateKey)
	if !ok {
		return fmt.Errorf("console key is a %T, not an ECDSA key", priv)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: host, Organization: []string{"Vigil console"}},
		NotBefore:    now.Add(-time.Hour), // tolerate an agent whose clock is a little behind
		NotAfter:     now.Add(consoleCertLife),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	return WriteFileAtomic(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
}

// WriteFileAtomic writes through a temporary file, fsync and rename, so a
// reader sees the old content or the new, never a torn file. Keys, ids and
// pairing state on both sides are written with it.
func WriteFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
