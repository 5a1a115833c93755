// HAProxy configuration for the API server VIP. Pure.

export interface Backend {
    name: string;
    address: string;
}

/** TCP pass-through on :port to every API server, each checked with an HTTPS GET /readyz. */
export function renderHaproxyConfig(a: { port: number; backends: Backend[] }): string {
    const servers = a.backends.map((b) => `    server ${b.name} ${b.address}:6443 check check-ssl verify none inter 1s fall 2 rise 2`);
    return [
        "# k8scp: kube-apiserver load balancer (managed by Pulumi; edits are overwritten)",
        "global",
        "    log stdout format raw local0 info",
        "    maxconn 4096",
        "defaults",
        "    mode tcp",
        "    log global",
        "    option tcplog",
        // API servers answer a SYN in milliseconds: a connect that takes longer is a dead host, tried elsewhere at once.
        "    timeout connect 1s",
        // A connection an apiserver refuses (stopped, restarting) is retried on another one.
        "    retries 3",
        "    option redispatch",
        "    timeout client 1h",
        "    timeout server 1h",
        "frontend kube-apiserver",
        `    bind *:${a.port}`,
        "    default_backend kube-apiserver",
        "backend kube-apiserver",
        "    option httpchk GET /readyz",
        "    http-check expect status 200",
        "    balance roundrobin",
        // No `on-marked-down shutdown-sessions`: an API server that drains before a restart fails /readyz on purpose
        // while it still serves, and killing its sessions when it is marked down broke the requests in flight. It
        // ends its own connections when it stops; clients of a host that died find out with their own health checks.
        ...servers,
        "",
    ].join("\n");
}
