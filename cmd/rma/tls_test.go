package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.uber.org/zap"

	"github.com/rma-dev/rma/devtemporal"
	"github.com/rma-dev/rma/workflows"
)

// pki writes a CA and certificates it signs into dir.
type pki struct {
	t    *testing.T
	dir  string
	key  *ecdsa.PrivateKey
	cert *x509.Certificate
	// CAFile is the CA certificate's path.
	CAFile string
}

func newPKI(t *testing.T, dir, name string) *pki {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := &pki{t: t, dir: dir, key: key, cert: cert, CAFile: filepath.Join(dir, name+"-ca.pem")}
	p.write(p.CAFile, "CERTIFICATE", der)
	return p
}

func (p *pki) write(path, typ string, der []byte) {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		p.t.Fatal(err)
	}
}

// issue signs a certificate for 127.0.0.1 (server or client use) and
// returns its certificate and key files.
func (p *pki) issue(name string, usage x509.ExtKeyUsage) (string, string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), ExtKeyUsage: []x509.ExtKeyUsage{usage},
		KeyUsage: x509.KeyUsageDigitalSignature, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.cert, &key.PublicKey, p.key)
	if err != nil {
		p.t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	cf, kf := filepath.Join(p.dir, name+".pem"), filepath.Join(p.dir, name+"-key.pem")
	p.write(cf, "CERTIFICATE", der)
	p.write(kf, "EC PRIVATE KEY", kb)
	return cf, kf
}

func freeTCPPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// rma's connection flags reach a Temporal server that requires mutual TLS:
// with the client certificate it works, without one or with a certificate
// from another CA the server refuses.
func TestMutualTLSToTemporal(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "cluster")
	serverCert, serverKey := ca.issue("frontend", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := ca.issue("rma-worker", x509.ExtKeyUsageClientAuth)
	rogue := newPKI(t, dir, "rogue")
	rogueCert, rogueKey := rogue.issue("intruder", x509.ExtKeyUsageClientAuth)
	port := freeTCPPort(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	srv, err := devtemporal.Start(ctx, devtemporal.Options{DataDir: filepath.Join(dir, "temporal"), FrontendPort: port,
		SearchAttributes: workflows.SearchAttributeTypes(), Logger: zap.NewNop(),
		TLS: &devtemporal.TLS{CertFile: serverCert, KeyFile: serverKey, ClientCAFile: ca.CAFile, ClientCertFile: clientCert, ClientKeyFile: clientKey, ServerCAFile: ca.CAFile}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	addr := "127.0.0.1:" + strconv.Itoa(port)

	good := temporalFlags{address: addr, namespace: "default", tlsCert: clientCert, tlsKey: clientKey, tlsCA: ca.CAFile}
	c, err := good.dial(ctx, zap.NewNop())
	if err != nil {
		t.Fatalf("with the client certificate: %v", err)
	}
	if _, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"}); err != nil {
		t.Fatalf("describe namespace over mTLS: %v", err)
	}
	c.Close()

	for name, f := range map[string]temporalFlags{
		"no client certificate":    {address: addr, namespace: "default", tlsCA: ca.CAFile},
		"another CA's client":      {address: addr, namespace: "default", tlsCert: rogueCert, tlsKey: rogueKey, tlsCA: ca.CAFile},
		"plain text":               {address: addr, namespace: "default"},
		"a server it cannot trust": {address: addr, namespace: "default", tlsCert: clientCert, tlsKey: clientKey, tlsCA: rogue.CAFile},
	} {
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		c, err := f.dial(dctx, zap.NewNop())
		if err == nil {
			_, err = c.WorkflowService().DescribeNamespace(dctx, &workflowservice.DescribeNamespaceRequest{Namespace: "default"})
			c.Close()
		}
		dcancel()
		if err == nil {
			t.Errorf("%s: connected", name)
		}
	}
}

// rma api serves HTTPS when given a certificate, and nothing in clear.
func TestAPIServesTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newPKI(t, dir, "api")
	cert, key := ca.issue("api", x509.ExtKeyUsageServerAuth)
	port := freeTCPPort(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- serveTLSUntil(ctx, zap.NewNop(), port, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }), cert, key)
	}()
	defer func() { cancel(); <-done }()
	pem, _ := os.ReadFile(ca.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 5 * time.Second}
	url := "127.0.0.1:" + strconv.Itoa(port) + "/healthz"
	var resp *http.Response
	var err error
	for i := 0; i < 50; i++ {
		if resp, err = hc.Get("https://" + url); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil || resp.StatusCode != 200 || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Fatalf("https: %v %+v", err, resp)
	}
	resp.Body.Close()
	if plain, err := http.Get("http://" + url); err == nil {
		if plain.StatusCode == 200 {
			t.Error("the API answered in clear text")
		}
		plain.Body.Close()
	}
}
