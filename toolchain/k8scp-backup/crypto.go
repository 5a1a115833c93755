package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"

	"filippo.io/age"
)

// age's payload: 64 KiB plaintext chunks, each sealed with a 16-byte Poly1305 tag; an empty plaintext is one
// empty chunk (filippo.io/age/internal/stream).
const (
	ageChunk    = 64 * 1024
	ageOverhead = 16
)

// agePayloadSize is the size of age's payload (after the header and the 16-byte nonce) for n plaintext bytes.
func agePayloadSize(n int64) int64 {
	chunks := (n + ageChunk - 1) / ageChunk
	if chunks == 0 {
		chunks = 1
	}
	return n + chunks*ageOverhead
}

// switchWriter writes to w, which can be replaced: age.Encrypt writes the header and nonce at once, into a buffer,
// and the payload later, into the pipe the upload reads.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(p []byte) (int, error) { return s.w.Write(p) }

// encryptStream starts encrypting src (n bytes) to the recipient. It returns the ciphertext as a reader of known
// length, that length, and a function that waits for the encrypting goroutine and returns its error (call it after the
// reader has been read or abandoned; abandon the reader with the returned abort first).
func encryptStream(src io.Reader, n int64, r age.Recipient) (ct io.Reader, size int64, abort func(), wait func() error, err error) {
	var hdr bytes.Buffer
	sw := &switchWriter{w: &hdr}
	w, err := age.Encrypt(sw, r)
	if err != nil {
		return nil, 0, nil, nil, err
	}
	pr, pw := io.Pipe()
	sw.w = pw
	done := make(chan error, 1)
	go func() {
		_, err := io.Copy(w, src)
		if err == nil {
			err = w.Close()
		}
		pw.CloseWithError(err) // nil: EOF for the reader
		done <- err
	}()
	abort = func() { pr.CloseWithError(fmt.Errorf("upload ended")) }
	wait = func() error { return <-done }
	return io.MultiReader(bytes.NewReader(hdr.Bytes()), pr), int64(hdr.Len()) + agePayloadSize(n), abort, wait, nil
}

// verifyingReader passes src through, counting and hashing it; at the end it fails (instead of io.EOF) unless
// exactly size bytes with the given SHA-256 were read. A file that changes between put's hashing pass and its
// upload pass thus breaks the upload's body before its end, and no object appears.
type verifyingReader struct {
	src  io.Reader
	h    hash.Hash
	n    int64
	size int64
	sum  string
	name string
}

func newVerifyingReader(src io.Reader, size int64, sum, name string) *verifyingReader {
	return &verifyingReader{src: src, h: sha256.New(), size: size, sum: sum, name: name}
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	n, err := v.src.Read(p)
	v.h.Write(p[:n])
	v.n += int64(n)
	if v.n > v.size {
		return n, fmt.Errorf("%s grew while it was uploaded (more than %d bytes)", v.name, v.size)
	}
	if err == io.EOF {
		if v.n != v.size {
			return n, fmt.Errorf("%s changed while it was uploaded: %d bytes, was %d", v.name, v.n, v.size)
		}
		if got := hex.EncodeToString(v.h.Sum(nil)); got != v.sum {
			return n, fmt.Errorf("%s changed while it was uploaded: sha256 %s, was %s", v.name, got, v.sum)
		}
	}
	return n, err
}

// hashFile returns the SHA-256 (hex) and size of an open file, read from its current offset.
func hashFile(f *os.File) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}
