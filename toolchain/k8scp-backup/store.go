package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// maxTries bounds minio-go's own retries of every request (its Options.MaxRetries: the total number of attempts,
// with exponential backoff and full jitter between them: 200 ms unit, 1 s cap): 5xx, 429, timeouts and connection
// errors are retried, other 4xx are not. A request whose body cannot be rewound (a single-PUT upload of a stream,
// under 16 MiB) is tried once; a multipart upload buffers each 16 MiB part and retries it. The --timeout context
// bounds the whole command, retries included.
const maxTries = 3

// partSize is the multipart part size: each part is buffered in memory while it is sent (and retried).
const partSize = 16 * 1024 * 1024

func newClient(s *Settings, c *Credentials) (*minio.Client, error) {
	secure := s.Endpoint.Scheme == "https"
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	if s.CAFile != "" {
		pem, err := os.ReadFile(s.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca_file %s: no PEM certificate in it", s.CAFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return minio.New(s.Endpoint.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(c.AccessKeyID, c.SecretAccessKey, ""),
		Secure:       secure,
		Transport:    http.RoundTripper(tr),
		Region:       s.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   maxTries,
	})
}

// explain turns an S3 or context error into a cause for the message.
func explain(ctx context.Context, err error, s *Settings, key string, timeoutSec int) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("timed out after %d s (--timeout): %v", timeoutSec, err)
	}
	if errors.Is(ctx.Err(), context.Canceled) {
		return fmt.Errorf("interrupted: %v", err)
	}
	var r minio.ErrorResponse
	if !errors.As(err, &r) {
		return err
	}
	switch r.Code {
	case "":
		return err
	case "NoSuchBucket":
		return fmt.Errorf("bucket %q does not exist (k8scp-backup never creates buckets): %s", s.Bucket, r.Message)
	case "NoSuchKey":
		if key != "" {
			return fmt.Errorf("object %q does not exist in bucket %q", key, s.Bucket)
		}
	case "AccessDenied", "SignatureDoesNotMatch", "InvalidAccessKeyId", "XAdminUserNotFound", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("refused (%s, HTTP %d): check the credentials and their permissions: %s", r.Code, r.StatusCode, r.Message)
	}
	msg := r.Message
	if msg == "" {
		msg = err.Error()
	}
	return fmt.Errorf("%s (HTTP %d): %s", r.Code, r.StatusCode, strings.TrimSpace(msg))
}

// listAll lists the objects under prefix (recursively unless flat), skipping "directory" keys ending in '/'.
func listAll(ctx context.Context, mc *minio.Client, bucket, prefix string, flat bool) ([]minio.ObjectInfo, error) {
	var out []minio.ObjectInfo
	for o := range mc.ListObjects(ctx, bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: !flat}) {
		if o.Err != nil {
			return nil, o.Err
		}
		if strings.HasSuffix(o.Key, "/") {
			continue
		}
		out = append(out, o)
	}
	return out, nil
}

// metaValue returns user metadata NAME (without x-amz-meta-), case-insensitively.
func metaValue(m map[string]string, name string) (string, bool) {
	for k, v := range m {
		k = strings.ToLower(k)
		k = strings.TrimPrefix(k, "x-amz-meta-")
		if k == name {
			return v, true
		}
	}
	return "", false
}
