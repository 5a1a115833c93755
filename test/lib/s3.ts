// The lab's S3 server as the tests use it (scripts/lab/s3.sh writes s3.json).

/**
 * The Pulumi DIY backend URL of a bucket on an S3-compatible server (gocloud.dev's s3blob, as the CLI opens it):
 * path-style addressing (`use_path_style`), the endpoint with its scheme. Credentials come from AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY in the environment.
 */
export const s3StateBackend = (bucket: string, endpoint: string, region: string) =>
    `s3://${bucket}?endpoint=${encodeURIComponent(endpoint)}&region=${region}&use_path_style=true`;
