#!/usr/bin/env bash
# k8scp-backup: our own small program that uploads etcd snapshots encrypted with age to S3-compatible storage and
# downloads them for a restore (see README.md). `bash build.sh OUTDIR` builds OUTDIR/k8scp-backup, static (CGO off).
source "$(dirname "$0")/../lib.sh"
v=0.1.0 # main.Version in main.go
tc_log "minio-go $(tc_version github.com/minio/minio-go/v7), age $(tc_version filippo.io/age)"
tc_build "-s -w" "" .
tc_expect "k8scp-backup $v" "$TC_OUT/k8scp-backup" version
tc_log "built k8scp-backup $v ($(du -h "$TC_OUT/k8scp-backup" | cut -f1))"
