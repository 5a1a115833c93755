echo "kube-version $(/usr/local/bin/kube-apiserver --version 2>/dev/null)"
