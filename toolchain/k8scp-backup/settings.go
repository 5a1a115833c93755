package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"filippo.io/age"
)

// Settings is the parsed settings file (--settings FILE): key=value lines, '#' comment lines, blank lines.
type Settings struct {
	Endpoint  *url.URL // http:// or https://, host[:port], no path
	Bucket    string
	Prefix    string // no leading or trailing slash; "" for the bucket's root
	Region    string // default us-east-1
	CAFile    string // PEM bundle added to the system roots for https
	Recipient string // age1..., needed by put
}

var settingsKeys = map[string]bool{"endpoint": true, "bucket": true, "prefix": true, "region": true, "ca_file": true, "recipient": true}

// parseKV parses key=value lines: blank lines and lines starting with '#' (after leading space) are skipped, key and
// value are trimmed of surrounding white space, every key must be in allowed and appear once.
func parseKV(data []byte, allowed map[string]bool) (map[string]string, error) {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return nil, fmt.Errorf("line %d: expected key=value", n)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !allowed[k] {
			return nil, fmt.Errorf("line %d: unknown key %q", n, k)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("line %d: key %q given twice", n, k)
		}
		out[k] = v
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// ParseSettings parses and checks a settings file's contents.
func ParseSettings(data []byte) (*Settings, error) {
	kv, err := parseKV(data, settingsKeys)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{"endpoint", "bucket"} {
		if kv[k] == "" {
			return nil, fmt.Errorf("missing required key %q", k)
		}
	}
	u, err := url.Parse(kv["endpoint"])
	if err != nil {
		return nil, fmt.Errorf("endpoint: %v", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("endpoint %q: the scheme must be http:// or https://", kv["endpoint"])
	}
	if u.Host == "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("endpoint %q: want scheme://host[:port] and nothing else (the bucket is its own key)", kv["endpoint"])
	}
	u.Path = ""
	s := &Settings{Endpoint: u, Bucket: kv["bucket"], Prefix: kv["prefix"], Region: kv["region"], CAFile: kv["ca_file"], Recipient: kv["recipient"]}
	if s.Region == "" {
		s.Region = "us-east-1"
	}
	if err := checkPath("prefix", s.Prefix, true); err != nil {
		return nil, err
	}
	if s.CAFile != "" && u.Scheme != "https" {
		return nil, fmt.Errorf("ca_file is set but endpoint %q is not https://", kv["endpoint"])
	}
	if s.Recipient != "" {
		if _, err := age.ParseX25519Recipient(s.Recipient); err != nil {
			return nil, fmt.Errorf("recipient: %v", err)
		}
	}
	return s, nil
}

// LoadSettings reads and parses --settings FILE.
func LoadSettings(path string) (*Settings, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParseSettings(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// checkPath checks a prefix, a --dir or a --name: '/'-separated segments, none empty, "." or "..", no leading or
// trailing slash, no control characters. Empty is allowed only when emptyOK.
func checkPath(what, p string, emptyOK bool) error {
	if p == "" {
		if emptyOK {
			return nil
		}
		return fmt.Errorf("%s is empty", what)
	}
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("%s %q: no leading or trailing slash", what, p)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return fmt.Errorf("%s %q: empty, '.' or '..' path segment", what, p)
		}
	}
	for _, r := range p {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%s %q: control character", what, p)
		}
	}
	return nil
}

// join joins non-empty key parts with '/'.
func join(parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, "/")
}

// ObjectKey is the key put uploads NAME to: <prefix>/NAME.age, or NAME.age without a prefix.
func (s *Settings) ObjectKey(name string) string { return join(s.Prefix, name+".age") }

// ListPrefix is the listing prefix for an optional subprefix: "<prefix>/<dir>/", "<prefix>/", "<dir>/" or "".
func (s *Settings) ListPrefix(dir string) string {
	p := join(s.Prefix, dir)
	if p == "" {
		return ""
	}
	return p + "/"
}

// Where names the endpoint, bucket and (when not empty) key or prefix for messages.
func (s *Settings) Where(key string) string {
	w := fmt.Sprintf("endpoint %s bucket %q", s.Endpoint, s.Bucket)
	if key != "" {
		w += fmt.Sprintf(" key %q", key)
	}
	return w
}

// Credentials are the S3 access key pair.
type Credentials struct{ AccessKeyID, SecretAccessKey string }

var credentialKeys = map[string]bool{"access_key_id": true, "secret_access_key": true}

func parseCredentialsFile(path string) (*Credentials, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	kv, err := parseKV(data, credentialKeys)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	for _, k := range []string{"access_key_id", "secret_access_key"} {
		if kv[k] == "" {
			return nil, fmt.Errorf("%s: missing %s", path, k)
		}
	}
	return &Credentials{kv["access_key_id"], kv["secret_access_key"]}, nil
}

// LoadCredentials finds the S3 credentials, in this order: the file s3-credentials in $CREDENTIALS_DIRECTORY (systemd
// LoadCredential=) when that variable is set; else the --credentials FILE; else AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY from the environment. The first source that applies is the only one used.
func LoadCredentials(getenv func(string) string, credentialsFlag string) (*Credentials, error) {
	if dir := getenv("CREDENTIALS_DIRECTORY"); dir != "" {
		p := filepath.Join(dir, "s3-credentials")
		c, err := parseCredentialsFile(p)
		if err != nil {
			return nil, fmt.Errorf("reading S3 credentials from $CREDENTIALS_DIRECTORY/s3-credentials (CREDENTIALS_DIRECTORY is set): %w", err)
		}
		return c, nil
	}
	if credentialsFlag != "" {
		c, err := parseCredentialsFile(credentialsFlag)
		if err != nil {
			return nil, fmt.Errorf("reading S3 credentials from --credentials: %w", err)
		}
		return c, nil
	}
	id, secret := getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY")
	switch {
	case id == "" && secret == "":
		return nil, fmt.Errorf("no S3 credentials: CREDENTIALS_DIRECTORY is not set, no --credentials FILE was given, and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY are not set")
	case id == "":
		return nil, fmt.Errorf("no S3 credentials: AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not (CREDENTIALS_DIRECTORY not set, no --credentials)")
	case secret == "":
		return nil, fmt.Errorf("no S3 credentials: AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not (CREDENTIALS_DIRECTORY not set, no --credentials)")
	}
	return &Credentials{id, secret}, nil
}

// LoadIdentities finds the age identity: --identity-file FILE when given (age's identity file format: one
// AGE-SECRET-KEY-1... per line, '#' comments), else $K8SCP_BACKUP_IDENTITY.
func LoadIdentities(getenv func(string) string, identityFile string) ([]age.Identity, error) {
	if identityFile != "" {
		f, err := os.Open(identityFile)
		if err != nil {
			return nil, fmt.Errorf("reading the age identity from --identity-file: %w", err)
		}
		defer f.Close()
		ids, err := age.ParseIdentities(f)
		if err != nil {
			return nil, fmt.Errorf("reading the age identity from --identity-file %s: %w", identityFile, err)
		}
		return ids, nil
	}
	if v := strings.TrimSpace(getenv("K8SCP_BACKUP_IDENTITY")); v != "" {
		id, err := age.ParseX25519Identity(v)
		if err != nil {
			return nil, fmt.Errorf("K8SCP_BACKUP_IDENTITY: %v", err)
		}
		return []age.Identity{id}, nil
	}
	return nil, fmt.Errorf("no age identity: no --identity-file FILE was given and K8SCP_BACKUP_IDENTITY is not set")
}
