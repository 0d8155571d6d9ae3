# A small certificate authority made with openssl, for Notation tests:
# ECDSA roots and code-signing leaves whose validity the test chooses (a leaf
# that expires seconds after signing).  Sourced after lib.sh.
#
#   it_pki_roots DIR NAME...       DIR/ca.cnf, an empty database, and a
#                                  self-signed root DIR/NAME.crt (.key) each
#                                  (P-384, 30 days, CN "IT NAME")
#   it_pki_leaf DIR ROOT NAME UNTIL  a leaf DIR/NAME.crt (.key, P-256, CN
#                                  "IT NAME signer", code signing) issued by
#                                  DIR/ROOT.crt, valid from an hour ago until
#                                  `date -d "+UNTIL"` ("20 seconds", "1 day");
#                                  DIR/NAME-chain.crt is leaf + root
# Both print openssl's chatter on stdout/stderr (redirect it) and fail when
# a file is not made.

it_pki_roots() {
  local dir=$1 r
  shift
  mkdir -p "$dir" || return 1
  cat > "$dir/ca.cnf" <<CNF
[ca]
default_ca = c
[c]
database = $dir/index.txt
serial = $dir/serial
new_certs_dir = $dir
default_md = sha256
policy = p
unique_subject = no
[p]
commonName = supplied
[root]
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
[leaf]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = codeSigning
CNF
  : > "$dir/index.txt"
  echo 1000 > "$dir/serial"
  for r in "$@"; do
    openssl ecparam -name secp384r1 -genkey -noout -out "$dir/$r.key" \
      && openssl req -x509 -new -key "$dir/$r.key" -sha384 -days 30 -subj "/C=US/ST=WA/O=IT/CN=IT $r" \
        -config <(cat /etc/ssl/openssl.cnf "$dir/ca.cnf") -extensions root -out "$dir/$r.crt" \
      && test -s "$dir/$r.crt" || return 1
  done
}

it_pki_leaf() {
  local dir=$1 root=$2 l=$3 until=$4
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$l.key" \
    && openssl req -new -key "$dir/$l.key" -subj "/C=US/ST=WA/O=IT/CN=IT $l signer" -out "$dir/$l.csr" \
    && openssl ca -batch -config "$dir/ca.cnf" -cert "$dir/$root.crt" -keyfile "$dir/$root.key" \
      -in "$dir/$l.csr" -out "$dir/$l.crt" -notext -preserveDN -extensions leaf \
      -startdate "$(date -u -d '-1 hour' +%y%m%d%H%M%SZ)" \
      -enddate "$(date -u -d "+$until" +%y%m%d%H%M%SZ)" \
    && cat "$dir/$l.crt" "$dir/$root.crt" > "$dir/$l-chain.crt" \
    && test -s "$dir/$l-chain.crt"
}
