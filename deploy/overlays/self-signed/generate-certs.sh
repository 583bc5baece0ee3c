#!/usr/bin/env sh
# Makes the self-signed overlay's inputs: a CA and a serving certificate for the webhook Service,
# and the three webhook configurations carrying that CA as caBundle.
#
# Usage: deploy/overlays/self-signed/generate-certs.sh
#   WORKFLOWEXECUTION  the binary to run (default: `workflowexecution` on PATH; e.g.
#                      WORKFLOWEXECUTION="cargo run -q --" from the repository root, or
#                      WORKFLOWEXECUTION="docker run --rm -u $(id -u) -v $PWD:$PWD -w $PWD kubernaut/workflowexecution:0.1.0")
#   CERT_DIR           output directory (default: certs/ next to this script)
set -eu
here=$(cd "$(dirname "$0")" && pwd)
bin=${WORKFLOWEXECUTION:-workflowexecution}
out=${CERT_DIR:-$here/certs}
ns=kubernaut-system
svc=workflowexecution-webhook
mkdir -p "$out"
# shellcheck disable=SC2086 # $bin may be a command with arguments
$bin certs generate --out-dir "$out" \
  --dns "$svc" --dns "$svc.$ns" --dns "$svc.$ns.svc" --dns "$svc.$ns.svc.cluster.local"
# shellcheck disable=SC2086
$bin webhook-config --ca-bundle "$out/ca.crt" \
  --service-namespace "$ns" --service-name "$svc" > "$out/webhook-configurations.yaml"
echo "wrote $out/ca.crt, $out/tls.crt, $out/tls.key, $out/webhook-configurations.yaml"
