#!/bin/sh
# One-shot init step for compose.yaml (runs in the scopegate image, as uid 10001, before the proxy).
#
# Makes the interception CA if there is none, then copies into the share volume exactly what an
# agent may see, and nothing else:
#   ca.pem       the CA certificate                        (NODE_EXTRA_CA_CERTS)
#   bundle.pem   the CA plus Node's public roots           (SSL_CERT_FILE, REQUESTS_CA_BUNDLE, …)
#   preload/     dist/preload.js with its one dependency (undici), for NODE_OPTIONS=--import
# ca-key.pem stays in the CA volume, which only the scopegate containers mount.
#
# The paths can be changed for a run outside the image (the tests do that).
set -eu
umask 022
APP=${SCOPEGATE_APP:-/app}
CA_DIR=${SCOPEGATE_CA_DIR:-/var/lib/scopegate/ca}
SHARE=${SCOPEGATE_SHARE_DIR:-/var/lib/scopegate/share}

cd "$APP"
if [ -f "$CA_DIR/ca.pem" ]; then
  node dist/cli.js ca show --ca-dir "$CA_DIR"   # also rewrites bundle.pem
else
  node dist/cli.js ca init --ca-dir "$CA_DIR"
fi

tmp="$SHARE/.incoming"
rm -rf "$tmp"
mkdir -p "$tmp/preload/node_modules"
cp "$CA_DIR/ca.pem" "$CA_DIR/bundle.pem" "$tmp/"
cp dist/preload.js "$tmp/preload/preload.js"
printf '{ "private": true, "type": "module" }\n' >"$tmp/preload/package.json"
cp -R node_modules/undici "$tmp/preload/node_modules/undici"
chmod -R a+rX,go-w "$tmp"

for f in ca.pem bundle.pem preload; do
  rm -rf "${SHARE:?}/$f"
  mv "$tmp/$f" "$SHARE/$f"
done
rmdir "$tmp"
echo "shared $SHARE/ca.pem, $SHARE/bundle.pem and $SHARE/preload/preload.js (no key)"
