// One SFTP upload the way the command plugin does it (pkg/sftp, concurrent writes), with the knobs measured in
// README.md. Build it inside the plugin's module, which has these dependencies:
//
//	mkdir toolchain/pulumi-resource-command/zz && cp sftp-bench.go toolchain/pulumi-resource-command/zz/main.go
//	(cd toolchain/pulumi-resource-command && go build -o /tmp/sftp-bench ./zz) && rm -r toolchain/pulumi-resource-command/zz
//	npm run lab -- exec /tmp/sftp-bench -key ~/.cache/pulumi-k8s-control-plane/lab/id_ed25519 -src BINARY -n 16
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

func main() {
	addr := flag.String("addr", "10.213.0.11:22", "host:port")
	keyf := flag.String("key", "", "private key file")
	src := flag.String("src", "", "local file")
	dst := flag.String("dst", "/tmp/x", "remote path")
	conc := flag.Bool("conc", true, "concurrent writes")
	n := flag.Int("n", 0, "write requests in flight per file (0: pkg/sftp's default, 64)")
	flag.Parse()
	kb, err := os.ReadFile(*keyf)
	if err != nil {
		panic(err)
	}
	signer, err := ssh.ParsePrivateKey(kb)
	if err != nil {
		panic(err)
	}
	cfg := &ssh.ClientConfig{User: "kube", Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)}, HostKeyCallback: ssh.InsecureIgnoreHostKey()}
	t := time.Now()
	c, err := ssh.Dial("tcp", *addr, cfg)
	if err != nil {
		panic(err)
	}
	f, err := os.Open(*src)
	if err != nil {
		panic(err)
	}
	opts := []sftp.ClientOption{sftp.UseConcurrentWrites(*conc)}
	if *n > 0 {
		opts = append(opts, sftp.MaxConcurrentRequestsPerFile(*n))
	}
	sc, err := sftp.NewClient(c, opts...)
	if err != nil {
		panic(err)
	}
	w, err := sc.Create(*dst)
	if err != nil {
		panic(err)
	}
	if _, err := w.ReadFrom(f); err != nil {
		panic(err)
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	sc.Close()
	c.Close()
	fmt.Printf("%.2fs\n", time.Since(t).Seconds())
}
